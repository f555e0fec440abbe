"""Cycle step: applying ClaudeReviews to the pool's tasks awaiting review.

Called by `runtime.worker` after recording. For each task named by undecided reviews,
`workflows.review.apply_reviews` (pure) gives each review's outcome, oldest first. The task's
patch is written first, with its resourceVersion as a precondition (a conflict: the next
cycle decides again against the task as it is then), and only then the review's status; a
crash between the two leaves a review the task's history already names, which
`apply_reviews` recognises and never applies twice. Before a rejected task is queued again,
the rejected run's record is dropped from its slot (the re-run has the same uid, and the
agent answers a known uid with its old result). A review naming a task the API does not
have is refused with TaskNotFound; one naming a finished task with NotAwaitingReview. A task
cancelled while awaiting review ends Cancelled. An approval of a task whose branch waits for
it (`spec.workspace.pushOnApproval`) is written only after the slot pushed the branch
(`runtime.approvalpush`), as a failure PushFailed when it could not.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Mapping

from claude_pool.api.common import dump
from claude_pool.api.phases import TaskPhase
from claude_pool.api.pools import ClaudePool
from claude_pool.api.reasons import TaskReason
from claude_pool.api.reviews import ClaudeReview, ReviewReason
from claude_pool.controllers.state import ClusterState, PodView, TaskView
from claude_pool.kube.client import REVIEWS, TASKS, Kube, NotFound
from claude_pool.runtime.announcing import Announcer, EventReason
from claude_pool.runtime.approvalpush import push_on_approval
from claude_pool.runtime.runs import base_url
from claude_pool.runtime.statuswriting import StatusWriter
from claude_pool.slots.client import SlotClient, SlotError, SlotUnreachable
from claude_pool.status import tasks as transitions
from claude_pool.workflows.review import (
    ReviewOutcome,
    ReviewVerdict,
    apply_reviews,
    is_decided,
    review_status,
)

log = logging.getLogger("claude_pool.worker")

_EVENTS = {
    ReviewVerdict.APPROVED: EventReason.SUCCEEDED,
    ReviewVerdict.RERUN: EventReason.REJECTED,
    ReviewVerdict.FAILED: EventReason.FAILED,
}


async def apply(
    pool: ClaudePool,
    tasks: list[TaskView],
    reviews: list[ClaudeReview],
    pods: Mapping[str, PodView],
    now: dt.datetime,
    *,
    token: str | None,
    slots: SlotClient,
    kube: Kube,
    state: ClusterState,
    writer: StatusWriter,
    announcer: Announcer,
) -> None:
    """One pass over the undecided reviews of this pool's tasks (see the module docstring)."""
    for task in tasks:
        if task.phase is TaskPhase.AWAITING_REVIEW and task.cancel and task.status is not None:
            message = "cancelled while awaiting review"
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
    by_task: dict[str, list[ClaudeReview]] = defaultdict(list)
    for review in reviews:
        if not is_decided(review):
            by_task[review.spec.task_ref.name].append(review)
    namespace = pool.metadata.namespace or ""
    for name, pending in by_task.items():
        try:
            decided = await _decide(
                name, pending, pods, now, namespace, token, slots, kube, state, writer
            )
        except Exception as error:  # one task's reviews must not stop the others
            log.warning("pool %s/%s: reviews of %s: %s", *_key(pool), name, error)
            continue
        if decided is not None:
            task, outcome = decided
            conditions = outcome.review_status.conditions
            message = conditions[0].message if conditions else outcome.verdict.value
            reason = _EVENTS[outcome.verdict]
            announcer.event(task.involved(), reason, message, warning=reason is EventReason.FAILED)


def _key(pool: ClaudePool) -> tuple[str, str]:
    return (pool.metadata.namespace or "", pool.metadata.name)


async def _decide(
    name: str,
    pending: list[ClaudeReview],
    pods: Mapping[str, PodView],
    now: dt.datetime,
    namespace: str,
    token: str | None,
    slots: SlotClient,
    kube: Kube,
    state: ClusterState,
    writer: StatusWriter,
) -> tuple[TaskView, ReviewOutcome] | None:
    """Apply `pending` (undecided reviews of task `name`); the task and the deciding outcome."""
    view = state.task_named(namespace, name)
    if view is None:
        try:
            await kube.get_custom(TASKS, namespace, name)
            return None  # it exists: the watch has not shown it yet
        except NotFound:
            pass
        outcomes = apply_reviews(None, pending, four_eyes=False, now=now)
        for outcome in outcomes:
            await _write_review(kube, state, namespace, outcome.review, dump(outcome.review_status))
        return None
    task = view.as_task()
    if task is None:  # finished, and no review gate
        message = f"task {name} is not awaiting review (phase: {view.phase.value})"
        status = review_status(ReviewReason.NOT_AWAITING_REVIEW, message, view.uid, now)
        for review in pending:
            await _write_review(kube, state, namespace, review.metadata.name, dump(status))
        return None
    pool = state.pools.get(view.key)
    four_eyes = pool is not None and pool.spec.review.four_eyes
    outcomes = apply_reviews(task, pending, four_eyes=four_eyes, now=now)
    deciding = next((o for o in outcomes if o.task_patch is not None), None)
    if deciding is not None:
        if deciding.verdict is ReviewVerdict.RERUN:
            await _drop_old_result(view, pods, token, slots)
        assert deciding.task_patch is not None
        patch: dict[str, object] | None = deciding.task_patch
        if deciding.verdict is ReviewVerdict.APPROVED and pool is not None:
            patch = await push_on_approval(
                pool, view, deciding.task_patch, pods, now, token=token, slots=slots
            )
        if patch is None:
            return None  # the push could not be tried: decide again next cycle
        if patch.get("phase") == TaskPhase.FAILED.value:
            deciding = dataclasses.replace(deciding, verdict=ReviewVerdict.FAILED)
        if await writer.assign_task(view, patch) is None:
            return None  # the task changed since it was read: decide again next cycle
    for outcome in outcomes:
        await _write_review(kube, state, namespace, outcome.review, dump(outcome.review_status))
    return None if deciding is None else (view, deciding)


async def _drop_old_result(
    view: TaskView, pods: Mapping[str, PodView], token: str | None, slots: SlotClient
) -> None:
    """Acknowledge the rejected run on its slot now (the re-run reuses the task's uid)."""
    pod = pods.get(view.slot or "")
    if pod is None or pod.uid != view.slot_uid or not pod.ip or token is None:
        return
    with contextlib.suppress(SlotUnreachable, SlotError):
        await slots.acknowledge(base_url(pod), token, view.uid)


async def _write_review(
    kube: Kube, state: ClusterState, namespace: str, name: str, status: dict[str, object]
) -> None:
    try:
        body = await kube.patch_status(REVIEWS, namespace, name, dict(status))
    except NotFound:
        state.delete_review(namespace, name)
        return
    state.upsert_review(body)
