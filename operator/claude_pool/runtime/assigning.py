"""Cycle step 5: dispatch: the queue scheduled onto idle slots, assignments written, runs started.

Called by `runtime.worker` every cycle. `scheduling.dispatching.schedule` (pure) decides;
each assignment is written with the task's resourceVersion as a precondition before the slot
is told (a conflict means the task changed: the next cycle decides again), then the run is
started. Tasks that cannot start get one condition write saying why (budget, suspend,
credentials, a spec.promptFrom key that cannot be read: the prompt is read here,
`runtime.promptreading`). Only leaves run (composite tasks are the composing step's); a
chain step gets the slot of the step before when it is free. The cycle's writes are issued
concurrently. The assignment write also records what the start carries
(`workflows.starting.plan_start`: the slot's messages in `status.messages`, the context
revision in `status.contextRevision`); the messages' deliveries are written after it
(`runtime.mailbox`). A review re-run that resumes its rejected session may only run on the
slot pod holding it (fresh if that pod is gone). With a pool workspace, a chain step that
shares its chain's unpushed worktree may only run on the slot of the step before
(`workflows.workspacing.chain_slot`); while no slot's clone is ready, tasks wait with
WorkspaceUnavailable (`workspace_problem`), and a step of a chain with isolation worktree
on a pool without a workspace waits saying so.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Collection, Coroutine, Mapping
from typing import Any

from claude_pool.api.messages import ClaudeMessage
from claude_pool.api.modes import ChainIsolation
from claude_pool.api.pools import ClaudePool
from claude_pool.api.reasons import TaskReason
from claude_pool.api.tasks import TaskMode
from claude_pool.budget.ledger import Ledger
from claude_pool.controllers.state import ClusterState, PodView, TaskView
from claude_pool.kube.client import Kube
from claude_pool.runtime import metrics
from claude_pool.runtime.announcing import Announcer
from claude_pool.runtime.logs import task_fields
from claude_pool.runtime.mailbox import carriers, write_deliveries
from claude_pool.runtime.promptreading import read_prompt, read_prompts
from claude_pool.runtime.runs import RunTable
from claude_pool.runtime.spending import reservation
from claude_pool.runtime.starting import chain_place, resumed_session, start_run
from claude_pool.runtime.statuswriting import StatusWriter
from claude_pool.scheduling.dispatching import QueuedTask, Verdict, schedule
from claude_pool.slots.planning import SlotState, SlotView
from claude_pool.status import tasks as transitions
from claude_pool.workflows.messages import claimed
from claude_pool.workflows.starting import plan_start
from claude_pool.workflows.workspacing import NO_WORKSPACE_FOR_CHAIN, chain_slot

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
    workspace_problem: str | None = None,
    runs: RunTable,
    writer: StatusWriter,
    announcer: Announcer,
    messages: list[ClaudeMessage] | None = None,
    kube: Kube,
    only: Collection[str] | None = None,
) -> int:
    """One dispatch pass; returns how many tasks were assigned. `only` (the hand-off's new
    children) limits the pass to those task uids and to assignments: a task of them that
    cannot start now is left to the cycle's own pass. The other queued tasks still take
    their place in the plan (priority, then age), so a hand-off never takes a slot that a
    task ahead of it in the queue would get: only what they leave is handed off."""
    waiting = [
        t
        for t in tasks
        if not t.finished
        and t.slot is None
        and t.uid not in runs
        and not t.cancel
        and t.invalid is None
        and t.spec is not None
        and t.mode is TaskMode.SINGLE  # composites: composing.py
    ]
    queued = [t for t in waiting if only is None or t.uid in only]
    ahead = [] if only is None else [t for t in waiting if t.uid not in only]
    if not queued or token is None:
        return 0
    homeless = [t for t in queued if _needs_workspace(pool, t, state)]
    for task in homeless:
        assert task.status is not None
        patch = transitions.waiting(
            task.status,
            TaskReason.WORKSPACE_UNAVAILABLE,
            NO_WORKSPACE_FOR_CHAIN,
            task.generation,
            now,
        )
        if patch is not None:
            await writer.patch_task(task, patch)
    queued = [t for t in queued if t not in homeless]
    idle = [v.name for v in views if v.state is SlotState.IDLE]
    prompts = await read_prompts(queued, len(idle), now, kube=kube, writer=writer)
    queued = [t for t in queued if t.uid not in prompts.waiting]
    by_uid = {t.uid: t for t in queued}
    pods = {p.name: p for p in state.pool_pods((pool.metadata.namespace or "", pool.metadata.name))}
    items = [
        QueuedTask(
            t.uid,
            t.name,
            t.priority,
            t.created,
            reservation(pool, t),
            preferred_slot=t.preferred_slot,
            only_slot=_resume_slot(t, pods) or _chain_slot(pool, t, pods, state),
        )
        for t in (*queued, *ahead)
    ]
    carried = carriers(tasks, pool.metadata.name)
    delivered: list[tuple[str, int, str]] = []

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
        model = task.as_task()
        assert model is not None
        plan = plan_start(pool, model, pod.index, messages or [], claimed(carried, pod.index))
        patch = transitions.assigned(
            task.status,
            slot=pod.name,
            slot_uid=pod.uid,
            message=message,
            generation=task.generation,
            now=now,
        )
        patch.update(plan.status_fields())
        run = runs.add(task.uid, pod, task.attempts + 1, reserved)  # holds the slot
        view = await writer.assign_task(task, patch)
        if view is None:
            runs.drop(task.uid)  # changed or deleted since we looked: the next cycle decides
            return False
        delivered.extend((name, pod.index, task.name) for name in plan.messages)
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
        if decision.task.uid not in by_uid:
            continue  # a task ahead of the hand-off's: the cycle's own pass assigns it
        task = by_uid[decision.task.uid]
        assert task.status is not None
        if decision.verdict is Verdict.ASSIGN and decision.slot is not None:
            pod = pods.get(decision.slot)
            if pod is not None and pod.ip:
                writes.append(assign(task, pod, decision.message, decision.task.reservation))
            continue
        if only is not None:
            continue
        if decision.verdict is Verdict.WAIT_FOR_SLOT and credentials_problem is None:
            if workspace_problem is not None:
                patch = transitions.waiting(
                    task.status,
                    TaskReason.WORKSPACE_UNAVAILABLE,
                    workspace_problem,
                    task.generation,
                    now,
                )
            else:
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
    if delivered:
        await write_deliveries(_key(pool), delivered, now, kube=kube, state=state)
    assigned = sum(1 for r in results if r is True)
    metrics.DISPATCHED.labels(*_key(pool)).inc(assigned)
    return assigned


def _resume_slot(task: TaskView, pods: Mapping[str, PodView]) -> str | None:
    """The slot a review re-run must run on to resume its session (None: any slot)."""
    model = task.as_task()
    target = model.status.review if model is not None else None
    if target is None or target.resume_slot is None:
        return None
    pod = pods.get(target.resume_slot)
    if pod is None or pod.terminating or resumed_session(task, pod) is None:
        return None  # the pod is gone or replaced: a fresh session on any slot
    return pod.name


def _chain_slot(
    pool: ClaudePool, task: TaskView, pods: Mapping[str, PodView], state: ClusterState
) -> str | None:
    """The slot holding the unpushed worktree of the chain `task` continues (None: any)."""
    slot = chain_slot(pool.spec.workspace, chain_place(task, state), task.preferred_slot)
    pod = pods.get(slot or "")
    return None if pod is None or pod.terminating else pod.name


def _needs_workspace(pool: ClaudePool, task: TaskView, state: ClusterState) -> bool:
    """A step of a chain with isolation worktree, on a pool without a workspace."""
    if pool.spec.workspace is not None or task.step is None:
        return False
    chain = chain_place(task, state)
    return chain is not None and chain.isolation is ChainIsolation.WORKTREE


def _key(pool: ClaudePool) -> tuple[str, str]:
    return (pool.metadata.namespace or "", pool.metadata.name)
