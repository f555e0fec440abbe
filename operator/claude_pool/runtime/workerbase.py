"""Shared state and helpers of a pool's worker (see `runtime.worker` for the cycle).

`WorkerBase` holds what the cycle's parts share: the followed runs and their reservations,
the results waiting to be recorded, the pool status last written, backoffs. Its helpers
patch task status, post Events and acknowledgements in the background, retry or fail a task
whose slot was lost, build slot views, and write the pool's status (exactly when needed).
The parts are mixins in `scaling`, `recording`, `supervising` and `assigning`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from claude_pool.api.agent import ProgressEvent
from claude_pool.api.agent import TaskResult as AgentResult
from claude_pool.api.common import API_VERSION
from claude_pool.api.failures import FailureReason
from claude_pool.api.phases import TaskPhase
from claude_pool.api.pools import ClaudePool
from claude_pool.api.reasons import TaskReason
from claude_pool.budget.ledger import Ledger, reservation_for
from claude_pool.controllers.state import ClusterState, PodView, PoolKey, TaskView
from claude_pool.kube.client import POOLS, TASKS, Conflict, Kube, NotFound
from claude_pool.runtime.settings import Settings
from claude_pool.runtime.taskrun import Outcome
from claude_pool.scheduling import transitions
from claude_pool.scheduling.poolstatus import PoolFacts, pool_status
from claude_pool.slots import pods as slotpods
from claude_pool.slots.client import SlotClient, SlotError, SlotUnreachable
from claude_pool.slots.planning import SlotView

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


class WorkerBase:
    """State and helpers shared by the worker's parts."""

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
        self.deleted: set[str] = set()
        """uids of pods this worker deleted: terminating for it even before the watch says so."""
        self._rewake: asyncio.TimerHandle | None = None

    def _reservation(self, pool: ClaudePool, task: TaskView) -> int:
        """What the task holds while it runs (and its CLI's cap under a pool limit)."""
        config = task.spec.config if task.spec else None
        return reservation_for(
            config.max_budget_microdollars if config else None,
            pool.spec.budget.default_task_reservation_microdollars,
        )

    def _ledger(self, pool: ClaudePool) -> Ledger:
        reserved = sum(r.reservation for r in self.runs.values())
        return Ledger(pool.spec.budget.limit_microdollars, self.spent or 0, reserved)

    async def _acknowledge(self, base: str, token: str, uid: str) -> None:
        with contextlib.suppress(SlotUnreachable, SlotError):
            await self.slots.acknowledge(base, token, uid)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run `coro` in the background (acknowledgements, events): never delays a cycle."""
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _complete(self, run: Run, outcome: Outcome) -> None:
        if self.runs.get(run.uid) is run:
            self.completions.append(Completion(run, outcome))
            self.wake.set()

    async def _patch_task(self, task: TaskView, patch: dict[str, Any]) -> None:
        try:
            body = await self.kube.patch_status(TASKS, task.namespace, task.name, patch)
        except NotFound:
            return
        self.state.upsert_task(body)

    def _event(
        self, involved: dict[str, str], reason: str, message: str, warning: bool = False
    ) -> None:
        """Record an Event in the background: it never delays the cycle."""
        self._spawn(self._post_event(involved, reason, message, warning))

    async def _post_event(
        self, involved: dict[str, str], reason: str, message: str, warning: bool
    ) -> None:
        try:
            await self.kube.event(
                involved, reason=reason, message=message, warning=warning, now=utcnow()
            )
        except Exception as exc:
            log.warning("event %s for %s failed: %s", reason, involved.get("name"), exc)

    async def _retry_or_fail(
        self,
        pool: ClaudePool,
        task: TaskView,
        reason: str,
        now: dt.datetime,
        extra_cost: int = 0,
    ) -> None:
        """The slot was lost: requeue the task (its lost attempt's cost kept), or fail it."""
        assert task.status is not None
        self.runs.pop(task.uid, None)
        limit = pool.spec.supervision.max_task_attempts
        cost = task.status.cost_microdollars + extra_cost
        if task.attempts >= limit:
            message = f"{reason}; {task.attempts} of {limit} attempts used"
            patch = transitions.failed(
                task.status, FailureReason.SLOT_LOST, message, task.generation, now
            )
            patch["costMicrodollars"] = cost
            await self._patch_task(task, patch)
            self._event(task.involved(), FailureReason.SLOT_LOST, message, warning=True)
            return
        patch = transitions.requeued(task.status, "SlotLost", reason, task.generation, now)
        patch["costMicrodollars"] = cost
        await self._patch_task(task, patch)
        self._event(task.involved(), TaskReason.RETRYING, f"{reason}; retrying", warning=True)

    def _slot_views(self, pool: ClaudePool, pods: dict[str, PodView]) -> list[SlotView]:
        busy = {run.slot: uid for uid, run in self.runs.items()}
        now = time.monotonic()
        self.deleted &= {pod.uid for pod in pods.values()}
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
                    ready=pod.ready and not self.credentials_problem,
                    restarts=pod.restarts,
                    draining=pod.draining,
                    draining_since=self.draining_since.get(pod.name),
                    terminating=pod.terminating or pod.uid in self.deleted,
                    task=busy.get(pod.name),
                )
            )
        return views

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
            if t.slot is None and t.status is not None and t.phase is TaskPhase.WAITING
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
        same = ("conditions", "observedGeneration", "selector")

        def budget(s: dict[str, Any]) -> dict[str, Any]:
            b = dict(s.get("budget") or {})
            b.pop("reservedMicrodollars", None)  # display only: rebuilt from runs on restart
            return b

        return all(status.get(k) == old.get(k) for k in same) and budget(status) == budget(old)

    def _base(self, pod: PodView) -> str:
        return f"http://{pod.ip}:{slotpods.AGENT_PORT}"

    def _follow(
        self,
        pool: ClaudePool,
        task: TaskView,
        pod: PodView,
        *,
        attach: bool,
        run: Run | None = None,
    ) -> None:
        """Start or re-attach to a run (implemented by `assigning.AssignMixin`)."""
        raise NotImplementedError


def _owner(task: TaskView) -> dict[str, str]:
    """An ownerReference's identity fields (owner references carry no namespace)."""
    return {k: v for k, v in task.involved().items() if k != "namespace"}


def _pool_ref(pool: ClaudePool) -> dict[str, str]:
    meta = pool.metadata
    return {
        "apiVersion": API_VERSION,
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
