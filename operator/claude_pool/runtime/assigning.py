"""Cycle step 5: dispatch: the queue scheduled onto idle slots, assignments written, runs started.

Called by `runtime.worker` every cycle. `scheduling.dispatching.schedule` (pure) decides;
each assignment is written with the task's resourceVersion as a precondition before the slot
is told (a conflict means the task changed: the next cycle decides again), then the run is
started. Tasks that cannot start get one condition write saying why (budget, suspend,
credentials, unsupported mode, a spec.promptFrom key that cannot be read: the prompt is read
here, `runtime.promptreading`). The cycle's writes are issued concurrently.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Coroutine, Mapping
from typing import Any

from claude_pool.api.pools import ClaudePool
from claude_pool.api.reasons import TaskReason
from claude_pool.api.tasks import TaskMode
from claude_pool.budget.ledger import Ledger
from claude_pool.controllers.state import ClusterState, PodView, TaskView
from claude_pool.kube.client import Kube
from claude_pool.runtime import metrics
from claude_pool.runtime.announcing import Announcer
from claude_pool.runtime.logs import task_fields
from claude_pool.runtime.promptreading import read_prompt, read_prompts
from claude_pool.runtime.runs import RunTable
from claude_pool.runtime.spending import reservation
from claude_pool.runtime.starting import start_run
from claude_pool.runtime.statuswriting import StatusWriter
from claude_pool.scheduling.dispatching import QueuedTask, Verdict, schedule
from claude_pool.slots.planning import SlotState, SlotView
from claude_pool.status import tasks as transitions

log = logging.getLogger("claude_pool.worker")


async def dispatch(
    pool: ClaudePool,
    tasks: list[TaskView],
    views: list[SlotView],
    ledger: Ledger,
    now: dt.datetime,
    *,
    token: str | None,
    sessions: Mapping[str, str],
    credentials_problem: str | None,
    state: ClusterState,
    runs: RunTable,
    writer: StatusWriter,
    announcer: Announcer,
    kube: Kube,
) -> int:
    """One dispatch pass; returns how many tasks were assigned."""
    queued = [
        t
        for t in tasks
        if not t.finished
        and t.slot is None
        and t.uid not in runs
        and not t.cancel
        and t.invalid is None
        and t.spec is not None
    ]
    for task in (t for t in queued if t.mode is not TaskMode.SINGLE):
        assert task.status is not None
        patch = transitions.waiting(
            task.status,
            TaskReason.UNSUPPORTED_MODE,
            f"{task.mode} tasks are not run by this operator version yet; "
            "single-prompt tasks (spec.prompt) are",
            task.generation,
            now,
            mode=task.mode,
        )
        if patch is not None:
            await writer.patch_task(task, patch)
    queued = [t for t in queued if t.mode is TaskMode.SINGLE]
    if not queued or token is None:
        return 0
    idle = [v.name for v in views if v.state is SlotState.IDLE]
    prompts = await read_prompts(queued, len(idle), now, kube=kube, writer=writer)
    queued = [t for t in queued if t.uid not in prompts.waiting]
    items = [QueuedTask(t.uid, t.name, t.priority, t.created, reservation(pool, t)) for t in queued]
    by_uid = {t.uid: t for t in queued}
    pods = {p.name: p for p in state.pool_pods((pool.metadata.namespace or "", pool.metadata.name))}

    async def assign(task: TaskView, pod: PodView, message: str, reserved: int) -> bool:
        """Record the assignment (only if the task is unchanged), then start the run."""
        assert task.status is not None
        assert task.spec is not None
        prompt = prompts.read.get(task.uid)
        if task.spec.prompt_from is not None and prompt is None:
            outcome = await read_prompt(task, kube)  # not read before: tasks ahead waited
            if outcome.prompt is None:
                return False  # the next cycle reads it again, and says why it waits
            prompt = outcome.prompt
        patch = transitions.assigned(
            task.status,
            slot=pod.name,
            slot_uid=pod.uid,
            message=message,
            generation=task.generation,
            now=now,
        )
        run = runs.add(task.uid, pod, task.attempts + 1, reserved)  # holds the slot
        view = await writer.assign_task(task, patch)
        if view is None:
            runs.drop(task.uid)  # changed or deleted since we looked: the next cycle decides
            return False
        start_run(
            pool,
            view,
            pod,
            run,
            attach=False,
            token=token,
            session=sessions.get(pod.uid),
            state=state,
            runs=runs,
            writer=writer,
            announcer=announcer,
            prompt=prompt,
        )
        log.info(
            "task dispatched",
            extra=task_fields(
                task.namespace, task.pool, task.name, task.uid, pod.name, attempt=run.attempt
            ),
        )
        return True

    writes: list[Coroutine[Any, Any, bool | None]] = []
    for decision in schedule(items, idle, ledger, suspended=pool.spec.suspend):
        task = by_uid[decision.task.uid]
        assert task.status is not None
        if decision.verdict is Verdict.ASSIGN and decision.slot is not None:
            pod = pods.get(decision.slot)
            if pod is not None and pod.ip:
                writes.append(assign(task, pod, decision.message, decision.task.reservation))
            continue
        if decision.verdict is Verdict.WAIT_FOR_SLOT and credentials_problem is None:
            patch = transitions.queued(
                task.status, "admitted; waiting for a free slot", task.generation, now
            )
        else:
            reason, message = decision.reason, decision.message
            if decision.verdict is Verdict.WAIT_FOR_SLOT or reason is None:
                reason, message = TaskReason.POOL_NOT_READY, credentials_problem or message
            patch = transitions.waiting(task.status, reason, message, task.generation, now)
        if patch is not None:
            writes.append(writer.patch_task(task, patch))
    results = await asyncio.gather(*writes, return_exceptions=True)
    for error in (r for r in results if isinstance(r, BaseException)):
        log.warning("pool %s/%s: dispatch write failed: %s", *_key(pool), error)
    assigned = sum(1 for r in results if r is True)
    metrics.DISPATCHED.labels(*_key(pool)).inc(assigned)
    return assigned


def _key(pool: ClaudePool) -> tuple[str, str]:
    return (pool.metadata.namespace or "", pool.metadata.name)
