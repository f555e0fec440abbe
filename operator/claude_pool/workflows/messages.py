"""Inter-slot messages: who gets what at their next task start, and the delivery records (pure).

The seed (notes/seed-claude-pool.md 6.3) drains a slot's inbox at the start of every task
on it and prepends "## Messages received while idle" to the prompt. Here the inbox is the
set of ClaudeMessages of the pool not yet delivered to that slot. The pool worker calls:

- once per new message: `recipients(spec, pool_slots)` -> `status.recipients`, and
  `refused(messages, MAX_PENDING_MESSAGES)` -> the messages over the pool's bound, whose
  status becomes `inbox_full_status(...)`;
- at dispatch to slot N: `inbox(messages, N, claimed)` (at most MAX_MESSAGES_PER_START,
  oldest first; `claimed` = message names that live tasks' `status.messages` already carry
  for N, so a crash between the task's assignment write and the message's status write
  never delivers twice), then `prepend_messages(prompt, chosen)` for the request and the
  chosen names into the task's assignment patch (`status.messages`);
- after that write: `delivered_status(message, N, task, now)` for each chosen message;
- after a restart: `unrecorded_deliveries(messages, carriers)` finds deliveries a task's
  assignment recorded but the message's status does not (the crash fell between the two
  writes), to be written with `delivered_status`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from claude_pool.api.common import MAX_MESSAGES_PER_START
from claude_pool.api.conditions import ConditionStatus, set_condition
from claude_pool.api.messages import (
    ClaudeMessage,
    ClaudeMessageSpec,
    ClaudeMessageStatus,
    Delivery,
    MessageConditionType,
    MessageReason,
)

HEADING = "## Messages received while idle\n\n"
SEPARATOR = "---\n\n"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Carrier:
    """A live task whose assignment recorded messages: its name, its slot's index and the
    message names in its status.messages."""

    task: str
    slot: int
    messages: tuple[str, ...]


def claimed(carriers: Iterable[Carrier], slot: int) -> set[str]:
    """Message names that tasks on `slot` already carry (never delivered to it again)."""
    return {name for c in carriers if c.slot == slot for name in c.messages}


def unrecorded_deliveries(
    messages: Sequence[ClaudeMessage], carriers: Iterable[Carrier]
) -> list[tuple[ClaudeMessage, int, str]]:
    """(message, slot, task) for each delivery a task recorded that its message's status
    lacks."""
    by_name = {m.metadata.name: m for m in messages}
    missing = []
    for carrier in carriers:
        for name in carrier.messages:
            message = by_name.get(name)
            if message is not None and carrier.slot in undelivered(message):
                missing.append((message, carrier.slot, carrier.task))
    return missing


def recipients(spec: ClaudeMessageSpec, pool_slots: int) -> list[int]:
    """The slot indices a message is for: its toSlot, or (broadcast) every slot of the pool
    as it is now except the sender (the seed: 3 slots, broadcast from slot 0 -> 2)."""
    if spec.to_slot is not None:
        return [spec.to_slot]
    return [index for index in range(pool_slots) if index != spec.from_slot]


def _sorted(messages: Sequence[ClaudeMessage]) -> list[ClaudeMessage]:
    """Oldest first (creation time, then name): the seed's FIFO inbox."""
    return sorted(messages, key=lambda m: (m.metadata.creation_timestamp or EPOCH, m.metadata.name))


def is_closed(message: ClaudeMessage) -> bool:
    """Delivered to everyone, or refused: nothing more to do but keep it for kubectl."""
    for condition in message.status.conditions:
        if condition.type == MessageConditionType.DELIVERED:
            return (
                condition.status == ConditionStatus.TRUE
                or condition.reason == MessageReason.INBOX_FULL
            )
    return False


def undelivered(message: ClaudeMessage) -> list[int]:
    """Recipient slots that have not had it yet."""
    done = {d.slot for d in message.status.deliveries}
    return [slot for slot in message.status.recipients if slot not in done]


def refused(messages: Sequence[ClaudeMessage], limit: int) -> list[str]:
    """Names of the open messages over the pool's bound: the newest beyond the oldest
    `limit` (a full inbox bounces new mail; what is queued keeps its place)."""
    open_ = [m for m in _sorted(messages) if not is_closed(m)]
    return [m.metadata.name for m in open_[limit:]]


def inbox(
    messages: Sequence[ClaudeMessage], slot: int, claimed: Collection[str] = ()
) -> list[ClaudeMessage]:
    """The messages slot `slot` gets at its next task start, oldest first, at most
    MAX_MESSAGES_PER_START (the rest wait for the task after)."""
    chosen = [
        m
        for m in _sorted(messages)
        if not is_closed(m) and slot in undelivered(m) and m.metadata.name not in claimed
    ]
    return chosen[:MAX_MESSAGES_PER_START]


def messages_block(messages: Sequence[ClaudeMessage]) -> str:
    """The seed's block: heading, one "**From {from}** (HH:MM:SS): {content}" paragraph
    per message (its creation time, UTC), then a rule. Empty when there are none."""
    if not messages:
        return ""
    lines = []
    for message in messages:
        created = message.metadata.creation_timestamp
        clock = f"{created:%H:%M:%S}" if created is not None else "--:--:--"
        lines.append(f"**From {message.spec.from_}** ({clock}): {message.spec.content}\n\n")
    return HEADING + "".join(lines) + SEPARATOR


def prepend_messages(prompt: str, messages: Sequence[ClaudeMessage]) -> str:
    """The prompt a task runs with: the messages block, then the prompt."""
    return messages_block(messages) + prompt


def _with_delivered_condition(status: ClaudeMessageStatus, now: datetime) -> ClaudeMessageStatus:
    conditions = list(status.conditions)
    waiting = [
        slot for slot in status.recipients if slot not in {d.slot for d in status.deliveries}
    ]
    if not status.recipients:
        state, reason, text = ConditionStatus.TRUE, MessageReason.NO_RECIPIENTS, "no recipient"
    elif waiting:
        state, reason = ConditionStatus.FALSE, MessageReason.PENDING
        text = "waiting for the next task start of slot(s) " + ", ".join(map(str, waiting))
    else:
        state, reason, text = ConditionStatus.TRUE, MessageReason.DELIVERED, "delivered"
    set_condition(conditions, MessageConditionType.DELIVERED, state, reason, text, None, now)
    return status.model_copy(update={"conditions": conditions})


def addressed_status(
    message: ClaudeMessage, pool_slots: int, now: datetime
) -> ClaudeMessageStatus | None:
    """The status that fixes a new message's recipients (None: already fixed)."""
    if message.status.conditions:
        return None
    status = message.status.model_copy(update={"recipients": recipients(message.spec, pool_slots)})
    return _with_delivered_condition(status, now)


def delivered_status(
    message: ClaudeMessage, slot: int, task: str, now: datetime
) -> ClaudeMessageStatus:
    """The message's status after the start of `task` on `slot` carried it."""
    deliveries = [d for d in message.status.deliveries if d.slot != slot]
    deliveries.append(Delivery(slot=slot, task=task, time=now.replace(microsecond=0)))
    status = message.status.model_copy(update={"deliveries": deliveries})
    return _with_delivered_condition(status, now)


def inbox_full_status(message: ClaudeMessage, limit: int, now: datetime) -> ClaudeMessageStatus:
    """The final status of a message refused because its pool's inbox bound was reached."""
    conditions = list(message.status.conditions)
    set_condition(
        conditions,
        MessageConditionType.DELIVERED,
        ConditionStatus.FALSE,
        MessageReason.INBOX_FULL,
        f"pool {message.spec.pool_ref.name} already holds {limit} undelivered messages;"
        " this one will not be delivered (send it again later)",
        None,
        now,
    )
    return message.status.model_copy(update={"conditions": conditions})
