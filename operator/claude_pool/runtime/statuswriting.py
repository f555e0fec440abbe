"""The status writer: every status write of one pool's worker, task and pool alike.

Owned by `runtime.worker.PoolWorker`. Task status patches go through `patch_task` (the
cluster view is updated with the answer) and `patch_progress`. The pool's status is written
by `write_pool` only when it differs from what was last written; changes of counts alone
are debounced (written one interval after the first change, or after the last write,
together with whatever else changed by then: at most one such write per interval), and a
wake-up is scheduled for when the write falls due. `force` (the cost commit) writes now, and
on a conflict re-reads the resourceVersion and writes again: the commit must land (any other
write that conflicts re-reads it and wakes the worker, whose next cycle writes again).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from claude_pool.controllers.state import ClusterState, PoolKey, TaskView
from claude_pool.kube.client import POOLS, TASKS, Conflict, Kube, NotFound
from claude_pool.runtime.clock import Clock


class StatusWriter:
    """Writes task and pool status for one pool (see the module docstring)."""

    def __init__(
        self,
        key: PoolKey,
        state: ClusterState,
        kube: Kube,
        clock: Clock,
        *,
        wake: Callable[[], None],
        min_interval: float,
    ) -> None:
        self._key = key
        self._state = state
        self._kube = kube
        self._clock = clock
        self._wake = wake
        self._min_interval = min_interval
        self._version: str | None = None
        self._version_loaded = False
        self._last: dict[str, Any] | None = None
        self._last_write = 0.0
        self._dirty_since: float | None = None
        self._rewake: asyncio.TimerHandle | None = None

    @property
    def last_written(self) -> dict[str, Any] | None:
        """The pool status this writer last wrote (None before the first write)."""
        return self._last

    async def patch_task(self, task: TaskView, patch: dict[str, Any]) -> None:
        """Merge-patch the task's status (a task deleted meanwhile is skipped)."""
        try:
            body = await self._kube.patch_status(TASKS, task.namespace, task.name, patch)
        except NotFound:
            return
        self._state.upsert_task(body)

    async def assign_task(self, task: TaskView, patch: dict[str, Any]) -> TaskView | None:
        """Write an assignment only if the task is unchanged since read (its resourceVersion).

        Returns the updated view, or None when the task changed or is gone."""
        try:
            body = await self._kube.patch_status(
                TASKS, task.namespace, task.name, patch, resource_version=task.resource_version
            )
        except (Conflict, NotFound):
            return None
        return self._state.upsert_task(body)

    async def patch_progress(self, task: TaskView, patch: dict[str, Any]) -> None:
        """A progress report (not fed back into the view: it changes nothing there)."""
        try:
            await self._kube.patch_status(TASKS, task.namespace, task.name, patch)
        except (Conflict, NotFound):
            return

    async def write_pool(self, status: dict[str, Any], *, force: bool) -> None:
        """Write the pool's status when it changed (see the module docstring)."""
        if not self._version_loaded:
            self._version = self._state.pool_versions.get(self._key)
            self._version_loaded = True
        if status == self._last:
            return
        if not force and self._last is not None and self._counts_only(status):
            clock = self._clock.monotonic()
            self._dirty_since = self._dirty_since or clock
            due = max(self._last_write, self._dirty_since) + self._min_interval
            if due > clock:
                if self._rewake is None:
                    loop = asyncio.get_running_loop()
                    self._rewake = loop.call_later(due - clock, self._wake_again)
                return
        ns, name = self._key
        try:
            body = await self._kube.patch_status(
                POOLS, ns, name, status, resource_version=self._version
            )
        except Conflict:
            fresh = await self._kube.get_custom(POOLS, ns, name)
            self._version = fresh["metadata"]["resourceVersion"]
            if not force:
                self._wake()  # the next cycle writes it over the fresh version, not a resync
                return
            body = await self._kube.patch_status(
                POOLS, ns, name, status, resource_version=self._version
            )
        self._version = body.get("metadata", {}).get("resourceVersion")
        self._last, self._last_write = status, self._clock.monotonic()
        self._dirty_since = None
        self._state.upsert_pool(body)

    def _wake_again(self) -> None:
        self._rewake = None
        self._wake()

    def stop(self) -> None:
        if self._rewake is not None:
            self._rewake.cancel()
            self._rewake = None

    def _counts_only(self, status: dict[str, Any]) -> bool:
        old = self._last or {}
        same = ("conditions", "observedGeneration", "selector")

        def budget(s: dict[str, Any]) -> dict[str, Any]:
            b = dict(s.get("budget") or {})
            b.pop("reservedMicrodollars", None)  # display only: rebuilt from runs on restart
            return b

        return all(status.get(k) == old.get(k) for k in same) and budget(status) == budget(old)
