"""Cycle step 5b: the first status of a task that waits for a slot.

Called by `runtime.worker` right after dispatch. A task that found no free slot within
`PENDING_AFTER` (about a second) of being seen gets one write: phase Pending, its mode, and
Admitted=False, reason WaitingForSlot (`status.tasks.waiting_for_slot`). A task dispatched
at once is assigned before that and pays nothing extra; a task that already has an
Admitted condition (it waited for budget, was assigned before, ...) is left alone. The
worker's alarm wakes the worker when the next such write falls due.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from claude_pool.controllers.state import TaskView
from claude_pool.runtime.alarm import Alarm
from claude_pool.runtime.runs import RunTable
from claude_pool.runtime.statuswriting import StatusWriter
from claude_pool.status import tasks as transitions

log = logging.getLogger("claude_pool.worker")
PENDING_AFTER = 1.0
"""Seconds a queued task may wait without a status before its first one is written."""


class PendingStatus:
    """When this worker first saw each queued task that has no status yet."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}

    async def write(
        self,
        tasks: list[TaskView],
        now: dt.datetime,
        clock: float,
        *,
        runs: RunTable,
        writer: StatusWriter,
        alarm: Alarm,
    ) -> int:
        """Write the status of the tasks that waited long enough; returns how many."""
        candidates = {
            t.uid: t
            for t in tasks
            if not t.finished
            and t.slot is None
            and t.uid not in runs
            and not t.cancel
            and t.invalid is None
            and t.spec is not None
            and t.status is not None
            and not t.status.conditions
            and not t.composite  # a parent waits for its children, not a slot
        }
        self._seen = {uid: self._seen.get(uid, clock) for uid in candidates}
        writes = []
        for uid, seen in self._seen.items():
            task = candidates[uid]
            assert task.status is not None
            if clock - seen < PENDING_AFTER:
                alarm.at(seen + PENDING_AFTER - clock)
                continue
            patch = transitions.waiting_for_slot(task.status, task.mode, task.generation, now)
            if patch is not None:
                writes.append(writer.patch_task(task, patch))
        results = await asyncio.gather(*writes, return_exceptions=True)
        for error in (r for r in results if isinstance(r, BaseException)):
            log.warning("pending status write failed: %s", error)
        return sum(1 for r in results if not isinstance(r, BaseException))
