"""The slot agent as a real process (`python -m claude_pool agent`) running the real Claude CLI
against the fake Anthropic API (in-process, on this test's event loop).

Each test starts its own agent on 127.0.0.1 with port 0 (the agent prints the bound port)
and its own slot volume, with CLI retries at 0 so that failures are quick. Every wait is
bounded. Each CLI run costs about one CPU-second.

The contract subset (`@CONTRACT`: health and auth, a real CLI run, tools writing in the
slot, cancel, SIGTERM and SIGKILL, a result kept across a restart) runs twice: against the
agent as a host process and against the slot image in a container with the slot pod's
settings (`tests/agentdriver.py`; marker `container`, skipped with the reason when no
engine or no built images are there: `tests/containers.py`).
"""

from __future__ import annotations

import asyncio
import functools
import json
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from claude_pool.api.agent import CliPermissionMode
from claude_pool.api.pools import ClaudePool
from claude_pool.devenv.fakeapi import FakeAnthropic, RecordedRequest
from claude_pool.workflows.resolving import resolve_request
from tests.agentdriver import (
    API_KEY,
    HOST,
    RUN_BOUND,
    TOKEN,
    Agent,
    Launch,
    kill_cli_processes,
    processes_under,
    start_agent,
    start_agent_container,
)
from tests.helpers import eventually_async

pytestmark = [pytest.mark.cli, pytest.mark.timeout(120)]

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
CONTRACT = pytest.mark.parametrize(
    "launch", ["process", pytest.param("container", marks=pytest.mark.container)], indirect=True
)
"""The agent's contract: these tests also run against the slot image in a container."""


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic.start() as server:
        yield server


@pytest.fixture
def launch(request: pytest.FixtureRequest) -> Launch:
    """How this test starts agents: a host process, or (parametrized) the slot image."""
    if getattr(request, "param", "process") == "process":
        return start_agent
    images = request.getfixturevalue("container_images")
    return functools.partial(start_agent_container, images.engine, images.slot)


@pytest.fixture
async def agent(fake: FakeAnthropic, tmp_path: Path, launch: Launch) -> AsyncIterator[Agent]:
    running = await launch(fake.base_url, tmp_path / "slot")
    yield running
    await running.stop()
    kill_cli_processes(tmp_path)


def messages(fake: FakeAnthropic) -> list[RecordedRequest]:
    return [r for r in fake.requests if r.kind == "messages"]


def failure_of(body: dict[str, Any]) -> dict[str, Any]:
    assert body["state"] == "failed", body
    failure: dict[str, Any] = body["result"]["failure"]
    return failure


async def until_the_fake_is_asked(fake: FakeAnthropic) -> None:
    async def asked() -> bool:
        return bool(messages(fake))

    await eventually_async(asked, timeout=RUN_BOUND, interval=0.05, what="a Messages request")


# -- success, cost, system prompt ---------------------------------------------------------


@CONTRACT
async def test_a_task_succeeds_with_the_exact_cost_the_cli_reports(
    agent: Agent, fake: FakeAnthropic
) -> None:
    body = await agent.run(
        "t-success",
        prompt="hello [[fake in=12345 out=678]]",
        model="sonnet",
        appendSystemPrompt="Answer briefly.",
        context=[{"key": "repo", "value": "acme/api"}, {"key": "branch", "value": "main"}],
    )
    result = body["result"]
    assert body["state"] == "succeeded", body
    assert result["success"]
    assert result["output"] == "fake answer: hello [[fake in=12345 out=678]]"
    # sonnet: 12345 x $3/M + 678 x $15/M = $0.047205 exactly
    assert result["costMicrodollars"] == 47_205
    assert result["usage"] == {
        "inputTokens": 12345,
        "outputTokens": 678,
        "cacheReadInputTokens": 0,
        "cacheCreationInputTokens": 0,
    }
    assert result["turns"] == 1
    assert result["model"] == "claude-sonnet-5"
    assert result["sessionId"]
    assert result["durationMs"] > 0
    (request,) = messages(fake)
    assert request.body["model"] == "claude-sonnet-5"
    assert request.body["system"][-1]["text"].endswith(
        "\n\nAnswer briefly.\n\n## Shared Context\n- **repo**: acme/api\n- **branch**: main"
    )
    assert "task t-success: started" in agent.output
    assert "task t-success: succeeded: 1 turn, cost $0.047205 (47205 µ$)" in agent.output


async def test_a_200_kb_prompt_with_leading_dashes_reaches_the_model_unchanged(
    agent: Agent, fake: FakeAnthropic
) -> None:
    prompt = "--help -p\n--output-format text\n" + "line of a long prompt\n" * 9500
    assert len(prompt.encode()) > 200_000
    body = await agent.run("t-big", prompt=prompt, model="sonnet")
    assert body["state"] == "succeeded", body
    assert body["result"]["output"] == "fake answer: " + prompt
    (request,) = messages(fake)
    texts = [b["text"] for b in request.body["messages"][0]["content"] if b["type"] == "text"]
    assert texts[-1] == prompt


async def test_the_api_key_and_the_token_never_appear_in_results_or_logs(
    agent: Agent, fake: FakeAnthropic
) -> None:
    body = await agent.run("t-secret", prompt=f"print {API_KEY} and {TOKEN}", model="sonnet")
    assert body["result"]["output"] == "fake answer: print [REDACTED] and [REDACTED]"
    stored = (agent.volume / "state" / "tasks" / "t-secret.json").read_text()
    await agent.stop()
    for text in (json.dumps(body), stored, agent.output):
        assert API_KEY not in text
        assert TOKEN not in text
    assert "[REDACTED]" in agent.output  # the progress line with the model's text


# -- failures ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (400, "InvalidRequest"),
        (401, "Authentication"),
        (403, "Authentication"),
        (404, "ModelNotFound"),
        (429, "RateLimited"),
        (500, "ServerError"),
        (529, "Overloaded"),
    ],
)
async def test_each_api_error_class_gives_its_failure_reason_quickly(
    agent: Agent, status: int, reason: str
) -> None:
    started = time.monotonic()
    body = await agent.run(f"t-{status}", prompt=f"hi [[fake status={status}]]", model="sonnet")
    failure = failure_of(body)
    assert failure["reason"] == reason
    assert failure["exitCode"] == 1
    assert str(status) in failure["message"] or reason == "ModelNotFound"
    assert time.monotonic() - started < 30
    assert f"task t-{status}: failed: {reason}" in agent.output


async def test_an_unreachable_api_is_a_connection_error(
    fake: FakeAnthropic, tmp_path: Path
) -> None:
    closed = await asyncio.start_server(lambda r, w: None, HOST, 0)
    port = closed.sockets[0].getsockname()[1]
    closed.close()
    await closed.wait_closed()
    agent = await start_agent(f"http://{HOST}:{port}", tmp_path / "slot")
    try:
        body = await agent.run("t-conn", prompt="hi", model="sonnet")
    finally:
        await agent.stop()
    assert failure_of(body)["reason"] == "ConnectionError"


async def test_api_retries_are_reported_and_a_later_success_counts(
    fake: FakeAnthropic, tmp_path: Path
) -> None:
    agent = await start_agent(fake.base_url, tmp_path / "slot", cli_retries="1")
    try:
        status, _ = await agent.start_task(
            "t-retry", prompt="hi [[fake status=500 fail=1]]", model="sonnet"
        )
        assert status == 201
        events = await agent.events("t-retry")
    finally:
        await agent.stop()
    retries = [e for k, e in events if k == "progress" and e["kind"] == "retry"]
    assert [(e["attempt"], e["errorStatus"]) for e in retries] == [(1, 500)]
    kind, final = events[-1]
    assert kind == "result"
    assert final["state"] == "succeeded"
    assert len(messages(fake)) == 2
    assert "task t-retry: API retry 1 (status 500" in agent.output


async def test_a_task_over_its_budget_fails_with_budget_exceeded(agent: Agent) -> None:
    body = await agent.run(
        "t-budget",
        prompt="loop [[fake tools=loop in=100 out=60000]]",
        model="sonnet",
        maxBudgetMicrodollars=2_000_000,
    )
    failure = failure_of(body)
    assert failure["reason"] == "BudgetExceeded"
    assert "budget" in failure["message"].lower()
    # three calls at $0.9003 each: the CLI stops after the call that crosses $2
    assert body["result"]["costMicrodollars"] == 2_700_900


async def test_a_task_over_its_turns_fails_with_max_turns(
    agent: Agent, fake: FakeAnthropic
) -> None:
    body = await agent.run("t-turns", prompt="loop [[fake tools=loop]]", model="sonnet", maxTurns=2)
    assert failure_of(body)["reason"] == "MaxTurns"
    assert len(messages(fake)) == 2


# -- tools, structured output, resume -------------------------------------------------------


@CONTRACT
async def test_a_tool_sequence_writes_and_edits_a_real_file_in_the_task_workdir(
    agent: Agent, fake: FakeAnthropic
) -> None:
    status, _ = await agent.start_task(
        "t-tools",
        prompt="work [[fake tools=write:edit:bash]]",
        model="sonnet",
        permissionMode="bypassPermissions",  # as root (host): the agent adds IS_SANDBOX=1
        workdir="repos/acme",
    )
    assert status == 201
    events = await agent.events("t-tools")
    workdir = agent.volume / "work" / "repos" / "acme"
    assert (
        workdir / "fake_written.txt"
    ).read_text() == "written by fake via Write tool\nline2 EDITED\n"
    assert (workdir / "fake_bash.txt").read_text() == "bash-ran\n"
    tools = [e["tool"] for k, e in events if k == "progress" and e["kind"] == "toolUse"]
    assert tools == ["Write", "Edit", "Bash"]
    kind, final = events[-1]
    assert (kind, final["state"]) == ("result", "succeeded")
    assert final["result"]["turns"] == 4
    assert final["result"]["permissionDenials"] == []
    seen = agent.mounted_at / "work" / "repos" / "acme"
    assert f"Primary working directory: {seen}" in messages(fake)[0].body["system"][-1]["text"]
    assert "task t-tools: turn 1: tool Write" in agent.output


async def test_a_json_schema_task_returns_the_structured_output(agent: Agent) -> None:
    body = await agent.run(
        "t-schema", prompt='answer [[fake structured={"n":42}]]', model="sonnet", jsonSchema=SCHEMA
    )
    assert body["state"] == "succeeded", body
    assert body["result"]["structuredOutput"] == {"n": 42}


async def test_resuming_a_session_on_the_same_slot_sends_the_earlier_conversation(
    agent: Agent, fake: FakeAnthropic
) -> None:
    first = await agent.run("t-first", prompt="first prompt", model="sonnet", workdir="w")
    session = first["result"]["sessionId"]
    fake.clear_requests()
    second = await agent.run(
        "t-second", prompt="second prompt", model="sonnet", workdir="w", resumeSessionId=session
    )
    assert second["state"] == "succeeded", second
    assert second["result"]["sessionId"] == session
    (request,) = messages(fake)
    sent = json.dumps(request.body["messages"])
    assert "first prompt" in sent
    assert "fake answer: first prompt" in sent
    assert "second prompt" in sent


MCP_PROBE = """
import json, sys
for line in sys.stdin:
    msg = json.loads(line)
    if "id" not in msg:
        continue
    if msg.get("method") == "initialize":
        result = {"protocolVersion": msg["params"]["protocolVersion"],
                  "capabilities": {"tools": {}}, "serverInfo": {"name": "probe", "version": "1"}}
    elif msg.get("method") == "tools/list":
        result = {"tools": [{"name": "ping", "description": "pong",
                             "inputSchema": {"type": "object", "properties": {}}}]}
    else:
        reply = {"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32601, "message": "no"}}
        print(json.dumps(reply), flush=True)
        continue
    print(json.dumps({"jsonrpc": "2.0", "id": msg["id"], "result": result}), flush=True)
"""


async def test_only_the_tasks_mcp_servers_are_loaded(
    agent: Agent, fake: FakeAnthropic, tmp_path: Path
) -> None:
    probe = tmp_path / "mcp_probe.py"
    probe.write_text(MCP_PROBE)
    server = {"command": sys.executable, "args": [str(probe)]}
    workdir = agent.volume / "work" / "mcp"
    workdir.mkdir(parents=True)
    # a .mcp.json left in the working directory must be ignored (--strict-mcp-config)
    (workdir / ".mcp.json").write_text(json.dumps({"mcpServers": {"stray": server}}))
    body = await agent.run(
        "t-mcp", prompt="hi", model="sonnet", workdir="mcp", mcpServers={"probe": server}
    )
    assert body["state"] == "succeeded", body
    sent = json.dumps(messages(fake)[0].body)
    assert "mcp__probe__ping" in sent
    assert "mcp__stray__" not in sent


# -- stopping: cancel, timeout, agent restarts ----------------------------------------------


@CONTRACT
async def test_cancelling_a_running_task_stops_the_cli_and_reports_cancelled(
    agent: Agent, fake: FakeAnthropic
) -> None:
    status, _ = await agent.start_task("t-cancel", prompt="hi [[fake stall=60]]", model="sonnet")
    assert status == 201
    await until_the_fake_is_asked(fake)
    assert agent.cli_pids()
    started = time.monotonic()
    status, body = await agent.call("POST", "/v1/tasks/t-cancel/cancel")
    assert (status, body["state"]) == (202, "running")
    body = await agent.finished("t-cancel", timeout=15)
    assert time.monotonic() - started < 10
    assert failure_of(body)["reason"] == "Cancelled"
    assert agent.cli_pids() == []


async def test_a_task_past_its_timeout_is_stopped_and_reports_timeout(agent: Agent) -> None:
    started = time.monotonic()
    body = await agent.run("t-timeout", prompt="hi [[fake stall=60]]", timeoutSeconds=3)
    assert failure_of(body)["reason"] == "Timeout"
    assert 3 <= time.monotonic() - started < 20
    assert agent.cli_pids() == []


@CONTRACT
async def test_an_agent_killed_mid_task_reports_it_interrupted_after_a_restart(
    fake: FakeAnthropic, tmp_path: Path, launch: Launch
) -> None:
    volume = tmp_path / "slot"
    first = await launch(fake.base_url, volume)
    try:
        status, _ = await first.start_task("t-killed", prompt="hi [[fake stall=60]]")
        assert status == 201
        await until_the_fake_is_asked(fake)
        assert await first.stop(signal.SIGKILL) == -signal.SIGKILL
    finally:
        kill_cli_processes(volume)  # the orphaned CLI (a pod restart would take it too)
    second = await launch(fake.base_url, volume)
    try:
        status, body = await second.task("t-killed")
        assert status == 200
        assert failure_of(body)["reason"] == "Interrupted"
        assert "task t-killed: was running when the agent stopped" in second.output
        _, slot = await second.call("GET", "/v1/slot")
        assert (slot["state"], slot["tasks"]) == ("idle", ["t-killed"])
    finally:
        await second.stop()


@CONTRACT
async def test_a_result_survives_an_agent_restart_until_acknowledged(
    fake: FakeAnthropic, tmp_path: Path, launch: Launch
) -> None:
    volume = tmp_path / "slot"
    first = await launch(fake.base_url, volume)
    try:
        done = await first.run("t-kept", prompt="keep me", model="sonnet")
    finally:
        assert await first.stop() == 0
    second = await launch(fake.base_url, volume)
    try:
        status, body = await second.task("t-kept")
        assert (status, body) == (200, done)
        status, again = await second.start_task("t-kept", prompt="keep me", model="sonnet")
        assert (status, again) == (200, done)
        assert (await second.call("DELETE", "/v1/tasks/t-kept"))[0] == 204
        assert (await second.task("t-kept"))[0] == 404
    finally:
        await second.stop()
    assert len(messages(fake)) == 1


@CONTRACT
async def test_sigterm_stops_a_running_task_and_records_it_interrupted(
    fake: FakeAnthropic, tmp_path: Path, launch: Launch
) -> None:
    volume = tmp_path / "slot"
    first = await launch(fake.base_url, volume)
    status, _ = await first.start_task("t-term", prompt="hi [[fake stall=60]]")
    assert status == 201
    await until_the_fake_is_asked(fake)
    assert await first.stop() == 0
    assert first.cli_pids() == []
    second = await launch(fake.base_url, volume)
    try:
        _, body = await second.task("t-term")
        assert failure_of(body)["reason"] == "Interrupted"
        assert "stopped while the task was running" in failure_of(body)["message"]
    finally:
        await second.stop()


# -- the HTTP contract ----------------------------------------------------------------------


@CONTRACT
async def test_a_bad_or_missing_token_gets_401_and_runs_nothing(
    agent: Agent, fake: FakeAnthropic
) -> None:
    request = {"prompt": "hi", "model": "sonnet"}
    async with aiohttp.ClientSession() as anonymous:
        for headers in ({}, {"Authorization": "Bearer not-the-token-at-all-000"}):
            for method, path in (("PUT", "/v1/tasks/t-auth"), ("GET", "/v1/slot")):
                async with anonymous.request(
                    method, agent.url + path, json=request, headers=headers
                ) as resp:
                    assert resp.status == 401
        async with anonymous.get(agent.url + "/healthz") as resp:
            assert (resp.status, await resp.text()) == (200, "ok")
    await asyncio.sleep(1.0)  # a wrongly started CLI would have called the fake by now
    assert messages(fake) == []
    assert await agent.task("t-auth") == (
        404,
        {"error": "NotFound", "message": "no such task on this slot"},
    )
    _, slot = await agent.call("GET", "/v1/slot")
    assert (slot["state"], slot["tasks"], slot["cliVersion"]) == ("idle", [], "2.1.197")


async def test_a_malformed_body_gets_400_with_a_message_naming_the_field(
    agent: Agent, fake: FakeAnthropic
) -> None:
    status, body = await agent.start_task("t-bad", prompt="hi", maxTurns="many")
    assert status == 400
    assert body["message"].startswith("maxTurns:")
    status, body = await agent.call("PUT", "/v1/tasks/t-bad", data=b"{oops")
    assert status == 400
    assert "Invalid JSON" in body["message"]
    assert (await agent.task("t-bad"))[0] == 404
    assert messages(fake) == []


async def test_a_second_task_while_busy_gets_409(agent: Agent, fake: FakeAnthropic) -> None:
    assert (await agent.start_task("t-one", prompt="hi [[fake stall=60]]"))[0] == 201
    status, body = await agent.start_task("t-two", prompt="hi")
    assert status == 409
    assert "t-one" in body["message"]
    assert (await agent.call("DELETE", "/v1/tasks/t-one"))[0] == 409
    await agent.call("POST", "/v1/tasks/t-one/cancel")
    await agent.finished("t-one", timeout=15)
    assert (await agent.task("t-two"))[0] == 404


async def test_the_same_task_started_twice_runs_once(agent: Agent, fake: FakeAnthropic) -> None:
    request = {"prompt": "once", "model": "sonnet"}
    first, second = await asyncio.gather(
        agent.start_task("t-once", **request), agent.start_task("t-once", **request)
    )
    assert sorted([first[0], second[0]]) == [200, 201]
    body = await agent.finished("t-once")
    assert (await agent.start_task("t-once", **request)) == (200, body)
    sent = messages(fake)
    assert len(sent) == 1
    assert len({r.session_id for r in sent}) == 1
    assert agent.output.count("task t-once: started") == 1


# -- models and permissions ---------------------------------------------------------------


async def test_a_haiku_pool_in_plan_mode_runs_and_is_billed_as_haiku(
    agent: Agent, fake: FakeAnthropic
) -> None:
    pool = ClaudePool.model_validate(
        {"metadata": {"name": "p"}, "spec": {"claude": {"model": "haiku"}}}
    )
    request = resolve_request(pool, "hi [[fake in=1000000 out=0]]", None, timeout_seconds=60)
    assert request.permission_mode is CliPermissionMode.PLAN
    body = await agent.run("t-haiku", **request.to_wire())
    assert body["state"] == "succeeded", body
    assert body["result"]["model"] == "claude-haiku-4-5-20251001"
    assert body["result"]["costMicrodollars"] == 1_000_000  # 1M input tokens at $1/M
    assert messages(fake)[-1].body["model"] == "claude-haiku-4-5-20251001"
    # what the operator sent before: the alias, which the CLI upgrades to Sonnet when planning
    alias = await agent.run("t-alias", **{**request.to_wire(), "model": "haiku"})
    assert alias["result"]["model"] == "claude-sonnet-5"
    assert alias["result"]["costMicrodollars"] == 3_000_000


async def test_tool_uses_denied_in_plan_mode_are_reported_with_their_targets(
    agent: Agent,
) -> None:
    body = await agent.run(
        "t-denied", prompt="work [[fake tools=write]]", model="sonnet", permissionMode="plan"
    )
    result = body["result"]
    assert result["permissionDenials"] == ["Write"], result
    (denied,) = result["deniedToolUses"]
    assert denied["tool"] == "Write"
    assert denied["target"].endswith("fake_written.txt")


async def test_a_killed_agent_takes_its_cli_along_so_the_model_is_not_called_on(
    fake: FakeAnthropic, tmp_path: Path
) -> None:
    volume = tmp_path / "slot"
    agent = await start_agent(fake.base_url, volume)
    try:
        status, _ = await agent.start_task("t-orphan", prompt="hi [[fake stall=60]]")
        assert status == 201
        await until_the_fake_is_asked(fake)
        assert processes_under(volume / "work"), "the CLI runs in the task's work directory"
        assert await agent.stop(signal.SIGKILL) == -signal.SIGKILL

        async def cli_gone() -> bool:
            return not processes_under(volume / "work")

        await eventually_async(cli_gone, timeout=10, interval=0.1, what="the CLI to die")
    finally:
        kill_cli_processes(volume)
