"""The spend book: one pool's spend and ring of recent commits, as this worker knows them.

Owned by `runtime.worker.PoolWorker`. Built from the pool's status on the first cycle (the
status is where spend lives between restarts), changed only by `commit`, and written back by
the pool status step. Reservations are not stored: they are the run table's `reserved()`,
handed in when a `Ledger` is needed. The money arithmetic is `budget.ledger`'s.
"""

from __future__ import annotations

from claude_pool.api.pools import ClaudePool
from claude_pool.budget.ledger import Ledger, commit, reservation_for
from claude_pool.controllers.state import TaskView


class SpendBook:
    """Spend and recent commits of one pool (see the module docstring)."""

    def __init__(self) -> None:
        self._loaded = False
        self.spent = 0
        self.recent: tuple[str, ...] = ()

    @property
    def loaded(self) -> bool:
        return self._loaded

    def load(self, pool: ClaudePool) -> None:
        """Take spend and the ring from the pool's status (once: afterwards memory leads)."""
        if self._loaded:
            return
        budget = pool.status.budget
        self.spent = budget.spent_microdollars
        self.recent = tuple(budget.recent_commits)
        self._loaded = True

    def commit(self, costs: dict[str, int]) -> tuple[str, ...]:
        """Add each run's cost once (keys already in the ring add nothing); the keys counted."""
        result = commit(self.spent, self.recent, costs)
        self.spent, self.recent = result.spent, result.recent
        return result.counted

    def ledger(self, pool: ClaudePool, reserved: int) -> Ledger:
        """The pool's budget now, with `reserved` held by running tasks."""
        return Ledger(pool.spec.budget.limit_microdollars, self.spent, reserved)


def reservation(pool: ClaudePool, task: TaskView) -> int:
    """What the task holds while it runs (and its CLI's cap under a pool limit)."""
    config = task.spec.config if task.spec else None
    return reservation_for(
        config.max_budget_microdollars if config else None,
        pool.spec.budget.default_task_reservation_microdollars,
    )
