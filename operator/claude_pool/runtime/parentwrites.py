"""Composite tasks' status writes in flight: at most one per parent, in the background.

Owned by `runtime.composing.Composer`. A parent's new status is written without holding up
the worker's cycle (the children it just created are dispatched meanwhile). The composer
does not reconcile a parent whose write is in flight (`intended` is not None), so writes of
one parent never overlap and each diff is taken against the status the server holds; the
hand-off, which must not wait, reconciles over `intended`, the status the write in flight
will leave (this process computed it, and no one else writes a composite's status).
`settle` waits for a write (tests, shutdown). The end of a write, landed or failed, wakes the
worker.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from claude_pool.api.tasks import ClaudeTaskStatus

log = logging.getLogger("claude_pool.worker")


class ParentWrites:
    """The status writes in flight, by parent uid (see the module docstring)."""

    def __init__(self, wake: Callable[[], None] = lambda: None) -> None:
        self._writes: dict[str, tuple[asyncio.Task[Any], ClaudeTaskStatus]] = {}
        self._wake = wake
        """Called when a write ends (landed or not): its parent may be reconciled again."""

    def start(self, uid: str, write: Coroutine[Any, Any, Any], status: ClaudeTaskStatus) -> None:
        """Run `write` (which writes `status`) in the background."""
        task = asyncio.create_task(write, name=f"parent-status-{uid}")
        self._writes[uid] = (task, status)
        task.add_done_callback(lambda done: self._done(uid, done))

    def intended(self, uid: str) -> ClaudeTaskStatus | None:
        """The status the write in flight for `uid` writes (None: none in flight)."""
        entry = self._writes.get(uid)
        return entry[1] if entry is not None else None

    async def settle(self, uid: str) -> None:
        """Wait for the write in flight for `uid`, if any (its failure was logged)."""
        entry = self._writes.get(uid)
        if entry is not None:
            await asyncio.wait([entry[0]])  # neither raises its error nor cancels it

    def _done(self, uid: str, task: asyncio.Task[Any]) -> None:
        entry = self._writes.get(uid)
        if entry is not None and entry[0] is task:
            del self._writes[uid]
        if not task.cancelled() and task.exception() is not None:
            log.warning("composite %s: status write failed: %r", uid, task.exception())
        self._wake()

    def stop(self) -> None:
        for task, _ in self._writes.values():
            task.cancel()
