"""The status writer: nothing unchanged is written, a forced write survives a conflict."""

from __future__ import annotations

from claude_pool.controllers.state import ClusterState
from claude_pool.kube.client import POOLS
from claude_pool.runtime.runs import RunTable
from claude_pool.runtime.statuswriting import StatusWriter
from tests.builders import pool_manifest
from tests.fakes import FakeKube, FakeSlots, ManualClock, slot_pod


def rig() -> tuple[FakeKube, StatusWriter, list[int]]:
    state = ClusterState()
    kube = FakeKube(state)
    kube.add(POOLS, pool_manifest("p", namespace="ns"))
    wakes: list[int] = []
    writer = StatusWriter(
        ("ns", "p"),
        state,
        kube,  # type: ignore[arg-type]  # FakeKube stands in for Kube
        ManualClock(),
        wake=lambda: wakes.append(1),
        min_interval=1.0,
    )
    return kube, writer, wakes


def pool_writes(kube: FakeKube) -> int:
    return len(kube.writes_of("patch", f"{POOLS}/status"))


async def test_the_same_status_is_written_once() -> None:
    kube, writer, _ = rig()
    await writer.write_pool({"replicas": 1}, force=False)
    await writer.write_pool({"replicas": 1}, force=False)
    assert pool_writes(kube) == 1


async def test_a_forced_write_that_conflicts_reads_the_version_again_and_lands() -> None:
    kube, writer, _ = rig()
    await writer.write_pool({"replicas": 1}, force=False)
    await kube.patch_status(POOLS, "ns", "p", {"other": "writer"})  # someone else wrote
    await writer.write_pool({"budget": {"spentMicrodollars": 5}}, force=True)
    assert kube.get(POOLS, "p")["status"]["budget"] == {"spentMicrodollars": 5}


async def test_an_unforced_write_that_conflicts_waits_for_the_next_cycle() -> None:
    kube, writer, wakes = rig()
    await writer.write_pool({"replicas": 1}, force=False)
    await kube.patch_status(POOLS, "ns", "p", {"other": "writer"})
    await writer.write_pool({"replicas": 2, "observedGeneration": 2}, force=False)
    assert kube.get(POOLS, "p")["status"]["replicas"] == 1
    assert wakes == [1]  # that cycle comes at once, not at the next resync
    await writer.write_pool({"replicas": 2, "observedGeneration": 2}, force=False)
    assert kube.get(POOLS, "p")["status"]["replicas"] == 2


async def test_a_debounced_write_schedules_a_wake_up() -> None:
    kube, writer, wakes = rig()
    await writer.write_pool({"replicas": 1}, force=False)
    await writer.write_pool({"replicas": 2}, force=False)
    assert pool_writes(kube) == 1
    assert writer._rewake is not None  # the worker is woken when the write falls due
    writer.stop()
    assert writer._rewake is None and wakes == []


def test_progress_is_written_at_most_once_per_interval() -> None:
    clock = ManualClock()
    runs = RunTable(
        FakeSlots(),  # type: ignore[arg-type]  # FakeSlots stands in for SlotClient
        clock,
        wake=lambda: None,
        unreachable_after=30,
        progress_interval=10,
    )
    run = runs.add("t", slot_pod("p-slot-0", "u"), 1, 0)
    assert not runs.progress_due(run)  # a short run writes no progress
    clock.advance(10)
    assert runs.progress_due(run)
    clock.advance(5)
    assert not runs.progress_due(run)
    assert runs.busy_slots() == {"p-slot-0": "t"}
