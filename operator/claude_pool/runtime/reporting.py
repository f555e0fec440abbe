"""Cycle step 6: the pool's status: facts gathered, rendered (pure), handed to the writer.

Called by `runtime.worker` at the end of every cycle, and forced right after costs were
collected (that write is the commit; results are written only after it). The counts come
from the tasks and slot views, money from the spend book and the run table's reservations;
`status.pools.pool_status` renders the status and the status writer decides
whether and when to write it.
"""

from __future__ import annotations

import datetime as dt

from claude_pool.api.phases import TaskPhase
from claude_pool.api.pools import ClaudePool
from claude_pool.api.reasons import PoolReason
from claude_pool.controllers.state import TaskView
from claude_pool.runtime.slotbook import SlotBook
from claude_pool.runtime.spending import SpendBook
from claude_pool.runtime.statuswriting import StatusWriter
from claude_pool.slots import pods as slotpods
from claude_pool.slots.planning import SlotState, SlotView
from claude_pool.status.pools import PoolFacts, SlotCounts, WorkspaceFacts, pool_status


async def report(
    pool: ClaudePool,
    views: list[SlotView],
    tasks: list[TaskView],
    now: dt.datetime,
    *,
    book: SpendBook,
    reserved: int,
    slotbook: SlotBook,
    credentials_problem: str | None,
    writer: StatusWriter,
    force: bool,
    churn: str | None = None,
    workspace: WorkspaceFacts | None = None,
) -> None:
    """Render the pool's status and let the writer write it (at once when `force`); `churn`
    says why slot pods are not created (the SlotChurn bound), if they are not; `workspace`
    is the slots' clones (the WorkspaceUnavailable condition)."""
    live = [t for t in tasks if not t.finished and not t.composite]  # leaves: what slots run
    running = sum(1 for t in live if t.slot is not None)
    waiting = sum(
        1 for t in live if t.slot is None and t.status is not None and t.phase is TaskPhase.WAITING
    )
    states = [v.state for v in views]
    facts = PoolFacts(
        slots=SlotCounts(
            existing=sum(1 for s in states if s is not SlotState.TERMINATING),
            idle=states.count(SlotState.IDLE),
            busy=states.count(SlotState.BUSY),
            draining=states.count(SlotState.DRAINING),
        ),
        pending=len(live) - running - waiting,
        waiting=waiting,
        running=running,
        limit=pool.spec.budget.limit_microdollars,
        spent=book.spent,
        reserved=reserved,
        recent_commits=book.recent,
        selector=slotpods.selector(pool.metadata.name),
        credentials_problem=credentials_problem,
        degraded=churn or slotbook.degraded,
        degraded_reason=PoolReason.SLOT_CHURN if churn else PoolReason.SLOT_RESTART_LIMIT,
        workspace=workspace,
    )
    await writer.write_pool(pool_status(pool, facts, now), force=force)
