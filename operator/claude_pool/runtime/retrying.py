"""A task whose slot was lost: back to the queue with the attempt counted, or failed.

Shared by the recording and supervising steps (`runtime.recording`, `runtime.supervising`):
the run leaves the run table; while attempts remain (spec.supervision.maxTaskAttempts) the
task is requeued (Running=False Retrying, a Warning Event Retrying), else it fails with
SlotLost. The cost of the lost attempt, if the slot reported one, stays in the task's cost.
"""

from __future__ import annotations

import datetime as dt
import logging

from claude_pool.api.failures import FailureReason
from claude_pool.api.money import format_dollars
from claude_pool.api.pools import ClaudePool
from claude_pool.controllers.state import TaskView
from claude_pool.runtime.announcing import Announcer, EventReason
from claude_pool.runtime.logs import task_fields
from claude_pool.runtime.runs import RunTable
from claude_pool.runtime.statuswriting import StatusWriter
from claude_pool.status import tasks as transitions

log = logging.getLogger("claude_pool.worker")


async def retry_or_fail(
    pool: ClaudePool,
    task: TaskView,
    why: str,
    now: dt.datetime,
    *,
    runs: RunTable,
    writer: StatusWriter,
    announcer: Announcer,
    extra_cost: int = 0,
) -> None:
    """The slot was lost (`why`): requeue the task, or fail it after its last attempt."""
    assert task.status is not None
    runs.drop(task.uid)
    limit = pool.spec.supervision.max_task_attempts
    cost = task.status.cost_microdollars + extra_cost
    fields = task_fields(
        task.namespace, task.pool, task.name, task.uid, task.slot, attempt=task.attempts
    )
    if task.attempts >= limit:
        message = f"{why}; {task.attempts} of {limit} attempts used"
        log.info(
            "task finished: %s",
            message,
            extra={**fields, "reason": FailureReason.SLOT_LOST.value, "cost": format_dollars(cost)},
        )
        patch = transitions.failed(
            task.status, FailureReason.SLOT_LOST, message, task.generation, now, cost=cost
        )
        await writer.patch_task(task, patch)
        announcer.event(task.involved(), EventReason.SLOT_LOST, message, warning=True)
        return
    log.info("task retried: %s", why, extra=fields)
    patch = transitions.requeued(task.status, why, task.generation, now, cost)
    await writer.patch_task(task, patch)
    announcer.event(task.involved(), EventReason.RETRYING, f"{why}; retrying", warning=True)
