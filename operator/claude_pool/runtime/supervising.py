"""Supervising runs: re-attach after a restart, lost slots, cancels, deleted tasks, orphans.

Part of the pool worker (`runtime.worker`). Live tasks assigned before this process started
are followed again; runs whose slot is gone are retried or failed; cancel requests and
deleted tasks are passed to their slot; once per slot pod, results the agent still holds for
tasks nobody follows are collected so their cost is counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt

from claude_pool.api.pools import ClaudePool
from claude_pool.api.reasons import TaskReason
from claude_pool.api.tasks import ClaudeTaskStatus
from claude_pool.controllers.state import PodView, TaskView
from claude_pool.runtime.taskrun import Target, follow
from claude_pool.runtime.workerbase import (
    Run,
    WorkerBase,
    _attempt_of,
    _ignore,
    _nothing,
)
from claude_pool.scheduling import transitions
from claude_pool.slots.client import SlotError, SlotUnreachable


class SupervisionMixin(WorkerBase):
    """Supervising runs: re-attach after a restart, lost slots, cancels, deleted tasks, orphans."""

    async def _supervise_runs(
        self, pool: ClaudePool, tasks: list[TaskView], pods: dict[str, PodView], now: dt.datetime
    ) -> None:
        live = {t.uid: t for t in tasks if not t.finished}
        for task in live.values():
            if task.slot is None or task.uid in self.runs:
                continue
            # assigned before (an operator restart): re-attach, or the slot is gone
            pod = pods.get(task.slot)
            if pod is None or pod.uid != task.slot_uid or pod.terminating or not pod.ip:
                if pod is not None and pod.uid == task.slot_uid and not pod.ip:
                    continue  # the pod restarts: wait for it
                await self._retry_or_fail(pool, task, f"slot {task.slot} is gone", now)
                continue
            self._follow(pool, task, pod, attach=True)
        for uid, run in list(self.runs.items()):
            followed = live.get(uid)
            pod = pods.get(run.slot)
            gone = pod is None or pod.terminating
            if followed is None or followed.cancel:
                if not run.cancel_sent and pod is not None and pod.ip and self.token:
                    run.cancel_sent = True
                    with contextlib.suppress(SlotUnreachable, SlotError):
                        await self.slots.cancel(self._base(pod), self.token, uid)
            elif gone and run.task is not None and not run.task.done():
                run.task.cancel()
                self.runs.pop(uid, None)
                await self._retry_or_fail(pool, followed, f"slot {run.slot} was deleted", now)
        for task in live.values():
            if task.cancel and task.slot is None and task.status is not None:
                patch = transitions.failed(
                    task.status,
                    TaskReason.CANCEL_REQUESTED,
                    "cancelled before it started",
                    task.generation,
                    now,
                    cancelled=True,
                )
                await self._patch_task(task, patch)
                self._event(task.involved(), "Cancelled", "cancelled before it started")
            elif task.invalid is not None:
                await self._fail_invalid(task, now)
        await self._sweep_orphans(pods, live)

    async def _sweep_orphans(self, pods: dict[str, PodView], live: dict[str, TaskView]) -> None:
        """Once per pod: collect results its agent still holds for tasks we do not follow."""
        if self.token is None:
            return
        for pod in pods.values():
            if pod.uid in self.probed or not pod.ready or not pod.ip:
                continue
            try:
                slot = await self.slots.slot(self._base(pod), self.token)
            except (SlotUnreachable, SlotError):
                continue
            self.probed.add(pod.uid)
            for uid in slot.tasks:
                if uid in self.runs or (uid in live and live[uid].slot == pod.name):
                    continue
                if uid in live and live[uid].slot is None:
                    continue
                run = Run(uid=uid, slot=pod.name, attempt=_attempt_of(live.get(uid)), reservation=0)
                self.runs[uid] = run
                run.task = asyncio.create_task(self._orphan(run, pod))

    async def _orphan(self, run: Run, pod: PodView) -> None:
        assert self.token is not None
        target = Target(self._base(pod), self.token)
        with contextlib.suppress(SlotUnreachable, SlotError):
            await self.slots.cancel(target.base, target.token, run.uid)
        outcome = await follow(
            self.slots,
            target,
            run.uid,
            None,
            on_started=_nothing,
            on_progress=_ignore,
            unreachable_after=self.settings.agent_unreachable_seconds,
        )
        self._complete(run, outcome)

    async def _fail_invalid(self, task: TaskView, now: dt.datetime) -> None:
        message = f"invalid spec: {task.invalid}"
        patch = transitions.failed(
            ClaudeTaskStatus(), TaskReason.INVALID_SPEC, message, task.generation, now
        )
        await self._patch_task(task, patch)
