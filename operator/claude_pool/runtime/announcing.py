"""The announcer: Events and slot acknowledgements, posted in the background.

Owned by `runtime.worker.PoolWorker`. Neither an Event nor telling a slot to drop a result
it reported may delay a cycle, so both run as background tasks that this object keeps
(`settle()` awaits them: tests and shutdown). A failed Event is logged; a failed
acknowledgement is harmless (the orphan sweep collects the result again, and the commit ring
counts it once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from enum import StrEnum
from typing import Any

from claude_pool.kube.client import Kube
from claude_pool.runtime.clock import Clock
from claude_pool.slots.client import SlotClient, SlotError, SlotUnreachable

log = logging.getLogger("claude_pool.worker")


class EventReason(StrEnum):
    """Reasons of the Events the worker posts (besides a finished task's phase)."""

    STARTED = "Started"
    """The slot's agent accepted the run."""
    RETRYING = "Retrying"
    """The slot was lost; the task is queued for another attempt (Warning)."""
    SLOT_LOST = "SlotLost"
    """The slot was lost and every attempt is used (Warning)."""
    SLOT_REPLACED = "SlotReplaced"
    """A slot restarted too often and is replaced (Warning, on the pool)."""
    INVALID_POOL = "InvalidPool"
    """The pool's spec does not parse (Warning, on the pool)."""
    CHILD_NAME_TAKEN = "ChildNameTaken"
    """A composite's child name is taken by an object that is not its child (Warning)."""
    SLOT_CHURN = "SlotChurn"
    """Slot pods are created and lost too fast; new ones wait (Warning, on the pool)."""
    WORKSPACE_UNAVAILABLE = "WorkspaceUnavailable"
    """A slot cannot clone spec.workspace; once per episode (Warning, on the pool)."""
    MODEL_MISMATCH = "ModelMismatch"
    """A model other than the requested one answered and was billed (Warning)."""
    PERMISSION_DENIED = "PermissionDenied"
    """The CLI refused tool uses for lack of permission (Warning)."""
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    AWAITING_REVIEW = "AwaitingReview"
    """A successful run's result waits for a ClaudeReview."""
    REJECTED = "Rejected"
    """A ClaudeReview rejected the result: the task runs again with the feedback."""


class Announcer:
    """Posts Events and acknowledgements without delaying the cycle."""

    def __init__(self, kube: Kube, slots: SlotClient, clock: Clock) -> None:
        self._kube = kube
        self._slots = slots
        self._clock = clock
        self._background: set[asyncio.Task[None]] = set()

    def event(
        self,
        involved: dict[str, str],
        reason: EventReason,
        message: str,
        *,
        warning: bool = False,
    ) -> None:
        """Record an Event about `involved` in the background."""
        self._spawn(self._post(involved, reason, message, warning))

    def acknowledge(self, base: str, token: str, uid: str) -> None:
        """Tell the slot at `base` to drop the result of `uid`, in the background."""
        self._spawn(self._acknowledge(base, token, uid))

    async def settle(self) -> None:
        """Await everything posted so far."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _post(
        self, involved: dict[str, str], reason: EventReason, message: str, warning: bool
    ) -> None:
        try:
            await self._kube.event(
                involved,
                reason=reason.value,
                message=message,
                warning=warning,
                now=self._clock.now(),
            )
        except Exception as exc:
            log.warning("event %s for %s failed: %s", reason, involved.get("name"), exc)

    async def _acknowledge(self, base: str, token: str, uid: str) -> None:
        with contextlib.suppress(SlotUnreachable, SlotError):
            await self._slots.acknowledge(base, token, uid)
