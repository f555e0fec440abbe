"""Message status writes and the deliveries live tasks carry, shared by the steps.

Used by the dispatch step (`runtime.assigning`: a task's start carried messages, written
after its assignment) and the messaging step (`runtime.messaging`: recipients of new
messages, and deliveries a crash left unrecorded). The pure rules are
`workflows.messages`'. Deliveries to several slots of one message are written in one status
write (its `deliveries` list is replaced by a merge patch, so two concurrent writes would
lose one); each answer goes back into the cluster view at once, so the next cycle never
delivers from a stale view.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable

from claude_pool.api.common import dump
from claude_pool.api.messages import ClaudeMessage, ClaudeMessageStatus
from claude_pool.controllers.state import ClusterState, PoolKey, TaskView
from claude_pool.kube.client import MESSAGES, Kube, NotFound
from claude_pool.slots.pods import slot_index
from claude_pool.workflows.messages import Carrier, delivered_status

log = logging.getLogger("claude_pool.worker")


def carriers(tasks: Iterable[TaskView], pool: str) -> list[Carrier]:
    """Live tasks whose assignment recorded messages, with their slot's index."""
    found = []
    for task in tasks:
        if task.finished or task.status is None or not task.status.messages or not task.slot:
            continue
        index = slot_index(task.slot, pool)
        if index is not None:
            found.append(Carrier(task.name, index, tuple(task.status.messages)))
    return found


async def write_status(
    kube: Kube, state: ClusterState, message: ClaudeMessage, status: ClaudeMessageStatus
) -> None:
    """Write a message's whole status and take the answer into the view. A failed write is
    logged and left for a later cycle (a delivery the task recorded is repaired from it)."""
    namespace = message.metadata.namespace or ""
    try:
        body = await kube.patch_status(MESSAGES, namespace, message.metadata.name, dump(status))
    except NotFound:
        state.delete_message(namespace, message.metadata.name, message.spec.pool_ref.name)
        return
    except Exception as error:  # the cycle goes on: dispatch must not wait for mail
        log.warning(
            "message %s/%s: status write failed: %s", namespace, message.metadata.name, error
        )
        return
    state.upsert_message(body)


async def write_deliveries(
    key: PoolKey,
    deliveries: Iterable[tuple[str, int, str]],
    now: dt.datetime,
    *,
    kube: Kube,
    state: ClusterState,
) -> None:
    """Record (message name, slot index, task name) deliveries: one write per message."""
    grouped: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for name, slot, task in deliveries:
        grouped[name].append((slot, task))
    for name, items in grouped.items():
        message = state.messages.get(key, {}).get(name)
        if message is None:
            continue
        for slot, task in items:
            status = delivered_status(message, slot, task, now)
            message = message.model_copy(update={"status": status})
        await write_status(kube, state, message, message.status)
