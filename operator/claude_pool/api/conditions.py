"""Kubernetes-style status conditions and the pure helpers that maintain them.

Controllers compute the condition they want and call `set_condition(...)`, which edits the
list in place and tells them whether anything changed, so no status write happens when
nothing did. `lastTransitionTime` moves only when the status flips, as
`kubectl wait --for=condition=...` and the API conventions expect. The clock is injected:
callers pass `now`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field

from claude_pool.api.common import MAX_CONDITIONS, MAX_MESSAGE_LENGTH, StatusModel

CONDITION_TYPE_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


class ConditionStatus(StrEnum):
    """The status of a condition."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class PoolConditionType(StrEnum):
    """Condition types of a ClaudePool."""

    READY = "Ready"
    """All desired slots are up and the credentials exist."""
    DEGRADED = "Degraded"
    """Slots keep failing (restart limit reached) or cannot be created."""
    BUDGET_EXHAUSTED = "BudgetExhausted"
    """Spent plus reserved money reached the limit: no new task starts."""
    SUSPENDED = "Suspended"
    """spec.suspend is set: nothing new is dispatched; running tasks finish (drain)."""
    WORKSPACE_UNAVAILABLE = "WorkspaceUnavailable"
    """A slot cannot clone spec.workspace (unreachable, credentials refused, unknown ref):
    tasks wait (only on pools with a workspace)."""


class TaskConditionType(StrEnum):
    """Condition types of a ClaudeTask."""

    ADMITTED = "Admitted"
    """True: queued in its pool. False: waiting (the reason says for what)."""
    RUNNING = "Running"
    """True while a slot (or, for composites, a child) works on the task."""
    REVIEWED = "Reviewed"
    """Review gate: False with reason AwaitingReview while a result waits for approve or
    reject, False with reason Rejected while a rejected task runs again, True once approved."""
    SUCCEEDED = "Succeeded"
    """Terminal: the task produced an accepted result."""
    FAILED = "Failed"
    """Terminal: the reason is a FailureReason or a composite reason."""
    CANCELLED = "Cancelled"
    """Terminal: spec.cancel was set and the work was stopped."""
    MODEL_MISMATCH = "ModelMismatch"
    """True when the model that answered (and was billed) is not the one requested."""


ConditionType = PoolConditionType | TaskConditionType


class Condition(StatusModel):
    """One observation about an object's state (metav1.Condition)."""

    model_config = ConfigDict(frozen=True)

    type: Annotated[str, Field(min_length=1, max_length=316, pattern=CONDITION_TYPE_PATTERN)]
    """Type of the condition, e.g. Ready or Succeeded."""
    status: ConditionStatus
    """True, False or Unknown."""
    reason: Annotated[str, Field(min_length=1, max_length=1024, pattern=REASON_PATTERN)]
    """A CamelCase code for the last transition."""
    message: Annotated[str, Field(max_length=MAX_MESSAGE_LENGTH)] = ""
    """Human-readable details."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The .metadata.generation the condition was computed from."""
    last_transition_time: datetime
    """When the status last changed."""


def get_condition(conditions: Sequence[Condition], type: str) -> Condition | None:
    """The condition of the given type, or None."""
    return next((c for c in conditions if c.type == type), None)


def is_true(conditions: Sequence[Condition], type: str) -> bool:
    """Whether the condition of the given type exists with status True."""
    found = get_condition(conditions, type)
    return found is not None and found.status == ConditionStatus.TRUE


def set_condition(
    conditions: list[Condition],
    type: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    observed_generation: int | None,
    now: datetime,
) -> bool:
    """Add or update one condition in place; return whether anything changed.

    `lastTransitionTime` becomes `now` (to the second) when the condition is new or its
    status changes; a change of only reason, message or generation keeps the old time.
    """
    message = message[:MAX_MESSAGE_LENGTH]
    for index, old in enumerate(conditions):
        if old.type != type:
            continue
        if (old.status, old.reason, old.message, old.observed_generation) == (
            status,
            reason,
            message,
            observed_generation,
        ):
            return False
        transition = (
            now.replace(microsecond=0) if old.status != status else old.last_transition_time
        )
        conditions[index] = Condition(
            type=type,
            status=status,
            reason=reason,
            message=message,
            observed_generation=observed_generation,
            last_transition_time=transition,
        )
        return True
    conditions.append(
        Condition(
            type=type,
            status=status,
            reason=reason,
            message=message,
            observed_generation=observed_generation,
            last_transition_time=now.replace(microsecond=0),
        )
    )
    return True


def remove_condition(conditions: list[Condition], type: str) -> bool:
    """Remove the condition of the given type in place; return whether it was there."""
    before = len(conditions)
    conditions[:] = [c for c in conditions if c.type != type]
    return len(conditions) != before


Conditions = Annotated[
    list[Condition],
    Field(
        max_length=MAX_CONDITIONS,
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    ),
]
"""The conditions list of a status: at most one entry per type."""
