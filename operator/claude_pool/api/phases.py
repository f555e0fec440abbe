"""A ClaudeTask's phase: one word for printer columns, derived purely from its conditions.

Conditions are the truth (API conventions); the phase is a summary the task controller
stores in `status.phase` after every condition change, so `kubectl get ctask` can show it.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from claude_pool.api.conditions import (
    Condition,
    ConditionStatus,
    TaskConditionType,
    get_condition,
    is_true,
)
from claude_pool.api.reasons import TaskReason


class TaskPhase(StrEnum):
    """The summary state of a ClaudeTask."""

    PENDING = "Pending"
    """Not yet seen by the operator, or queued for a slot (Admitted=False, WaitingForSlot)."""
    WAITING = "Waiting"
    """Cannot be admitted yet (Admitted=False: pool missing or suspended, budget)."""
    RUNNING = "Running"
    """A slot, or a composite's children, work on it."""
    AWAITING_REVIEW = "AwaitingReview"
    """A result waits for approve or reject (Reviewed=False, reason AwaitingReview)."""
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


FINISHED_PHASES = frozenset({TaskPhase.SUCCEEDED, TaskPhase.FAILED, TaskPhase.CANCELLED})

# First True condition wins; terminal conditions first, so a finished task never looks live.
_TERMINAL: tuple[tuple[TaskConditionType, TaskPhase], ...] = (
    (TaskConditionType.CANCELLED, TaskPhase.CANCELLED),
    (TaskConditionType.FAILED, TaskPhase.FAILED),
    (TaskConditionType.SUCCEEDED, TaskPhase.SUCCEEDED),
)


def derive_phase(conditions: Sequence[Condition]) -> TaskPhase:
    """The phase that the conditions describe.

    Cancelled > Failed > Succeeded (the first that is True), then AwaitingReview when
    Reviewed is False with reason AwaitingReview, then Running when True, then Waiting when
    Admitted is False for a reason other than WaitingForSlot, else Pending (queued for a
    slot, or not yet admitted).
    """
    for condition_type, phase in _TERMINAL:
        if is_true(conditions, condition_type):
            return phase
    reviewed = get_condition(conditions, TaskConditionType.REVIEWED)
    if (
        reviewed is not None
        and reviewed.status == ConditionStatus.FALSE
        and reviewed.reason == TaskReason.AWAITING_REVIEW
    ):
        return TaskPhase.AWAITING_REVIEW
    if is_true(conditions, TaskConditionType.RUNNING):
        return TaskPhase.RUNNING
    admitted = get_condition(conditions, TaskConditionType.ADMITTED)
    if (
        admitted is not None
        and admitted.status == ConditionStatus.FALSE
        and admitted.reason != TaskReason.WAITING_FOR_SLOT
    ):
        return TaskPhase.WAITING
    return TaskPhase.PENDING


def is_finished(phase: TaskPhase) -> bool:
    """Whether the phase is terminal (Succeeded, Failed or Cancelled)."""
    return phase in FINISHED_PHASES
