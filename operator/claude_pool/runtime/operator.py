"""The operator's core object: the cluster view, the API facade and one worker per pool.

Created by `runtime.main`. kopf's handlers feed `state`; every change wakes the worker of the
pool concerned, starting one when a pool appears. Tasks whose pool does not exist get
Admitted=False with reason PoolNotFound (written once), and start when the pool appears.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging

import aiohttp

from claude_pool.api.reasons import TaskReason
from claude_pool.controllers.state import ClusterState, PoolKey
from claude_pool.kube.client import TASKS, Kube, NotFound
from claude_pool.runtime.settings import Settings
from claude_pool.runtime.worker import PoolWorker
from claude_pool.scheduling import transitions
from claude_pool.slots.client import SlotClient

log = logging.getLogger("claude_pool.operator")


class Operator:
    """Owns the workers; see the module docstring."""

    def __init__(self, settings: Settings, kube: Kube) -> None:
        self.settings = settings
        self.kube = kube
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
        if key in self.state.pools:
            worker = PoolWorker(key, self.state, self.kube, self.slots, self.settings)
            task = asyncio.create_task(worker.run(), name=f"pool-{key[0]}-{key[1]}")
            task.add_done_callback(functools.partial(self._worker_done, key))
            self.workers[key] = (worker, task)
            worker.wake.set()
        elif key not in self._poolless and self.state.tasks_by_pool.get(key):
            self._poolless[key] = asyncio.create_task(self._mark_poolless(key))

    def _worker_done(self, key: PoolKey, _task: asyncio.Task[None]) -> None:
        entry = self.workers.get(key)
        if entry is not None and entry[1].done():
            del self.workers[key]
            if key in self.state.pools or self.state.tasks_by_pool.get(key):
                self._changed(key)

    async def _mark_poolless(self, key: PoolKey) -> None:
        """Tasks of a pool that does not exist wait with a reason (PoolNotFound)."""
        try:
            now = dt.datetime.now(dt.UTC)
            message = f'ClaudePool "{key[1]}" not found in namespace {key[0]}'
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
