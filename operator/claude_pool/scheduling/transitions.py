"""A leaf task's status transitions, as merge patches of `.status` (pure).

Called by the pool worker; each function takes the task's current status and `now` and
returns the patch to write, or None when nothing would change (so nothing is written).
Conditions are the truth; `phase` is re-derived from them in every patch. The output rule:
output up to `limit` characters is stored whole in status; longer output goes whole into a
ConfigMap owned by the task (`output_config_map`), and status keeps its beginning with
`outputTruncated`, `outputSize` and `outputRef`; beyond what a ConfigMap holds, the
ConfigMap keeps the beginning too and says so. Nothing is cut silently.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from claude_pool.api.agent import TaskResult as AgentResult
from claude_pool.api.conditions import Condition, ConditionStatus, TaskConditionType, set_condition
from claude_pool.api.failures import FailureReason
from claude_pool.api.money import format_dollars
from claude_pool.api.phases import derive_phase
from claude_pool.api.reasons import TaskReason
from claude_pool.api.tasks import ClaudeTaskStatus, TaskMode

CONFIG_MAP_LIMIT = 1_000_000
"""Bytes of output a ConfigMap keeps (a ConfigMap holds at most 1 MiB)."""

T, F = ConditionStatus.TRUE, ConditionStatus.FALSE


def _stamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def _conditions_patch(conditions: list[Condition]) -> dict[str, Any]:
    return {
        "conditions": [
            c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in conditions
        ],
        "phase": derive_phase(conditions).value,
    }


def waiting(
    status: ClaudeTaskStatus, reason: str, message: str, generation: int, now: datetime
) -> dict[str, Any] | None:
    """Admitted=False with the reason the task cannot start (pool, budget, suspend)."""
    conditions = list(status.conditions)
    if not set_condition(
        conditions, TaskConditionType.ADMITTED, F, reason, message, generation, now
    ):
        return None
    return {
        **_conditions_patch(conditions),
        "mode": TaskMode.SINGLE.value,
        "observedGeneration": generation,
    }


def queued(
    status: ClaudeTaskStatus, message: str, generation: int, now: datetime
) -> dict[str, Any] | None:
    """Admitted again after a wait (budget raised, pool resumed): Pending until a slot frees.

    Returns None unless the task carried Admitted=False: a task that simply waits for a
    slot gets no write (the pool's queue counts show it)."""
    admitted = next((c for c in status.conditions if c.type == TaskConditionType.ADMITTED), None)
    if admitted is None or admitted.status != F:
        return None
    conditions = list(status.conditions)
    set_condition(
        conditions, TaskConditionType.ADMITTED, T, TaskReason.QUEUED, message, generation, now
    )
    return {**_conditions_patch(conditions), "observedGeneration": generation}


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
    return {
        **_conditions_patch(conditions),
        "mode": TaskMode.SINGLE.value,
        "slot": slot,
        "slotUid": slot_uid,
        "attempts": status.attempts + 1,
        "startTime": _stamp(now) if status.start_time is None else None,
        "observedGeneration": generation,
    }


def requeued(
    status: ClaudeTaskStatus, reason: str, message: str, generation: int, now: datetime
) -> dict[str, Any]:
    """The slot was lost: the task goes back to the queue (attempts stay counted)."""
    conditions = list(status.conditions)
    set_condition(
        conditions,
        TaskConditionType.RUNNING,
        F,
        TaskReason.RETRYING,
        f"{reason}: {message}",
        generation,
        now,
    )
    return {**_conditions_patch(conditions), "slot": None, "slotUid": None}


def output_fields(output: str, limit: int, config_map: str) -> tuple[dict[str, Any], str | None]:
    """The result's output fields, and the text to keep in a ConfigMap (None: not needed)."""
    size = len(output.encode())
    if len(output) <= limit:
        return {"output": output, "outputSize": size}, None
    kept = output.encode()[:CONFIG_MAP_LIMIT].decode(errors="ignore")
    fields = {
        "output": output[:limit],
        "outputTruncated": True,
        "outputSize": size,
        "outputRef": config_map,
    }
    return fields, kept


def output_config_map(
    name: str, namespace: str, owner: dict[str, str], text: str, size: int
) -> dict[str, Any]:
    """The ConfigMap holding a long output, owned by its task."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "claude-pool"},
            "ownerReferences": [{**owner, "controller": True, "blockOwnerDeletion": True}],
            "annotations": {
                "claudepool.io/output-size": str(size),
                "claudepool.io/output-truncated": str(len(text.encode()) < size).lower(),
            },
        },
        "data": {"output": text},
    }


def finished(
    status: ClaudeTaskStatus,
    result: AgentResult,
    *,
    output: dict[str, Any],
    cancelled: bool,
    generation: int,
    now: datetime,
) -> dict[str, Any]:
    """The run ended: result, cost, and Succeeded, Failed or Cancelled."""
    conditions = list(status.conditions)
    failure = result.failure
    kind: TaskConditionType
    reason: str
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
        reason = failure.reason.value if failure else FailureReason.MODEL_ERROR.value
        message = failure.message if failure else "the run failed"
    set_condition(
        conditions, TaskConditionType.RUNNING, F, TaskReason.FINISHED, message, generation, now
    )
    set_condition(conditions, kind, T, reason, message, generation, now)
    cost = status.cost_microdollars + result.cost_microdollars
    body: dict[str, Any] = {
        **output,
        "success": result.success,
        "sessionId": result.session_id,
        "costMicrodollars": result.cost_microdollars,
        "usage": result.usage.to_wire(),
        "turns": result.turns,
        "durationMs": result.duration_ms,
        "model": result.model,
    }
    if result.structured_output is not None:
        body["structuredOutput"] = result.structured_output
    if failure is not None:
        body["failure"] = {
            "reason": failure.reason.value,
            "message": failure.message[:4096],
            "exitCode": failure.exit_code,
            "stderrTail": failure.stderr_tail[-4096:] or None,
        }
    return {
        **_conditions_patch(conditions),
        "result": {k: v for k, v in body.items() if v is not None},
        "costMicrodollars": cost,
        "cost": format_dollars(cost),
        "completionTime": _stamp(now),
        "progress": None,
    }


def failed(
    status: ClaudeTaskStatus,
    reason: str,
    message: str,
    generation: int,
    now: datetime,
    cancelled: bool = False,
) -> dict[str, Any]:
    """The task ends without a (new) run result: invalid spec, retries exhausted, cancelled."""
    conditions = list(status.conditions)
    kind = TaskConditionType.CANCELLED if cancelled else TaskConditionType.FAILED
    if any(c.type == TaskConditionType.RUNNING for c in conditions):
        set_condition(conditions, TaskConditionType.RUNNING, F, reason, message, generation, now)
    set_condition(conditions, kind, T, reason, message, generation, now)
    patch: dict[str, Any] = {
        **_conditions_patch(conditions),
        "completionTime": _stamp(now),
        "observedGeneration": generation,
    }
    if not cancelled and reason in FailureReason.__members__.values():
        patch["result"] = {"success": False, "failure": {"reason": reason, "message": message}}
    return patch
