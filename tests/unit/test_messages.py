"""Inter-slot messages (seed 6.3): recipients, the FIFO inbox of a slot, the prepended
block, delivery records, the per-pool bound, and no double delivery after a crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from claude_pool.api.common import MAX_MESSAGES_PER_START
from claude_pool.api.conditions import ConditionStatus, get_condition
from claude_pool.api.messages import ONE_TARGET, ClaudeMessage, ClaudeMessageSpec
from claude_pool.workflows.messages import (
    Carrier,
    addressed_status,
    claimed,
    delivered_status,
    inbox,
    inbox_full_status,
    is_closed,
    messages_block,
    prepend_messages,
    recipients,
    refused,
    undelivered,
    unrecorded_deliveries,
)
from tests.builders import message_manifest

NOW = datetime(2026, 12, 3, 8, 15, 42, tzinfo=UTC)


def new(name: str, seconds: int = 0, **fields: Any) -> ClaudeMessage:
    manifest = message_manifest(name, "p", **fields)
    manifest["metadata"]["creationTimestamp"] = (NOW + timedelta(seconds=seconds)).isoformat()
    return ClaudeMessage.model_validate(manifest)


def addressed(message: ClaudeMessage, slots: int = 3) -> ClaudeMessage:
    status = addressed_status(message, slots, NOW)
    assert status is not None
    return message.model_copy(update={"status": status})


def delivered(message: ClaudeMessage, slot: int, task: str) -> ClaudeMessage:
    return message.model_copy(update={"status": delivered_status(message, slot, task, NOW)})


def delivered_condition(message: ClaudeMessage) -> tuple[ConditionStatus, str]:
    condition = get_condition(message.status.conditions, "Delivered")
    assert condition is not None
    return condition.status, condition.reason


def test_a_broadcast_from_slot_0_of_3_slots_goes_to_the_2_others() -> None:
    spec = new("m", broadcast=True, from_slot=0).spec
    assert recipients(spec, 3) == [1, 2]
    assert recipients(new("m", to_slot=2).spec, 3) == [2]
    assert recipients(new("m", broadcast=True).spec, 2) == [0, 1]


@pytest.mark.parametrize("target", [{}, {"toSlot": 1, "broadcast": True}])
def test_a_message_needs_exactly_one_target(target: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match=r"exactly one of spec\.toSlot"):
        ClaudeMessageSpec.model_validate(
            {"poolRef": {"name": "p"}, "from": "me", "content": "x", **target}
        )
    assert ONE_TARGET.startswith("set exactly one")


def test_each_recipient_gets_it_once_at_its_next_start_and_then_it_is_delivered() -> None:
    message = addressed(new("m", broadcast=True, from_slot=0))
    assert delivered_condition(message) == (ConditionStatus.FALSE, "Pending")
    assert inbox([message], 0) == []
    assert inbox([message], 1) == [message]
    message = delivered(message, 1, "task-a")
    assert undelivered(message) == [2]
    assert inbox([message], 1) == []
    assert delivered_condition(message) == (ConditionStatus.FALSE, "Pending")
    message = delivered(message, 2, "task-b")
    assert delivered_condition(message) == (ConditionStatus.TRUE, "Delivered")
    assert is_closed(message)
    assert [(d.slot, d.task) for d in message.status.deliveries] == [(1, "task-a"), (2, "task-b")]


def test_a_broadcast_in_a_pool_with_only_the_sender_has_no_recipients() -> None:
    message = addressed(new("m", broadcast=True, from_slot=0), slots=1)
    assert delivered_condition(message) == (ConditionStatus.TRUE, "NoRecipients")


def test_the_inbox_is_fifo_skips_claimed_messages_and_is_bounded_per_start() -> None:
    messages = [addressed(new(f"m{i:02}", i, to_slot=1)) for i in range(30)]
    chosen = inbox(list(reversed(messages)), 1, claimed={"m00"})
    assert [m.metadata.name for m in chosen] == [f"m{i:02}" for i in range(1, 21)]
    assert len(chosen) == MAX_MESSAGES_PER_START


def test_an_unaddressed_message_waits_until_the_operator_fixes_its_recipients() -> None:
    assert inbox([new("m", to_slot=1)], 1) == []
    assert addressed_status(addressed(new("m", to_slot=1)), 3, NOW) is None


def test_the_block_is_the_seeds_text() -> None:
    first = new("a", 0, content="hi", sender="slot-0", to_slot=1)
    second = new("b", 3, content="done", sender="coordinator", to_slot=1)
    assert messages_block([first, second]) == (
        "## Messages received while idle\n\n"
        "**From slot-0** (08:15:42): hi\n\n"
        "**From coordinator** (08:15:45): done\n\n"
        "---\n\n"
    )
    assert prepend_messages("Task.", []) == "Task."
    assert prepend_messages("Task.", [first]).endswith("---\n\nTask.")


def test_messages_beyond_the_pools_bound_are_refused_newest_first() -> None:
    messages = [addressed(new(f"m{i}", i, to_slot=0)) for i in range(5)]
    closed = delivered(messages[0], 0, "t")
    assert refused([closed, *messages[1:]], 3) == ["m4"]
    full = messages[4].model_copy(update={"status": inbox_full_status(messages[4], 3, NOW)})
    assert is_closed(full)
    assert delivered_condition(full) == (ConditionStatus.FALSE, "InboxFull")
    assert inbox([full], 0) == []


def test_a_delivery_recorded_by_a_task_but_not_by_its_message_is_found_and_not_redone() -> None:
    message = addressed(new("m", broadcast=True, from_slot=0))
    carriers = [Carrier("task-a", 1, ("m",)), Carrier("task-b", 2, ("other",))]
    assert claimed(carriers, 1) == {"m"}
    assert inbox([message], 1, claimed(carriers, 1)) == []
    assert inbox([message], 2, claimed(carriers, 2)) == [message]
    assert unrecorded_deliveries([message], carriers) == [(message, 1, "task-a")]
    repaired = delivered(message, 1, "task-a")
    assert unrecorded_deliveries([repaired], carriers) == []
