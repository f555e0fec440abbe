"""One pool's worker: a level-based loop that reconciles slots and dispatches tasks.

Started by `runtime.operator` per ClaudePool and woken by watch events (or every
`resync_seconds`). Each cycle compares desired and actual state and acts:
1. support objects: the agent-token Secret and the permission-less ServiceAccount;
2. results that arrived: their costs are committed to the pool's spend in one status write
   (exactly once, through the ledger's ring of recent commits), then each task's result is
   written, an Event recorded and the slot told to drop the result;
3. lost slots (pod gone, replaced, or agent silent): the task is retried on another slot
   (attempts counted and bounded) or fails with SlotLost; cancels and deleted tasks are
   passed to their slots;
4. the scale plan (create, delete, drain) from `slots.planning`;
5. dispatch: the queue is scheduled against idle slots and the budget; each assignment is
   written with optimistic concurrency before the slot is told, then followed by a
   `taskrun.follow` task;
6. the pool's status, written when it changed (count-only changes at a bounded rate).
The steps live in mixins: `scaling` (1, 4), `recording` (2), `supervising` (3),
`assigning` (5); `workerbase` holds the shared state and the status write (6).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from claude_pool.runtime import metrics
from claude_pool.runtime.assigning import AssignMixin
from claude_pool.runtime.recording import RecordingMixin
from claude_pool.runtime.scaling import ScalingMixin
from claude_pool.runtime.supervising import SupervisionMixin
from claude_pool.runtime.workerbase import (
    Completion,
    Run,
    utcnow,
)

log = logging.getLogger("claude_pool.worker")


class PoolWorker(ScalingMixin, RecordingMixin, SupervisionMixin, AssignMixin):
    """Reconciles one pool; see the module docstring for the cycle."""

    async def run(self) -> None:
        while not self._stopped:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.settings.resync_seconds)
            self.wake.clear()
            try:
                if not await self.cycle():
                    break  # the pool is gone
            except Exception:
                log.exception("pool %s/%s: cycle failed", *self.key)
                metrics.CYCLE_ERRORS.labels(*self.key).inc()
                await asyncio.sleep(1.0)
            await asyncio.sleep(self.settings.cycle_min_interval_seconds)
        await self.stop()

    async def stop(self) -> None:
        self._stopped = True
        for run in list(self.runs.values()):
            if run.task is not None:
                run.task.cancel()
        self.runs.clear()

    async def cycle(self) -> bool:
        pool = self.state.pools.get(self.key)
        if pool is None:
            return False
        now = utcnow()
        if self.support_for != pool.metadata.uid:
            await self._ensure_support(pool)
        await self._check_credentials(pool)
        self._init_ledger(pool)
        pods = {p.name: p for p in self.state.pool_pods(self.key)}
        tasks = self.state.pool_tasks(self.key)
        await self._record_completions(pool, tasks, pods, now)
        tasks = self.state.pool_tasks(self.key)
        await self._supervise_runs(pool, tasks, pods, now)
        views = self._slot_views(pool, pods)
        await self._apply_plan(pool, views, pods)
        views = self._slot_views(pool, pods)
        await self._dispatch(pool, tasks, views, now)
        await self._write_status(pool, views, tasks, now, force=False)  # commits wrote already
        metrics.observe_pool(self.key, views, tasks, len(self.runs))
        return True


__all__ = ["Completion", "PoolWorker", "Run"]
