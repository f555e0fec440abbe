"""The agent's HTTP API in-process, with a scripted runner instead of the CLI.

Covers authentication (constant-time compare, 401 before anything runs), validation (400
naming the field), idempotent start, 409 while busy, cancel, acknowledge and the SSE stream.
The real CLI is exercised by tests/integration/test_agent.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from claude_pool.agent.runner import StopSignal
from claude_pool.agent.server import build_app
from claude_pool.agent.slot import Slot
from claude_pool.agent.store import TaskStore
from claude_pool.api.agent import (
    AgentResult,
    Failure,
    ProgressEvent,
    ProgressKind,
    TaskRequest,
)

TOKEN = "unit-test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class ScriptedRunner:
    """Stands in for runner.Runner: reports a tool use, then waits to be released or stopped."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.release = asyncio.Event()

    async def run(
        self,
        uid: str,
        request: TaskRequest,
        workdir: Path,
        stop: StopSignal,
        on_progress: Callable[[ProgressEvent], None],
    ) -> AgentResult:
        self.calls.append(uid)
        on_progress(ProgressEvent(seq=0, kind=ProgressKind.STARTED))
        on_progress(ProgressEvent(seq=0, kind=ProgressKind.TOOL_USE, turns=1, tool="Write"))
        waiters = [asyncio.ensure_future(self.release.wait()), asyncio.ensure_future(stop.wait())]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        if stop.requested:
            failure = Failure(reason=stop.reason, message=stop.message, exit_code=143)
            return AgentResult(success=False, failure=failure)
        return AgentResult(output=f"done: {request.prompt}", success=True, cost_microdollars=600)


@pytest.fixture
async def agent(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], ScriptedRunner]]:
    runner = ScriptedRunner()
    slot = Slot(
        TaskStore(tmp_path / "state"),
        runner,  # type: ignore[arg-type]  # duck-typed stand-in for runner.Runner
        clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
        log=lambda message: None,
        agent_version="test",
        cli_version="2.1.197",
    )
    app = build_app(slot, TOKEN, tmp_path / "work", log=lambda message: None)
    async with TestClient(TestServer(app)) as client:
        yield client, runner


async def wait_state(client: TestClient[Any, Any], uid: str, state: str) -> dict[str, Any]:
    for _ in range(200):
        response = await client.get(f"/v1/tasks/{uid}", headers=AUTH)
        body: dict[str, Any] = await response.json()
        if body.get("state") == state:
            return body
        await asyncio.sleep(0.01)
    raise AssertionError(f"task {uid} never reached {state}")


async def test_health_needs_no_token_and_says_only_ok(agent: Any) -> None:
    client, _ = agent
    response = await client.get("/healthz")
    assert (response.status, await response.text()) == (200, "ok")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-0123456789abcdef"},
        {"Authorization": f"bearer {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": "Bearer é"},
    ],
)
async def test_a_missing_or_wrong_token_is_refused_and_runs_nothing(
    agent: Any, headers: dict[str, str]
) -> None:
    client, runner = agent
    for method, path in [
        ("PUT", "/v1/tasks/t1"),
        ("GET", "/v1/slot"),
        ("GET", "/v1/tasks/t1"),
        ("GET", "/v1/tasks/t1/events"),
        ("POST", "/v1/tasks/t1/cancel"),
        ("DELETE", "/v1/tasks/t1"),
        ("GET", "/no/such/path"),
    ]:
        response = await client.request(method, path, headers=headers, json={"prompt": "hi"})
        assert response.status == 401, (method, path)
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert runner.calls == []


async def test_a_task_runs_and_its_result_is_served_until_acknowledged(agent: Any) -> None:
    client, runner = agent
    response = await client.put("/v1/tasks/t1", headers=AUTH, json={"prompt": "hi"})
    assert response.status == 201
    assert (await response.json())["state"] == "running"
    slot = await (await client.get("/v1/slot", headers=AUTH)).json()
    assert slot == {
        "state": "busy",
        "currentTask": "t1",
        "tasks": ["t1"],
        "agentVersion": "test",
        "cliVersion": "2.1.197",
    }
    runner.release.set()
    body = await wait_state(client, "t1", "succeeded")
    assert body["result"]["output"] == "done: hi"
    assert body["result"]["costMicrodollars"] == 600
    assert (await client.delete("/v1/tasks/t1", headers=AUTH)).status == 204
    assert (await client.get("/v1/tasks/t1", headers=AUTH)).status == 404
    assert (await client.delete("/v1/tasks/t1", headers=AUTH)).status == 404


async def test_the_same_task_started_twice_runs_once(agent: Any) -> None:
    client, runner = agent
    first, second = await asyncio.gather(
        client.put("/v1/tasks/t1", headers=AUTH, json={"prompt": "hi"}),
        client.put("/v1/tasks/t1", headers=AUTH, json={"prompt": "hi"}),
    )
    assert sorted([first.status, second.status]) == [200, 201]
    runner.release.set()
    await wait_state(client, "t1", "succeeded")
    again = await client.put("/v1/tasks/t1", headers=AUTH, json={"prompt": "hi"})
    assert again.status == 200
    assert (await again.json())["state"] == "succeeded"
    assert runner.calls == ["t1"]


async def test_another_task_while_busy_is_a_conflict(agent: Any) -> None:
    client, runner = agent
    await client.put("/v1/tasks/t1", headers=AUTH, json={"prompt": "hi"})
    response = await client.put("/v1/tasks/t2", headers=AUTH, json={"prompt": "hi"})
    assert response.status == 409
    assert "t1" in (await response.json())["message"]
    assert (await client.delete("/v1/tasks/t1", headers=AUTH)).status == 409
    runner.release.set()
    await wait_state(client, "t1", "succeeded")
    assert (await client.put("/v1/tasks/t2", headers=AUTH, json={"prompt": "x"})).status == 201
    assert runner.calls == ["t1", "t2"]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"{not json", "Invalid JSON"),
        (b"[]", "body"),
        (b"{}", "prompt"),
        (b'{"prompt": "x", "maxTurns": "many"}', "maxTurns"),
        (b'{"prompt": "x", "colour": "blue"}', "colour"),
        (b'{"prompt": "x", "workdir": "../up"}', "workdir"),
        (b'{"prompt": "x", "context": [{"key": "k"}]}', "context.0.value"),
    ],
)
async def test_a_malformed_body_is_a_400_naming_the_field(
    agent: Any, body: bytes, named: str
) -> None:
    client, runner = agent
    response = await client.put("/v1/tasks/t1", headers=AUTH, data=body)
    assert response.status == 400
    assert named in (await response.json())["message"]
    assert runner.calls == []


async def test_a_workdir_escaping_through_a_symlink_is_refused(agent: Any, tmp_path: Path) -> None:
    client, runner = agent
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "link").symlink_to(tmp_path)
    body = {"prompt": "x", "workdir": "link/state"}
    response = await client.put("/v1/tasks/t1", headers=AUTH, json=body)
    assert response.status == 400
    assert "workdir" in (await response.json())["message"]
    assert runner.calls == []


async def test_an_invalid_uid_is_a_400(agent: Any) -> None:
    client, _ = agent
    response = await client.put("/v1/tasks/.hidden", headers=AUTH, json={"prompt": "x"})
    assert response.status == 400


async def test_cancel_stops_the_task_with_reason_cancelled(agent: Any) -> None:
    client, _ = agent
    assert (await client.post("/v1/tasks/t1/cancel", headers=AUTH)).status == 404
    await client.put("/v1/tasks/t1", headers=AUTH, json={"prompt": "hi"})
    assert (await client.post("/v1/tasks/t1/cancel", headers=AUTH)).status == 202
    body = await wait_state(client, "t1", "failed")
    assert body["result"]["failure"]["reason"] == "Cancelled"
    assert (await client.post("/v1/tasks/t1/cancel", headers=AUTH)).status == 200


async def test_the_event_stream_sends_progress_then_the_result(agent: Any) -> None:
    client, runner = agent
    await client.put("/v1/tasks/t1", headers=AUTH, json={"prompt": "hi"})
    response = await client.get("/v1/tasks/t1/events", headers=AUTH)
    assert response.headers["Content-Type"] == "text/event-stream"
    events: list[tuple[str, dict[str, Any]]] = []
    kind = ""
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: "):
            events.append((kind, json.loads(line.removeprefix("data: "))))
            if kind == "progress" and events[-1][1]["kind"] == "toolUse":
                runner.release.set()
    assert [(k, e.get("kind") or e.get("state")) for k, e in events] == [
        ("progress", "started"),
        ("progress", "toolUse"),
        ("result", "succeeded"),
    ]
    assert [e["seq"] for k, e in events if k == "progress"] == [1, 2]
    resumed = await client.get("/v1/tasks/t1/events", headers={**AUTH, "Last-Event-ID": "1"})
    text = await resumed.text()
    assert "event: result" in text
    assert "event: progress" not in text  # finished: only the result is left
    assert (await client.get("/v1/tasks/nope/events", headers=AUTH)).status == 404
