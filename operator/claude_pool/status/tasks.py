"""A leaf task's status transitions, as merge patches of `.status` (pure).

Called by the pool worker; each function takes the task's current status and `now` and
returns the patch to write, or None when nothing would change (so nothing is written). Each
patch is a `ClaudeTaskStatus` built with the fields that change and dumped by
`status.rendering.dump`, so it is validated by the model the CRD is generated from.
Conditions are the truth; `phase` is re-derived from them in every patch. The output rule:
output up to `limit` characters is stored whole in status; longer output goes whole into a
ConfigMap owned by the task (`slots.outputs`), and status keeps its beginning with
`outputTruncated`, `outputSize` and `outputRef`. Nothing is cut silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from claude_pool.api.agent import AgentResult
from claude_pool.api.common import MAX_MESSAGE_LENGTH, MAX_OUTPUT_LENGTH, MAX_TURNS
from claude_pool.api.conditions import Condition, ConditionStatus, TaskConditionType, set_condition
from claude_pool.api.failures import FailureReason
from claude_pool.api.money import format_dollars
from claude_pool.api.phases import derive_phase
from claude_pool.api.reasons import TaskReason
from claude_pool.api.results import FailureDetails, TaskResult, TokenUsage
from claude_pool.api.tasks import ClaudeTaskStatus, Progress, TaskMode
from claude_pool.api.taskworkspaces import TaskWorkspace
from claude_pool.status.rendering import dump, stamp

T, F = ConditionStatus.TRUE, ConditionStatus.FALSE
Reason = TaskReason | FailureReason


def _status(conditions: list[Condition], **fields: Any) -> ClaudeTaskStatus:
    """The status fields to write, with the conditions and the phase derived from them."""
    return ClaudeTaskStatus(conditions=conditions, phase=derive_phase(conditions), **fields)


def waiting(
    status: ClaudeTaskStatus,
    reason: Reason,
    message: str,
    generation: int,
    now: datetime,
    *,
    mode: TaskMode = TaskMode.SINGLE,
) -> dict[str, Any] | None:
    """Admitted=False with the reason the task cannot start (pool, budget, suspend); `mode`
    is the task's (`task_mode(spec)`), so status.mode always matches the spec."""
    conditions = list(status.conditions)
    if not set_condition(
        conditions, TaskConditionType.ADMITTED, F, reason, message, generation, now
    ):
        return None
    return dump(_status(conditions, mode=mode, observed_generation=generation))


def waiting_for_slot(
    status: ClaudeTaskStatus, mode: TaskMode, generation: int, now: datetime
) -> dict[str, Any] | None:
    """The first status of a task that found no free slot: phase Pending, its mode, and
    Admitted=False WaitingForSlot, in one write. None when the task has an Admitted
    condition already (it was written before)."""
    if any(c.type == TaskConditionType.ADMITTED for c in status.conditions):
        return None
    return waiting(
        status,
        TaskReason.WAITING_FOR_SLOT,
        "queued in the pool; waiting for a free slot",
        generation,
        now,
        mode=mode,
    )


def queued(
    status: ClaudeTaskStatus, message: str, generation: int, now: datetime
) -> dict[str, Any] | None:
    """Admitted again after a wait (budget raised, pool resumed): Pending until a slot frees.

    Returns None unless the task carried Admitted=False: a task that simply waits for a
    slot gets no write (the pool's queue counts show it)."""
    admitted = next((c for c in status.conditions if c.type == TaskConditionType.ADMITTED), None)
    if admitted is None or admitted.status != F or admitted.reason == TaskReason.WAITING_FOR_SLOT:
        return None
    conditions = list(status.conditions)
    set_condition(
        conditions, TaskConditionType.ADMITTED, T, TaskReason.QUEUED, message, generation, now
    )
    return dump(_status(conditions, observed_generation=generation))


def assigned(
    status: ClaudeTaskStatus,
    *,
    slot: str,
    slot_uid: str,
    message: str,
    generation: int,
    now: datetime,
) -> dict[str, Any]:
    """The task is given to `slot`: written (with a resourceVersion) before the slot is told."""
    conditions = list(status.conditions)
    set_condition(
        conditions, TaskConditionType.ADMITTED, T, TaskReason.DISPATCHED, message, generation, now
    )
    set_condition(
        conditions,
        TaskConditionType.RUNNING,
        T,
        TaskReason.DISPATCHED,
        f"running on slot {slot} (attempt {status.attempts + 1})",
        generation,
        now,
    )
    first = {"start_time": stamp(now)} if status.start_time is None else {}
    return dump(
        _status(
            conditions,
            mode=TaskMode.SINGLE,
            slot=slot,
            slot_uid=slot_uid,
            attempts=status.attempts + 1,
            observed_generation=generation,
            **first,
        )
    )


def requeued(
    status: ClaudeTaskStatus, message: str, generation: int, now: datetime, cost: int
) -> dict[str, Any]:
    """The slot was lost (`message` says how): back to the queue, attempts stay counted.

    `cost` is the task's cost so far, the lost attempt's included."""
    conditions = list(status.conditions)
    set_condition(
        conditions,
        TaskConditionType.RUNNING,
        F,
        TaskReason.RETRYING,
        f"{FailureReason.SLOT_LOST.value}: {message}",
        generation,
        now,
    )
    return dump(_status(conditions, cost_microdollars=cost), clear=("slot", "slot_uid"))


def progressed(turns: int) -> dict[str, Any]:
    """A running task's progress report."""
    return dump(ClaudeTaskStatus(progress=Progress(turns=turns)))


def output_fields(output: str, limit: int, config_map: str) -> tuple[dict[str, Any], bool]:
    """The result's output fields (snake_case, for `TaskResult`), and whether the whole text
    needs a ConfigMap. `limit` is capped at what the CRD allows inline."""
    limit = min(limit, MAX_OUTPUT_LENGTH)
    size = len(output.encode())
    if len(output) <= limit:
        return {"output": output, "output_size": size}, False
    fields = {
        "output": output[:limit],
        "output_truncated": True,
        "output_size": size,
        "output_ref": config_map,
    }
    return fields, True


def _result(
    result: AgentResult, output: dict[str, Any], extra: Mapping[str, Any] | None = None
) -> TaskResult:
    failure = result.failure
    if extra:
        base = _result(result, output).model_dump(by_alias=True, exclude_none=True)
        return TaskResult.model_validate({**base, **extra})
    return TaskResult(
        **output,
        success=result.success,
        session_id=result.session_id or None,
        cost_microdollars=result.cost_microdollars,
        usage=TokenUsage.model_validate(result.usage.to_wire()),
        turns=min(result.turns, MAX_TURNS),
        duration_ms=result.duration_ms,
        model=result.model or None,
        structured_output=result.structured_output,
        failure=None
        if failure is None
        else FailureDetails(
            reason=failure.reason,
            message=failure.message[:MAX_MESSAGE_LENGTH],
            exit_code=failure.exit_code,
            stderr_tail=failure.stderr_tail[-MAX_MESSAGE_LENGTH:] or None,
        ),
    )


def finished(
    status: ClaudeTaskStatus,
    result: AgentResult,
    *,
    output: dict[str, Any],
    cancelled: bool,
    generation: int,
    now: datetime,
    extra: Mapping[str, Any] | None = None,
    model_check: tuple[bool, TaskReason, str] | None = None,
) -> dict[str, Any]:
    """The run ended: result, cost, and Succeeded, Failed or Cancelled.

    `extra` holds more status.result fields (camelCase: requestedModel, resolvedModel,
    permissionDenials); `model_check` (mismatch, reason, message) sets ModelMismatch."""
    conditions = list(status.conditions)
    failure = result.failure
    kind: TaskConditionType
    reason: Reason
    if result.success:
        kind, reason, message = (
            TaskConditionType.SUCCEEDED,
            TaskReason.COMPLETED,
            "the run succeeded",
        )
    elif cancelled or (failure is not None and failure.reason is FailureReason.CANCELLED):
        kind, reason, message = (
            TaskConditionType.CANCELLED,
            TaskReason.CANCEL_REQUESTED,
            "cancelled",
        )
    else:
        kind = TaskConditionType.FAILED
        reason = failure.reason if failure else FailureReason.MODEL_ERROR
        message = failure.message if failure else "the run failed"
    set_condition(
        conditions, TaskConditionType.RUNNING, F, TaskReason.FINISHED, message, generation, now
    )
    set_condition(conditions, kind, T, reason, message, generation, now)
    if model_check is not None:
        mismatch, why, text = model_check
        set_condition(
            conditions,
            TaskConditionType.MODEL_MISMATCH,
            T if mismatch else F,
            why,
            text,
            generation,
            now,
        )
    cost = status.cost_microdollars + result.cost_microdollars
    fields: dict[str, Any] = {}
    if result.workspace is not None:
        fields["workspace"] = TaskWorkspace.from_result(result.workspace, status.slot)
    return dump(
        _status(
            conditions,
            result=_result(result, output, extra),
            cost_microdollars=cost,
            cost=format_dollars(cost),
            completion_time=stamp(now),
            **fields,
        ),
        clear=("progress",),
    )


def failed(
    status: ClaudeTaskStatus,
    reason: Reason,
    message: str,
    generation: int,
    now: datetime,
    *,
    cancelled: bool = False,
    cost: int | None = None,
) -> dict[str, Any]:
    """The task ends without a (new) run result: invalid spec, retries exhausted, cancelled.

    `cost`, when given, is the task's total cost (a lost attempt's included)."""
    conditions = list(status.conditions)
    kind = TaskConditionType.CANCELLED if cancelled else TaskConditionType.FAILED
    if any(c.type == TaskConditionType.RUNNING for c in conditions):
        set_condition(conditions, TaskConditionType.RUNNING, F, reason, message, generation, now)
    set_condition(conditions, kind, T, reason, message, generation, now)
    fields: dict[str, Any] = {"completion_time": stamp(now), "observed_generation": generation}
    if cost is not None:
        fields["cost_microdollars"] = cost
    if not cancelled and isinstance(reason, FailureReason):
        fields["result"] = TaskResult(
            success=False,
            failure=FailureDetails(reason=reason, message=message[:MAX_MESSAGE_LENGTH]),
        )
    return dump(_status(conditions, **fields))
