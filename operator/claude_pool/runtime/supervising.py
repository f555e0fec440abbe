"""Cycle step 3: supervising runs: re-attach after a restart, lost slots, cancels, invalid tasks.

Called by `runtime.worker` every cycle. Live tasks assigned before this process started are
followed again (or retried when their slot is gone); runs whose pod was deleted are retried
or failed; cancel requests and deleted tasks are passed to their slot; a task cancelled
before it started is finished as Cancelled; a task whose body does not parse fails with
InvalidSpec.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Mapping

from claude_pool.api.phases import TaskPhase
from claude_pool.api.pools import ClaudePool
from claude_pool.api.reasons import TaskReason
from claude_pool.api.tasks import ClaudeTaskStatus
from claude_pool.controllers.state import ClusterState, PodView, TaskView
from claude_pool.runtime.announcing import Announcer, EventReason
from claude_pool.runtime.logs import task_fields
from claude_pool.runtime.retrying import retry_or_fail
from claude_pool.runtime.runs import RunTable, base_url
from claude_pool.runtime.spending import reservation
from claude_pool.runtime.starting import start_run
from claude_pool.runtime.statuswriting import StatusWriter
from claude_pool.slots.client import SlotClient, SlotError, SlotUnreachable
from claude_pool.status import tasks as transitions

log = logging.getLogger("claude_pool.worker")


async def supervise(
    pool: ClaudePool,
    tasks: list[TaskView],
    pods: Mapping[str, PodView],
    now: dt.datetime,
    *,
    token: str | None,
    sessions: Mapping[str, str],
    state: ClusterState,
    runs: RunTable,
    slots: SlotClient,
    writer: StatusWriter,
    announcer: Announcer,
) -> None:
    """One supervision pass (see the module docstring)."""

    async def retry(task: TaskView, why: str) -> None:
        await retry_or_fail(pool, task, why, now, runs=runs, writer=writer, announcer=announcer)

    live = {t.uid: t for t in tasks if not t.finished}
    for task in live.values():
        if task.slot is None or task.uid in runs or task.phase is TaskPhase.AWAITING_REVIEW:
            continue  # (a result awaiting review keeps its slot's name for the re-run)
        # assigned before (an operator restart): re-attach, or the slot is gone
        pod = pods.get(task.slot)
        if pod is None or pod.uid != task.slot_uid or pod.terminating or not pod.ip:
            if pod is not None and pod.uid == task.slot_uid and not pod.ip:
                continue  # the pod restarts: wait for it
            await retry(task, f"slot {task.slot} is gone")
            continue
        if token is None or task.spec is None:
            continue
        run = runs.add(task.uid, pod, task.attempts, reservation(pool, task))
        start_run(
            pool,
            task,
            pod,
            run,
            attach=True,
            token=token,
            session=sessions.get(pod.uid),
            state=state,
            runs=runs,
            writer=writer,
            announcer=announcer,
        )
    for run in runs:
        followed = live.get(run.uid)
        pod = pods.get(run.slot)
        if followed is None or followed.cancel:
            if not run.cancel_sent and pod is not None and pod.ip and token:
                run.cancel_sent = True
                name = followed.name if followed is not None else ""
                log.info(
                    "task cancelled on its slot (%s)",
                    "spec.cancel" if followed is not None else "the task was deleted",
                    extra=task_fields(
                        pool.metadata.namespace or "", pool.metadata.name, name, run.uid, run.slot
                    ),
                )
                with contextlib.suppress(SlotUnreachable, SlotError):
                    await slots.cancel(base_url(pod), token, run.uid)
        elif (pod is None or pod.terminating) and run.task is not None and not run.task.done():
            runs.drop(run.uid, cancel=True)
            await retry(followed, f"slot {run.slot} was deleted")
    for task in live.values():
        if task.cancel and task.slot is None and task.status is not None and not task.composite:
            message = "cancelled before it started"
            log.info(
                "task cancelled: %s",
                message,
                extra=task_fields(task.namespace, task.pool, task.name, task.uid),
            )
            patch = transitions.failed(
                task.status,
                TaskReason.CANCEL_REQUESTED,
                message,
                task.generation,
                now,
                cancelled=True,
            )
            await writer.patch_task(task, patch)
            announcer.event(task.involved(), EventReason.CANCELLED, message)
        elif task.invalid is not None:
            patch = transitions.failed(
                ClaudeTaskStatus(),
                TaskReason.INVALID_SPEC,
                f"invalid spec: {task.invalid}",
                task.generation,
                now,
            )
            await writer.patch_task(task, patch)
