"""The pool's money: admission against the limit, reservations, and exactly-once commits.

Pure integer arithmetic in microdollars; called by the dispatcher (`admit`, `reserve`) and
the pool worker's spend book (`commit`). Spend is an accumulator in the pool's status; a
run's cost is committed to it once: its key (`<task uid>/<attempt>`) joins a bounded ring of
recent commits written in the same status update, so a commit retried after an operator
crash (the task's own status not yet written) is recognised and not counted twice.
Reservations are not stored: they are the caps of the runs the worker follows, recomputed
from them after a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from claude_pool.api.money import format_dollars
from claude_pool.api.pools import MAX_RECENT_COMMITS

RECENT_COMMITS = MAX_RECENT_COMMITS
"""How many commit keys the pool remembers (more than slots can finish at once)."""


class Admission(StrEnum):
    """Whether a task's reservation fits the pool's budget now."""

    ADMITTED = "Admitted"
    EXHAUSTED = "BudgetExhausted"
    INSUFFICIENT = "InsufficientBudget"


@dataclass(frozen=True)
class Ledger:
    """The pool's budget at one moment."""

    limit: int | None
    spent: int = 0
    reserved: int = 0

    @property
    def remaining(self) -> int | None:
        if self.limit is None:
            return None
        return max(0, self.limit - self.spent - self.reserved)

    @property
    def exhausted(self) -> bool:
        return self.limit is not None and self.spent >= self.limit

    def admit(self, reservation: int) -> tuple[Admission, str]:
        """Whether a task reserving `reservation` may start, and a message with the numbers."""
        if self.limit is None:
            return Admission.ADMITTED, "no budget limit"
        if self.exhausted:
            return Admission.EXHAUSTED, (
                f"pool budget exhausted: spent {self.spent} of {self.limit} microdollars "
                f"(${format_dollars(self.spent)} of ${format_dollars(self.limit)})"
            )
        remaining = self.remaining or 0
        if reservation > remaining:
            return Admission.INSUFFICIENT, (
                f"task reserves ${format_dollars(reservation)} but only "
                f"${format_dollars(remaining)} remain of the ${format_dollars(self.limit)} limit "
                f"(spent ${format_dollars(self.spent)}, reserved ${format_dollars(self.reserved)};"
                f" in microdollars: reserves {reservation}, {remaining} remain, limit "
                f"{self.limit}, spent {self.spent}, reserved {self.reserved})"
            )
        return Admission.ADMITTED, f"reserved {reservation} of {remaining} remaining microdollars"

    def reserve(self, amount: int) -> Ledger:
        return Ledger(self.limit, self.spent, self.reserved + amount)


def reservation_for(task_cap: int | None, pool_default: int | None) -> int:
    """What a task holds while it runs: its own cap, else the pool's default, else nothing."""
    if task_cap is not None:
        return task_cap
    return pool_default or 0


@dataclass(frozen=True)
class Commit:
    """The result of committing costs to the pool's spend."""

    spent: int
    recent: tuple[str, ...]
    counted: tuple[str, ...]
    """Keys whose cost was added now (others were already in the ring)."""


def commit(spent: int, recent: tuple[str, ...], costs: dict[str, int]) -> Commit:
    """Add each run's cost once; `recent` is the ring of keys already committed."""
    seen = set(recent)
    counted: list[str] = []
    for uid, cost in costs.items():
        if uid in seen:
            continue
        spent += cost
        seen.add(uid)
        counted.append(uid)
    ring = (*recent, *counted)[-RECENT_COMMITS:]
    return Commit(spent, ring, tuple(counted))
