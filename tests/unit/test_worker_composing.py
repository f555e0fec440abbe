"""The pool worker's composing step: composite tasks run through child tasks (fakes, by hand).

Uses the rig of `test_worker_cycle`: a pool in a `FakeKube`, fake slot agents finished by the
test, `PoolWorker.cycle()` called by hand. Checks that children are created once and
dispatched in the same cycle, that the parent's cost is the sum of its children's and the
pool's spend counts each child once, that a chain step gets the slot and session of the
step before, that cancelling or deleting a parent cancels its children, and that a new
worker (a restarted operator) continues from status without creating anything twice.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from claude_pool.api.agent import AgentResult
from claude_pool.api.composites import PARENT_UID_LABEL
from claude_pool.kube.client import POOLS, TASKS
from claude_pool.status.patches import merge_apply, merge_diff
from tests.builders import chain_steps
from tests.unit.test_worker_cycle import Rig, ip


def done(output: str, cost: int, session: str = "s1", *, success: bool = True) -> AgentResult:
    return AgentResult(
        output=output, success=success, cost_microdollars=cost, turns=1, session_id=session
    )


def running(rig: Rig) -> dict[str, str]:
    """Running uid -> agent ip, over the pool's slots."""
    found = {}
    for index in range(4):
        if ("pods", "ns", f"p-slot-{index}") in rig.kube.objects:
            for uid in rig.slots.agent(ip(index)).running:
                found[uid] = ip(index)
    return found


def creates(rig: Rig) -> list[str]:
    return [w.name for w in rig.kube.writes_of("create", TASKS)]


async def test_a_fan_out_runs_its_items_as_children_and_counts_each_cost_once() -> None:
    rig = Rig(slots=2)
    rig.task("f", prompt=None, fan_out={"prompts": ["a", "b", "c"], "maxParallel": 2})
    worker = rig.worker()
    await rig.cycle(worker)
    assert creates(rig) == ["f-0", "f-1"]
    children = rig.kube.get(TASKS, "f-0")["metadata"]
    assert children["labels"][PARENT_UID_LABEL] == "uid-f"
    assert len(running(rig)) == 2  # dispatched in the cycle that created them
    assert rig.status(TASKS, "f")["phase"] == "Running"
    costs = {"uid-f-0": 100, "uid-f-1": 200, "uid-f-2": 400}
    for _ in range(3):
        for uid, at in running(rig).items():
            rig.slots.agent(at).finish(uid, done(f"out {uid}", costs[uid]))
        await rig.settle()
        await rig.cycle(worker)
        await rig.cycle(worker)
    parent = rig.status(TASKS, "f")
    assert parent["phase"] == "Succeeded"
    assert parent["costMicrodollars"] == 700
    assert parent["result"]["output"].splitlines() == [
        "[0] out uid-f-0",
        "[1] out uid-f-1",
        "[2] out uid-f-2",
    ]
    assert rig.status(POOLS, "p")["budget"]["spentMicrodollars"] == 700
    assert creates(rig) == ["f-0", "f-1", "f-2"]
    assert "slot" not in parent and not parent.get("attempts")  # it never ran on a slot
    await rig.stop()


async def test_a_chain_step_gets_the_slot_and_session_of_the_step_before() -> None:
    rig = Rig(slots=2)
    rig.task("c", prompt=None, chain={"steps": chain_steps("one", "two")})
    worker = rig.worker()
    await rig.cycle(worker)
    [(uid, at)] = running(rig).items()
    rig.slots.agent(at).finish(uid, done("first", 10, session="sess-1"))
    await rig.settle()
    await rig.cycle(worker)
    await rig.cycle(worker)
    [(second, again)] = running(rig).items()
    assert again == at  # the same slot, although another one is idle
    request = rig.slots.agent(at).requests[second]
    assert request.resume_session_id == "sess-1"
    assert request.prompt == "Do first."
    rig.slots.agent(at).finish(second, done("second", 20))
    await rig.settle()
    await rig.cycle(worker)
    await rig.cycle(worker)
    parent = rig.status(TASKS, "c")
    assert parent["phase"] == "Succeeded"
    assert parent["costMicrodollars"] == 30
    assert [s["phase"] for s in parent["steps"]] == ["Succeeded", "Succeeded"]
    await rig.stop()


async def test_a_chain_step_is_handed_off_in_the_cycle_that_records_the_step_before() -> None:
    rig = Rig(slots=2)
    rig.task("c", prompt=None, chain={"steps": chain_steps("one", "two")})
    worker = rig.worker()
    await rig.cycle(worker)
    [(uid, at)] = running(rig).items()
    rig.slots.agent(at).finish(uid, done("first", 10, session="sess-1"))
    await rig.settle()
    rig.kube.writes.clear()
    await rig.cycle(worker)  # one cycle: result recorded, next step created and started
    [(second, again)] = running(rig).items()
    assert again == at
    assert rig.slots.agent(at).requests[second].prompt == "Do first."
    order = [(w.verb, w.resource, w.name) for w in rig.kube.writes]
    created = order.index(("create", TASKS, "c-two"))
    assert created < order.index(("patch", f"{TASKS}/status", "c-one"))  # created meanwhile
    assert creates(rig) == ["c-two"]  # the composing step found it: not created twice
    assert rig.status(TASKS, "c")["progress"]["completedSteps"] == 1
    await rig.stop()


async def test_the_hand_off_leaves_a_freed_slot_to_a_task_ahead_of_it_in_the_queue() -> None:
    rig = Rig(slots=1)
    rig.task("c", prompt=None, chain={"steps": chain_steps("one", "two")})
    worker = rig.worker()
    await rig.cycle(worker)
    [(uid, at)] = running(rig).items()
    urgent = rig.task("urgent", priority=10)  # queued behind the busy slot
    await rig.cycle(worker)
    assert list(running(rig)) == [uid]
    rig.slots.agent(at).finish(uid, done("first", 10))
    await rig.settle()
    await rig.cycle(worker)  # the hand-off creates step two but does not start it
    assert list(running(rig)) == [urgent]  # priority 10 first, as the cycle's own pass does
    assert "slot" not in rig.status(TASKS, "c-two")
    rig.slots.agent(at).finish(urgent, done("urgent", 5))
    await rig.settle()
    await rig.cycle(worker)
    await rig.cycle(worker)
    [(second, again)] = running(rig).items()
    assert second == "uid-c-two" and again == at
    await rig.stop()


async def test_a_crash_after_the_hand_off_and_before_the_result_write_runs_each_step_once() -> None:
    rig = Rig(slots=1)
    rig.task("c", prompt=None, chain={"steps": chain_steps("one", "two", "three")})
    first = rig.worker()
    await rig.cycle(first)
    [(uid, at)] = running(rig).items()
    agent = rig.slots.agent(at)
    agent.finish(uid, done("first", 10))
    await rig.settle()

    def died(write: Any) -> Exception | None:
        return RuntimeError("operator died") if write.resource == f"{TASKS}/status" else None

    rig.kube.fail = died  # the commit and the next step's create land, the result does not
    await rig.cycle(first)
    assert creates(rig) == ["c-one", "c-two"]
    assert rig.status(TASKS, "c-one")["phase"] == "Running"
    assert "slot" not in rig.status(TASKS, "c-two")
    await first.stop()
    rig.kube.fail = lambda _: None
    second = rig.worker()
    for _ in range(6):
        await rig.cycle(second)
        for uid, at in running(rig).items():
            rig.slots.agent(at).finish(uid, done("next", 10))
        await rig.settle()
    parent = rig.status(TASKS, "c")
    assert parent["phase"] == "Succeeded"
    assert creates(rig) == ["c-one", "c-two", "c-three"]
    assert sorted(agent.requests) == ["uid-c-one", "uid-c-three", "uid-c-two"]  # once each
    assert rig.status(TASKS, "c-two")["attempts"] == 1
    assert rig.status(TASKS, "c-one")["result"]["output"] == "first"
    assert rig.status(POOLS, "p")["budget"]["spentMicrodollars"] == 30
    assert parent["costMicrodollars"] == 30
    await rig.stop()


async def test_a_crash_after_the_next_step_started_and_before_the_result_write_loses_nothing() -> (
    None
):
    rig = Rig(slots=1)
    rig.task("c", prompt=None, chain={"steps": chain_steps("one", "two")})
    first = rig.worker()
    await rig.cycle(first)
    [(uid, at)] = running(rig).items()
    agent = rig.slots.agent(at)
    agent.finish(uid, done("first", 10, session="sess-1"))
    await rig.settle()

    def died(write: Any) -> Exception | None:
        lost = (write.resource, write.name) == (f"{TASKS}/status", "c-one")
        return RuntimeError("operator died") if lost else None

    rig.kube.fail = died  # the next step is created and started; the result write is lost
    await rig.cycle(first)
    assert list(running(rig)) == ["uid-c-two"]
    assert agent.requests["uid-c-two"].resume_session_id == "sess-1"
    assert rig.status(TASKS, "c-one")["phase"] == "Running"
    await first.stop()
    rig.kube.fail = lambda _: None
    second = rig.worker()
    await rig.cycle(second)  # re-attaches both: the result of one, the run of two
    agent.finish("uid-c-two", done("second", 20))
    await rig.settle()
    for _ in range(3):
        await rig.cycle(second)
    parent = rig.status(TASKS, "c")
    assert parent["phase"] == "Succeeded"
    assert parent["result"]["output"] == "second"
    assert [rig.status(TASKS, n)["attempts"] for n in ("c-one", "c-two")] == [1, 1]
    assert rig.status(TASKS, "c-one")["result"]["output"] == "first"
    assert sorted(agent.requests) == ["uid-c-one", "uid-c-two"]
    assert rig.status(POOLS, "p")["budget"]["spentMicrodollars"] == 30 == parent["costMicrodollars"]
    await rig.stop()


async def test_a_chain_steps_end_cuts_the_pause_between_cycles_short_and_others_do_not() -> None:
    rig = Rig(slots=3)
    rig.settings.cycle_min_interval_seconds = 0.3
    rig.task("c", prompt=None, chain={"steps": chain_steps("one", "two")})
    rig.task("f", prompt=None, fan_out={"prompts": ["a"]})
    rig.task("s")
    worker = rig.worker()
    await rig.cycle(worker)
    live = running(rig)
    assert set(live) == {"uid-c-one", "uid-f-0", "uid-s"}
    for other in ("uid-s", "uid-f-0"):
        rig.slots.agent(live[other]).finish(other, done("other", 5))
    await rig.settle()
    started = time.monotonic()
    await worker._pause()
    assert time.monotonic() - started >= 0.25  # a single task's, a fan-out item's: batched
    rig.slots.agent(live["uid-c-one"]).finish("uid-c-one", done("first", 5))
    await rig.settle()
    started = time.monotonic()
    await asyncio.wait_for(worker._pause(), 0.2)  # a chain step's does not
    assert time.monotonic() - started < 0.2
    await rig.stop()


async def test_cancelling_a_parent_cancels_its_running_children() -> None:
    rig = Rig(slots=2)
    rig.task("f", prompt=None, fan_out={"prompts": ["a", "b"]})
    worker = rig.worker()
    await rig.cycle(worker)
    live = running(rig)
    assert len(live) == 2
    body = rig.kube.get(TASKS, "f")
    body["spec"]["cancel"] = True
    rig.state.upsert_task(body)
    await rig.cycle(worker)
    assert {w.name for w in rig.kube.writes_of("patch", TASKS)} == {"f-0", "f-1"}
    await rig.cycle(worker)
    cancelled = {u for at in set(live.values()) for u in rig.slots.agent(at).cancelled}
    assert cancelled == set(live)
    for uid, at in live.items():
        rig.slots.agent(at).finish(uid, done("partial", 50, success=False))
    await rig.settle()
    await rig.cycle(worker)
    await rig.cycle(worker)
    parent = rig.status(TASKS, "f")
    assert parent["phase"] == "Cancelled"
    assert parent["costMicrodollars"] == 100
    assert rig.status(POOLS, "p")["budget"]["spentMicrodollars"] == 100
    await rig.stop()


async def test_deleting_a_parent_cancels_its_children_and_their_costs_are_committed() -> None:
    rig = Rig(slots=2)
    rig.task("f", prompt=None, fan_out={"prompts": ["a", "b"]})
    worker = rig.worker()
    await rig.cycle(worker)
    live = running(rig)
    rig.kube.delete(TASKS, "f")
    await rig.cycle(worker)
    assert {w.name for w in rig.kube.writes_of("patch", TASKS)} == {"f-0", "f-1"}
    await rig.cycle(worker)
    for uid, at in live.items():
        assert uid in rig.slots.agent(at).cancelled
        rig.slots.agent(at).finish(uid, done("partial", 70, success=False))
    await rig.settle()
    await rig.cycle(worker)
    assert rig.status(POOLS, "p")["budget"]["spentMicrodollars"] == 140
    await rig.stop()


async def test_a_restarted_worker_continues_from_status_without_creating_twice() -> None:
    rig = Rig(slots=1)
    rig.task("c", prompt=None, chain={"steps": chain_steps("one", "two", "three")})
    first = rig.worker()
    await rig.cycle(first)
    [(uid, at)] = running(rig).items()
    rig.slots.agent(at).finish(uid, done("first", 10))
    await rig.settle()
    await rig.cycle(first)
    await first.stop()  # killed: the next step may or may not exist yet
    second = rig.worker()
    for _ in range(6):
        await rig.cycle(second)
        for uid, at in running(rig).items():
            rig.slots.agent(at).finish(uid, done("next", 10))
        await rig.settle()
    parent = rig.status(TASKS, "c")
    assert parent["phase"] == "Succeeded"
    assert creates(rig) == ["c-one", "c-two", "c-three"]
    assert rig.status(POOLS, "p")["budget"]["spentMicrodollars"] == 30
    assert parent["costMicrodollars"] == 30
    await rig.stop()


def test_merge_diff_writes_only_changes_and_nulls_for_removed_fields() -> None:
    old = {"a": 1, "b": {"c": 2, "d": 3}, "e": [1], "gone": "x"}
    new = {"a": 1, "b": {"c": 2, "d": 4}, "e": [1, 2], "f": {"g": 1}}
    assert merge_diff(old, new) == {"b": {"d": 4}, "e": [1, 2], "f": {"g": 1}, "gone": None}
    assert merge_diff(new, new) == {}


def test_merge_apply_is_what_the_server_makes_of_a_merge_patch() -> None:
    old = {"a": 1, "b": {"c": 2, "d": 3}, "e": [1], "gone": "x", "n": 5}
    new = {"a": 1, "b": {"c": 2, "d": 4}, "e": [1, 2], "f": {"g": 1}, "n": {"m": 1}}
    assert merge_apply(old, merge_diff(old, new)) == new
    assert merge_apply(old, {"b": None, "z": {"y": None}}) == {
        "a": 1,
        "e": [1],
        "gone": "x",
        "n": 5,
        "z": {},
    }
    assert old["b"] == {"c": 2, "d": 3}  # not changed in place


async def test_the_parents_budget_cap_is_shared_by_its_children() -> None:
    rig = Rig(slots=2)
    rig.task(
        "f", prompt=None, fan_out={"prompts": ["a", "b"]}, config={"maxBudgetMicrodollars": 1000}
    )
    worker = rig.worker()
    await rig.cycle(worker)
    caps = [
        rig.kube.get(TASKS, f"f-{i}")["spec"]["config"]["maxBudgetMicrodollars"] for i in (0, 1)
    ]
    assert sum(caps) <= 1000 and all(cap > 0 for cap in caps)
    requests = [rig.slots.agent(at).requests[uid] for uid, at in running(rig).items()]
    assert sorted(r.max_budget_microdollars or 0 for r in requests) == sorted(caps)
    await rig.stop()
