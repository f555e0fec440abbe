"""The SDK's review and message verbs against the fake door (tests/unit/sdkfake.py):
manifests, waiting for a review's Applied condition by watch with a bound, refusals,
messages with their delivery state, fan-out of chains with failFast, the sync twin."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from claude_pool.cli.exitcodes import ExitCode, code_for
from claude_pool.sdk import (
    AsyncClient,
    Client,
    InvalidRequest,
    PoolNotFound,
    ReviewRefused,
    TaskNotFound,
    WaitTimeout,
)
from tests.builders import pool_manifest
from tests.unit.sdkfake import FakeDoor

NS = "team"
TASKS = "claudetasks"
REVIEWS = "claudereviews"
MESSAGES = "claudemessages"


@pytest.fixture
def door() -> FakeDoor:
    fake = FakeDoor()
    fake.put("claudepools", NS, pool_manifest("demo", slots=3))
    return fake


@pytest.fixture
def client(door: FakeDoor) -> AsyncClient:
    return AsyncClient(door, NS)


def applied(door: FakeDoor, name: str, status: str, reason: str, message: str = "ok") -> None:
    condition = {"type": "Applied", "status": status, "reason": reason, "message": message,
                 "lastTransitionTime": "2026-12-01T00:00:01Z"}  # fmt: skip
    door.update(REVIEWS, NS, name,
                lambda b: b.setdefault("status", {}).update(conditions=[condition]))  # fmt: skip


async def test_submit_with_review_sets_the_gate(client: AsyncClient, door: FakeDoor) -> None:
    task = await client.submit("demo", "x", review=True, max_rejections=2)
    spec = door.objects[(TASKS, NS, task.metadata.name)]["spec"]
    assert spec["review"] == {"required": True, "maxRejections": 2, "resumeSession": True}
    plain = await client.submit("demo", "y")
    assert "review" not in door.objects[(TASKS, NS, plain.metadata.name)]["spec"]
    with pytest.raises(InvalidRequest, match="only to a task with review"):
        await client.submit("demo", "z", max_rejections=2)
    with pytest.raises(InvalidRequest, match="less than or equal to 20"):
        await client.submit("demo", "z", review=True, max_rejections=21)


async def test_approve_creates_a_review_the_server_stamps(
    client: AsyncClient, door: FakeDoor
) -> None:
    await client.submit("demo", "x", name="t", review=True)
    review = await client.approve("t")
    stored = door.objects[(REVIEWS, NS, review.metadata.name)]
    assert review.metadata.name.startswith("t-approve-")
    assert stored["spec"] == {"taskRef": {"name": "t"}, "decision": "approve",
                              "reviewer": "alice"}  # fmt: skip
    assert review.spec.reviewer == "alice"
    assert [r.metadata.name for r in await client.reviews("t")] == [review.metadata.name]


async def test_reject_needs_feedback_and_an_existing_task(
    client: AsyncClient, door: FakeDoor
) -> None:
    await client.submit("demo", "x", name="t", review=True)
    with pytest.raises(InvalidRequest, match="needs feedback"):
        await client.reject("t", "  ")
    with pytest.raises(TaskNotFound, match="task 'nope' not found"):
        await client.reject("nope", "fix it")
    assert door.calls["create"] == 1  # only the task


async def test_waiting_for_a_review_watches_until_applied(
    client: AsyncClient, door: FakeDoor
) -> None:
    await client.submit("demo", "x", name="t", review=True)

    async def operator() -> None:
        await asyncio.sleep(0.05)
        name = next(k[2] for k in door.objects if k[0] == REVIEWS)
        door.update(REVIEWS, NS, name, lambda b: b.update(status={"taskUid": "uid-t"}))
        await asyncio.sleep(0.05)
        door.update(REVIEWS, NS, name, lambda b: b["status"].update(rejection=1))
        applied(door, name, "True", "Rejected")

    runner = asyncio.create_task(operator())
    review = await client.reject("t", "shorter please", wait=True, timeout=5)
    await runner
    assert review.spec.feedback == "shorter please"
    assert review.status.rejection == 1
    assert door.calls["watch"] == 1


async def test_a_refused_review_raises_with_the_operators_reason(
    client: AsyncClient, door: FakeDoor
) -> None:
    await client.submit("demo", "x", name="t", review=True)

    async def operator() -> None:
        await asyncio.sleep(0.05)
        name = next(k[2] for k in door.objects if k[0] == REVIEWS)
        applied(door, name, "False", "NotAwaitingReview", "task t is not awaiting review")

    runner = asyncio.create_task(operator())
    with pytest.raises(ReviewRefused, match="NotAwaitingReview: task t is not awaiting") as e:
        await client.approve("t", wait=True, timeout=5)
    await runner
    assert code_for(e.value) == ExitCode.REVIEW_REFUSED == 11


async def test_waiting_for_a_review_is_bounded(client: AsyncClient) -> None:
    await client.submit("demo", "x", name="t", review=True)
    with pytest.raises(WaitTimeout, match=r"claudereview t-approve-\d+ not done after 0\.2 s"):
        await client.approve("t", wait=True, timeout=0.2)


async def test_messages_to_a_slot_and_to_all(client: AsyncClient, door: FakeDoor) -> None:
    one = await client.send_message("demo", 2, "look at /v2")
    everyone = await client.broadcast("demo", "API moved", from_slot=0)
    assert door.objects[(MESSAGES, NS, one.metadata.name)]["spec"] == {
        "poolRef": {"name": "demo"}, "from": "coordinator", "toSlot": 2, "broadcast": False,
        "content": "look at /v2",
    }  # fmt: skip
    assert door.objects[(MESSAGES, NS, everyone.metadata.name)]["spec"] == {
        "poolRef": {"name": "demo"}, "from": "slot-0", "fromSlot": 0, "broadcast": True,
        "content": "API moved",
    }  # fmt: skip

    def delivered(body: dict[str, Any]) -> None:
        body["status"] = {
            "recipients": [1, 2],
            "deliveries": [{"slot": 1, "task": "t1", "time": "2026-12-01T00:00:02Z"}],
            "conditions": [{"type": "Delivered", "status": "False", "reason": "Pending",
                            "message": "1 of 2", "lastTransitionTime": "2026-12-01T00:00:02Z"}],
        }  # fmt: skip

    door.update(MESSAGES, NS, everyone.metadata.name, delivered)
    listed = await client.messages("demo")
    assert [m.metadata.name for m in listed] == sorted([one.metadata.name,
                                                        everyone.metadata.name])  # fmt: skip
    found = next(m for m in listed if m.spec.broadcast)
    assert [d.slot for d in found.status.deliveries] == [1]
    assert await client.messages("other") == []


async def test_bad_messages_are_refused_before_the_api(client: AsyncClient, door: FakeDoor) -> None:
    with pytest.raises(PoolNotFound):
        await client.broadcast("nope", "hi")
    with pytest.raises(InvalidRequest, match="content"):
        await client.send_message("demo", 0, "")
    with pytest.raises(InvalidRequest, match="greater than or equal to 0"):
        await client.send_message("demo", -1, "hi")
    assert door.calls["create"] == 0


async def test_fan_out_of_chains_with_fail_fast(client: AsyncClient, door: FakeDoor) -> None:
    steps = [{"name": "a", "prompt": "x"}, {"name": "b", "prompt": "{previous_output}"}]
    task = await client.fan_out("demo", chains=[steps, steps[:1]], fail_fast=True)
    fan = door.objects[(TASKS, NS, task.metadata.name)]["spec"]["fanOut"]
    assert fan["failFast"] is True and "prompts" not in fan
    assert [len(chain["steps"]) for chain in fan["chains"]] == [2, 1]
    with pytest.raises(InvalidRequest, match="exactly one"):
        await client.fan_out("demo", ["p"], chains=[steps])


def test_the_sync_client_reviews_and_messages(door: FakeDoor) -> None:
    with Client(AsyncClient(door, NS)) as client:
        client.submit("demo", "x", name="t", review=True)
        review = client.reject("t", "again")
        assert client.review(review.metadata.name).spec.decision == "reject"
        client.send_message("demo", 1, "hi")
        assert [m.spec.to_slot for m in client.messages("demo")] == [1]
