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
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import logging
import secrets
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from claude_pool.api.agent import ProgressEvent, TaskStatus
from claude_pool.api.agent import TaskResult as AgentResult
from claude_pool.api.failures import FailureReason
from claude_pool.api.pools import ClaudePool
from claude_pool.api.reasons import TaskReason
from claude_pool.api.tasks import TaskMode
from claude_pool.budget.ledger import Ledger, commit, reservation_for
from claude_pool.controllers.state import ClusterState, PodView, PoolKey, TaskView
from claude_pool.kube.client import POOLS, TASKS, Conflict, Kube, NotFound
from claude_pool.runtime import metrics
from claude_pool.runtime.settings import Settings
from claude_pool.runtime.taskrun import Finished, Lost, NotStarted, Outcome, Target, follow
from claude_pool.scheduling import transitions
from claude_pool.scheduling.dispatching import QueuedTask, Verdict, schedule
from claude_pool.scheduling.poolstatus import PoolFacts, pool_status
from claude_pool.slots import pods as slotpods
from claude_pool.slots.client import SlotClient, SlotError, SlotUnreachable
from claude_pool.slots.planning import SlotState, SlotView, drain_bound, plan_slots
from claude_pool.workflows.resolving import resolve_request

log = logging.getLogger("claude_pool.worker")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Run:
    """A task this worker follows on a slot."""

    uid: str
    slot: str
    attempt: int
    reservation: int
    task: asyncio.Task[None] | None = None
    started: float = field(default_factory=time.monotonic)
    cancel_sent: bool = False
    last_progress: float = field(default_factory=time.monotonic)
    """The first progress write comes one interval after the start (short runs write none)."""


@dataclass
class Completion:
    """A run's outcome waiting to be recorded."""

    run: Run
    outcome: Outcome


class PoolWorker:
    """Reconciles one pool; see the module docstring for the cycle."""

    def __init__(
        self,
        key: PoolKey,
        state: ClusterState,
        kube: Kube,
        slots: SlotClient,
        settings: Settings,
    ) -> None:
        self.key = key
        self.state = state
        self.kube = kube
        self.slots = slots
        self.settings = settings
        self.wake = asyncio.Event()
        self.runs: dict[str, Run] = {}
        self.completions: list[Completion] = []
        self.token: str | None = None
        self.support_for: str | None = None
        self.credentials_checked = 0.0
        self.credentials_problem: str | None = None
        self.spent: int | None = None
        self.recent: tuple[str, ...] = ()
        self.status_version: str | None = None
        self.last_status: dict[str, Any] | None = None
        self.last_status_write = 0.0
        self.backoff: dict[int, tuple[int, float]] = {}
        self.draining_since: dict[str, float] = {}
        self.probed: set[str] = set()
        self.degraded: str | None = None
        self.replaced: dict[str, tuple[str, float]] = {}
        """Why and when a worn slot was replaced: the pool stays Degraded for a while."""
        self._stopped = False
        self._background: set[asyncio.Task[None]] = set()
        self.dirty_since: float | None = None
        self._rewake: asyncio.TimerHandle | None = None

    # loop
    async def run(self) -> None:
        while not self._stopped:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.settings.resync_seconds)
            self.wake.clear()
            try:
                if not await self.cycle():
                    break
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
        committed = await self._record_completions(pool, tasks, pods, now)
        tasks = self.state.pool_tasks(self.key)
        await self._supervise_runs(pool, tasks, pods, now)
        views = self._slot_views(pool, pods)
        await self._apply_plan(pool, views, pods)
        views = self._slot_views(pool, pods)
        dispatched = await self._dispatch(pool, tasks, views, now)
        await self._write_status(pool, views, tasks, now, force=committed)
        metrics.observe_pool(self.key, views, tasks, len(self.runs))
        return dispatched >= 0

    # support objects and credentials
    async def _ensure_support(self, pool: ClaudePool) -> None:
        ns, name = self.key
        data = await self.kube.read_secret(ns, slotpods.token_secret_name(name))
        if data is None:
            token = secrets.token_urlsafe(32)
            with contextlib.suppress(Conflict):
                await self.kube.create(slotpods.desired_token_secret(pool, token))
            data = await self.kube.read_secret(ns, slotpods.token_secret_name(name)) or {}
        raw = data.get(slotpods.TOKEN_KEY)
        if not raw:
            raise RuntimeError(f"secret {slotpods.token_secret_name(name)} has no token")
        self.token = base64.b64decode(raw).decode()
        if pool.spec.template.service_account_name is None:
            with contextlib.suppress(Conflict):
                await self.kube.create(slotpods.desired_service_account(pool))
        self.support_for = pool.metadata.uid

    async def _check_credentials(self, pool: ClaudePool) -> None:
        creds = pool.spec.credentials
        if creds is None:
            self.credentials_problem = None
            return
        if time.monotonic() - self.credentials_checked < 5.0 and self.credentials_problem is None:
            return
        self.credentials_checked = time.monotonic()
        data = await self.kube.read_secret(self.key[0], creds.secret_name)
        if data is None:
            self.credentials_problem = f'credentials Secret "{creds.secret_name}" not found'
        elif creds.secret_key() not in data:
            self.credentials_problem = (
                f'credentials Secret "{creds.secret_name}" has no key "{creds.secret_key()}"'
            )
        else:
            self.credentials_problem = None

    def _init_ledger(self, pool: ClaudePool) -> None:
        if self.spent is None:
            budget = pool.status.budget
            self.spent = budget.spent_microdollars
            self.recent = tuple(budget.recent_commits)
            self.status_version = self.state.pool_versions.get(self.key)

    def _ledger(self, pool: ClaudePool) -> Ledger:
        reserved = sum(r.reservation for r in self.runs.values())
        return Ledger(pool.spec.budget.limit_microdollars, self.spent or 0, reserved)

    # results
    async def _record_completions(
        self, pool: ClaudePool, tasks: list[TaskView], pods: dict[str, PodView], now: dt.datetime
    ) -> bool:
        if not self.completions:
            return False
        done, self.completions = self.completions, []
        by_uid = {t.uid: t for t in tasks}
        costs: dict[str, int] = {}
        for item in done:
            if isinstance(item.outcome, Finished) and item.outcome.status.result is not None:
                key = f"{item.run.uid}/{item.run.attempt}"
                costs[key] = item.outcome.status.result.cost_microdollars
        for item in done:
            self.runs.pop(item.run.uid, None)
        if costs:
            result = commit(self.spent or 0, self.recent, costs)
            self.spent, self.recent = result.spent, result.recent
            await self._write_status(pool, self._slot_views(pool, pods), tasks, now, force=True)
        results = await asyncio.gather(
            *(self._record_one(pool, item, by_uid.get(item.run.uid), pods, now) for item in done),
            return_exceptions=True,
        )
        for error in (r for r in results if isinstance(r, BaseException)):
            log.warning("pool %s/%s: recording a result failed: %s", *self.key, error)
        return bool(costs)

    async def _record_one(
        self,
        pool: ClaudePool,
        item: Completion,
        task: TaskView | None,
        pods: dict[str, PodView],
        now: dt.datetime,
    ) -> None:
        run, outcome = item.run, item.outcome
        pod = pods.get(run.slot)
        if isinstance(outcome, Finished) and outcome.status.result is not None:
            result = outcome.status.result
            metrics.record_result(self.key, result, time.monotonic() - run.started)
            if task is not None and not task.finished and task.status is not None:
                lost = self._interrupted(result, pod)
                if lost and not task.cancel:
                    await self._retry_or_fail(pool, task, lost, now, extra_cost=result)
                else:
                    await self._finish(pool, task, result, now)
            if pod is not None and pod.ip and self.token:
                with contextlib.suppress(SlotUnreachable, SlotError):
                    await self.slots.acknowledge(self._base(pod), self.token, run.uid)
        elif isinstance(outcome, Lost | NotStarted) and task is not None and not task.finished:
            reason = outcome.reason if isinstance(outcome, Lost) else "the slot lost the task"
            await self._retry_or_fail(pool, task, reason, now)

    def _interrupted(self, result: AgentResult, pod: PodView | None) -> str | None:
        """Why a failed result means the slot was lost rather than the task failing."""
        if result.success:
            return None
        if result.failure is not None and result.failure.reason is FailureReason.INTERRUPTED:
            return "the slot agent restarted during the run"
        if pod is None or pod.terminating:
            return "the slot pod was deleted during the run"
        return None

    async def _finish(
        self, pool: ClaudePool, task: TaskView, result: AgentResult, now: dt.datetime
    ) -> None:
        assert task.status is not None
        cm_name = f"{task.name}-output"
        output, keep = transitions.output_fields(
            result.output, self.settings.output_status_limit, cm_name
        )
        if keep is not None:
            body = transitions.output_config_map(
                cm_name, task.namespace, _owner(task), keep, len(result.output.encode())
            )
            with contextlib.suppress(Conflict):
                await self.kube.create(body)
        patch = transitions.finished(
            task.status,
            result,
            output=output,
            cancelled=task.cancel,
            generation=task.generation,
            now=now,
        )
        await self._patch_task(task, patch)
        phase = patch["phase"]
        await self._event(
            task.involved(), phase, _finish_message(phase, result), warning=phase == "Failed"
        )

    async def _retry_or_fail(
        self,
        pool: ClaudePool,
        task: TaskView,
        reason: str,
        now: dt.datetime,
        extra_cost: AgentResult | None = None,
    ) -> None:
        assert task.status is not None
        self.runs.pop(task.uid, None)
        limit = pool.spec.supervision.max_task_attempts
        cost = task.status.cost_microdollars + (extra_cost.cost_microdollars if extra_cost else 0)
        if task.attempts >= limit:
            message = f"{reason}; {task.attempts} of {limit} attempts used"
            patch = transitions.failed(
                task.status, FailureReason.SLOT_LOST, message, task.generation, now
            )
            patch["costMicrodollars"] = cost
            await self._patch_task(task, patch)
            await self._event(task.involved(), FailureReason.SLOT_LOST, message, warning=True)
            return
        patch = transitions.requeued(task.status, "SlotLost", reason, task.generation, now)
        patch["costMicrodollars"] = cost
        await self._patch_task(task, patch)
        await self._event(task.involved(), TaskReason.RETRYING, f"{reason}; retrying", warning=True)

    # supervision of running tasks
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
                await self._event(task.involved(), "Cancelled", "cancelled before it started")
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
                run.cancel_sent = False
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
        from claude_pool.api.tasks import ClaudeTaskStatus

        message = f"invalid spec: {task.invalid}"
        patch = transitions.failed(
            ClaudeTaskStatus(), TaskReason.INVALID_SPEC, message, task.generation, now
        )
        await self._patch_task(task, patch)

    # slots
    def _slot_views(self, pool: ClaudePool, pods: dict[str, PodView]) -> list[SlotView]:
        busy = {run.slot: uid for uid, run in self.runs.items()}
        now = time.monotonic()
        views = []
        for pod in pods.values():
            if pod.draining:
                self.draining_since.setdefault(pod.name, now)
            views.append(
                SlotView(
                    name=pod.name,
                    index=pod.index,
                    uid=pod.uid,
                    ip=pod.ip,
                    phase=pod.phase,
                    ready=pod.ready and not (pool.spec.credentials and self.credentials_problem),
                    restarts=pod.restarts,
                    draining=pod.draining,
                    draining_since=self.draining_since.get(pod.name),
                    terminating=pod.terminating,
                    task=busy.get(pod.name),
                )
            )
        return views

    async def _apply_plan(
        self, pool: ClaudePool, views: list[SlotView], pods: dict[str, PodView]
    ) -> None:
        now = time.monotonic()
        desired = pool.spec.slots
        limit = pool.spec.supervision.max_restarts
        worn = [v for v in views if v.restarts > limit and v.task is None and not v.terminating]
        for view in worn:
            message = f"slot {view.name} restarted {view.restarts} times (limit {limit}); replaced"
            self.replaced[view.name] = (message, now)
            await self._event(_pool_ref(pool), "SlotReplaced", message, warning=True)
        hold = self.settings.degraded_hold_seconds
        self.replaced = {k: v for k, v in self.replaced.items() if now - v[1] < hold}
        self.degraded = "; ".join(m for m, _ in self.replaced.values()) or None
        backing_off = frozenset(i for i, (_, until) in self.backoff.items() if until > now)
        drain_timeout = drain_bound(
            pool.spec.supervision.drain_timeout_seconds, self.settings.drain_timeout_seconds
        )
        plan = plan_slots(
            desired, views, now=now, drain_timeout=drain_timeout, backing_off=backing_off
        )
        ns = self.key[0]
        replace = {v.name for v in worn} - set(plan.delete)
        for name in (*plan.delete, *replace):
            pod = pods[name]
            if pod.phase == "Failed" or name in replace:
                failures = self.backoff.get(pod.index, (0, 0.0))[0] + 1
                delay = min(
                    self.settings.slot_backoff_seconds * 2 ** (failures - 1),
                    self.settings.slot_backoff_max_seconds,
                )
                self.backoff[pod.index] = (failures, now + delay)
            with contextlib.suppress(NotFound):
                await self.kube.delete_pod(ns, name, uid=pod.uid)
            self.draining_since.pop(name, None)
        for name in plan.drain:
            await self.kube.patch_pod_metadata(
                ns, name, {"annotations": {slotpods.DRAINING_ANNOTATION: "true"}}
            )
            self.draining_since[name] = now
        for name in plan.undrain:
            await self.kube.patch_pod_metadata(
                ns, name, {"annotations": {slotpods.DRAINING_ANNOTATION: None}}
            )
            self.draining_since.pop(name, None)
        defaults = slotpods.SlotDefaults(
            image=self.settings.slot_image,
            termination_grace_seconds=self.settings.slot_termination_grace_seconds,
        )
        for index in plan.create:
            with contextlib.suppress(Conflict):
                await self.kube.create(slotpods.desired_slot_pod(pool, index, defaults))

    # dispatch
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
        default_reservation = pool.spec.budget.default_task_reservation_microdollars
        items = {
            t.uid: QueuedTask(
                t.uid,
                t.name,
                t.priority,
                t.created,
                reservation_for(
                    t.spec.config.max_budget_microdollars if t.spec and t.spec.config else None,
                    default_reservation,
                ),
            )
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
            cap = task.spec.config.max_budget_microdollars if task.spec.config else None
            reservation = reservation_for(
                cap, pool.spec.budget.default_task_reservation_microdollars
            )
            run = Run(task.uid, pod.name, task.attempts, reservation)
            self.runs[task.uid] = run
        request = resolve_request(
            pool,
            task.spec.prompt or "",
            task.spec.config,
            timeout_seconds=task.spec.timeout_seconds,
        )
        target = Target(self._base(pod), self.token)
        created = task.created

        async def started() -> None:
            metrics.observe_dispatch_latency(self.key, created)
            await self._event(task.involved(), "Started", f"running on slot {pod.name}")

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

    def _complete(self, run: Run, outcome: Outcome) -> None:
        if self.runs.get(run.uid) is run:
            self.completions.append(Completion(run, outcome))
            self.wake.set()

    async def _progress(self, task: TaskView, run: Run, event: ProgressEvent) -> None:
        now = time.monotonic()
        if now - run.last_progress < self.settings.progress_interval_seconds:
            return
        run.last_progress = now
        with contextlib.suppress(Conflict, NotFound):
            await self.kube.patch_status(
                TASKS, task.namespace, task.name, {"progress": {"turns": event.turns}}
            )

    # writes
    async def _patch_task(self, task: TaskView, patch: dict[str, Any]) -> None:
        try:
            body = await self.kube.patch_status(TASKS, task.namespace, task.name, patch)
        except NotFound:
            return
        self.state.upsert_task(body)

    async def _event(
        self, involved: dict[str, str], reason: str, message: str, warning: bool = False
    ) -> None:
        """Record an Event in the background: it never delays the cycle."""
        task = asyncio.create_task(self._post_event(involved, reason, message, warning))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _post_event(
        self, involved: dict[str, str], reason: str, message: str, warning: bool
    ) -> None:
        try:
            await self.kube.event(
                involved, reason=reason, message=message, warning=warning, now=utcnow()
            )
        except Exception as exc:
            log.warning("event %s for %s failed: %s", reason, involved.get("name"), exc)

    async def _write_status(
        self,
        pool: ClaudePool,
        views: list[SlotView],
        tasks: list[TaskView],
        now: dt.datetime,
        *,
        force: bool,
    ) -> None:
        live = [t for t in tasks if not t.finished]
        running = sum(1 for t in live if t.slot is not None)
        waiting = sum(
            1
            for t in live
            if t.slot is None and t.status is not None and t.phase.value == "Waiting"
        )
        facts = PoolFacts(
            slot_states=[v.state for v in views],
            pending=len(live) - running - waiting,
            waiting=waiting,
            running=running,
            ledger=self._ledger(pool),
            recent_commits=self.recent,
            selector=slotpods.selector(pool.metadata.name),
            credentials_problem=self.credentials_problem,
            degraded=self.degraded,
        )
        status = pool_status(pool, facts, now)
        if status == self.last_status:
            return
        if not force and self.last_status is not None and self._counts_only(status):
            # count-only changes are debounced: written one interval after the first change
            # (or after the last write), together with whatever else changed by then
            clock = time.monotonic()
            self.dirty_since = self.dirty_since or clock
            due = (
                max(self.last_status_write, self.dirty_since)
                + self.settings.pool_status_min_interval_seconds
            )
            if due > clock:
                if self._rewake is None:
                    loop = asyncio.get_running_loop()
                    self._rewake = loop.call_later(due - clock, self._wake_again)
                return
        ns, name = self.key
        try:
            body = await self.kube.patch_status(
                POOLS, ns, name, status, resource_version=self.status_version
            )
        except Conflict:
            fresh = await self.kube.get_custom(POOLS, ns, name)
            self.status_version = fresh["metadata"]["resourceVersion"]
            if not force:
                return
            body = await self.kube.patch_status(
                POOLS, ns, name, status, resource_version=self.status_version
            )
        self.status_version = body.get("metadata", {}).get("resourceVersion")
        self.last_status, self.last_status_write = status, time.monotonic()
        self.dirty_since = None
        self.state.upsert_pool(body)

    def _wake_again(self) -> None:
        self._rewake = None
        self.wake.set()

    def _counts_only(self, status: dict[str, Any]) -> bool:
        old = self.last_status or {}
        same = ("conditions", "budget", "observedGeneration", "selector")
        return all(status.get(k) == old.get(k) for k in same)

    def _base(self, pod: PodView) -> str:
        return f"http://{pod.ip}:{slotpods.AGENT_PORT}"


def _owner(task: TaskView) -> dict[str, str]:
    return {
        "apiVersion": "claudepool.io/v1alpha1",
        "kind": "ClaudeTask",
        "name": task.name,
        "uid": task.uid,
    }


def _pool_ref(pool: ClaudePool) -> dict[str, str]:
    meta = pool.metadata
    return {
        "apiVersion": "claudepool.io/v1alpha1",
        "kind": "ClaudePool",
        "name": meta.name,
        "namespace": meta.namespace or "",
        "uid": meta.uid or "",
    }


def _attempt_of(task: TaskView | None) -> int:
    return task.attempts if task is not None else 0


def _finish_message(phase: str, result: AgentResult) -> str:
    cost = f"cost {result.cost_microdollars} microdollars, {result.turns} turns"
    if phase == "Failed" and result.failure is not None:
        return f"{result.failure.reason}: {result.failure.message[:300]} ({cost})"
    return f"{phase.lower()} ({cost})"


async def _nothing() -> None:
    return None


async def _ignore(_: ProgressEvent) -> None:
    return None


__all__ = ["PoolWorker", "TaskStatus"]
