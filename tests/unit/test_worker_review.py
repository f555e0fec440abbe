"""Review gates and messages in the pool worker's cycle, against the fakes of its doors.

A reviewed success waits in AwaitingReview (its slot free, never re-attached); a rejection
re-runs the task with the feedback on the slot holding the rejected session, after dropping
the old result there; a crash between the task's and the review's writes applies nothing
twice; messages are addressed, delivered once at the next start of each recipient slot, and
a delivery a crash left unrecorded is repaired; the inbox bound refuses the newest.
"""

from __future__ import annotations

from typing import Any

from claude_pool.api.agent import AgentResult
from claude_pool.kube.client import MESSAGES, POOLS, REVIEWS, TASKS
from claude_pool.runtime.messaging import tend
from tests.builders import message_manifest, review_manifest
from tests.unit.test_worker_cycle import NS, Rig, ip

SESSION = "0b7c5f4e-1111-4222-8333-444455556666"


def success(cost: int = 100) -> AgentResult:
    return AgentResult(output="plan", success=True, session_id=SESSION, cost_microdollars=cost)


def add_review(rig: Rig, name: str, task: str, decision: str, **extra: Any) -> None:
    body = review_manifest(name, task, decision, namespace=NS, reviewer="bob", **extra)
    body["metadata"]["creationTimestamp"] = f"{rig.clock.now():%Y-%m-%dT%H:%M:%SZ}"
    rig.kube.add(REVIEWS, body)


def applied(rig: Rig, name: str) -> dict[str, Any]:
    conditions = rig.status(REVIEWS, name).get("conditions") or []
    return next(c for c in conditions if c["type"] == "Applied")


async def awaiting(rig: Rig, **review: Any) -> tuple[str, Any]:
    """A reviewed task run to its first result on a one-of-two-slots pool."""
    uid = rig.task("t", review={"required": True, **review})
    worker = rig.worker()
    await rig.cycle(worker)
    slot = rig.status(TASKS, "t")["slot"]
    rig.slots.agent(ip(int(slot[-1]))).finish(uid, success())
    await rig.settle()
    await rig.cycle(worker)
    return uid, worker


async def test_a_reviewed_success_awaits_review_and_its_slot_is_free_but_not_reattached() -> None:
    rig = Rig(slots=2)
    uid, worker = await awaiting(rig)
    status = rig.status(TASKS, "t")
    assert status["phase"] == "AwaitingReview"
    assert status["result"]["output"] == "plan"
    assert status["costMicrodollars"] == 100
    assert rig.events("AwaitingReview")
    rig.clock.advance(1)
    await rig.cycle(worker)
    agent = rig.slots.agent(ip(int(status["slot"][-1])))
    assert agent.running == []
    assert list(agent.requests) == [uid]  # never started again
    await rig.stop()


async def test_a_rejection_reruns_with_the_feedback_on_the_slot_holding_the_session() -> None:
    rig = Rig(slots=2)
    uid, worker = await awaiting(rig)
    slot = rig.status(TASKS, "t")["slot"]
    agent = rig.slots.agent(ip(int(slot[-1])))
    rig.clock.advance(1)
    add_review(rig, "r1", "t", "reject", feedback="add tests")
    await rig.cycle(worker)
    assert applied(rig, "r1")["reason"] == "Rejected"
    assert agent.acknowledged[:1] == [uid]  # the old result dropped before the re-run
    await rig.cycle(worker)
    rerun = rig.status(TASKS, "t")
    assert rerun["phase"] == "Running"
    assert rerun["slot"] == slot
    assert rerun["attempts"] == 2
    request = agent.requests[uid]
    assert request.prompt == "Say hello.\n\n--- Rejection feedback (attempt 1/3) ---\nadd tests"
    assert request.resume_session_id == SESSION
    assert [e["reason"] for e in rig.kube.events if e["reason"] == "Rejected"] == ["Rejected"]
    await rig.stop()


async def test_a_rerun_waits_for_its_busy_slot_and_starts_fresh_when_the_pod_is_replaced() -> None:
    rig = Rig(slots=2)
    uid, worker = await awaiting(rig)
    slot = rig.status(TASKS, "t")["slot"]
    index = int(slot[-1])
    rig.remove_pod(index)
    rig.add_pod(index)  # same name, another uid: the session is gone with the old volume
    rig.clock.advance(1)
    add_review(rig, "r1", "t", "reject", feedback="again")
    await rig.cycle(worker)
    await rig.cycle(worker)
    rerun = rig.status(TASKS, "t")
    assert rerun["phase"] == "Running"
    request = rig.slots.agent(ip(int(rerun["slot"][-1]))).requests[uid]
    assert request.resume_session_id is None
    await rig.stop()


async def test_a_crash_between_the_task_and_the_review_writes_applies_nothing_twice() -> None:
    rig = Rig(slots=1)
    _, worker = await awaiting(rig)
    rig.clock.advance(1)
    add_review(rig, "r1", "t", "reject", feedback="no")
    rig.kube.fail = lambda w: RuntimeError("died") if w.resource == f"{REVIEWS}/status" else None
    await rig.cycle(worker)
    assert rig.status(TASKS, "t")["review"]["rejections"] == 1
    assert not rig.status(REVIEWS, "r1")
    await worker.stop()
    rig.kube.fail = lambda _: None
    second = rig.worker()
    await rig.cycle(second)
    assert applied(rig, "r1")["reason"] == "Rejected"
    assert "recorded in the task" in applied(rig, "r1")["message"]
    assert rig.status(TASKS, "t")["review"]["rejections"] == 1
    await rig.stop()


async def test_approve_succeeds_and_a_review_of_an_unknown_task_is_refused() -> None:
    rig = Rig(slots=1)
    _, worker = await awaiting(rig)
    rig.clock.advance(1)
    add_review(rig, "yes", "t", "approve")
    add_review(rig, "lost", "nobody", "approve")
    await rig.cycle(worker)
    assert rig.status(TASKS, "t")["phase"] == "Succeeded"
    assert rig.status(TASKS, "t")["review"]["history"][0]["reviewer"] == "bob"
    assert applied(rig, "lost")["reason"] == "TaskNotFound"
    add_review(rig, "late", "t", "approve")
    await rig.cycle(worker)
    late = applied(rig, "late")
    assert (late["status"], late["reason"]) == ("False", "NotAwaitingReview")
    await rig.stop()


async def test_a_broadcast_is_delivered_once_per_other_slot_and_a_lost_record_is_repaired() -> None:
    rig = Rig(slots=3)
    body = message_manifest("m", "p", "v2 is out", namespace=NS, broadcast=True, from_slot=0)
    rig.kube.add(MESSAGES, body)
    rig.kube.fail = lambda w: RuntimeError("died") if w.resource == f"{MESSAGES}/status" else None
    worker = rig.worker()
    uids = [rig.task(f"t{i}") for i in range(3)]
    await rig.cycle(worker)  # not even addressed: every message write fails
    assert not rig.status(MESSAGES, "m")
    assert all(not rig.status(TASKS, f"t{i}").get("messages") for i in range(3))
    rig.kube.fail = lambda _: None
    for i, uid in enumerate(uids):
        rig.slots.agent(ip(int(rig.status(TASKS, f"t{i}")["slot"][-1]))).finish(uid, success(1))
    await rig.settle()
    await rig.cycle(worker)
    assert rig.status(MESSAGES, "m")["recipients"] == [1, 2]
    more = [rig.task(f"u{i}") for i in range(3)]
    rig.kube.fail = lambda w: RuntimeError("died") if w.resource == f"{MESSAGES}/status" else None
    await rig.cycle(worker)  # assignments record the messages; the message writes fail
    carried = {
        rig.status(TASKS, f"u{i}")["slot"]: rig.status(TASKS, f"u{i}").get("messages", [])
        for i in range(3)
    }
    assert carried == {"p-slot-0": [], "p-slot-1": ["m"], "p-slot-2": ["m"]}
    for slot, names in carried.items():
        request = rig.slots.agent(ip(int(slot[-1])))
        uid = next(u for u in more if u in request.requests)
        assert ("## Messages received while idle" in request.requests[uid].prompt) == bool(names)
    await worker.stop()
    rig.kube.fail = lambda _: None
    second = rig.worker()
    await rig.cycle(second)  # repaired from the tasks' status
    status = rig.status(MESSAGES, "m")
    assert sorted(d["slot"] for d in status["deliveries"]) == [1, 2]
    delivered = next(c for c in status["conditions"] if c["type"] == "Delivered")
    assert delivered["status"] == "True"
    await rig.stop()


async def test_the_inbox_bound_refuses_the_newest_open_messages() -> None:
    rig = Rig(slots=2)
    for i in range(3):
        body = message_manifest(f"m{i}", "p", namespace=NS, to_slot=1)
        body["metadata"]["creationTimestamp"] = f"2026-01-01T00:00:0{i}Z"
        rig.kube.add(MESSAGES, body)
    pool = rig.state.pools[(NS, "p")]
    messages = rig.state.pool_messages((NS, "p"))
    await tend(pool, [], messages, rig.clock.now(), kube=rig.kube, state=rig.state, limit=2)  # type: ignore[arg-type]  # the fake stands in for Kube
    reasons = {
        f"m{i}": next(c for c in rig.status(MESSAGES, f"m{i}")["conditions"])["reason"]
        for i in range(3)
    }
    assert reasons == {"m0": "Pending", "m1": "Pending", "m2": "InboxFull"}


async def test_a_reviewed_fan_out_reruns_as_a_new_generation_and_a_cancel_ends_its_wait() -> None:
    rig = Rig(slots=2)
    rig.task("f", prompt=None, fan_out={"prompts": ["a", "b"]}, review={"required": True})
    worker = rig.worker()

    async def finish_all(cost: int, output: str = "plan") -> None:
        for index in range(2):
            agent = rig.slots.agent(ip(index))
            for uid in list(agent.running):
                agent.finish(uid, success(cost).model_copy(update={"output": output}))
        await rig.settle()
        await rig.cycle(worker)
        await rig.cycle(worker)

    await rig.cycle(worker)
    await finish_all(100)
    held = rig.status(TASKS, "f")
    assert held["phase"] == "AwaitingReview"
    assert held["result"]["output"] == "[0] plan\n[1] plan"
    assert held["costMicrodollars"] == 200
    (event,) = rig.events("AwaitingReview")
    assert event["involved"]["name"] == "f" and "(cost 200 microdollars)" in event["message"]
    rig.clock.advance(1)
    add_review(rig, "r1", "f", "reject", feedback="more")
    await rig.cycle(worker)
    assert applied(rig, "r1")["reason"] == "Rejected"
    assert [w.name for w in rig.kube.writes_of("create", TASKS)] == [
        "f-0",
        "f-1",
        "f-0.g1",
        "f-1.g1",
    ]
    block = "\n\n--- Rejection feedback (attempt 1/3) ---\nmore"
    prompts = {
        request.prompt
        for index in range(2)
        for uid, request in rig.slots.agent(ip(index)).requests.items()
        if uid.endswith(".g1")
    }
    assert prompts == {"a" + block, "b" + block}
    await finish_all(300, "y" * 20000)  # two items: a combined output over 32768
    again = rig.status(TASKS, "f")
    assert again["phase"] == "AwaitingReview"
    assert again["result"]["outputRef"] == "f-output.g1"
    stored = rig.kube.get("configmaps", "f-output.g1")["data"]["output"]
    assert stored.startswith("[0] yyy") and len(stored) > 40000
    assert again["costMicrodollars"] == 800
    assert len(rig.events("AwaitingReview")) == 2, "once per result held"
    assert again["children"] == {**again["children"], "generation": 1, "total": 2}
    assert rig.status(POOLS, "p")["budget"]["spentMicrodollars"] == 800
    body = rig.kube.get(TASKS, "f")
    body["spec"]["cancel"] = True
    rig.state.upsert_task(body)
    await rig.cycle(worker)
    assert rig.status(TASKS, "f")["phase"] == "Cancelled"
    assert len(rig.kube.writes_of("create", TASKS)) == 4
    await rig.stop()


async def test_a_long_output_of_a_rerun_goes_to_a_config_map_of_its_own() -> None:
    rig = Rig(slots=1)
    uid = rig.task("t", review={"required": True})
    worker = rig.worker()
    agent = rig.slots.agent(ip(0))
    for n, text in enumerate(("x" * 40000, "y" * 40000)):
        await rig.cycle(worker)
        agent.finish(uid, success().model_copy(update={"output": text}))
        await rig.settle()
        await rig.cycle(worker)
        status = rig.status(TASKS, "t")
        assert status["phase"] == "AwaitingReview"
        ref = "t-output" if n == 0 else "t-output.r1"
        assert status["result"]["outputRef"] == ref
        assert rig.kube.get("configmaps", ref)["data"]["output"] == text
        if n == 0:
            rig.clock.advance(1)
            add_review(rig, "r1", "t", "reject", feedback="shorter")
    assert rig.kube.get("configmaps", "t-output")["data"]["output"] == "x" * 40000
    await rig.stop()
