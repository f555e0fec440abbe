"""The pool worker's cycle against fakes of its own doors (Kube, SlotClient) and a manual clock.

Each test builds a pool, its slot pods and tasks in a `FakeKube`, runs `PoolWorker.cycle()`
by hand and checks what was written: exactly-once commits across a crash, retries after a
lost slot, SlotLost, the orphan sweep, the pool status debounce, the drain bound and the
backoff of a failing slot.
"""

from __future__ import annotations

import asyncio
from typing import Any

from claude_pool.api.agent import AgentResult
from claude_pool.controllers.state import ClusterState
from claude_pool.kube.client import POOLS, TASKS
from claude_pool.runtime.settings import Settings
from claude_pool.runtime.worker import PoolWorker
from claude_pool.slots.client import SlotUnreachable
from claude_pool.slots.pods import DRAINING_ANNOTATION, POOL_LABEL
from tests.builders import pool_manifest, task_manifest
from tests.fakes import FakeKube, FakeSlots, ManualClock

NS = "ns"


def ip(index: int) -> str:
    return f"127.0.1.{index + 2}"


class Rig:
    """One pool in fakes, and the workers that reconcile it."""

    def __init__(self, *, slots: int = 1, pods: int | None = None, **spec: Any) -> None:
        self.clock = ManualClock()
        self.state = ClusterState()
        self.kube = FakeKube(self.state)
        self.slots = FakeSlots()
        self.settings = Settings(
            pool_status_min_interval_seconds=1.0,
            drain_timeout_seconds=30.0,
            slot_backoff_seconds=1.0,
            slot_backoff_max_seconds=60.0,
        )
        self.kube.add(POOLS, pool_manifest("p", namespace=NS, slots=slots, **spec))
        for index in range(slots if pods is None else pods):
            self.add_pod(index)
        self.workers: list[PoolWorker] = []

    def add_pod(self, index: int, *, phase: str = "Running") -> None:
        self.kube.add(
            "pods",
            {
                "kind": "Pod",
                "metadata": {
                    "name": f"p-slot-{index}",
                    "namespace": NS,
                    "uid": f"pod-{index}-{len(self.kube.writes)}",
                    "labels": {POOL_LABEL: "p"},
                },
                "status": {
                    "phase": phase,
                    "podIP": ip(index),
                    "conditions": [{"type": "Ready", "status": str(phase == "Running")}],
                },
            },
        )

    def remove_pod(self, index: int) -> None:
        """The pod is gone (deleted by someone else; the watch says DELETED)."""
        body = self.kube.objects.pop(("pods", NS, f"p-slot-{index}"))
        self.state.delete_pod(body)

    def set_spec(self, **spec: Any) -> None:
        body = self.kube.get(POOLS, "p")
        body["spec"].update(spec)
        body["metadata"]["generation"] += 1
        self.state.upsert_pool(body)

    def task(self, name: str, **spec: Any) -> str:
        return str(
            self.kube.add(TASKS, task_manifest(name, "p", namespace=NS, **spec))["metadata"]["uid"]
        )

    def worker(self) -> PoolWorker:
        worker = PoolWorker((NS, "p"), self.state, self.kube, self.slots, self.settings, self.clock)  # type: ignore[arg-type]  # the fakes stand in for Kube and SlotClient
        self.workers.append(worker)
        return worker

    async def settle(self) -> None:
        """Let followers and background posts run until nothing moves."""
        for _ in range(30):
            await asyncio.sleep(0)
        for worker in self.workers:
            await worker.announcer.settle()

    async def cycle(self, worker: PoolWorker) -> None:
        assert await worker.cycle()
        await self.settle()

    def status(self, plural: str, name: str) -> dict[str, Any]:
        return dict(self.kube.get(plural, name).get("status") or {})

    def condition(self, name: str, kind: str) -> dict[str, Any]:
        conditions = self.status(TASKS, name).get("conditions") or []
        return next(c for c in conditions if c["type"] == kind)

    def events(self, reason: str) -> list[dict[str, Any]]:
        return [e for e in self.kube.events if e["reason"] == reason]

    async def stop(self) -> None:
        for worker in self.workers:
            await worker.stop()


def result(cost: int, *, success: bool = True) -> AgentResult:
    return AgentResult(output="done", success=success, cost_microdollars=cost, turns=1)


async def test_a_cost_is_committed_once_when_the_operator_dies_between_the_two_writes() -> None:
    rig = Rig()
    uid = rig.task("t")
    first = rig.worker()
    await rig.cycle(first)
    agent = rig.slots.agent(ip(0))
    assert agent.running == [uid]
    agent.finish(uid, result(500))
    await rig.settle()

    def crash(write: Any) -> Exception | None:
        return RuntimeError("operator died") if write.resource == f"{TASKS}/status" else None

    rig.kube.fail = crash
    await rig.cycle(first)  # the commit lands, the result write does not
    assert rig.status(POOLS, "p")["budget"]["spentMicrodollars"] == 500
    assert rig.status(TASKS, "t")["phase"] == "Running"
    await first.stop()

    rig.kube.fail = lambda _: None
    second = rig.worker()  # a new process: same cluster, same slot
    await rig.cycle(second)  # re-attaches and finds the result on the slot
    await rig.cycle(second)  # records it
    assert rig.status(POOLS, "p")["budget"]["spentMicrodollars"] == 500
    task = rig.status(TASKS, "t")
    assert task["phase"] == "Succeeded"
    assert task["costMicrodollars"] == 500
    assert task["result"]["costMicrodollars"] == 500
    assert agent.acknowledged == [uid]
    await rig.stop()


async def test_a_lost_slot_requeues_the_task_and_the_next_attempt_is_counted() -> None:
    rig = Rig(slots=2)
    rig.task("t")
    worker = rig.worker()
    await rig.cycle(worker)
    first = rig.status(TASKS, "t")
    assert first["attempts"] == 1
    lost = int(first["slot"][-1])
    rig.remove_pod(lost)
    await rig.cycle(worker)
    waiting = rig.status(TASKS, "t")
    assert "slot" not in waiting
    assert waiting["attempts"] == 1
    assert rig.condition("t", "Running")["reason"] == "Retrying"
    assert [e["warning"] for e in rig.events("Retrying")] == [True]
    await rig.cycle(worker)
    again = rig.status(TASKS, "t")
    assert again["attempts"] == 2
    assert again["slot"] == f"p-slot-{1 - lost}"
    assert again["startTime"] == first["startTime"]
    await rig.stop()


async def test_the_last_attempt_lost_fails_the_task_with_slot_lost() -> None:
    rig = Rig(slots=1, supervision={"maxTaskAttempts": 1})
    rig.task("t")
    worker = rig.worker()
    await rig.cycle(worker)
    rig.remove_pod(0)
    await rig.cycle(worker)
    task = rig.status(TASKS, "t")
    assert task["phase"] == "Failed"
    assert rig.condition("t", "Failed")["reason"] == "SlotLost"
    assert task["result"]["failure"]["reason"] == "SlotLost"
    assert "1 of 1 attempts used" in rig.events("SlotLost")[0]["message"]
    await rig.stop()


async def test_the_orphan_sweep_cancels_and_counts_a_run_nobody_claims() -> None:
    rig = Rig()
    agent = rig.slots.agent(ip(0))
    agent.hold("ghost", result(300))  # its task was deleted while the operator was away
    worker = rig.worker()
    await rig.cycle(worker)
    await rig.cycle(worker)
    assert agent.cancelled == ["ghost"]
    assert agent.acknowledged == ["ghost"]
    budget = rig.status(POOLS, "p")["budget"]
    assert budget["spentMicrodollars"] == 300
    assert budget["recentCommits"] == ["ghost/0"]
    await rig.stop()


async def test_a_result_recorded_but_not_acknowledged_before_a_crash_is_not_counted_again() -> None:
    rig = Rig()
    uid = rig.task("t")
    first = rig.worker()
    await rig.cycle(first)
    agent = rig.slots.agent(ip(0))
    agent.finish(uid, result(500))
    await rig.settle()
    acknowledge = rig.slots.acknowledge

    async def died(base: str, token: str, uid: str) -> None:
        raise SlotUnreachable("operator died")  # after the result write, before the acknowledgement

    rig.slots.acknowledge = died  # type: ignore[method-assign]
    await rig.cycle(first)
    assert rig.status(TASKS, "t")["phase"] == "Succeeded"
    assert agent.acknowledged == []
    await first.stop()

    rig.slots.acknowledge = acknowledge  # type: ignore[method-assign]
    second = rig.worker()  # a new process finds the finished task's result still on the slot
    await rig.cycle(second)
    await rig.cycle(second)
    assert agent.acknowledged == [uid]
    budget = rig.status(POOLS, "p")["budget"]
    assert budget["spentMicrodollars"] == 500
    assert budget["recentCommits"] == [f"{uid}/1"]
    await rig.stop()


async def test_count_only_pool_status_changes_are_written_at_most_once_per_interval() -> None:
    rig = Rig(slots=0)
    worker = rig.worker()
    await rig.cycle(worker)
    writes = lambda: len(rig.kube.writes_of("patch", f"{POOLS}/status"))  # noqa: E731
    assert writes() == 1
    for name in ("a", "b", "c"):
        rig.task(name)
        rig.clock.advance(0.3)
        await rig.cycle(worker)
    assert writes() == 1  # only counts changed: written one interval after the first change
    rig.clock.advance(0.3)  # 1.2 s after the last write, 0.9 s after the first change
    await rig.cycle(worker)
    assert writes() == 1
    rig.clock.advance(0.2)
    await rig.cycle(worker)
    assert writes() == 2
    assert rig.status(POOLS, "p")["queue"]["pending"] == 3
    rig.set_spec(suspend=True)  # a condition changes: written at once
    await rig.cycle(worker)
    assert writes() == 3
    await rig.stop()


async def test_a_busy_slot_being_removed_is_deleted_when_the_drain_bound_passes() -> None:
    rig = Rig(slots=2)
    rig.task("a")
    rig.task("b")
    worker = rig.worker()
    await rig.cycle(worker)
    on_slot_1 = next(n for n in ("a", "b") if rig.status(TASKS, n)["slot"] == "p-slot-1")
    rig.set_spec(slots=1)
    await rig.cycle(worker)
    drained = rig.kube.writes_of("patch", "pods")
    assert [(w.name, w.body) for w in drained] == [
        ("p-slot-1", {"annotations": {DRAINING_ANNOTATION: "true"}})
    ]
    rig.clock.advance(29)
    await rig.cycle(worker)
    assert rig.kube.writes_of("delete", "pods") == []
    rig.clock.advance(2)
    await rig.cycle(worker)
    assert [w.name for w in rig.kube.writes_of("delete", "pods")] == ["p-slot-1"]
    await rig.cycle(worker)
    assert rig.condition(on_slot_1, "Running")["reason"] == "Retrying"
    await rig.stop()


async def test_a_failing_slot_is_recreated_only_after_its_backoff_which_doubles() -> None:
    rig = Rig(slots=1, pods=0)
    rig.add_pod(0, phase="Failed")
    worker = rig.worker()
    await rig.cycle(worker)
    assert [w.name for w in rig.kube.writes_of("delete", "pods")] == ["p-slot-0"]
    assert rig.kube.writes_of("create", "pods") == []
    rig.clock.advance(0.9)
    await rig.cycle(worker)
    assert rig.kube.writes_of("create", "pods") == []
    rig.clock.advance(0.2)
    await rig.cycle(worker)
    assert [w.name for w in rig.kube.writes_of("create", "pods")] == ["p-slot-0"]
    rig.remove_pod(0)
    rig.add_pod(0, phase="Failed")  # fails again: the next wait is twice as long
    await rig.cycle(worker)
    rig.clock.advance(1.5)
    await rig.cycle(worker)
    assert len(rig.kube.writes_of("create", "pods")) == 1
    rig.clock.advance(0.6)
    await rig.cycle(worker)
    assert len(rig.kube.writes_of("create", "pods")) == 2
    await rig.stop()


async def test_under_resume_slot_the_next_task_on_a_slot_resumes_its_last_session() -> None:
    session = "0b7c5f4e-1111-4222-8333-444455556666"
    rig = Rig(claude={"sessionPolicy": "resumeSlot"})
    first = rig.task("a")
    worker = rig.worker()
    await rig.cycle(worker)
    agent = rig.slots.agent(ip(0))
    assert agent.requests[first].resume_session_id is None
    done = AgentResult(output="ok", success=True, session_id=session, cost_microdollars=1)
    agent.finish(first, done)
    await rig.settle()
    await rig.cycle(worker)
    second = rig.task("b")
    await rig.cycle(worker)
    assert agent.requests[second].resume_session_id == session
    await rig.stop()
