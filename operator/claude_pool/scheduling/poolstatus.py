"""The pool's status, computed from its pods, tasks and ledger (pure).

Called by the pool worker every cycle; the worker writes the result only when it differs
from what it last wrote. Counts feed the printer columns and the scale subresource
(`replicas`, `selector`); conditions say Ready, Degraded, BudgetExhausted and Suspended with
reasons and numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from claude_pool.api.conditions import Condition, ConditionStatus, PoolConditionType, set_condition
from claude_pool.api.money import format_dollars
from claude_pool.api.pools import ClaudePool
from claude_pool.api.reasons import PoolReason
from claude_pool.budget.ledger import Ledger
from claude_pool.slots.planning import SlotState

T, F = ConditionStatus.TRUE, ConditionStatus.FALSE


@dataclass(frozen=True)
class PoolFacts:
    """Everything the status is computed from."""

    slot_states: list[SlotState]
    pending: int
    waiting: int
    running: int
    ledger: Ledger
    recent_commits: tuple[str, ...]
    selector: str
    credentials_problem: str | None = None
    degraded: str | None = None
    """Why the pool is degraded (slot restart limit, pods that cannot be created)."""


def pool_status(pool: ClaudePool, facts: PoolFacts, now: datetime) -> dict[str, Any]:
    """The complete .status of the pool (as JSON), conditions updated in place of old ones."""
    states = facts.slot_states
    count = {s: states.count(s) for s in SlotState}
    ready = count[SlotState.IDLE] + count[SlotState.BUSY] + count[SlotState.DRAINING]
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
            PoolReason.SLOT_RESTART_LIMIT,
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
    ledger = facts.ledger
    if ledger.limit is None:
        set_condition(
            conditions,
            PoolConditionType.BUDGET_EXHAUSTED,
            F,
            PoolReason.NO_LIMIT,
            f"no limit; spent {ledger.spent} microdollars",
            gen,
            now,
        )
    elif ledger.exhausted:
        set_condition(
            conditions,
            PoolConditionType.BUDGET_EXHAUSTED,
            T,
            PoolReason.LIMIT_REACHED,
            f"spent {ledger.spent} of {ledger.limit} microdollars",
            gen,
            now,
        )
    else:
        set_condition(
            conditions,
            PoolConditionType.BUDGET_EXHAUSTED,
            F,
            PoolReason.WITHIN_LIMIT,
            f"spent {ledger.spent} of {ledger.limit} microdollars, {ledger.reserved} reserved",
            gen,
            now,
        )
    if pool.spec.suspend:
        busy = count[SlotState.BUSY] + count[SlotState.DRAINING]
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
    return {
        "observedGeneration": gen,
        "replicas": len([s for s in states if s is not SlotState.TERMINATING]),
        "readySlots": ready,
        "idleSlots": count[SlotState.IDLE],
        "busySlots": count[SlotState.BUSY],
        "drainingSlots": count[SlotState.DRAINING],
        "selector": facts.selector,
        "queue": {"pending": facts.pending, "waiting": facts.waiting, "running": facts.running},
        "budget": {
            "limitMicrodollars": ledger.limit,
            "spentMicrodollars": ledger.spent,
            "reservedMicrodollars": ledger.reserved,
            "spent": format_dollars(ledger.spent),
            "recentCommits": list(facts.recent_commits),
        },
        "conditions": [
            c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in conditions
        ],
    }
