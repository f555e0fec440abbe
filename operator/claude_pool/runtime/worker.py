"""One pool's worker: a level-based loop that reconciles slots and dispatches tasks.

Started by `runtime.operator` per ClaudePool and woken by watch events (or every
`resync_seconds`). The worker owns a few collaborators, each the one owner of its state:
- `runs` (`runtime.runs.RunTable`): the followed runs and the outcomes waiting to be recorded;
- `book` (`runtime.spending.SpendBook`): spend and the ring of recent commits;
- `writer` (`runtime.statuswriting.StatusWriter`): task patches, pool status (debounced);
- `announcer` (`runtime.announcing.Announcer`): Events and acknowledgements, in the background;
- `support` (`runtime.support.Support`): the agent token and the credentials' state;
- `slotbook` (`runtime.slotbook.SlotBook`): backoffs, drain starts, replaced and deleted pods;
- `sweep` (`runtime.sweeping.OrphanSweep`): which pods were asked for orphans;
- `composer` (`runtime.composing.Composer`): whole outputs of finished children, read once;
- `workspaces` (`runtime.workspacewatch.WorkspaceWatch`): the slots' clones of the pool's
  workspace (idle slots whose clone is not ready are held back in every view).
Each cycle calls the steps in order, each in its own module and given what it needs:
1. `support.ensure`: support objects and credentials;
2. `recording.collect`, a forced pool status write (the cost commit), `recording.record`,
   concurrently with `handoff.hand_off` (the next children of composites whose children
   just ended are created meanwhile), then `reviewing.apply`: ClaudeReviews applied to
   tasks awaiting review;
3. `supervising.supervise`, then `sweeping.OrphanSweep.sweep`;
3b. `composing.Composer.compose`: composite tasks reconciled through their child tasks;
4. `scaling.scale`: the scale plan (creates bounded by `churn`, a `churning.ChurnWatch`),
   then `workspaces.probe`: the clones of slots not known ready;
5. `messaging.tend` (recipients of new ClaudeMessages, the bound, unrecorded deliveries),
   then `assigning.dispatch`: the queue onto idle slots (with the slots' messages), then
   `pending.PendingStatus.write`: the first status of tasks that waited a second for a slot;
6. `reporting.report`: the pool's status, written when it changed;
7. `expiring.expire`: finished tasks whose ttlSecondsAfterFinished ran out are deleted.
Steps that know something falls due later set the worker's `alarm` (`runtime.alarm`).
Cycles are at least `cycle_min_interval_seconds` apart (events batch into one cycle), except
when a chain's step has ended meanwhile: its result is recorded and the next step handed
off at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from claude_pool.api.messages import ClaudeMessage
from claude_pool.api.pools import ClaudePool
from claude_pool.api.tasks import TaskMode
from claude_pool.controllers.state import ClusterState, PodView, PoolKey, TaskView
from claude_pool.kube.client import Kube
from claude_pool.runtime import metrics
from claude_pool.runtime.alarm import Alarm
from claude_pool.runtime.announcing import Announcer, EventReason
from claude_pool.runtime.assigning import dispatch
from claude_pool.runtime.churning import ChurnWatch
from claude_pool.runtime.clock import SYSTEM_CLOCK, Clock
from claude_pool.runtime.composing import Composer
from claude_pool.runtime.expiring import expire
from claude_pool.runtime.handoff import hand_off
from claude_pool.runtime.messaging import tend
from claude_pool.runtime.pending import PendingStatus
from claude_pool.runtime.recording import collect, record
from claude_pool.runtime.reporting import report
from claude_pool.runtime.reviewing import apply as apply_reviews
from claude_pool.runtime.runs import RunTable
from claude_pool.runtime.scaling import pool_ref, scale
from claude_pool.runtime.settings import Settings
from claude_pool.runtime.slotbook import SlotBook
from claude_pool.runtime.spending import SpendBook
from claude_pool.runtime.statuswriting import StatusWriter
from claude_pool.runtime.supervising import supervise
from claude_pool.runtime.support import Support
from claude_pool.runtime.sweeping import OrphanSweep
from claude_pool.runtime.workspacewatch import WorkspaceWatch
from claude_pool.slots.client import SlotClient
from claude_pool.slots.planning import SlotView
from claude_pool.workflows.models import alias_table

log = logging.getLogger("claude_pool.worker")


class PoolWorker:
    """Reconciles one pool; see the module docstring for the collaborators and the cycle."""

    def __init__(
        self,
        key: PoolKey,
        state: ClusterState,
        kube: Kube,
        slots: SlotClient,
        settings: Settings,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.key = key
        self.state = state
        self.kube = kube
        self.slots = slots
        self.settings = settings
        self.clock = clock
        self.wake = asyncio.Event()
        self._ended = asyncio.Event()
        """Set when a run ends: cuts the pause between two cycles short."""
        self.runs = RunTable(
            slots,
            clock,
            wake=self._run_ended,
            unreachable_after=settings.agent_unreachable_seconds,
            progress_interval=settings.progress_interval_seconds,
            aliases=alias_table(settings.model_aliases),
        )
        self.book = SpendBook()
        self.writer = StatusWriter(
            key,
            state,
            kube,
            clock,
            wake=self.wake.set,
            min_interval=settings.pool_status_min_interval_seconds,
        )
        self.announcer = Announcer(kube, slots, clock)
        self.support = Support(key, kube, clock)
        self.slotbook = SlotBook()
        self.sweep = OrphanSweep()
        self.composer = Composer(kube, state, self.wake.set)
        self.alarm = Alarm(clock, self.wake.set)
        self.churn = ChurnWatch(settings.slot_churn_per_minute)
        self.pending = PendingStatus()
        self.workspaces = WorkspaceWatch()
        self._stopped = False

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
            await self._pause()
        await self.stop()

    async def _pause(self) -> None:
        """The least interval between two cycles, cut short when a chain's step ends: the next
        step is handed off without waiting. (Other results wait for the interval: the results
        of a burst, a fan-out's too, share one cost commit.)"""
        until = self.clock.monotonic() + self.settings.cycle_min_interval_seconds
        while not self._step_ended():
            self._ended.clear()
            left = until - self.clock.monotonic()
            if left <= 0:
                return
            try:
                await asyncio.wait_for(self._ended.wait(), left)
            except TimeoutError:
                return

    def _step_ended(self) -> bool:
        tasks = self.state.tasks
        for uid in self.runs.ended():
            task = tasks.get(uid)
            parent = tasks.get(task.parent_uid or "") if task is not None else None
            if parent is not None and parent.mode is TaskMode.CHAIN:
                return True
        return False

    def _run_ended(self) -> None:
        self._ended.set()
        self.wake.set()

    async def stop(self) -> None:
        self._stopped = True
        self.runs.stop()
        self.writer.stop()
        self.composer.stop()
        self.alarm.stop()

    async def cycle(self) -> bool:
        """One reconcile pass; False when the pool is gone."""
        pool = self.state.pools.get(self.key)
        if pool is None:
            return False
        now = self.clock.now()
        await self.support.ensure(pool)
        self.book.load(pool)
        token, writer, announcer, runs = self.support.token, self.writer, self.announcer, self.runs
        pods = {p.name: p for p in self.state.pool_pods(self.key)}
        tasks = self.state.pool_tasks(self.key)
        collected = collect(runs, self.book, self.slotbook.sessions)

        async def commit_and_record() -> None:
            if collected.committed:
                await self._report(pool, self._views(pods), tasks, now, force=True)
            await record(
                pool,
                collected,
                tasks,
                pods,
                now,
                token=token,
                runs=runs,
                kube=self.kube,
                writer=writer,
                announcer=announcer,
                clock=self.clock,
                output_limit=self.settings.output_status_limit,
            )

        async def start(uids: set[str]) -> None:  # the hand-off's new children, at once
            fresh = self.state.pool_tasks(self.key)
            messages = self.state.pool_messages(self.key)
            await self._dispatch(pool, fresh, self._views(pods), messages, now, only=uids)

        handing = hand_off(
            pool,
            collected,
            tasks,
            pods,
            now,
            composer=self.composer,
            announcer=announcer,
            output_limit=self.settings.output_status_limit,
            start=start,
        )
        await asyncio.gather(handing, commit_and_record())
        await apply_reviews(
            pool,
            self.state.pool_tasks(self.key),
            self.state.pool_reviews(self.key),
            pods,
            now,
            token=token,
            slots=self.slots,
            kube=self.kube,
            state=self.state,
            writer=writer,
            announcer=announcer,
        )
        tasks = self.state.pool_tasks(self.key)
        await supervise(
            pool,
            tasks,
            pods,
            now,
            token=token,
            sessions=self.slotbook.sessions,
            state=self.state,
            runs=runs,
            slots=self.slots,
            writer=writer,
            announcer=announcer,
        )
        await self.sweep.sweep(tasks, pods, token=token, runs=runs, slots=self.slots)
        if await self.composer.compose(pool, tasks, now, writer=writer, announcer=announcer):
            tasks = self.state.pool_tasks(self.key)  # dispatch the new children now
        await scale(
            pool,
            self._views(pods),
            pods,
            self.clock.monotonic(),
            book=self.slotbook,
            kube=self.kube,
            announcer=announcer,
            settings=self.settings,
            churn=self.churn,
            wall=now,
            alarm=self.alarm,
        )
        await self.workspaces.probe(
            pool,
            pods,
            self.clock.monotonic(),
            token=token,
            slots=self.slots,
            alarm=self.alarm,
        )
        broken = self.workspaces.newly_unavailable()
        if broken is not None:
            announcer.event(pool_ref(pool), EventReason.WORKSPACE_UNAVAILABLE, broken, warning=True)
        views = self._views(pods)
        messages = self.state.pool_messages(self.key)
        await tend(pool, tasks, messages, now, kube=self.kube, state=self.state)
        await self._dispatch(pool, tasks, views, messages, now)
        tasks = self.state.pool_tasks(self.key)
        await self.pending.write(
            tasks, now, self.clock.monotonic(), runs=runs, writer=writer, alarm=self.alarm
        )
        await self._report(pool, views, tasks, now, force=False)  # commits wrote already
        await expire(pool, tasks, now, runs=runs, kube=self.kube, alarm=self.alarm)
        metrics.observe_pool(self.key, views, tasks, len(runs))
        return True

    async def _dispatch(
        self,
        pool: ClaudePool,
        tasks: list[TaskView],
        views: list[SlotView],
        messages: list[ClaudeMessage],
        now: dt.datetime,
        *,
        only: set[str] | None = None,
    ) -> None:
        await dispatch(
            pool,
            tasks,
            views,
            self.book.ledger(pool, self.runs.reserved()),
            now,
            token=self.support.token,
            sessions=self.slotbook.sessions,
            credentials_problem=self.support.problem,
            workspace_problem=self.workspaces.waiting(),
            state=self.state,
            runs=self.runs,
            writer=self.writer,
            announcer=self.announcer,
            messages=messages,
            kube=self.kube,
            only=only,
        )

    def _views(self, pods: dict[str, PodView]) -> list[SlotView]:
        views = self.slotbook.views(
            pods,
            self.runs.busy_slots(),
            self.clock.monotonic(),
            credentials_ok=self.support.problem is None,
        )
        return self.workspaces.gate(views)

    async def _report(
        self,
        pool: ClaudePool,
        views: list[SlotView],
        tasks: list[TaskView],
        now: dt.datetime,
        *,
        force: bool,
    ) -> None:
        await report(
            pool,
            views,
            tasks,
            now,
            book=self.book,
            reserved=self.runs.reserved(),
            slotbook=self.slotbook,
            credentials_problem=self.support.problem,
            writer=self.writer,
            force=force,
            churn=self.churn.degraded(now),
            workspace=self.workspaces.facts(),
        )
