"""Cycle step: composite tasks (fan-out, chain, auto) reconciled through their child tasks.

Called by `runtime.worker` every cycle, after supervision and before dispatch (so a child
created now is dispatched in the same cycle). For every unfinished composite task of the
pool, `workflows.rollup.reconcile` (pure) gets the parent and its children (the tasks whose
`claudepool.io/parent-uid` label is the parent's uid, indexed by `ClusterState`), and the
`Composer` applies its answer:
- `create`: each child is created if absent; a 409 means it exists: it is read back and
  taken only when it is this parent's child (`children.is_child_of`), else the parent gets
  a Warning Event (once) and waits;
- `cancel`: each child not yet cancelled gets `spec.cancel: true` (the slot is told by the
  supervising step, and the child's cost is committed as for any task);
- `long_output`: the `<parent>-output` ConfigMap, created before the status naming it;
- `status`: written (as a merge patch) only when it differs from the current one, in the
  background (`runtime.parentwrites`): the cycle goes on to dispatch the new children
  meanwhile; a parent is not reconciled again while its write is in flight (the write's
  answer wakes the worker), so its writes never overlap and no cycle waits for one; a
  parent that reaches AwaitingReview (review of its aggregated result) gets the Event a
  single task gets.
`anticipate` is the hand-off's (`runtime.handoff`): the same reconcile with children whose
result is being written seen as that write will make them, and the parent as its write in
flight (if any) will make it, used only to create the next children early (the cycle's own
pass then finds them).
A finished child whose status keeps only the beginning of its output is read whole from its
ConfigMap once (its output no longer changes). Children of a composite deleted while this
process watched are cancelled too (garbage collection deletes them; the cancel reaches their
slots at once). Nothing is kept in memory that status does not hold: after a restart the
same reconcile finds the same next child.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from claude_pool.api.common import ObjectMeta, dump
from claude_pool.api.phases import TaskPhase, is_finished
from claude_pool.api.pools import ClaudePool
from claude_pool.api.tasks import ClaudeTask
from claude_pool.controllers.state import ClusterState, TaskView
from claude_pool.kube.client import TASKS, Conflict, Kube, NotFound
from claude_pool.runtime.announcing import Announcer, EventReason
from claude_pool.runtime.parentwrites import ParentWrites
from claude_pool.runtime.statuswriting import StatusWriter
from claude_pool.slots.outputs import output_config_map
from claude_pool.status.patches import merge_diff
from claude_pool.workflows.children import ChildView, is_child_of
from claude_pool.workflows.rollup import reconcile

log = logging.getLogger("claude_pool.worker")


class Composer:
    """Reconciles one pool's composite tasks (see the module docstring)."""

    def __init__(
        self, kube: Kube, state: ClusterState, wake: Callable[[], None] = lambda: None
    ) -> None:
        self._kube = kube
        self._state = state
        self._outputs: dict[str, str] = {}
        """Whole outputs of finished children read from their ConfigMaps, by child uid."""
        self._strangers: set[str] = set()
        """Child names found taken by another object (reported once)."""
        self._writes = ParentWrites(wake)

    async def compose(
        self,
        pool: ClaudePool,
        tasks: list[TaskView],
        now: dt.datetime,
        *,
        writer: StatusWriter,
        announcer: Announcer,
    ) -> bool:
        """One pass over the pool's unfinished composite tasks and orphaned children; True
        when a child was created."""
        parents = [
            t
            for t in tasks
            if t.composite
            and not t.finished
            and t.spec is not None
            and t.status is not None
            and t.invalid is None
        ]
        live = {c.uid for p in parents for c in self._state.children_of(p.uid)}
        self._outputs = {uid: text for uid, text in self._outputs.items() if uid in live}
        results = await asyncio.gather(
            *(self._one(pool, p, now, writer, announcer) for p in parents),
            self._orphans(tasks),
            return_exceptions=True,
        )
        for error in (r for r in results if isinstance(r, BaseException)):
            log.warning("pool %s: composite reconcile failed: %r", pool.metadata.name, error)
        return any(r is True for r in results)

    async def _one(
        self,
        pool: ClaudePool,
        task: TaskView,
        now: dt.datetime,
        writer: StatusWriter,
        announcer: Announcer,
    ) -> bool:
        """Reconcile one parent; True when it asked for children. A parent whose status
        write is in flight waits for the next cycle (the write's answer wakes the worker):
        the cycle does not wait for it."""
        if self._writes.intended(task.uid) is not None:
            return False
        current = self._model(self._state.tasks.get(task.uid) or task)
        if current is None:
            return False
        task, parent = current
        children = await self._children(task)
        plan = reconcile(parent, children, now=now, pool_router_prompt=pool.spec.router_prompt)
        if plan.long_output is not None:
            ref = plan.status.result.output_ref if plan.status.result else None
            body = output_config_map(
                task.name, task.namespace, task.owner(), plan.long_output, name=ref
            )
            with contextlib.suppress(Conflict):  # written before a crash: the same text
                await self._kube.create(body)
        by_name = {c.name: c for c in self._state.children_of(task.uid)}
        old, new = dump(parent.status), dump(plan.status)
        writes = [
            *(self._create(task, parent, manifest, announcer) for manifest in plan.create),
            *(self._cancel(by_name[name]) for name in plan.cancel if name in by_name),
        ]
        if new != old:
            self._writes.start(task.uid, writer.patch_task(task, merge_diff(old, new)), plan.status)
        await asyncio.gather(*writes)  # one round trip: the next child starts sooner
        if plan.status.phase is TaskPhase.AWAITING_REVIEW and task.phase is not plan.status.phase:
            cost = f"cost {plan.status.cost_microdollars} microdollars"
            message = (
                f"the result awaits review: create a ClaudeReview to approve or reject ({cost})"
            )
            announcer.event(task.involved(), EventReason.AWAITING_REVIEW, message)
        return bool(plan.create)

    async def anticipate(
        self,
        pool: ClaudePool,
        task: TaskView,
        ahead: dict[str, ChildView],
        now: dt.datetime,
        announcer: Announcer,
    ) -> set[str]:
        """Create the children the parent needs once `ahead` (children whose result is being
        written, as that write makes them) are finished; nothing else is written. Returns the
        uids of the children created (or found created)."""
        current = self._as_written(task)
        if current is None or _all_items_exist(task, len(self._state.children_of(task.uid))):
            return set()  # (a fan-out whose items all exist has nothing to create)
        task, parent = current
        children = {**(await self._children(task)), **ahead}
        plan = reconcile(parent, children, now=now, pool_router_prompt=pool.spec.router_prompt)
        made = await asyncio.gather(
            *(self._create(task, parent, m, announcer) for m in plan.create)
        )
        return {uid for uid in made if uid is not None}

    def _as_written(self, task: TaskView) -> tuple[TaskView, ClaudeTask] | None:
        """The parent as its status write in flight (if any) makes it, without waiting: that
        status is the one this process computed (no one else writes it)."""
        task = self._state.tasks.get(task.uid) or task
        status = self._writes.intended(task.uid)
        if status is not None:
            if status.phase is not None and is_finished(status.phase):
                return None
            task = dataclasses.replace(task, status=status)
        return self._model(task)

    def _model(self, task: TaskView) -> tuple[TaskView, ClaudeTask] | None:
        if task.finished or task.spec is None or task.status is None:
            return None
        meta = ObjectMeta(
            name=task.name, namespace=task.namespace, uid=task.uid, generation=task.generation
        )
        return task, ClaudeTask(metadata=meta, spec=task.spec, status=task.status)

    async def _children(self, task: TaskView) -> dict[str, ChildView]:
        children: dict[str, ChildView] = {}
        for child in self._state.children_of(task.uid):
            if child.child is not None:
                children[child.name] = await self._whole(child, child.child)
        return children

    def stop(self) -> None:
        self._writes.stop()

    async def _whole(self, task: TaskView, view: ChildView) -> ChildView:
        """The child with its whole output (read once from its ConfigMap when finished)."""
        if task.output_ref is None or not view.finished:
            return view
        text = self._outputs.get(task.uid)
        if text is None:
            data = await self._kube.read_config_key(
                "ConfigMap", task.namespace, task.output_ref, "output"
            )
            if data is None:
                return view  # gone: the beginning in status is all there is
            text = self._outputs[task.uid] = data.decode(errors="replace")
        return dataclasses.replace(view, output=text)

    async def _create(
        self,
        task: TaskView,
        parent: ClaudeTask,
        manifest: dict[str, Any],
        announcer: Announcer,
    ) -> str | None:
        """Create the child if absent; its uid (None when the name is another object's)."""
        name = manifest["metadata"]["name"]
        try:
            body = await self._kube.create_custom(TASKS, manifest)
        except Conflict:
            body = await self._kube.get_custom(TASKS, task.namespace, name)
            found = ClaudeTask.model_validate(body) if body.get("spec") else None
            if found is None or not is_child_of(found, parent):
                if name not in self._strangers:
                    self._strangers.add(name)
                    message = f"cannot create child task {name}: another object has that name"
                    announcer.event(
                        task.involved(), EventReason.CHILD_NAME_TAKEN, message, warning=True
                    )
                return None
        return self._state.upsert_task(body).uid

    async def _cancel(self, child: TaskView) -> None:
        if child.cancel or child.finished:
            return
        try:
            body = await self._kube.patch_custom(
                TASKS, child.namespace, child.name, {"spec": {"cancel": True}}
            )
        except NotFound:
            return
        self._state.upsert_task(body)

    async def _orphans(self, tasks: list[TaskView]) -> None:
        """Cancel the unfinished children of composites deleted while this process watched."""
        ours = {t.uid for t in tasks}
        for parent_uid in list(self._state.deleted_parents):
            children = self._state.children_of(parent_uid)
            live = [c for c in children if not c.finished]
            if not live:
                self._state.deleted_parents.discard(parent_uid)
                continue
            await asyncio.gather(*(self._cancel(c) for c in live if c.uid in ours))


def _all_items_exist(task: TaskView, children: int) -> bool:
    """Whether `task` is a fan-out with a child for each of its items."""
    fan = task.spec.fan_out if task.spec is not None else None
    return fan is not None and children >= len(fan.prompts or fan.chains or ())
