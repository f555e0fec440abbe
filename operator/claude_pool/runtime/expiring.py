"""Cycle step 7: ttlSecondsAfterFinished: finished tasks deleted once their TTL ran out.

Called by `runtime.worker` every cycle with the pool's tasks. The rule is
`scheduling.expiry` (pure, the Job TTL controller's): a task's own TTL, else the pool's
default; kept forever with neither. A task whose run this worker still follows (its cost not
committed yet) is never deleted; a finished task's cost is already in the pool's
`status.budget.spentMicrodollars`, which a deletion does not change. Deletes carry the
task's uid as a precondition, owned objects (the output ConfigMap) follow by garbage
collection, and the worker's alarm wakes it when the next TTL runs out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from claude_pool.api.pools import ClaudePool
from claude_pool.controllers.state import TaskView
from claude_pool.kube.client import TASKS, Conflict, Kube, NotFound
from claude_pool.runtime.alarm import Alarm
from claude_pool.runtime.logs import task_fields
from claude_pool.runtime.runs import RunTable
from claude_pool.scheduling.expiry import FinishedTask, plan_expiry

log = logging.getLogger("claude_pool.worker")


async def expire(
    pool: ClaudePool,
    tasks: list[TaskView],
    now: dt.datetime,
    *,
    runs: RunTable,
    kube: Kube,
    alarm: Alarm,
) -> int:
    """Delete the finished tasks whose TTL ran out; returns how many were deleted."""
    default = pool.spec.ttl_seconds_after_finished
    finished = {t.uid: t for t in tasks if t.finished and t.finished_at is not None}
    if not finished or (default is None and all(t.ttl_seconds is None for t in finished.values())):
        return 0
    plan = plan_expiry(
        (
            FinishedTask(
                key=t.uid,
                finished=t.finished_at,
                ttl_seconds=t.ttl_seconds,
                cost_committed=t.uid not in runs,
            )
            for t in finished.values()
            if t.finished_at is not None
        ),
        default,
        now,
    )
    if plan.next_due is not None:
        alarm.at((plan.next_due - now).total_seconds())

    async def delete(task: TaskView) -> bool:
        try:
            await kube.delete_custom(TASKS, task.namespace, task.name, uid=task.uid)
        except (NotFound, Conflict):
            return False
        log.info(
            "task deleted: ttlSecondsAfterFinished ran out",
            extra=task_fields(task.namespace, task.pool, task.name, task.uid),
        )
        return True

    results = await asyncio.gather(
        *(delete(finished[key]) for key in plan.delete), return_exceptions=True
    )
    for error in (r for r in results if isinstance(r, BaseException)):
        log.warning("pool %s/%s: deleting an expired task failed: %s", *_key(pool), error)
    return sum(1 for r in results if r is True)


def _key(pool: ClaudePool) -> tuple[str, str]:
    return (pool.metadata.namespace or "", pool.metadata.name)
