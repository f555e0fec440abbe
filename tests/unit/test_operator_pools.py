"""The operator's pool bookkeeping: an invalid pool is reported, never silently dropped."""

from __future__ import annotations

import asyncio

from claude_pool.controllers.state import ClusterState
from claude_pool.kube.client import POOLS, TASKS
from claude_pool.runtime.announcing import Announcer
from claude_pool.runtime.operator import Operator
from claude_pool.runtime.settings import Settings
from tests.builders import pool_manifest, task_manifest
from tests.fakes import FakeKube, FakeSlots, ManualClock


async def test_an_invalid_pool_gets_a_warning_event_and_its_tasks_say_why() -> None:
    clock = ManualClock()
    kube = FakeKube(ClusterState())
    operator = Operator(Settings(), kube, clock)  # type: ignore[arg-type]  # FakeKube stands in for Kube
    kube.state = operator.state
    slots = FakeSlots()
    operator.slots = slots  # type: ignore[assignment]  # FakeSlots stands in for SlotClient
    operator.announcer = Announcer(kube, slots, clock)  # type: ignore[arg-type]  # the fakes
    invalid = pool_manifest(
        "p", namespace="ns", template={"labels": {"claudepool.io/pool": "other"}}
    )
    kube.add(POOLS, invalid)
    kube.add(TASKS, task_manifest("t", "p", namespace="ns"))
    for _ in range(20):
        await asyncio.sleep(0)
    await operator.announcer.settle()
    assert ("ns", "p") not in operator.workers
    [event] = [e for e in kube.events if e["reason"] == "InvalidPool"]
    assert event["warning"]
    assert "reserved prefix" in event["message"]
    assert event["involved"]["uid"] == "uid-p"
    admitted = kube.get(TASKS, "t")["status"]["conditions"][0]
    assert (admitted["status"], admitted["reason"]) == ("False", "PoolNotFound")
    assert "is invalid" in admitted["message"]
    operator.state.upsert_pool(kube.get(POOLS, "p"))  # the watch again, same version
    await operator.announcer.settle()
    assert len([e for e in kube.events if e["reason"] == "InvalidPool"]) == 1
    await operator.stop()
