"""Starting or re-attaching to one task's run: the request resolved, the callbacks wired.

Shared by the dispatch step (a new assignment) and the supervising step (a task assigned
before this process started). Resolves the pool defaults and task overrides into the
agent's request, adds what the task's start carries (`start_plan`: the review feedback, the
messages its assignment recorded in `status.messages`, the slot's identity line, and the
rejected run's session when the task is a review re-run on the slot that holds it), and
hands the run to the run table, whose `follow` reads it to its end: the
first report of the agent counts the dispatch latency and posts the Event Started, progress
reports are written at most once per interval. With a pool workspace, the request carries
the task's `WorkspaceRequest` (`workflows.workspacing`: worktree, branch, push, removal),
computed again identically at a re-attach.
"""

from __future__ import annotations

import logging

from claude_pool.api.agent import ProgressEvent
from claude_pool.api.pools import ClaudePool
from claude_pool.controllers.state import ClusterState, PodView, PoolKey, TaskView
from claude_pool.runtime import metrics
from claude_pool.runtime.announcing import Announcer, EventReason
from claude_pool.runtime.logs import task_fields
from claude_pool.runtime.runs import Run, RunTable, base_url
from claude_pool.runtime.statuswriting import StatusWriter
from claude_pool.runtime.taskrun import Target
from claude_pool.status import tasks as transitions
from claude_pool.workflows.identity import context_revision, identity_line
from claude_pool.workflows.messages import prepend_messages
from claude_pool.workflows.resolving import resolve_request
from claude_pool.workflows.review import resume_target, run_prompt
from claude_pool.workflows.starting import StartPlan, with_start
from claude_pool.workflows.workspacing import ChainPlace, workspace_request

log = logging.getLogger("claude_pool.worker")
UNREAD_PROMPT = "(spec.promptFrom, not read)"
"""Stands in for a promptFrom prompt not read (re-attach): resolves the model, never sent."""


def start_plan(
    pool: ClaudePool, task: TaskView, pod: PodView, state: ClusterState, base_prompt: str
) -> StartPlan:
    """The start of `task` on `pod` as its assignment recorded it: `base_prompt` (spec.prompt,
    or the one read from spec.promptFrom) with the latest rejection feedback and the messages
    named in `status.messages` (in that order)."""
    assert task.spec is not None
    assert task.status is not None
    prompt = run_prompt(base_prompt, task.spec.review, task.status.review)
    by_name = {m.metadata.name: m for m in state.pool_messages((task.namespace, task.pool))}
    carried = [by_name[name] for name in task.status.messages if name in by_name]
    return StartPlan(
        prompt=prepend_messages(prompt, carried),
        identity=identity_line(pool.spec, pod.index),
        context_revision=context_revision(pool.spec.context),
        messages=tuple(m.metadata.name for m in carried),
    )


def chain_place(task: TaskView, state: ClusterState) -> ChainPlace | None:
    """The chain `task` is a step of (its parent, a chain task), or None."""
    parent = state.tasks.get(task.parent_uid or "")
    if task.step is None or parent is None or parent.spec is None or parent.spec.chain is None:
        return None
    chain = parent.spec.chain
    last = chain.steps[-1].name == task.step
    return ChainPlace(parent.name, parent.uid, chain.isolation, task.step, last)


def resumed_session(task: TaskView, pod: PodView) -> str | None:
    """The rejected run's session when `task` re-runs on the slot pod that holds it."""
    model = task.as_task()
    target = resume_target(model) if model is not None else None
    if target is None or target.slot != pod.name:
        return None
    return target.session_id if target.slot_uid in (None, pod.uid) else None


def start_run(
    pool: ClaudePool,
    task: TaskView,
    pod: PodView,
    run: Run,
    *,
    attach: bool,
    token: str,
    session: str | None,
    state: ClusterState,
    runs: RunTable,
    writer: StatusWriter,
    announcer: Announcer,
    prompt: str | None = None,
) -> None:
    """Follow `run` of `task` on `pod`: start it, or (`attach`) find it on the slot.

    `session` is the CLI session the pod's last successful run left (resumed when the
    task's sessionPolicy is resumeSlot). `prompt` is the one read from spec.promptFrom at
    dispatch; a re-attached promptFrom task has none, so if its slot never got it, it is
    not started here but retried (and read again at its next dispatch)."""
    assert task.spec is not None
    key: PoolKey = (task.namespace, task.pool)
    text = prompt or task.spec.prompt
    request = resolve_request(
        pool,
        text or UNREAD_PROMPT,
        task.spec.config,
        timeout_seconds=task.spec.timeout_seconds,
        slot_session=session,
        budget_cap=run.reservation if pool.spec.budget.limit_microdollars else None,
        aliases=runs.aliases,
    )
    request = with_start(request, start_plan(pool, task, pod, state, text or UNREAD_PROMPT))
    resumed = resumed_session(task, pod)
    if resumed is None and task.resume_session and pod.name == task.preferred_slot:
        # a chain step on the slot of the step before: continue that step's session
        resumed = task.resume_session
    if resumed is not None:
        request = request.model_copy(update={"resume_session_id": resumed})
    workspace = workspace_request(
        pool.spec.workspace,
        pool=pool.metadata.name,
        task=task.name,
        uid=task.uid,
        slot=pod.index,
        chain=chain_place(task, state),
        reviewed=task.spec.review is not None and task.spec.review.required,
    )
    if workspace is not None:
        request = request.model_copy(update={"workspace": workspace})
    run.request = request
    fields = task_fields(task.namespace, task.pool, task.name, task.uid, pod.name)

    async def started() -> None:
        metrics.observe_dispatch_latency(key, state.first_seen.get(task.uid))
        log.info("task started", extra={**fields, "attempt": run.attempt})
        announcer.event(task.involved(), EventReason.STARTED, f"running on slot {pod.name}")

    async def progress(event: ProgressEvent) -> None:
        if runs.progress_due(run):
            await writer.patch_progress(task, transitions.progressed(event.turns))

    def still_there() -> bool:
        current = state.pods.get(key, {}).get(pod.name)
        return key in state.pools and current is not None and current.uid == task.slot_uid

    runs.follow(
        run,
        Target(base_url(pod), token),
        request if text else None,
        attach=attach,
        on_started=started,
        on_progress=progress,
        still_there=still_there,
    )
