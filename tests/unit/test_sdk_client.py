"""The SDK against a fake of its own door (tests/unit/sdkfake.py): manifests, waiting by
watch with bounds, errors, context, scale, drain, output ConfigMap, logs, the sync twin."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from claude_pool.api.claude import TaskOverrides
from claude_pool.api.modes import AutoHints, RoutePreference
from claude_pool.kube.client import ApiError
from claude_pool.kube.streams import Unreachable
from claude_pool.sdk import (
    AsyncClient,
    Client,
    ClusterUnavailable,
    Forbidden,
    InvalidRequest,
    PoolNotFound,
    TaskNotFound,
    WaitTimeout,
)
from claude_pool.sdk.manifests import POOL_LABEL
from tests.builders import pool_manifest
from tests.unit.sdkfake import FakeDoor

NS = "team"
TASKS = "claudetasks"
POOLS = "claudepools"


@pytest.fixture
def door() -> FakeDoor:
    fake = FakeDoor()
    fake.put(POOLS, NS, pool_manifest("demo", slots=2))
    return fake


@pytest.fixture
def client(door: FakeDoor) -> AsyncClient:
    return AsyncClient(door, NS)


def finish(door: FakeDoor, name: str, phase: str = "Succeeded", **result: Any) -> None:
    def change(body: dict[str, Any]) -> None:
        body["status"] = {
            "phase": phase,
            "slot": "demo-slot-0",
            "costMicrodollars": 1200,
            "result": {"output": "hi", "success": phase == "Succeeded",
                       "costMicrodollars": 1200, **result},
        }  # fmt: skip

    door.update(TASKS, NS, name, change)


async def later(action: Any, delay: float = 0.05) -> None:
    await asyncio.sleep(delay)
    action()


async def test_submit_creates_a_labelled_task_with_a_generated_name(
    client: AsyncClient, door: FakeDoor
) -> None:
    config = TaskOverrides(model="opus", max_budget_microdollars=500_000)
    task = await client.submit("demo", "Say hi.", config=config, priority=5, labels={"a": "b"})
    assert task.metadata.name.startswith("demo-")
    stored = door.objects[(TASKS, NS, task.metadata.name)]
    assert stored["spec"] == {
        "poolRef": {"name": "demo"},
        "prompt": "Say hi.",
        "config": {"model": "opus", "maxBudgetMicrodollars": 500_000},
        "priority": 5,
        "cancel": False,
    }
    assert stored["metadata"]["labels"] == {"a": "b", POOL_LABEL: "demo"}


async def test_submit_to_a_missing_pool_fails_before_creating_anything(
    client: AsyncClient, door: FakeDoor
) -> None:
    with pytest.raises(PoolNotFound, match="pool 'nope' not found in namespace 'team'"):
        await client.submit("nope", "x")
    assert door.calls["create"] == 0


async def test_an_empty_prompt_is_refused_by_the_models(client: AsyncClient) -> None:
    with pytest.raises(InvalidRequest, match="prompt"):
        await client.submit("demo", "")


async def test_run_waits_by_watching_not_polling(client: AsyncClient, door: FakeDoor) -> None:
    seen: list[str] = []

    async def operator() -> None:
        await asyncio.sleep(0.05)
        name = next(k[2] for k in door.objects if k[0] == TASKS)
        door.update(TASKS, NS, name, lambda b: b.update(status={"phase": "Running"}))
        await asyncio.sleep(0.05)
        finish(door, name)

    runner = asyncio.create_task(operator())
    task = await client.run("demo", "Say hi.", timeout=5, on_update=lambda t: seen.append(
        str(t.status.phase)))  # fmt: skip
    await runner
    assert task.status.phase == "Succeeded"
    assert task.status.result is not None and task.status.result.output == "hi"
    assert seen[-2:] == ["Running", "Succeeded"]
    assert door.calls["watch"] == 1
    assert door.calls["get"] == 2  # the pool check and the one read before watching


async def test_wait_ends_at_its_bound_with_wait_timeout(client: AsyncClient) -> None:
    task = await client.submit("demo", "x")
    with pytest.raises(WaitTimeout, match=r"not done after 0\.2 s"):
        await client.wait(task.metadata.name, timeout=0.2)


async def test_a_task_deleted_while_waiting_ends_the_wait(
    client: AsyncClient, door: FakeDoor
) -> None:
    task = await client.submit("demo", "x")
    name = task.metadata.name
    waiter = asyncio.create_task(client.wait(name, timeout=5))
    await later(lambda: door.remove(TASKS, NS, name))
    with pytest.raises(TaskNotFound):
        await waiter


async def test_a_closed_or_expired_watch_is_read_again_and_resumed(
    client: AsyncClient, door: FakeDoor
) -> None:
    task = await client.submit("demo", "x")
    name = task.metadata.name
    door.gone_once = True
    waiter = asyncio.create_task(client.wait(name, timeout=5))
    await asyncio.sleep(0.05)
    door.end_watches()
    await asyncio.sleep(0.05)
    finish(door, name)
    done = await waiter
    assert done.status.phase == "Succeeded"
    assert door.calls["watch"] == 3  # Gone, closed by the server, then the one that saw it


async def test_result_is_none_until_finished_and_output_reads_the_configmap(
    client: AsyncClient, door: FakeDoor
) -> None:
    task = await client.submit("demo", "x", name="long")
    assert await client.result("long") is None
    assert await client.output("long") is None
    finish(door, task.metadata.name, outputTruncated=True, outputRef="long-output", outputSize=9)
    door.configmaps[(NS, "long-output")] = {"output": "hi there!"}
    result = await client.result("long")
    assert result is not None and result.output == "hi"
    assert await client.output("long") == "hi there!"


async def test_cancel_sets_spec_cancel(client: AsyncClient, door: FakeDoor) -> None:
    await client.submit("demo", "x", name="t1")
    await client.cancel("t1")
    assert door.objects[(TASKS, NS, "t1")]["spec"]["cancel"] is True
    with pytest.raises(TaskNotFound, match="task 'zz' not found"):
        await client.cancel("zz")


async def test_composite_verbs_create_the_matching_modes(
    client: AsyncClient, door: FakeDoor
) -> None:
    fan = await client.fan_out("demo", ["a", "b"], max_parallel=1)
    chain = await client.submit_chain(
        "demo",
        [{"name": "plan", "prompt": "Plan."}, {"name": "do", "prompt": "Do {previous_output}."}],
    )
    hints = AutoHints(prefer=RoutePreference.CHAIN, max_chain_steps=3)
    auto = await client.auto("demo", "Build it.", hints=hints)
    spec = {n: door.objects[(TASKS, NS, t.metadata.name)]["spec"]
            for n, t in (("fan", fan), ("chain", chain), ("auto", auto))}  # fmt: skip
    assert spec["fan"]["fanOut"] == {"prompts": ["a", "b"], "maxParallel": 1, "failFast": False}
    assert [s["name"] for s in spec["chain"]["chain"]["steps"]] == ["plan", "do"]
    assert spec["auto"]["auto"] == {
        "prompt": "Build it.",
        "hints": {"prefer": "chain", "maxChainSteps": 3},
    }
    for body in spec.values():
        assert "prompt" not in body
        assert "review" not in body


async def test_composite_verbs_take_a_review_gate(client: AsyncClient, door: FakeDoor) -> None:
    fan = await client.fan_out("demo", ["a"], review=True, max_rejections=2)
    chain = await client.submit_chain("demo", [{"name": "a", "prompt": "x"}], review=True)
    auto = await client.auto("demo", "Build it.", review=True, max_rejections=5)
    gates = [
        door.objects[(TASKS, NS, t.metadata.name)]["spec"]["review"] for t in (fan, chain, auto)
    ]
    assert [(g["required"], g["maxRejections"]) for g in gates] == [(True, 2), (True, 3), (True, 5)]
    with pytest.raises(InvalidRequest, match="only to a task with review"):
        await client.fan_out("demo", ["a"], max_rejections=2)


async def test_a_chain_with_duplicate_step_names_is_refused(client: AsyncClient) -> None:
    steps = [{"name": "a", "prompt": "x"}, {"name": "a", "prompt": "y"}]
    with pytest.raises(InvalidRequest, match="unique"):
        await client.submit_chain("demo", steps)


async def test_context_entries_are_set_listed_and_deleted(
    client: AsyncClient, door: FakeDoor
) -> None:
    assert await client.context("demo") == {}
    await client.set_context("demo", "lang", "python")
    await client.set_context("demo", "style", "short")
    assert await client.context("demo") == {"lang": "python", "style": "short"}
    assert await client.get_context("demo", "lang") == "python"
    assert await client.delete_context("demo", "lang") == "python"
    assert await client.delete_context("demo", "lang") is None
    assert door.objects[(POOLS, NS, "demo")]["spec"]["context"] == {"style": "short"}


async def test_scale_uses_the_scale_subresource(client: AsyncClient, door: FakeDoor) -> None:
    pool = await client.scale("demo", 5)
    assert pool.spec.slots == 5
    assert door.calls["scale"] == 1
    with pytest.raises(PoolNotFound):
        await client.scale("nope", 1)


async def test_drain_suspends_then_waits_for_drained(client: AsyncClient, door: FakeDoor) -> None:
    def drained(body: dict[str, Any]) -> None:
        body["status"] = {"conditions": [{
            "type": "Suspended", "status": "True", "reason": "Drained", "message": "",
            "lastTransitionTime": "2026-12-01T00:00:00Z",
        }]}  # fmt: skip

    waiter = asyncio.create_task(client.drain("demo", timeout=5))
    await later(lambda: door.update(POOLS, NS, "demo", drained))
    pool = await waiter
    assert pool.spec.suspend is True
    resumed = await client.resume("demo")
    assert resumed.spec.suspend is False


async def test_status_counts_the_pools_tasks_by_phase(client: AsyncClient, door: FakeDoor) -> None:
    await client.submit("demo", "x", name="a")
    await client.submit("demo", "x", name="b")
    finish(door, "a")
    finish(door, "b", phase="Failed")
    door.put(POOLS, NS, pool_manifest("other"))
    summaries = {s.name: s for s in await client.status()}
    assert summaries["demo"].tasks == {"Failed": 1, "Succeeded": 1}
    assert summaries["other"].tasks == {}
    assert summaries["demo"].slots == 2


async def test_logs_are_the_tasks_lines_of_its_slot(client: AsyncClient, door: FakeDoor) -> None:
    await client.submit("demo", "x", name="t")
    door.update(TASKS, NS, "t", lambda b: b.update(status={"phase": "Running", "slot": "s0"}))
    door.logs[(NS, "s0")] = [
        "task uid-other: turn 1: tool Bash",
        "task uid-t: turn 1: tool Read",
        "task uid-t: succeeded: 1 turns, cost $0.001",
        "task uid-t: after the end",
    ]
    lines = [line async for line in client.logs("t", follow=True, timeout=5)]
    assert lines == ["task uid-t: turn 1: tool Read", "task uid-t: succeeded: 1 turns, cost $0.001"]


async def test_following_logs_ends_at_its_bound(client: AsyncClient, door: FakeDoor) -> None:
    await client.submit("demo", "x", name="t")
    door.update(TASKS, NS, "t", lambda b: b.update(status={"phase": "Running", "slot": "s0"}))
    door.logs[(NS, "s0")] = ["task uid-t: turn 1: tool Read"]
    door.log_hangs = True
    seen: list[str] = []

    async def follow() -> None:
        async for line in client.logs("t", follow=True, timeout=0.3):
            seen.append(line)

    with pytest.raises(WaitTimeout, match="logs of task t still open"):
        await follow()
    assert seen == ["task uid-t: turn 1: tool Read"]


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ApiError(422, "spec.prompt: Required value"), InvalidRequest),
        (ApiError(403, "forbidden: User cannot create"), Forbidden),
        (Unreachable("connection refused"), ClusterUnavailable),
    ],
)
async def test_api_errors_become_sdk_errors(
    client: AsyncClient, door: FakeDoor, error: ApiError, expected: type[Exception]
) -> None:
    door.fail_next["create"] = error
    with pytest.raises(expected):
        await client.submit("demo", "x")


def test_the_sync_client_runs_the_same_verbs(door: FakeDoor) -> None:
    with Client(AsyncClient(door, NS)) as client:
        task = client.submit("demo", "x", name="s")
        assert client.task("s").metadata.name == task.metadata.name
        assert [t.metadata.name for t in client.tasks("demo")] == ["s"]
        assert client.set_context("demo", "k", "v") == {"k": "v"}
        with pytest.raises(WaitTimeout):
            client.wait("s", timeout=0.1)
        door.update(TASKS, NS, "s", lambda b: b.update(status={"phase": "Running", "slot": "s0"}))
        door.logs[(NS, "s0")] = ["task uid-s: turn 1: hi", "task uid-x: other"]
        assert list(client.logs("s")) == ["task uid-s: turn 1: hi"]
    assert door.closed
