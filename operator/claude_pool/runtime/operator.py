"""The operator's core object: the cluster view, the API facade and one worker per pool.

Created by `runtime.main`. kopf's handlers feed `state`; every change wakes the worker of the
pool concerned, starting one when a pool appears. Tasks whose pool does not exist get
Admitted=False with reason PoolNotFound (written once), and start when the pool appears. A
pool whose spec does not parse gets a Warning Event InvalidPool (once per resourceVersion)
saying why, and its tasks wait with PoolNotFound naming the error.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging

import aiohttp

from claude_pool.api.common import API_VERSION
from claude_pool.api.reasons import TaskReason
from claude_pool.controllers.state import ClusterState, PoolKey
from claude_pool.kube.client import TASKS, Kube, NotFound
from claude_pool.runtime.announcing import Announcer, EventReason
from claude_pool.runtime.clock import SYSTEM_CLOCK, Clock
from claude_pool.runtime.settings import Settings
from claude_pool.runtime.worker import PoolWorker
from claude_pool.slots.client import SlotClient
from claude_pool.status import tasks as transitions

log = logging.getLogger("claude_pool.operator")


class Operator:
    """Owns the workers; see the module docstring."""

    def __init__(self, settings: Settings, kube: Kube, clock: Clock = SYSTEM_CLOCK) -> None:
        self.settings = settings
        self.kube = kube
        self.clock = clock
        self.announcer: Announcer | None = None
        self._invalid_reported: dict[PoolKey, str] = {}
        self.state = ClusterState()
        self.workers: dict[PoolKey, tuple[PoolWorker, asyncio.Task[None]]] = {}
        self.session: aiohttp.ClientSession | None = None
        self.slots: SlotClient | None = None
        self._poolless: dict[PoolKey, asyncio.Task[None]] = {}
        self._stopping = False
        self.state.listeners.append(self._changed)

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=8)
        self.session = aiohttp.ClientSession(connector=connector)
        self.slots = SlotClient(self.session, timeout=self.settings.agent_timeout_seconds)
        self.announcer = Announcer(self.kube, self.slots, self.clock)
        for key in list(self.state.pools):
            self._changed(key)

    async def stop(self) -> None:
        self._stopping = True  # no worker starts again (a finished worker would restart)
        for worker, task in list(self.workers.values()):
            await worker.stop()
            task.cancel()
        for _, running in list(self.workers.values()):
            await asyncio.gather(running, return_exceptions=True)
        self.workers.clear()
        if self.session is not None:
            await self.session.close()

    def _changed(self, key: PoolKey) -> None:
        if self._stopping:
            return
        entry = self.workers.get(key)
        if entry is not None and not entry[1].done():
            entry[0].wake.set()
            return
        if self.slots is None:
            return  # not started yet: start() picks the pools up
        self._report_invalid(key)
        if key in self.state.pools:
            worker = PoolWorker(key, self.state, self.kube, self.slots, self.settings, self.clock)
            task = asyncio.create_task(worker.run(), name=f"pool-{key[0]}-{key[1]}")
            task.add_done_callback(functools.partial(self._worker_done, key))
            self.workers[key] = (worker, task)
            worker.wake.set()
        elif key not in self._poolless and self.state.tasks_by_pool.get(key):
            self._poolless[key] = asyncio.create_task(self._mark_poolless(key))

    def _report_invalid(self, key: PoolKey) -> None:
        """A pool whose spec does not parse: one Warning Event per resourceVersion."""
        invalid = self.state.invalid_pools.get(key)
        if invalid is None or self.announcer is None:
            return
        if self._invalid_reported.get(key) == invalid.resource_version:
            return
        self._invalid_reported[key] = invalid.resource_version
        involved = {
            "apiVersion": API_VERSION,
            "kind": "ClaudePool",
            "name": key[1],
            "namespace": key[0],
            "uid": invalid.uid,
        }
        log.warning("pool %s/%s is invalid: %s", *key, invalid.error)
        message = f"the pool's spec is invalid: {invalid.error}"
        self.announcer.event(involved, EventReason.INVALID_POOL, message, warning=True)

    def _worker_done(self, key: PoolKey, _task: asyncio.Task[None]) -> None:
        entry = self.workers.get(key)
        if entry is not None and entry[1].done():
            del self.workers[key]
            if key in self.state.pools or self.state.tasks_by_pool.get(key):
                self._changed(key)

    async def _mark_poolless(self, key: PoolKey) -> None:
        """Tasks of a pool that does not exist wait with a reason (PoolNotFound)."""
        try:
            now = self.clock.now()
            message = f'ClaudePool "{key[1]}" not found in namespace {key[0]}'
            invalid = self.state.invalid_pools.get(key)
            if invalid is not None:
                message = f'ClaudePool "{key[1]}" is invalid: {invalid.error}'
            for task in self.state.pool_tasks(key):
                if task.finished or task.status is None or task.slot is not None:
                    continue
                patch = transitions.waiting(
                    task.status, TaskReason.POOL_NOT_FOUND, message, task.generation, now
                )
                if patch is not None:
                    with contextlib.suppress(NotFound):
                        body = await self.kube.patch_status(TASKS, task.namespace, task.name, patch)
                        self.state.upsert_task(body)
        except Exception:
            log.exception("marking tasks of missing pool %s/%s", *key)
        finally:
            self._poolless.pop(key, None)
