"""The async SDK: the seed's verbs (run, submit, result, fan_out, submit_chain, auto, cancel,
scale, drain, status, context; approve, reject and messages from `collaboration`) on top of
ClaudePool, ClaudeTask, ClaudeReview and ClaudeMessage objects.

Used directly from async code, through `claude_pool.sdk.sync.Client` from sync code, and by
the CLI and the MCP server. It reaches the cluster only through a `Door`
(`claude_pool.kube.access.ClusterDoor`, or a fake in unit tests). Waiting watches the task
(`waiting.wait_for`) and is always bounded. Objects come back as the api's pydantic models.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any, Self

from claude_pool.api.claude import TaskOverrides
from claude_pool.api.common import dump
from claude_pool.api.conditions import PoolConditionType, get_condition
from claude_pool.api.messages import ClaudeMessage
from claude_pool.api.modes import AutoHints, Chain, ChainStep
from claude_pool.api.phases import FINISHED_PHASES, TaskPhase
from claude_pool.api.pools import ClaudePool
from claude_pool.api.reasons import PoolReason
from claude_pool.api.results import TaskResult
from claude_pool.api.reviews import ClaudeReview
from claude_pool.api.tasks import ClaudeTask, ClaudeTaskSpec
from claude_pool.kube.access import ClusterDoor, NoConfiguration, connect
from claude_pool.sdk import manifests
from claude_pool.sdk.collaboration import REVIEW_TIMEOUT, Collaboration
from claude_pool.sdk.door import Door
from claude_pool.sdk.errors import ClusterUnavailable, PoolNotFound, TaskNotFound
from claude_pool.sdk.summaries import PoolSummary, pool_summary, task_phase
from claude_pool.sdk.tasklogs import Bound, task_lines
from claude_pool.sdk.translating import translated
from claude_pool.sdk.waiting import wait_for

POOLS = "claudepools"
TASKS = "claudetasks"
AGENT_CONTAINER = "agent"
DEFAULT_TIMEOUT = 600.0
"""Default bound of run/wait, in seconds."""
RESULT_PHASES = FINISHED_PHASES | {TaskPhase.AWAITING_REVIEW}
"""Phases in which a task's result is final (or held for review)."""

TaskCallback = Callable[[ClaudeTask], None]


def is_done(task: ClaudeTask) -> bool:
    """Whether the task has a result to read (finished, or waiting for review)."""
    return task_phase(task) in RESULT_PHASES


class AsyncClient:
    """Pools and tasks of one namespace (per call overridable with `namespace=`)."""

    def __init__(self, door: Door, namespace: str, *, clock: Callable[[], float] = time.monotonic):
        self.door = door
        self.namespace = namespace
        self.clock = clock
        self.collaboration = Collaboration(door, namespace, clock)
        """Reviews and messages; its verbs are also this client's (approve, reject, ...)."""

    @classmethod
    def connect(
        cls,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        namespace: str | None = None,
    ) -> AsyncClient:
        """A client for the kubeconfig's cluster (its context's namespace by default)."""
        try:
            connection = connect(kubeconfig, context)
        except NoConfiguration as error:
            raise ClusterUnavailable(str(error)) from None
        return cls(ClusterDoor(connection.kube), namespace or connection.namespace)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.door.close()

    def _ns(self, namespace: str | None) -> str:
        return namespace or self.namespace

    # reviews and messages (claude_pool.sdk.collaboration) --------------------------------
    async def approve(
        self, task: str, feedback: str = "", *, wait: bool = False,
        timeout: float = REVIEW_TIMEOUT, namespace: str | None = None,
    ) -> ClaudeReview:  # fmt: skip
        """Approve a task awaiting review: the task succeeds (seed: approve_result)."""
        return await self.collaboration.approve(
            task, feedback, wait=wait, timeout=timeout, namespace=namespace
        )

    async def reject(
        self, task: str, feedback: str, *, wait: bool = False,
        timeout: float = REVIEW_TIMEOUT, namespace: str | None = None,
    ) -> ClaudeReview:  # fmt: skip
        """Reject a task awaiting review: it runs again with the feedback appended to its
        prompt, or fails at its maxRejections-th rejection (seed: reject_result)."""
        return await self.collaboration.reject(
            task, feedback, wait=wait, timeout=timeout, namespace=namespace
        )

    async def review(self, name: str, *, namespace: str | None = None) -> ClaudeReview:
        return await self.collaboration.review(name, namespace=namespace)

    async def reviews(
        self, task: str | None = None, *, namespace: str | None = None
    ) -> list[ClaudeReview]:
        """The namespace's reviews (of one task when given)."""
        return await self.collaboration.reviews(task, namespace=namespace)

    async def wait_review(
        self, name: str, *, timeout: float = REVIEW_TIMEOUT, namespace: str | None = None
    ) -> ClaudeReview:
        """The review once the operator applied it; ReviewRefused when it refused it."""
        return await self.collaboration.wait_review(name, timeout=timeout, namespace=namespace)

    async def send_message(
        self, pool: str, to_slot: int, content: str, *, from_slot: int | None = None,
        sender: str | None = None, namespace: str | None = None,
    ) -> ClaudeMessage:  # fmt: skip
        """A note for slot `to_slot` of the pool, prepended to its next task's prompt."""
        return await self.collaboration.send_message(
            pool, to_slot, content, from_slot=from_slot, sender=sender, namespace=namespace
        )

    async def broadcast(
        self, pool: str, content: str, *, from_slot: int | None = None,
        sender: str | None = None, namespace: str | None = None,
    ) -> ClaudeMessage:  # fmt: skip
        """A note for every slot of the pool but `from_slot`, at each one's next task."""
        return await self.collaboration.broadcast(
            pool, content, from_slot=from_slot, sender=sender, namespace=namespace
        )

    async def messages(
        self, pool: str | None = None, *, namespace: str | None = None
    ) -> list[ClaudeMessage]:
        """Messages of the namespace (of one pool when given), oldest first."""
        return await self.collaboration.messages(pool, namespace=namespace)

    # pools ------------------------------------------------------------------------------
    async def pool(self, name: str, *, namespace: str | None = None) -> ClaudePool:
        ns = self._ns(namespace)
        with translated(PoolNotFound(f"pool {name!r} not found in namespace {ns!r}")):
            return ClaudePool.model_validate(await self.door.get(POOLS, ns, name))

    async def pools(self, *, namespace: str | None = None) -> list[ClaudePool]:
        with translated():
            items, _ = await self.door.list(POOLS, self._ns(namespace))
        return [ClaudePool.model_validate(item) for item in items]

    async def status(
        self, pool: str | None = None, *, namespace: str | None = None
    ) -> list[PoolSummary]:
        """Summaries of one pool or all pools: slots, queue, spend, tasks by phase."""
        pools = [await self.pool(pool, namespace=namespace)] if pool else None
        if pools is None:
            pools = await self.pools(namespace=namespace)
        tasks = await self.tasks(namespace=namespace)
        return [pool_summary(each, tasks) for each in pools]

    async def _patch_pool(
        self, name: str, body: dict[str, Any], namespace: str | None
    ) -> ClaudePool:
        ns = self._ns(namespace)
        with translated(PoolNotFound(f"pool {name!r} not found in namespace {ns!r}")):
            return ClaudePool.model_validate(await self.door.patch(POOLS, ns, name, body))

    async def scale(self, pool: str, slots: int, *, namespace: str | None = None) -> ClaudePool:
        """Set the pool's slot count through the scale subresource (like `kubectl scale`)."""
        ns = self._ns(namespace)
        with translated(PoolNotFound(f"pool {pool!r} not found in namespace {ns!r}")):
            await self.door.scale(POOLS, ns, pool, slots)
        return await self.pool(pool, namespace=namespace)

    async def suspend(self, pool: str, *, namespace: str | None = None) -> ClaudePool:
        """Dispatch nothing new; running tasks finish (spec.suspend)."""
        return await self._patch_pool(pool, {"spec": {"suspend": True}}, namespace)

    async def resume(self, pool: str, *, namespace: str | None = None) -> ClaudePool:
        return await self._patch_pool(pool, {"spec": {"suspend": False}}, namespace)

    async def drain(
        self, pool: str, *, timeout: float = DEFAULT_TIMEOUT, namespace: str | None = None
    ) -> ClaudePool:
        """Suspend the pool and wait until no slot is busy (Suspended=True, Drained)."""
        await self.suspend(pool, namespace=namespace)
        ns = self._ns(namespace)

        def drained(body: dict[str, Any]) -> bool:
            found = ClaudePool.model_validate(body)
            condition = get_condition(found.status.conditions, PoolConditionType.SUSPENDED)
            return condition is not None and condition.reason == PoolReason.DRAINED

        body = await wait_for(
            self.door, POOLS, ns, pool, drained, timeout=timeout, clock=self.clock,
            missing=PoolNotFound(f"pool {pool!r} not found in namespace {ns!r}"),
        )  # fmt: skip
        return ClaudePool.model_validate(body)

    # shared context (spec.context) ------------------------------------------------------
    async def context(self, pool: str, *, namespace: str | None = None) -> dict[str, str]:
        """All context entries of the pool."""
        return dict((await self.pool(pool, namespace=namespace)).spec.context or {})

    async def get_context(self, pool: str, key: str, *, namespace: str | None = None) -> str | None:
        return (await self.context(pool, namespace=namespace)).get(key)

    async def set_context(
        self, pool: str, key: str, value: str, *, namespace: str | None = None
    ) -> dict[str, str]:
        """Set one entry (a merge patch: other entries are untouched); returns them all."""
        body = {"spec": {"context": {key: value}}}
        return dict((await self._patch_pool(pool, body, namespace)).spec.context or {})

    async def delete_context(
        self, pool: str, key: str, *, namespace: str | None = None
    ) -> str | None:
        """Remove one entry; returns the value it had (None when there was none)."""
        old = await self.get_context(pool, key, namespace=namespace)
        if old is not None:
            await self._patch_pool(pool, {"spec": {"context": {key: None}}}, namespace)
        return old

    # tasks ------------------------------------------------------------------------------
    async def task(self, name: str, *, namespace: str | None = None) -> ClaudeTask:
        ns = self._ns(namespace)
        with translated(TaskNotFound(f"task {name!r} not found in namespace {ns!r}")):
            return ClaudeTask.model_validate(await self.door.get(TASKS, ns, name))

    async def tasks(
        self,
        pool: str | None = None,
        *,
        labels: Mapping[str, str] | None = None,
        namespace: str | None = None,
    ) -> list[ClaudeTask]:
        """Tasks of the namespace (of one pool when given), oldest first."""
        selector = ",".join(f"{k}={v}" for k, v in (labels or {}).items()) or None
        with translated():
            items, _ = await self.door.list(TASKS, self._ns(namespace), label_selector=selector)
        tasks = [ClaudeTask.model_validate(item) for item in items]
        if pool is not None:
            tasks = [task for task in tasks if task.spec.pool_ref.name == pool]
        return sorted(tasks, key=_age_order)

    async def create(self, task: ClaudeTask, *, namespace: str | None = None) -> ClaudeTask:
        """Create a task from a model (e.g. one loaded with `manifests.load_tasks`)."""
        ns = task.metadata.namespace or self._ns(namespace)
        await self.pool(task.spec.pool_ref.name, namespace=ns)
        with translated():
            body = await self.door.create(TASKS, ns, manifests.manifest_of(task))
        return ClaudeTask.model_validate(body)

    async def _submit(
        self,
        spec: ClaudeTaskSpec,
        name: str | None,
        labels: Mapping[str, str] | None,
        namespace: str | None,
    ) -> ClaudeTask:
        ns = self._ns(namespace)
        await self.pool(spec.pool_ref.name, namespace=ns)
        body = manifests.task_manifest(spec, name=name, labels=dict(labels or {}))
        with translated():
            return ClaudeTask.model_validate(await self.door.create(TASKS, ns, body))

    async def submit(
        self,
        pool: str,
        prompt: str,
        *,
        name: str | None = None,
        config: TaskOverrides | None = None,
        priority: int = 0,
        timeout_seconds: int | None = None,
        labels: Mapping[str, str] | None = None,
        review: bool = False,
        max_rejections: int | None = None,
        namespace: str | None = None,
    ) -> ClaudeTask:
        """Create a single-prompt task and return it at once (the seed's submit). With
        `review` its successful result waits in AwaitingReview for approve/reject (the
        seed's submit_with_review); `max_rejections` (default 3) rejections fail it."""
        spec = manifests.task_spec(
            pool, prompt=prompt, config=config, priority=priority,
            timeout_seconds=timeout_seconds, review=manifests.review(review, max_rejections),
        )  # fmt: skip
        return await self._submit(spec, name, labels, namespace)

    async def fan_out(
        self,
        pool: str,
        prompts: list[str] | None = None,
        *,
        chains: list[Chain] | list[list[dict[str, Any]]] | None = None,
        max_parallel: int | None = None,
        fail_fast: bool = False,
        name: str | None = None,
        config: TaskOverrides | None = None,
        priority: int = 0,
        labels: Mapping[str, str] | None = None,
        review: bool = False,
        max_rejections: int | None = None,
        namespace: str | None = None,
    ) -> ClaudeTask:
        """Create a fan-out task: every prompt (or every chain, the seed's fan_out_chains)
        runs as its own child task; `fail_fast` cancels the rest at the first failure. With
        `review` the combined result waits in AwaitingReview; a rejection re-runs every item
        with the feedback."""
        items = None
        if chains is not None:
            items = [c if isinstance(c, Chain) else manifests.chain(c) for c in chains]
        fan = manifests.fan_out(prompts, max_parallel, chains=items, fail_fast=fail_fast)
        spec = manifests.task_spec(
            pool, fan_out=fan, config=config, priority=priority,
            review=manifests.review(review, max_rejections),
        )  # fmt: skip
        return await self._submit(spec, name, labels, namespace)

    async def submit_chain(
        self,
        pool: str,
        chain: Chain | list[ChainStep] | list[dict[str, Any]],
        *,
        name: str | None = None,
        config: TaskOverrides | None = None,
        priority: int = 0,
        labels: Mapping[str, str] | None = None,
        review: bool = False,
        max_rejections: int | None = None,
        namespace: str | None = None,
    ) -> ClaudeTask:
        """Create a chain task: steps run in order, each seeing the outputs before it. With
        `review` the last step's result waits in AwaitingReview; a rejection re-runs the
        chain with the feedback in every step's prompt."""
        if not isinstance(chain, Chain):
            chain = manifests.chain([dump(s) if isinstance(s, ChainStep) else s for s in chain])
        spec = manifests.task_spec(
            pool, chain=chain, config=config, priority=priority,
            review=manifests.review(review, max_rejections),
        )  # fmt: skip
        return await self._submit(spec, name, labels, namespace)

    async def auto(
        self,
        pool: str,
        prompt: str,
        *,
        hints: AutoHints | None = None,
        name: str | None = None,
        config: TaskOverrides | None = None,
        priority: int = 0,
        labels: Mapping[str, str] | None = None,
        review: bool = False,
        max_rejections: int | None = None,
        namespace: str | None = None,
    ) -> ClaudeTask:
        """Create an auto task: a routing call chooses single, fan-out or chain. With
        `review` the route's result waits in AwaitingReview; a rejection routes and runs the
        prompt again with the feedback."""
        spec = manifests.task_spec(
            pool, auto=manifests.auto(prompt, hints), config=config, priority=priority,
            review=manifests.review(review, max_rejections),
        )  # fmt: skip
        return await self._submit(spec, name, labels, namespace)

    async def wait(
        self,
        name: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        on_update: TaskCallback | None = None,
        namespace: str | None = None,
    ) -> ClaudeTask:
        """The task once it has a result (watching it); WaitTimeout after `timeout` s."""
        ns = self._ns(namespace)

        def changed(body: dict[str, Any]) -> None:
            if on_update is not None:
                on_update(ClaudeTask.model_validate(body))

        body = await wait_for(
            self.door, TASKS, ns, name, lambda b: is_done(ClaudeTask.model_validate(b)),
            timeout=timeout, on_change=changed, clock=self.clock,
            missing=TaskNotFound(f"task {name!r} not found in namespace {ns!r}"),
        )  # fmt: skip
        return ClaudeTask.model_validate(body)

    async def run(
        self,
        pool: str,
        prompt: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        on_update: TaskCallback | None = None,
        name: str | None = None,
        config: TaskOverrides | None = None,
        priority: int = 0,
        timeout_seconds: int | None = None,
        labels: Mapping[str, str] | None = None,
        review: bool = False,
        max_rejections: int | None = None,
        namespace: str | None = None,
    ) -> ClaudeTask:
        """Submit a prompt and wait for its result (the seed's run); with `review` the wait
        ends when the result is held in AwaitingReview."""
        task = await self.submit(
            pool, prompt, name=name, config=config, priority=priority,
            timeout_seconds=timeout_seconds, labels=labels, review=review,
            max_rejections=max_rejections, namespace=namespace,
        )  # fmt: skip
        return await self.wait(
            task.metadata.name, timeout=timeout, on_update=on_update, namespace=namespace
        )

    async def result(self, name: str, *, namespace: str | None = None) -> TaskResult | None:
        """The task's result once it has one (None while queued or running)."""
        task = await self.task(name, namespace=namespace)
        return task.status.result if is_done(task) else None

    async def output(self, name: str, *, namespace: str | None = None) -> str | None:
        """The whole output text, read from the output ConfigMap when status holds only the
        beginning; None while the task has no result."""
        ns = self._ns(namespace)
        result = await self.result(name, namespace=ns)
        if result is None:
            return None
        if not (result.output_truncated and result.output_ref):
            return result.output
        with translated():
            data = await self.door.configmap_data(ns, result.output_ref)
        if data is None or "output" not in data:
            return result.output  # the ConfigMap is gone: the beginning is all there is
        return data["output"]

    async def cancel(self, name: str, *, namespace: str | None = None) -> ClaudeTask:
        """Cancel gracefully (spec.cancel): the task is kept and ends Cancelled."""
        ns = self._ns(namespace)
        with translated(TaskNotFound(f"task {name!r} not found in namespace {ns!r}")):
            body = await self.door.patch(TASKS, ns, name, {"spec": {"cancel": True}})
        return ClaudeTask.model_validate(body)

    async def delete(self, name: str, *, namespace: str | None = None) -> None:
        ns = self._ns(namespace)
        with translated(TaskNotFound(f"task {name!r} not found in namespace {ns!r}")):
            await self.door.delete(TASKS, ns, name)

    async def logs(
        self,
        name: str,
        *,
        follow: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        namespace: str | None = None,
    ) -> AsyncGenerator[str, None]:
        """The task's lines in its slot's log (`kubectl logs`); with `follow`, waits for a
        slot and streams until the task finishes. Bounded: WaitTimeout after `timeout` s."""
        ns = self._ns(namespace)
        deadline = self.clock() + timeout
        task = await self.task(name, namespace=ns)
        if task.status.slot is None and follow:
            task = await self.wait_for_slot(name, timeout=timeout, namespace=ns)
        if task.status.slot is None:
            return
        marker = f"task {task.metadata.uid}:"
        lines = self.door.pod_log(
            ns, task.status.slot, container=AGENT_CONTAINER, follow=follow and not is_done(task),
            since_seconds=None,
        )  # fmt: skip
        gone = TaskNotFound(f"slot pod {task.status.slot!r} of task {name!r} is gone")
        bound = Bound(deadline, self.clock, f"logs of task {name} still open after {timeout:g} s")
        async for line in task_lines(lines, marker, follow=follow, bound=bound, gone=gone):
            yield line

    async def wait_for_slot(
        self, name: str, *, timeout: float, namespace: str | None = None
    ) -> ClaudeTask:
        """The task once it has a slot (or a result)."""
        ns = self._ns(namespace)

        def placed(body: dict[str, Any]) -> bool:
            task = ClaudeTask.model_validate(body)
            return task.status.slot is not None or is_done(task)

        body = await wait_for(
            self.door, TASKS, ns, name, placed, timeout=timeout, clock=self.clock,
            missing=TaskNotFound(f"task {name!r} not found in namespace {ns!r}"),
        )  # fmt: skip
        return ClaudeTask.model_validate(body)


def _age_order(task: ClaudeTask) -> tuple[float, str]:
    stamp = task.metadata.creation_timestamp
    return (stamp.timestamp() if stamp is not None else float("inf"), task.metadata.name)
