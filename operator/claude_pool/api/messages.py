"""The ClaudeMessage resource: a note for one slot of a pool, or for all of them but the sender.

The seed's inter-slot messaging (notes/seed-claude-pool.md 1.9, 6.3) as a small resource:
durable in etcd until delivered, listed with `kubectl get cmsg`, bounded in size (here) and
in count per pool (the operator refuses messages beyond MAX_PENDING_MESSAGES). A message is
delivered at the start of a recipient slot's next task, prepended to its prompt
(`claude_pool.workflows.messages`); the delivery is recorded in the task's status with its
assignment and in the message's status. Slots hold no credentials, so people and
coordinators send messages, as in the seed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from claude_pool.api.common import (
    API_VERSION,
    MAX_SLOT_MESSAGE_LENGTH,
    MAX_SLOTS,
    LocalObjectRef,
    Name,
    ObjectMeta,
    SlotIndex,
    SpecModel,
    StatusModel,
    cel,
    validations,
)
from claude_pool.api.conditions import Conditions

ONE_TARGET = "set exactly one of spec.toSlot and spec.broadcast: true"
IMMUTABLE = "spec.* is immutable: a ClaudeMessage cannot be changed; send a new one"


class MessageConditionType(StrEnum):
    """Condition types of a ClaudeMessage."""

    DELIVERED = "Delivered"
    """True once every recipient slot got it; False while some wait, or when refused."""


class MessageReason(StrEnum):
    """Reasons of a ClaudeMessage's Delivered condition."""

    PENDING = "Pending"
    """Delivered=False: waiting for the next task start of some recipients."""
    DELIVERED = "Delivered"
    """Delivered=True: every recipient got it."""
    NO_RECIPIENTS = "NoRecipients"
    """Delivered=True: a broadcast in a pool with no slot other than the sender."""
    INBOX_FULL = "InboxFull"
    """Delivered=False, final: the pool already held MAX_PENDING_MESSAGES undelivered messages."""


class ClaudeMessageSpec(SpecModel):
    """Who the message is for and what it says. Immutable once created."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("self == oldSelf", IMMUTABLE),
            cel("has(self.toSlot) != (has(self.broadcast) && self.broadcast)", ONE_TARGET),
        )
    )

    pool_ref: LocalObjectRef
    """The ClaudePool (same namespace) whose slots receive it."""
    from_: Annotated[str, Field(min_length=1, max_length=253, alias="from")]
    """The sender as the recipients see it ("**From {from}** (HH:MM:SS): ...")."""
    from_slot: SlotIndex | None = None
    """The sending slot's index, if a slot sends: a broadcast skips it."""
    to_slot: SlotIndex | None = None
    """The receiving slot's index (slot N is the pod POOL-slot-N, also after a replacement)."""
    broadcast: bool = False
    """Send to every slot of the pool except fromSlot."""
    content: Annotated[str, Field(min_length=1, max_length=MAX_SLOT_MESSAGE_LENGTH)]
    """The text."""

    @model_validator(mode="after")
    def _one_target(self) -> ClaudeMessageSpec:
        if (self.to_slot is not None) == self.broadcast:
            raise ValueError(ONE_TARGET)
        return self


class Delivery(StatusModel):
    """One delivery: the slot, and the task whose prompt carried the message."""

    slot: SlotIndex
    task: Name
    time: datetime


class ClaudeMessageStatus(StatusModel):
    """Where the message went (written by the operator)."""

    recipients: Annotated[list[SlotIndex], Field(max_length=MAX_SLOTS)] = Field(
        default_factory=list
    )
    """Slot indices it is for, fixed when the operator first saw it (a broadcast: the
    pool's slots at that time, minus fromSlot)."""
    deliveries: Annotated[list[Delivery], Field(max_length=MAX_SLOTS)] = Field(default_factory=list)
    """Deliveries so far, oldest first."""
    conditions: Conditions = Field(default_factory=list)
    """Delivered."""


class ClaudeMessage(StatusModel):
    """A ClaudeMessage object as read from the API."""

    api_version: str = API_VERSION
    kind: str = "ClaudeMessage"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ClaudeMessageSpec
    status: ClaudeMessageStatus = Field(default_factory=ClaudeMessageStatus)
