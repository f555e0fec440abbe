"""Pure summaries of what the cluster holds: a pool's status with its tasks counted by phase.

`pool_summary` is what `status` returns in the SDK, the CLI's status table and the MCP
server's pool_status tool (the seed's PoolStatus, with money in microdollars).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from claude_pool.api.conditions import ConditionStatus, PoolConditionType, get_condition
from claude_pool.api.phases import TaskPhase
from claude_pool.api.pools import ClaudePool
from claude_pool.api.tasks import ClaudeTask


class PoolSummary(BaseModel):
    """One pool: slots, queue, money, state and its tasks by phase."""

    model_config = ConfigDict(frozen=True)

    name: str
    namespace: str
    slots: int
    """Desired slots (spec.slots)."""
    replicas: int
    ready: int
    idle: int
    busy: int
    draining: int
    pending: int
    """Admitted tasks waiting for a slot."""
    waiting: int
    """Tasks that cannot be admitted yet."""
    running: int
    spent_microdollars: int
    reserved_microdollars: int
    limit_microdollars: int | None
    suspended: bool
    state: str
    """Ready, or the reason it is not (SlotsStarting, CredentialsMissing, Draining, ...)."""
    tasks: dict[str, int]
    """Tasks of this pool by phase."""


def task_phase(task: ClaudeTask) -> TaskPhase:
    """The task's phase; Pending before the operator has written one."""
    return task.status.phase or TaskPhase.PENDING


def _state(pool: ClaudePool) -> str:
    conditions = pool.status.conditions
    for kind in (PoolConditionType.SUSPENDED, PoolConditionType.BUDGET_EXHAUSTED):
        found = get_condition(conditions, kind)
        if found is not None and found.status == ConditionStatus.TRUE:
            return str(found.reason)
    ready = get_condition(conditions, PoolConditionType.READY)
    if ready is None:
        return "Unknown"
    return "Ready" if ready.status == ConditionStatus.TRUE else str(ready.reason)


def pool_summary(pool: ClaudePool, tasks: Iterable[ClaudeTask]) -> PoolSummary:
    """Summarise `pool` and those of `tasks` that name it."""
    status = pool.status
    phases = Counter(
        str(task_phase(task)) for task in tasks if task.spec.pool_ref.name == pool.metadata.name
    )
    return PoolSummary(
        name=pool.metadata.name,
        namespace=pool.metadata.namespace or "",
        slots=pool.spec.slots,
        replicas=status.replicas,
        ready=status.ready_slots,
        idle=status.idle_slots,
        busy=status.busy_slots,
        draining=status.draining_slots,
        pending=status.queue.pending,
        waiting=status.queue.waiting,
        running=status.queue.running,
        spent_microdollars=status.budget.spent_microdollars,
        reserved_microdollars=status.budget.reserved_microdollars,
        limit_microdollars=pool.spec.budget.limit_microdollars,
        suspended=pool.spec.suspend,
        state=_state(pool),
        tasks=dict(sorted(phases.items())),
    )
