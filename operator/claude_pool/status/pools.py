"""The pool's status, computed from its slot counts, tasks and money (pure).

Called by the pool worker every cycle; the worker writes the result only when it differs
from what it last wrote. The status is a `ClaudePoolStatus` dumped by
`status.rendering.dump` (validated by the model the CRD is generated from); the facts are
plain numbers, so this module needs neither the slot planner nor the ledger. Counts feed
the printer columns and the scale subresource (`replicas`, `selector`); conditions say
Ready, Degraded, BudgetExhausted and Suspended with reasons and numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from claude_pool.api.conditions import Condition, ConditionStatus, PoolConditionType, set_condition
from claude_pool.api.money import format_dollars
from claude_pool.api.pools import BudgetStatus, ClaudePool, ClaudePoolStatus, QueueStatus
from claude_pool.api.reasons import PoolReason
from claude_pool.status.rendering import dump

T, F = ConditionStatus.TRUE, ConditionStatus.FALSE


@dataclass(frozen=True)
class SlotCounts:
    """The pool's slot pods by what they can do (from the worker's slot views)."""

    existing: int = 0
    """Pods not terminating (the scale subresource's replicas)."""
    idle: int = 0
    busy: int = 0
    draining: int = 0

    @property
    def ready(self) -> int:
        return self.idle + self.busy + self.draining


@dataclass(frozen=True)
class PoolFacts:
    """Everything the status is computed from."""

    slots: SlotCounts
    pending: int
    waiting: int
    running: int
    limit: int | None
    spent: int
    reserved: int
    recent_commits: tuple[str, ...]
    selector: str
    credentials_problem: str | None = None
    degraded: str | None = None
    """Why the pool is degraded (slot restart limit, pods that cannot be created)."""
    degraded_reason: PoolReason = PoolReason.SLOT_RESTART_LIMIT
    """The Degraded=True reason that goes with `degraded`."""
    workspace: WorkspaceFacts | None = None
    """The slots' clones of spec.workspace (None: the pool has no workspace)."""


@dataclass(frozen=True)
class WorkspaceFacts:
    """What the slots say of their clones: the WorkspaceUnavailable condition's source."""

    reason: PoolReason
    """WorkspaceReady, WorkspaceCloning, or why a clone failed (the condition is True)."""
    message: str

    @property
    def unavailable(self) -> bool:
        return self.reason not in (PoolReason.WORKSPACE_READY, PoolReason.WORKSPACE_CLONING)


def pool_status(pool: ClaudePool, facts: PoolFacts, now: datetime) -> dict[str, Any]:
    """The complete .status of the pool (a merge patch), conditions updated in place of old
    ones; `limitMicrodollars` is written as null when there is no limit (removing an old one)."""
    slots = facts.slots
    ready = slots.ready
    gen = pool.metadata.generation
    conditions: list[Condition] = list(pool.status.conditions)
    desired = pool.spec.slots
    if facts.credentials_problem:
        set_condition(
            conditions,
            PoolConditionType.READY,
            F,
            PoolReason.CREDENTIALS_MISSING,
            facts.credentials_problem,
            gen,
            now,
        )
    elif desired == 0:
        set_condition(
            conditions,
            PoolConditionType.READY,
            T,
            PoolReason.SCALED_TO_ZERO,
            "spec.slots is 0",
            gen,
            now,
        )
    elif ready >= desired:
        set_condition(
            conditions,
            PoolConditionType.READY,
            T,
            PoolReason.ALL_SLOTS_READY,
            f"{ready} of {desired} slots ready",
            gen,
            now,
        )
    else:
        set_condition(
            conditions,
            PoolConditionType.READY,
            F,
            PoolReason.SLOTS_STARTING,
            f"{ready} of {desired} slots ready",
            gen,
            now,
        )
    if facts.degraded:
        set_condition(
            conditions,
            PoolConditionType.DEGRADED,
            T,
            facts.degraded_reason,
            facts.degraded,
            gen,
            now,
        )
    else:
        set_condition(
            conditions,
            PoolConditionType.DEGRADED,
            F,
            PoolReason.AS_EXPECTED,
            "slots are healthy",
            gen,
            now,
        )
    limit, spent, reserved = facts.limit, facts.spent, facts.reserved
    if limit is None:
        set_condition(
            conditions,
            PoolConditionType.BUDGET_EXHAUSTED,
            F,
            PoolReason.NO_LIMIT,
            f"no limit; spent {spent} microdollars",
            gen,
            now,
        )
    elif spent >= limit:
        set_condition(
            conditions,
            PoolConditionType.BUDGET_EXHAUSTED,
            T,
            PoolReason.LIMIT_REACHED,
            f"spent {spent} of {limit} microdollars",
            gen,
            now,
        )
    else:
        set_condition(
            conditions,
            PoolConditionType.BUDGET_EXHAUSTED,
            F,
            PoolReason.WITHIN_LIMIT,
            f"spent {spent} of {limit} microdollars, {reserved} reserved",
            gen,
            now,
        )
    if pool.spec.suspend:
        busy = slots.busy + slots.draining
        reason, message = (
            (PoolReason.DRAINING, f"suspended; {busy} slots still finish their task")
            if busy
            else (PoolReason.DRAINED, "suspended and drained: no task runs")
        )
        set_condition(conditions, PoolConditionType.SUSPENDED, T, reason, message, gen, now)
    else:
        set_condition(
            conditions, PoolConditionType.SUSPENDED, F, PoolReason.ACTIVE, "dispatching", gen, now
        )
    if facts.workspace is not None:
        ws = facts.workspace
        set_condition(
            conditions,
            PoolConditionType.WORKSPACE_UNAVAILABLE,
            T if ws.unavailable else F,
            ws.reason,
            ws.message,
            gen,
            now,
        )
    status = ClaudePoolStatus(
        observed_generation=gen,
        replicas=slots.existing,
        ready_slots=ready,
        idle_slots=slots.idle,
        busy_slots=slots.busy,
        draining_slots=slots.draining,
        selector=facts.selector,
        queue=QueueStatus(pending=facts.pending, waiting=facts.waiting, running=facts.running),
        budget=BudgetStatus(
            limit_microdollars=facts.limit,
            spent_microdollars=facts.spent,
            reserved_microdollars=facts.reserved,
            spent=format_dollars(facts.spent),
            recent_commits=list(facts.recent_commits),
        ),
        conditions=conditions,
    )
    body = dump(status)
    body["budget"].setdefault("limitMicrodollars", None)  # no limit: remove an old one
    return body
