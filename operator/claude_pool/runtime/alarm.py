"""The worker's alarm: wake the pool's worker at a time a step asked for.

Owned by `runtime.worker.PoolWorker`. A step that knows something falls due later (a
finished task's TTL runs out, a queued task has waited a second without a status, a pod
create is allowed again) calls `at(delay)`; the earliest request wins, and the worker's
wake-up is set then. Without it the worker would only notice at its next resync.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from claude_pool.runtime.clock import Clock


class Alarm:
    """One pending wake-up per worker, the earliest asked for."""

    def __init__(self, clock: Clock, wake: Callable[[], None]) -> None:
        self._clock = clock
        self._wake = wake
        self._due: float | None = None
        self._handle: asyncio.TimerHandle | None = None

    @property
    def due(self) -> float | None:
        """When (monotonic) the worker will be woken, if a wake-up is pending."""
        return self._due

    def at(self, delay: float) -> None:
        """Wake the worker `delay` seconds from now (unless an earlier wake-up is pending)."""
        now = self._clock.monotonic()
        when = now + max(0.0, delay)
        if self._due is not None and now <= self._due <= when:
            return
        self.stop()
        self._due = when
        loop = asyncio.get_running_loop()
        self._handle = loop.call_later(max(0.0, delay), self._ring)

    def _ring(self) -> None:
        self._handle, self._due = None, None
        self._wake()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle, self._due = None, None
