"""Pure: the JSON the MCP tools answer with, built from the api models (snake_case keys, money
in microdollars, as the seed's claude-pool-mcp answered).
"""

from __future__ import annotations

from typing import Any

from claude_pool.api.results import TaskResult
from claude_pool.api.tasks import ClaudeTask, task_mode
from claude_pool.sdk.summaries import PoolSummary, task_phase


def result_reply(result: TaskResult, output: str | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {
        "output": result.output if output is None else output,
        "success": result.success,
        "cost_microdollars": result.cost_microdollars,
        "turns_used": result.turns or 0,
        "elapsed_ms": result.duration_ms or 0,
        "model": result.model,
        "session_id": result.session_id,
    }
    if result.failure is not None:
        reply["failure"] = {"reason": str(result.failure.reason), "message": result.failure.message}
    return reply


def task_reply(task: ClaudeTask, output: str | None = None) -> dict[str, Any]:
    """A task: id, pool, phase, cost, progress and (once there) its result."""
    status = task.status
    reply: dict[str, Any] = {
        "task_id": task.metadata.name,
        "pool": task.spec.pool_ref.name,
        "phase": str(task_phase(task)),
        "mode": str(task_mode(task.spec)),
        "slot": status.slot,
        "cost_microdollars": status.cost_microdollars,
    }
    waiting = [c for c in status.conditions if c.type == "Admitted" and c.status == "False"]
    if waiting:
        reply["waiting"] = {"reason": waiting[0].reason, "message": waiting[0].message}
    if status.progress is not None:
        reply["progress"] = status.progress.model_dump(mode="json", exclude_none=True)
    if status.children is not None:
        reply["children"] = status.children.model_dump(mode="json", exclude_none=True)
    if status.items:
        reply["items"] = [
            {"index": i.index, "task_id": i.child, "phase": str(i.phase)} for i in status.items
        ]
    if status.steps:
        reply["steps"] = [
            {"name": s.name, "task_id": s.child, "phase": str(s.phase)} for s in status.steps
        ]
    if status.result is not None:
        reply["result"] = result_reply(status.result, output)
    return reply


def status_reply(summary: PoolSummary) -> dict[str, Any]:
    """The seed's PoolStatus fields, plus the cluster's own (ready, draining, state)."""
    tasks = summary.tasks
    return {
        "pool": summary.name,
        "namespace": summary.namespace,
        "total_slots": summary.replicas,
        "target_slots": summary.slots,
        "ready_slots": summary.ready,
        "idle_slots": summary.idle,
        "busy_slots": summary.busy,
        "draining_slots": summary.draining,
        "running_tasks": summary.running,
        "pending_tasks": summary.pending,
        "waiting_tasks": summary.waiting,
        "pending_review_tasks": tasks.get("AwaitingReview", 0),
        "completed_tasks": tasks.get("Succeeded", 0),
        "failed_tasks": tasks.get("Failed", 0),
        "cancelled_tasks": tasks.get("Cancelled", 0),
        "total_spend_microdollars": summary.spent_microdollars,
        "reserved_microdollars": summary.reserved_microdollars,
        "budget_microdollars": summary.limit_microdollars,
        "shutdown": summary.suspended,
        "state": summary.state,
    }
