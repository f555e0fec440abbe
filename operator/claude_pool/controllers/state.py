"""The operator's in-memory view of its objects, fed by kopf's watch events.

The kopf event handlers (`controllers.handlers`) call `upsert_*`/`delete_*`; the operator
(`runtime.operator`) registers a listener that is called with the pool's key on every change
and wakes that pool's worker, which reads snapshots from here. A pool whose body does not
parse is kept in `invalid_pools` with the error (the operator reports it with a Warning
Event). Finished tasks are kept as small records (no spec, no result) so that thousands of
them cost little memory, except tasks with a review gate (their review history decides
whether a late ClaudeReview was applied). ClaudeReviews belong to the pool of the task they
name (the first pool of the namespace while that task is unknown); ClaudeMessages to the
pool they name. Nothing here writes to the API.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from claude_pool.api.common import API_VERSION, CREATED_BY_ANNOTATION, ObjectMeta
from claude_pool.api.composites import (
    PARENT_UID_LABEL,
    PREFERRED_SLOT_ANNOTATION,
    RESUME_SESSION_ANNOTATION,
    STEP_LABEL,
)
from claude_pool.api.messages import ClaudeMessage
from claude_pool.api.phases import TaskPhase, derive_phase, is_finished
from claude_pool.api.pools import ClaudePool
from claude_pool.api.reviews import ClaudeReview
from claude_pool.api.tasks import ClaudeTask, ClaudeTaskSpec, ClaudeTaskStatus, TaskMode, task_mode
from claude_pool.slots.pods import DRAINING_ANNOTATION, POOL_LABEL, slot_index
from claude_pool.workflows.children import ChildView
from claude_pool.workflows.review import is_decided

PoolKey = tuple[str, str]


@dataclass(frozen=True)
class TaskView:
    """What the dispatcher needs of one ClaudeTask."""

    uid: str
    namespace: str
    name: str
    pool: str
    resource_version: str
    generation: int
    created: str
    priority: int
    mode: TaskMode
    phase: TaskPhase
    cancel: bool
    slot: str | None
    slot_uid: str | None
    attempts: int
    cost: int
    spec: ClaudeTaskSpec | None
    """None once finished (memory)."""
    status: ClaudeTaskStatus | None
    """None once finished (memory)."""
    invalid: str | None = None
    """Why the body could not be parsed (the task then fails with that reason)."""
    created_by: str | None = None
    """The annotation claudepool.io/created-by (the creator the API server authenticated)."""
    parent_uid: str | None = None
    """The composite task that owns this child task (its `claudepool.io/parent-uid` label)."""
    child: ChildView | None = None
    """What the parent's reconcile needs of this child (kept when finished, with its output,
    until its parent has finished too)."""
    output_ref: str | None = None
    """The ConfigMap holding this child's whole output, when its status keeps the beginning."""
    step: str | None = None
    """A chain step's name (its `claudepool.io/step` label): its place in the workspace."""
    preferred_slot: str | None = None
    """A chain step's slot of the step before (`claudepool.io/preferred-slot`)."""
    resume_session: str | None = None
    """A chain step's session to resume on that slot (`claudepool.io/resume-session`)."""
    finished_at: dt.datetime | None = None
    """When it finished (status.completionTime, else its last condition's transition)."""
    ttl_seconds: int | None = None
    """Its spec.ttlSecondsAfterFinished (kept once finished: the TTL step needs it)."""

    @property
    def finished(self) -> bool:
        return is_finished(self.phase)

    @property
    def composite(self) -> bool:
        """A fan-out, chain or auto task: run through child tasks, never on a slot."""
        return self.mode is not TaskMode.SINGLE

    @property
    def key(self) -> PoolKey:
        return (self.namespace, self.pool)

    def as_task(self) -> ClaudeTask | None:
        """The task as the api model (None once finished without a review gate)."""
        if self.spec is None or self.status is None:
            return None
        annotations = {CREATED_BY_ANNOTATION: self.created_by} if self.created_by else {}
        meta = ObjectMeta(
            name=self.name,
            namespace=self.namespace,
            uid=self.uid,
            generation=self.generation,
            resource_version=self.resource_version,
            annotations=annotations,
        )
        return ClaudeTask(metadata=meta, spec=self.spec, status=self.status)

    def owner(self) -> dict[str, str]:
        """The task as an ownerReference's identity (owner references carry no namespace)."""
        return {k: v for k, v in self.involved().items() if k != "namespace"}

    def involved(self) -> dict[str, str]:
        """The task as an Event's involvedObject."""
        return {
            "apiVersion": API_VERSION,
            "kind": "ClaudeTask",
            "name": self.name,
            "namespace": self.namespace,
            "uid": self.uid,
        }


@dataclass(frozen=True)
class PodView:
    """What the pool worker needs of one slot pod."""

    name: str
    namespace: str
    pool: str
    index: int
    uid: str
    ip: str | None
    phase: str
    ready: bool
    restarts: int
    draining: bool
    terminating: bool


@dataclass(frozen=True)
class InvalidPool:
    """A ClaudePool whose body the models refuse (it passed the CRD's own validation)."""

    uid: str
    resource_version: str
    error: str


def task_view(body: Mapping[str, Any]) -> TaskView:
    """Parse a ClaudeTask body; an invalid one yields a view carrying the error."""
    meta = body.get("metadata", {})
    raw_status = body.get("status") or {}
    spec_body = body.get("spec") or {}
    base = {
        "uid": meta.get("uid", ""),
        "namespace": meta.get("namespace", ""),
        "name": meta.get("name", ""),
        "pool": (spec_body.get("poolRef") or {}).get("name", ""),
        "resource_version": meta.get("resourceVersion", ""),
        "generation": int(meta.get("generation") or 0),
        "created": meta.get("creationTimestamp", ""),
        "parent_uid": (meta.get("labels") or {}).get(PARENT_UID_LABEL),
    }
    try:
        task = ClaudeTask.model_validate(
            {"metadata": meta, "spec": spec_body, "status": raw_status}
        )
    except ValidationError as exc:
        return TaskView(
            **base,
            priority=0,
            mode=TaskMode.SINGLE,
            phase=_phase_of(raw_status),
            cancel=False,
            slot=None,
            slot_uid=None,
            attempts=0,
            cost=0,
            spec=None,
            status=None,
            invalid=str(exc)[:1000],
        )
    status = task.status
    phase = derive_phase(status.conditions)
    done = is_finished(phase) and task.spec.review is None  # reviewed: kept whole
    annotations = task.metadata.annotations
    result = status.result
    return TaskView(
        **base,
        child=ChildView.from_task(task) if base["parent_uid"] else None,
        output_ref=result.output_ref if result is not None and result.output_truncated else None,
        step=task.metadata.labels.get(STEP_LABEL),
        preferred_slot=annotations.get(PREFERRED_SLOT_ANNOTATION),
        resume_session=annotations.get(RESUME_SESSION_ANNOTATION),
        priority=task.spec.priority,
        mode=task_mode(task.spec),
        phase=phase,
        cancel=task.spec.cancel,
        created_by=task.metadata.annotations.get(CREATED_BY_ANNOTATION),
        slot=status.slot,
        slot_uid=status.slot_uid,
        attempts=status.attempts,
        cost=status.cost_microdollars,
        spec=None if done else task.spec,
        status=None if done else status,
        finished_at=_finished_at(status) if done else None,
        ttl_seconds=task.spec.ttl_seconds_after_finished,
    )


def _finished_at(status: ClaudeTaskStatus) -> dt.datetime | None:
    if status.completion_time is not None:
        return status.completion_time
    return max((c.last_transition_time for c in status.conditions), default=None)


def _phase_of(raw_status: Mapping[str, Any]) -> TaskPhase:
    """The phase of a task whose spec does not parse (so a failed one stays finished)."""
    try:
        return derive_phase(ClaudeTaskStatus.model_validate(raw_status).conditions)
    except ValidationError:
        return TaskPhase.PENDING


def pod_view(body: Mapping[str, Any]) -> PodView | None:
    meta = body.get("metadata", {})
    pool = (meta.get("labels") or {}).get(POOL_LABEL)
    index = slot_index(meta.get("name", ""), pool) if pool else None
    if pool is None or index is None:
        return None
    status = body.get("status") or {}
    conds = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
    containers = status.get("containerStatuses") or [{}]
    annotations = meta.get("annotations") or {}
    return PodView(
        name=meta["name"],
        namespace=meta.get("namespace", ""),
        pool=pool,
        index=index,
        uid=meta.get("uid", ""),
        ip=status.get("podIP"),
        phase=status.get("phase") or "Pending",
        ready=conds.get("Ready") == "True",
        restarts=int(containers[0].get("restartCount") or 0),
        draining=DRAINING_ANNOTATION in annotations,
        terminating=meta.get("deletionTimestamp") is not None,
    )


class ClusterState:
    """Pools, tasks and slot pods as last seen, indexed by pool."""

    def __init__(self) -> None:
        self.pools: dict[PoolKey, ClaudePool] = {}
        self.pool_versions: dict[PoolKey, str] = {}
        self.tasks: dict[str, TaskView] = {}
        self.tasks_by_pool: dict[PoolKey, set[str]] = defaultdict(set)
        self.pods: dict[PoolKey, dict[str, PodView]] = defaultdict(dict)
        self.listeners: list[Callable[[PoolKey], None]] = []
        self.invalid_pools: dict[PoolKey, InvalidPool] = {}
        """Pools whose body did not parse."""
        self.children: dict[str, set[str]] = defaultdict(set)
        """Child task uids by their parent's uid (the `claudepool.io/parent-uid` label)."""
        self.deleted_parents: set[str] = set()
        """Uids of composite tasks deleted while this process watched (their children are
        cancelled by the pool worker; garbage collection deletes them too)."""
        self.first_seen: dict[str, float] = {}
        """When (time.monotonic) this process first saw each task: dispatch latency's start."""
        self.task_names: dict[tuple[str, str], str] = {}
        """Task uids by namespace and name (the last one seen under that name)."""
        self.reviews: dict[str, dict[str, ClaudeReview]] = defaultdict(dict)
        """Undecided ClaudeReviews by namespace and name (decided ones are not kept)."""
        self.messages: dict[PoolKey, dict[str, ClaudeMessage]] = defaultdict(dict)
        """ClaudeMessages by the pool they name, then by name."""

    def _changed(self, key: PoolKey) -> None:
        for listener in self.listeners:
            listener(key)

    def upsert_pool(self, body: Mapping[str, Any]) -> None:
        """Store the pool; an invalid one is recorded in `invalid_pools` instead."""
        meta = body.get("metadata", {})
        key = (meta.get("namespace", ""), meta.get("name", ""))
        try:
            pool = ClaudePool.model_validate(dict(body))
        except ValidationError as exc:
            self.invalid_pools[key] = InvalidPool(
                meta.get("uid", ""), meta.get("resourceVersion", ""), str(exc)[:1000]
            )
            self._changed(key)
            return
        self.invalid_pools.pop(key, None)
        self.pools[key] = pool
        self.pool_versions[key] = meta.get("resourceVersion", "")
        self._changed(key)

    def delete_pool(self, namespace: str, name: str) -> None:
        self.pools.pop((namespace, name), None)
        self.invalid_pools.pop((namespace, name), None)
        self._changed((namespace, name))

    def upsert_task(self, body: Mapping[str, Any]) -> TaskView:
        view = task_view(body)
        parent = self.tasks.get(view.parent_uid or "")
        if view.finished and parent is not None and parent.finished:
            view = dataclasses.replace(view, child=None)  # memory: its parent is done
        if view.finished and view.composite:
            for uid in self.children.get(view.uid, ()):
                done = self.tasks.get(uid)
                if done is not None and done.finished and done.child is not None:
                    self.tasks[uid] = dataclasses.replace(done, child=None)
        if view.finished:
            self.first_seen.pop(view.uid, None)
        else:
            self.first_seen.setdefault(view.uid, time.monotonic())
        old = self.tasks.get(view.uid)
        if old is not None and old.key != view.key:
            self.tasks_by_pool[old.key].discard(view.uid)
        self.tasks[view.uid] = view
        self.tasks_by_pool[view.key].add(view.uid)
        self.task_names[(view.namespace, view.name)] = view.uid
        if view.parent_uid:
            self.children[view.parent_uid].add(view.uid)
        self._changed(view.key)
        return view

    def delete_task(self, uid: str) -> None:
        view = self.tasks.pop(uid, None)
        self.first_seen.pop(uid, None)
        if view is not None:
            self.tasks_by_pool[view.key].discard(uid)
            if self.task_names.get((view.namespace, view.name)) == uid:
                del self.task_names[(view.namespace, view.name)]
            if view.parent_uid:
                self.children[view.parent_uid].discard(uid)
            if self.children.get(uid):
                self.deleted_parents.add(uid)
            self._changed(view.key)

    def upsert_pod(self, body: Mapping[str, Any]) -> None:
        view = pod_view(body)
        if view is not None:
            self.pods[(view.namespace, view.pool)][view.name] = view
            self._changed((view.namespace, view.pool))

    def delete_pod(self, body: Mapping[str, Any]) -> None:
        view = pod_view(body)
        if view is not None:
            self.pods[(view.namespace, view.pool)].pop(view.name, None)
            self._changed((view.namespace, view.pool))

    def task_named(self, namespace: str, name: str) -> TaskView | None:
        """The task of that name (the last seen, if a name was reused)."""
        uid = self.task_names.get((namespace, name))
        return None if uid is None else self.tasks.get(uid)

    def review_pool(self, review: ClaudeReview) -> PoolKey:
        """The pool whose worker applies `review`: its task's, else the namespace's first."""
        namespace = review.metadata.namespace or ""
        task = self.task_named(namespace, review.spec.task_ref.name)
        if task is not None:
            return task.key
        pools = sorted(key for key in self.pools if key[0] == namespace)
        return pools[0] if pools else (namespace, "")

    def upsert_review(self, body: Mapping[str, Any]) -> None:
        """Store an undecided ClaudeReview (one that does not parse is ignored: the CRD
        checked it); a decided one is dropped: it is only an audit record now."""
        try:
            review = ClaudeReview.model_validate(dict(body))
        except ValidationError:
            return
        namespace = review.metadata.namespace or ""
        if is_decided(review):
            self.reviews[namespace].pop(review.metadata.name, None)
            return
        self.reviews[namespace][review.metadata.name] = review
        self._changed(self.review_pool(review))

    def delete_review(self, namespace: str, name: str) -> None:
        self.reviews[namespace].pop(name, None)

    def pool_reviews(self, key: PoolKey) -> list[ClaudeReview]:
        """The reviews the worker of `key` applies."""
        return [r for r in self.reviews.get(key[0], {}).values() if self.review_pool(r) == key]

    def upsert_message(self, body: Mapping[str, Any]) -> None:
        """Store a ClaudeMessage (one that does not parse is ignored: the CRD checked it)."""
        try:
            message = ClaudeMessage.model_validate(dict(body))
        except ValidationError:
            return
        key = (message.metadata.namespace or "", message.spec.pool_ref.name)
        self.messages[key][message.metadata.name] = message
        self._changed(key)

    def delete_message(self, namespace: str, name: str, pool: str) -> None:
        self.messages[(namespace, pool)].pop(name, None)

    def pool_messages(self, key: PoolKey) -> list[ClaudeMessage]:
        return list(self.messages.get(key, {}).values())

    def pool_tasks(self, key: PoolKey) -> list[TaskView]:
        return [self.tasks[uid] for uid in self.tasks_by_pool.get(key, ()) if uid in self.tasks]

    def children_of(self, parent_uid: str) -> list[TaskView]:
        """The tasks labelled as `parent_uid`'s children, as last seen."""
        found = (self.tasks.get(uid) for uid in self.children.get(parent_uid, ()))
        return [t for t in found if t is not None]

    def pool_pods(self, key: PoolKey) -> list[PodView]:
        return list(self.pods.get(key, {}).values())
