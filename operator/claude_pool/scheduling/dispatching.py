"""One dispatch cycle: order the pool's queue and decide which task goes to which slot.

Pure (Kueue's shape): the dispatcher takes a snapshot (queued tasks, idle slots, ledger,
suspend flag) and `schedule()` returns one `Decision` per queued task with an explicit
verdict; the dispatcher applies them all in one pass, so a cycle admits as many tasks as
there are idle slots and budget (no one-head-per-cycle bottleneck). Order: priority (high
first), then creation time, then name. Budget is best-effort FIFO: a task that does not fit
waits, and a smaller task behind it may still start. A task with a preferred slot (a chain
step) gets it when it is idle; other tasks take idle slots no queued task prefers first.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from claude_pool.api.reasons import TaskReason
from claude_pool.budget.ledger import Admission, Ledger

_WAIT_REASON = {
    Admission.EXHAUSTED: TaskReason.BUDGET_EXHAUSTED,
    Admission.INSUFFICIENT: TaskReason.INSUFFICIENT_BUDGET,
}


class Verdict(StrEnum):
    """What happens to a queued task this cycle."""

    ASSIGN = "Assign"
    WAIT_FOR_SLOT = "WaitForSlot"
    WAIT_FOR_BUDGET = "WaitForBudget"
    SUSPENDED = "Suspended"


@dataclass(frozen=True)
class QueuedTask:
    """A task waiting for a slot, as the scheduler needs it."""

    uid: str
    name: str
    priority: int
    created: str
    """RFC 3339 creation timestamp: sorts lexically."""
    reservation: int
    preferred_slot: str | None = None
    """The slot this task should get when it is idle (a chain step: the step before's)."""
    only_slot: str | None = None
    """The one slot the task may run on (a review re-run resuming the session that slot's
    volume holds); it waits while that slot is busy."""


@dataclass(frozen=True)
class Decision:
    task: QueuedTask
    verdict: Verdict
    slot: str | None = None
    reason: TaskReason | None = None
    """Why the task waits (WaitForBudget, Suspended); None when it is assigned or only waits
    for a slot (which writes nothing: the pool's queue counts show it)."""
    message: str = ""


def queue_order(tasks: list[QueuedTask]) -> list[QueuedTask]:
    return sorted(tasks, key=lambda t: (-t.priority, t.created, t.name))


def schedule(
    tasks: list[QueuedTask], idle_slots: list[str], ledger: Ledger, *, suspended: bool
) -> list[Decision]:
    """A decision for every queued task (assignments reserve money as they go)."""
    decisions: list[Decision] = []
    slots = list(idle_slots)
    preferred = {s for t in tasks for s in (t.preferred_slot, t.only_slot) if s}
    for task in queue_order(tasks):
        if suspended:
            decisions.append(
                Decision(
                    task,
                    Verdict.SUSPENDED,
                    reason=TaskReason.POOL_SUSPENDED,
                    message="the pool is suspended (spec.suspend): nothing new starts",
                )
            )
            continue
        admission, message = ledger.admit(task.reservation)
        if admission is not Admission.ADMITTED:
            decisions.append(
                Decision(task, Verdict.WAIT_FOR_BUDGET, None, _WAIT_REASON[admission], message)
            )
            continue
        if task.only_slot is not None and task.only_slot not in slots:
            message = f"waits for slot {task.only_slot}, which holds the session it resumes"
            decisions.append(Decision(task, Verdict.WAIT_FOR_SLOT, message=message))
            continue
        if not slots:
            decisions.append(Decision(task, Verdict.WAIT_FOR_SLOT, message="all slots are busy"))
            continue
        slot = task.only_slot or _pick(task, slots, preferred)
        slots.remove(slot)
        ledger = ledger.reserve(task.reservation)
        decisions.append(Decision(task, Verdict.ASSIGN, slot, message=message))
    return decisions


def _pick(task: QueuedTask, slots: list[str], preferred: set[str]) -> str:
    """The task's preferred slot when idle, else the first idle slot no other task prefers
    (so a chain keeps its slot), else the first idle slot."""
    if task.preferred_slot in slots:
        return task.preferred_slot
    return next((s for s in slots if s not in preferred), slots[0])
