"""The run table: the runs one pool's worker follows, and the outcomes waiting to be recorded.

Owned by `runtime.worker.PoolWorker`; only this class adds or removes runs, and `follow` here
is the one place a run is started or re-attached (`taskrun.follow`). A run holds its slot
(the slot is busy while the run is in the table) and its reservation (the ledger's reserved
total is `reserved()`). When a followed run ends its outcome is queued and the worker woken;
the recording step takes the queue with `take_completions()`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass

from claude_pool.api.agent import ProgressEvent, TaskRequest
from claude_pool.controllers.state import PodView
from claude_pool.runtime.clock import Clock
from claude_pool.runtime.taskrun import NotStarted, Outcome, Target, follow
from claude_pool.slots import pods as slotpods
from claude_pool.slots.client import SlotClient, SlotError, SlotUnreachable
from claude_pool.workflows.models import MODEL_ALIASES


def base_url(pod: PodView) -> str:
    """The slot agent's base URL."""
    return f"http://{pod.ip}:{slotpods.AGENT_PORT}"


@dataclass
class Run:
    """A task this worker follows on a slot."""

    uid: str
    slot: str
    attempt: int
    reservation: int
    slot_uid: str
    """The uid of the slot pod (a re-created pod of the same name is another slot)."""
    started: float
    """Monotonic time the run was created."""
    last_progress: float
    """The first progress write comes one interval after the start (short runs write none)."""
    task: asyncio.Task[None] | None = None
    cancel_sent: bool = False
    request: TaskRequest | None = None
    """What the run was given (its model, for the model check when it is recorded)."""

    @property
    def key(self) -> str:
        """The commit key of this run's cost: `<task uid>/<attempt>`."""
        return f"{self.uid}/{self.attempt}"


@dataclass(frozen=True)
class Completion:
    """A run's outcome waiting to be recorded."""

    run: Run
    outcome: Outcome


async def _nothing() -> None:
    return None


async def _ignore(_: ProgressEvent) -> None:
    return None


class RunTable:
    """The followed runs of one pool (see the module docstring)."""

    def __init__(
        self,
        slots: SlotClient,
        clock: Clock,
        *,
        wake: Callable[[], None],
        unreachable_after: float,
        progress_interval: float,
        aliases: Mapping[str, str] = MODEL_ALIASES,
    ) -> None:
        self.aliases = aliases
        """The model alias table runs are resolved with (CLAUDE_POOL_MODEL_ALIASES on top)."""
        self._slots = slots
        self._clock = clock
        self._wake = wake
        self._unreachable_after = unreachable_after
        self._progress_interval = progress_interval
        self._runs: dict[str, Run] = {}
        self._completions: list[Completion] = []

    def __contains__(self, uid: object) -> bool:
        return uid in self._runs

    def __len__(self) -> int:
        return len(self._runs)

    def __iter__(self) -> Iterator[Run]:
        return iter(list(self._runs.values()))

    def get(self, uid: str) -> Run | None:
        return self._runs.get(uid)

    def add(self, uid: str, pod: PodView, attempt: int, reservation: int) -> Run:
        """A new run on `pod`: from now on it holds the slot and `reservation`."""
        now = self._clock.monotonic()
        run = Run(uid, pod.name, attempt, reservation, pod.uid, started=now, last_progress=now)
        self._runs[uid] = run
        return run

    def drop(self, uid: str, *, cancel: bool = False) -> None:
        """Stop following `uid` (its follower task cancelled when `cancel`)."""
        run = self._runs.pop(uid, None)
        if cancel and run is not None and run.task is not None:
            run.task.cancel()

    def reserved(self) -> int:
        """Microdollars the followed runs hold."""
        return sum(r.reservation for r in self._runs.values())

    def busy_slots(self) -> dict[str, str]:
        """slot name -> uid of the task the slot runs."""
        return {run.slot: uid for uid, run in self._runs.items()}

    def ended(self) -> list[str]:
        """Uids of the tasks whose outcome waits to be recorded."""
        return [item.run.uid for item in self._completions]

    def take_completions(self) -> list[Completion]:
        """The outcomes that arrived since the last call; their runs leave the table."""
        done, self._completions = self._completions, []
        for item in done:
            if self._runs.get(item.run.uid) is item.run:
                del self._runs[item.run.uid]
        return done

    def progress_due(self, run: Run) -> bool:
        """Whether a progress report may be written now (at most one per interval)."""
        now = self._clock.monotonic()
        if now - run.last_progress < self._progress_interval:
            return False
        run.last_progress = now
        return True

    def follow(
        self,
        run: Run,
        target: Target,
        request: TaskRequest | None,
        *,
        attach: bool,
        on_started: Callable[[], Awaitable[None]] = _nothing,
        on_progress: Callable[[ProgressEvent], Awaitable[None]] = _ignore,
        still_there: Callable[[], bool] = lambda: False,
        cancel_first: bool = False,
    ) -> None:
        """Start (or, `attach`, re-attach to) `run` in the background; its outcome is queued.

        A re-attach that finds the slot never got the task starts it with `request` while
        `still_there()` (the pool and the same pod exist). `cancel_first` cancels the task on
        its slot before reading its result (orphans)."""

        async def go() -> None:
            if cancel_first:
                with contextlib.suppress(SlotUnreachable, SlotError):
                    await self._slots.cancel(target.base, target.token, run.uid)
            first = None if attach else request
            outcome = await self._follow(target, run.uid, first, on_started, on_progress)
            retry = isinstance(outcome, NotStarted) and attach and request is not None
            if retry and still_there():
                outcome = await self._follow(target, run.uid, request, on_started, on_progress)
            if self._runs.get(run.uid) is run:
                self._completions.append(Completion(run, outcome))
                self._wake()

        run.task = asyncio.create_task(go(), name=f"run-{run.uid}")

    async def _follow(
        self,
        target: Target,
        uid: str,
        request: TaskRequest | None,
        on_started: Callable[[], Awaitable[None]],
        on_progress: Callable[[ProgressEvent], Awaitable[None]],
    ) -> Outcome:
        return await follow(
            self._slots,
            target,
            uid,
            request,
            on_started=on_started,
            on_progress=on_progress,
            unreachable_after=self._unreachable_after,
            clock=self._clock,
        )

    def stop(self) -> None:
        """Cancel every follower (the worker stops)."""
        for run in self._runs.values():
            if run.task is not None:
                run.task.cancel()
        self._runs.clear()
