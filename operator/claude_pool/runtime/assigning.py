"""Dispatch: the queue scheduled onto idle slots, assignments written, runs followed.

Part of the pool worker (`runtime.worker`). `scheduling.dispatching.schedule` decides; each
assignment is written with the task's resourceVersion as a precondition before the slot is
told; then a `taskrun.follow` task starts the run and reads its progress. Tasks that cannot
start get one condition write saying why (budget, suspend, credentials, unsupported mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Coroutine
from typing import Any

from claude_pool.api.agent import ProgressEvent
from claude_pool.api.pools import ClaudePool
from claude_pool.api.reasons import TaskReason
from claude_pool.api.tasks import TaskMode
from claude_pool.controllers.state import PodView, TaskView
from claude_pool.kube.client import TASKS, Conflict, NotFound
from claude_pool.runtime import metrics
from claude_pool.runtime.taskrun import NotStarted, Target, follow
from claude_pool.runtime.workerbase import (
    Run,
    WorkerBase,
)
from claude_pool.scheduling import transitions
from claude_pool.scheduling.dispatching import QueuedTask, Verdict, schedule
from claude_pool.slots.planning import SlotState, SlotView
from claude_pool.workflows.resolving import resolve_request

log = logging.getLogger("claude_pool.worker")


class AssignMixin(WorkerBase):
    """Dispatch: the queue scheduled onto idle slots, assignments written, runs followed."""

    async def _dispatch(
        self, pool: ClaudePool, tasks: list[TaskView], views: list[SlotView], now: dt.datetime
    ) -> int:
        queued = [
            t
            for t in tasks
            if not t.finished
            and t.slot is None
            and t.uid not in self.runs
            and not t.cancel
            and t.invalid is None
            and t.spec is not None
        ]
        for task in (t for t in queued if t.mode is not TaskMode.SINGLE):
            assert task.status is not None
            patch = transitions.waiting(
                task.status,
                TaskReason.UNSUPPORTED_MODE,
                f"{task.mode} tasks are not run by this operator version yet; "
                "single-prompt tasks (spec.prompt) are",
                task.generation,
                now,
            )
            if patch is not None:
                await self._patch_task(task, patch)
        queued = [t for t in queued if t.mode is TaskMode.SINGLE]
        if not queued:
            return 0
        items = {
            t.uid: QueuedTask(t.uid, t.name, t.priority, t.created, self._reservation(pool, t))
            for t in queued
        }
        idle = [v.name for v in views if v.state is SlotState.IDLE]
        by_uid = {t.uid: t for t in queued}
        decisions, _ = schedule(
            list(items.values()), idle, self._ledger(pool), suspended=pool.spec.suspend
        )
        pods = {p.name: p for p in self.state.pool_pods(self.key)}
        writes: list[Coroutine[Any, Any, bool | None]] = []
        for decision in decisions:
            task = by_uid[decision.task.uid]
            assert task.status is not None
            if decision.verdict is Verdict.ASSIGN and decision.slot is not None:
                pod = pods.get(decision.slot)
                if pod is not None and pod.ip:
                    writes.append(
                        self._assign(
                            pool, task, pod, decision.message, decision.task.reservation, now
                        )
                    )
                continue
            if decision.verdict is Verdict.WAIT_FOR_SLOT and self.credentials_problem is None:
                patch = transitions.queued(
                    task.status, "admitted; waiting for a free slot", task.generation, now
                )
            else:
                reason, message = decision.reason, decision.message
                if decision.verdict is Verdict.WAIT_FOR_SLOT and self.credentials_problem:
                    reason, message = TaskReason.POOL_NOT_READY, self.credentials_problem
                patch = transitions.waiting(task.status, reason, message, task.generation, now)
            if patch is not None:
                writes.append(self._patch_task(task, patch))
        results = await asyncio.gather(*writes, return_exceptions=True)
        for error in (r for r in results if isinstance(r, BaseException)):
            log.warning("pool %s/%s: dispatch write failed: %s", *self.key, error)
        assigned = sum(1 for r in results if r is True)
        metrics.DISPATCHED.labels(*self.key).inc(assigned)
        return assigned

    async def _assign(
        self,
        pool: ClaudePool,
        task: TaskView,
        pod: PodView,
        message: str,
        reservation: int,
        now: dt.datetime,
    ) -> bool:
        """Record the assignment (only if the task is unchanged), then start following it."""
        assert task.status is not None
        patch = transitions.assigned(
            task.status,
            slot=pod.name,
            slot_uid=pod.uid,
            message=message,
            generation=task.generation,
            now=now,
        )
        run = Run(task.uid, pod.name, task.attempts + 1, reservation)
        self.runs[task.uid] = run  # holds the slot and the reservation while the write is out
        try:
            body = await self.kube.patch_status(
                TASKS, task.namespace, task.name, patch, resource_version=task.resource_version
            )
        except (Conflict, NotFound):
            self.runs.pop(task.uid, None)
            return False  # changed or deleted since we looked: the next cycle decides
        view = self.state.upsert_task(body)
        self._follow(pool, view, pod, attach=False, run=run)
        return True

    def _follow(
        self,
        pool: ClaudePool,
        task: TaskView,
        pod: PodView,
        *,
        attach: bool,
        run: Run | None = None,
    ) -> None:
        assert self.token is not None
        assert task.spec is not None
        if run is None:
            run = Run(task.uid, pod.name, task.attempts, self._reservation(pool, task))
            self.runs[task.uid] = run
        request = resolve_request(
            pool,
            task.spec.prompt or "",
            task.spec.config,
            timeout_seconds=task.spec.timeout_seconds,
            budget_cap=run.reservation if pool.spec.budget.limit_microdollars else None,
        )
        target = Target(self._base(pod), self.token)

        async def started() -> None:
            metrics.observe_dispatch_latency(self.key, self.state.first_seen.get(task.uid))
            self._event(task.involved(), "Started", f"running on slot {pod.name}")

        async def progress(event: ProgressEvent) -> None:
            await self._progress(task, run, event)

        async def go() -> None:
            outcome = await follow(
                self.slots,
                target,
                task.uid,
                None if attach else request,
                on_started=started,
                on_progress=progress,
                unreachable_after=self.settings.agent_unreachable_seconds,
            )
            if isinstance(outcome, NotStarted) and attach:
                live = self.state.pools.get(self.key)
                current = self.state.pods.get(self.key, {}).get(pod.name)
                if live is not None and current is not None and current.uid == task.slot_uid:
                    outcome = await follow(
                        self.slots,
                        target,
                        task.uid,
                        request,
                        on_started=started,
                        on_progress=progress,
                        unreachable_after=self.settings.agent_unreachable_seconds,
                    )
            self._complete(run, outcome)

        run.task = asyncio.create_task(go(), name=f"run-{task.name}")

    async def _progress(self, task: TaskView, run: Run, event: ProgressEvent) -> None:
        now = time.monotonic()
        if now - run.last_progress < self.settings.progress_interval_seconds:
            return
        run.last_progress = now
        with contextlib.suppress(Conflict, NotFound):
            await self.kube.patch_status(
                TASKS, task.namespace, task.name, {"progress": {"turns": event.turns}}
            )
