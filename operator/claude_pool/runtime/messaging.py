"""Cycle step: the pool's ClaudeMessages: recipients fixed, the bound kept, crashes repaired.

Called by `runtime.worker` before dispatch. A message seen for the first time gets its
recipients (`toSlot`, or for a broadcast the pool's `spec.slots` now, minus the sender) and
`Delivered=False, Pending`; the open messages beyond MAX_PENDING_MESSAGES (the newest) are
refused with `InboxFull`. Deliveries a live task's assignment recorded but its message's
status lacks (the operator stopped between the two writes) are written now. The delivery
itself happens at dispatch (`runtime.assigning` with `workflows.starting.plan_start`).
"""

from __future__ import annotations

import datetime as dt

from claude_pool.api.common import MAX_PENDING_MESSAGES
from claude_pool.api.messages import ClaudeMessage
from claude_pool.api.pools import ClaudePool
from claude_pool.controllers.state import ClusterState, TaskView
from claude_pool.kube.client import Kube
from claude_pool.runtime.mailbox import carriers, write_deliveries, write_status
from claude_pool.workflows.messages import (
    addressed_status,
    inbox_full_status,
    is_closed,
    refused,
    unrecorded_deliveries,
)


async def tend(
    pool: ClaudePool,
    tasks: list[TaskView],
    messages: list[ClaudeMessage],
    now: dt.datetime,
    *,
    kube: Kube,
    state: ClusterState,
    limit: int = MAX_PENDING_MESSAGES,
) -> None:
    """One pass over the pool's messages (see the module docstring)."""
    key = (pool.metadata.namespace or "", pool.metadata.name)
    over = set(refused(messages, limit))
    for message in messages:
        if message.metadata.name in over and not is_closed(message):
            await write_status(kube, state, message, inbox_full_status(message, limit, now))
            continue
        status = addressed_status(message, pool.spec.slots, now)
        if status is not None:
            await write_status(kube, state, message, status)
    current = state.pool_messages(key)
    missing = unrecorded_deliveries(current, carriers(tasks, pool.metadata.name))
    if missing:
        found = [(m.metadata.name, slot, task) for m, slot, task in missing]
        await write_deliveries(key, found, now, kube=kube, state=state)
