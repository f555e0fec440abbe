"""Following one task's run on its slot, from start (or re-attach) to its final result.

Called by the pool worker's run table (`runtime.runs`, its one call site), one asyncio
task per running task. It starts the run
(idempotent `PUT`, keyed by the task's uid) or, after an operator restart, asks the slot
what became of it; then it reads the progress stream until the result arrives and reports
exactly one `Outcome`. It writes nothing to the API itself: progress goes to a callback
(the worker rate-limits those patches) and the outcome to the worker's queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from claude_pool.api.agent import ProgressEvent, TaskRequest, TaskState, TaskStatus
from claude_pool.runtime.clock import SYSTEM_CLOCK, Clock
from claude_pool.slots.client import SlotBusy, SlotClient, SlotError, SlotUnreachable


@dataclass(frozen=True)
class Finished:
    """The slot reported the run's result."""

    status: TaskStatus


@dataclass(frozen=True)
class Lost:
    """The run cannot be followed: the slot is gone, busy with another task, or silent."""

    reason: str


@dataclass(frozen=True)
class NotStarted:
    """Re-attach found no such task on the slot (it was assigned, never started)."""


Outcome = Finished | Lost | NotStarted


@dataclass(frozen=True)
class Target:
    """Where the run is: the slot's base URL and the pool's agent token."""

    base: str
    token: str


async def follow(
    client: SlotClient,
    target: Target,
    uid: str,
    request: TaskRequest | None,
    *,
    on_started: Callable[[], Awaitable[None]],
    on_progress: Callable[[ProgressEvent], Awaitable[None]],
    unreachable_after: float,
    clock: Clock = SYSTEM_CLOCK,
) -> Outcome:
    """Start (request given) or re-attach to (request None) task `uid`, and await its end."""
    deadline = clock.monotonic() + unreachable_after
    delay = 0.2
    started = request is None
    while True:
        try:
            if not started and request is not None:
                status = await client.start(target.base, target.token, uid, request)
                started = True
                await on_started()
            else:
                found = await client.task(target.base, target.token, uid)
                if found is None:
                    return NotStarted()
                status = found
            if status.state is not TaskState.RUNNING:
                return Finished(status)
            async for item in client.events(target.base, target.token, uid):
                if isinstance(item, TaskStatus):
                    return Finished(item)
                await on_progress(item)
                deadline = clock.monotonic() + unreachable_after
            # the stream ended without a result: ask again
        except SlotBusy as exc:
            return Lost(f"slot busy with another task: {exc}")
        except (SlotUnreachable, SlotError) as exc:
            if clock.monotonic() >= deadline:
                return Lost(f"slot agent unreachable for {unreachable_after:g}s: {exc}")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)
