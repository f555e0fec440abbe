"""The fake Anthropic API over HTTP (aiohttp client), and the real Claude CLI against it.

The CLI tests (marked `cli`) need the pinned CLI (`make setup`); each run costs about one
CPU-second, so there are few and they share one server and one HOME.
"""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from claude_pool.agent.argv import build_argv, system_prompt_addition
from claude_pool.api.claude import TaskOverrides
from claude_pool.api.modes import Auto, RoutePreference
from claude_pool.api.pools import ClaudePool
from claude_pool.devenv.clibin import claude_binary, fake_cli_env
from claude_pool.devenv.fakeapi import FakeAnthropic, FakeAnthropicThread, mask_secret
from claude_pool.devenv.fakepricing import cost_usd
from claude_pool.devenv.scripting import Scenario
from claude_pool.workflows.resolving import resolve_request
from claude_pool.workflows.routeparsing import decide_route
from claude_pool.workflows.routing import (
    ROUTER_MARKER,
    router_config,
    router_prompt,
    router_task_prompt,
)
from claude_pool.workflows.templating import extract_vars

CLI_TIMEOUT = 60
SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "n": {"type": "integer"}},
    "required": ["answer", "n"],
}


def body(prompt: str, *, stream: bool = True, **extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-5",
        "max_tokens": 100,
        "stream": stream,
        "messages": [{"role": "user", "content": prompt}],
        **extra,
    }


def http_status(method: str, url: str) -> int:
    """A blocking request with the standard library (for the sync runners)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        conn.request(method, parts.path or "/")
        return conn.getresponse().status
    finally:
        conn.close()


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for frame in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in frame.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic.start() as server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        yield session


# -- HTTP level ----------------------------------------------------------------------------


async def test_a_streaming_reply_is_the_full_sse_sequence(
    fake: FakeAnthropic, client: aiohttp.ClientSession
) -> None:
    async with client.post(f"{fake.base_url}/v1/messages?beta=true", json=body("hi")) as resp:
        assert resp.status == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert resp.headers["request-id"].startswith("req_fake")
        events = parse_sse(await resp.text())
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[0][1]["message"]["usage"]["input_tokens"] == 100
    assert events[2][1]["delta"] == {"type": "text_delta", "text": "fake answer: hi"}
    assert events[4][1]["usage"] == {"output_tokens": 20}


async def test_a_non_streaming_reply_is_one_json_message_with_tool_use(
    fake: FakeAnthropic, client: aiohttp.ClientSession
) -> None:
    system = "sys\n - Primary working directory: /w"
    payload = body("[[fake tools=read file=a.txt model=other]]", stream=False, system=system)
    async with client.post(f"{fake.base_url}/v1/messages", json=payload) as resp:
        message = await resp.json()
    assert message["model"] == "other"
    assert message["stop_reason"] == "tool_use"
    assert message["content"] == [
        {
            "type": "tool_use",
            "id": message["content"][0]["id"],
            "name": "Read",
            "input": {"file_path": "/w/a.txt"},
        }
    ]


async def test_messages_with_a_system_role_entry_are_accepted(
    fake: FakeAnthropic, client: aiohttp.ClientSession
) -> None:
    payload = body("q", stream=False)
    payload["messages"].append({"role": "system", "content": "agents: ..."})
    async with client.post(f"{fake.base_url}/v1/messages", json=payload) as resp:
        assert resp.status == 200
        assert (await resp.json())["content"][0]["text"] == "fake answer: q"


async def test_an_error_directive_answers_the_error_body_and_retry_headers(
    fake: FakeAnthropic, client: aiohttp.ClientSession
) -> None:
    prompt = "[[fake status=429 retry_after=7 should_retry=true]]"
    async with client.post(f"{fake.base_url}/v1/messages", json=body(prompt)) as resp:
        assert resp.status == 429
        assert resp.headers["retry-after"] == "7"
        assert resp.headers["x-should-retry"] == "true"
        error = await resp.json()
    assert error["type"] == "error"
    assert error["error"] == {"type": "rate_limit_error", "message": "fake 429 rate_limit_error"}


async def test_fail_n_fails_n_requests_of_a_session_then_succeeds(
    fake: FakeAnthropic, client: aiohttp.ClientSession
) -> None:
    async def statuses(session_id: str) -> list[int]:
        headers = {"X-Claude-Code-Session-Id": session_id}
        out = []
        for _ in range(3):
            url = f"{fake.base_url}/v1/messages"
            payload = body("[[fake fail=2 status=503]] x", stream=False)
            async with client.post(url, json=payload, headers=headers) as resp:
                out.append(resp.status)
        return out

    assert await statuses("s1") == [503, 503, 200]
    assert await statuses("s2") == [503, 503, 200]


async def test_fail_scope_all_counts_failures_across_sessions_of_the_same_prompt(
    fake: FakeAnthropic, client: aiohttp.ClientSession
) -> None:
    async def status(session_id: str, prompt: str) -> int:
        headers = {"X-Claude-Code-Session-Id": session_id}
        payload = body(f"[[fake fail=1 fail_scope=all status=400]] {prompt}", stream=False)
        async with client.post(f"{fake.base_url}/v1/messages", json=payload, headers=headers) as r:
            return r.status

    # a retried task is a new session with the same prompt: only its first try fails
    assert [await status(s, "step") for s in ("s1", "s2", "s3")] == [400, 200, 200]
    assert await status("s4", "another step") == 400


async def test_delay_holds_the_headers_and_stall_holds_the_stream(
    fake: FakeAnthropic, client: aiohttp.ClientSession
) -> None:
    started = time.monotonic()
    prompt = "[[fake delay=0.3 stall=0.4]]"
    async with client.post(f"{fake.base_url}/v1/messages", json=body(prompt)) as resp:
        headers_at = time.monotonic() - started
        first = await resp.content.readuntil(b"\n\n")
        await resp.read()
        done_at = time.monotonic() - started
    assert first.startswith(b"event: message_start")
    assert 0.3 <= headers_at < 0.7
    assert done_at >= 0.7


async def test_closing_the_server_ends_a_stalled_stream_at_once(
    fake: FakeAnthropic, client: aiohttp.ClientSession
) -> None:
    prompt = "[[fake stall=60]]"
    async with client.post(f"{fake.base_url}/v1/messages", json=body(prompt)) as resp:
        assert (await resp.content.readuntil(b"\n\n")).startswith(b"event: message_start")
        assert fake.requests[0].answer == "text (streaming)"
        started = time.monotonic()
        await fake.close()
        assert time.monotonic() - started < 3
    assert fake.requests[0].answer == "text (dropped: server closing)"


async def test_count_tokens_warmup_and_unknown_paths(
    fake: FakeAnthropic, client: aiohttp.ClientSession
) -> None:
    url = f"{fake.base_url}/v1/messages/count_tokens?beta=true"
    async with client.post(url, json=body("[[fake in=321]]")) as resp:
        assert await resp.json() == {"input_tokens": 321}
    for method in ("HEAD", "GET"):
        for url in (fake.base_url + "/", fake.scenario_url("any")):
            async with client.request(method, url) as resp:
                assert resp.status == 200
    async with client.get(f"{fake.base_url}/v2/nothing") as resp:
        assert resp.status == 404
        assert (await resp.json())["error"]["type"] == "not_found_error"


async def test_bad_directives_and_bad_bodies_get_a_400_that_says_why(
    fake: FakeAnthropic, client: aiohttp.ClientSession
) -> None:
    async with client.post(f"{fake.base_url}/v1/messages", json=body("[[fake in=lots]]")) as resp:
        assert resp.status == 400
        assert "bad directive: in: expected an integer" in (await resp.json())["error"]["message"]
    async with client.post(f"{fake.base_url}/v1/messages", data=b"not json") as resp:
        assert resp.status == 400


async def test_requests_are_recorded_with_secrets_masked(
    fake: FakeAnthropic, client: aiohttp.ClientSession
) -> None:
    headers = {"x-api-key": "sk-secret", "X-Claude-Code-Session-Id": "sess-1"}
    async with client.post(f"{fake.base_url}/v1/messages", json=body("a"), headers=headers):
        pass
    [record] = fake.requests
    assert (record.kind, record.status, record.answer) == ("messages", 200, "text")
    assert record.session_id == "sess-1"
    assert record.body["messages"][0]["content"] == "a"
    assert record.headers["x-api-key"] == mask_secret("sk-secret")
    async with client.get(f"{fake.base_url}/_fake/requests") as resp:
        listed = (await resp.json())["requests"]
    assert "sk-secret" not in json.dumps(listed)
    assert listed[0]["path"] == "/v1/messages"
    async with client.delete(f"{fake.base_url}/_fake/requests") as resp:
        assert await resp.json() == {"cleared": 1}
    assert fake.requests == []


async def test_scenarios_apply_by_path_and_directives_override_them(
    fake: FakeAnthropic, client: aiohttp.ClientSession
) -> None:
    fake.add_scenario("busy", Scenario(status=529))
    control = f"{fake.base_url}/_fake/scenarios/hello"
    async with client.put(control, json={"reply": "hi from scenario", "out": 3}) as resp:
        assert (await resp.json())["scenario"] == {"reply": "hi from scenario", "out": 3}
    url = fake.scenario_url("hello") + "/v1/messages"
    async with client.post(url, json=body("x", stream=False)) as resp:
        message = await resp.json()
    assert message["content"][0]["text"] == "hi from scenario"
    assert message["usage"]["output_tokens"] == 3
    async with client.post(fake.scenario_url("busy") + "/v1/messages", json=body("x")) as resp:
        assert resp.status == 529
    override = body("[[fake status=400 fail=0]] x", stream=False)
    async with client.post(fake.scenario_url("busy") + "/v1/messages", json=override) as resp:
        assert resp.status == 200
    async with client.post(fake.scenario_url("nope") + "/v1/messages", json=body("x")) as resp:
        assert resp.status == 400
        assert "no scenario named 'nope'" in (await resp.json())["error"]["message"]
    async with client.put(control, json={"status": "soon"}) as resp:
        assert resp.status == 400
    assert [r.scenario for r in fake.requests] == ["hello", "busy", "busy", "nope"]


def test_the_thread_runner_serves_sync_callers() -> None:
    with FakeAnthropicThread() as fake:
        assert http_status("HEAD", fake.base_url + "/") == 200
        assert [r.kind for r in fake.requests] == ["warmup"]


def test_the_fake_api_command_prints_its_url_and_exits_0_on_sigterm() -> None:
    command = [sys.executable, "-m", "claude_pool", "fake-api", "--port", "0"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("fake-api listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        assert http_status("GET", url + "/") == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


def test_a_client_that_disconnects_mid_answer_is_one_log_line_not_a_traceback() -> None:
    command = [sys.executable, "-m", "claude_pool", "fake-api", "--port", "0"]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().rsplit(" ", 1)[1]
        host, port = urllib.parse.urlsplit(url).hostname, urllib.parse.urlsplit(url).port
        assert host is not None and port is not None
        for prompt in ("[[fake delay=0.5]]", "[[fake stall=0.5]]"):
            payload = json.dumps(body(prompt)).encode()
            with socket.create_connection((host, port), timeout=5) as sock:
                sock.sendall(
                    b"POST /v1/messages HTTP/1.1\r\nHost: fake\r\nContent-Type: application/json"
                    b"\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload)
                )
                time.sleep(0.2)  # the fake holds the answer: hang up before it is written
        time.sleep(1.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert "Traceback" not in err, err
    assert err.count("client went away mid-answer") == 2, err


# -- the real Claude CLI -------------------------------------------------------------------


@pytest.fixture(scope="module")
def claude() -> Path:
    # no skip: a missing CLI means `make setup` is broken, and that must fail the suite
    return claude_binary()


@pytest.fixture(scope="module")
def cli_fake() -> Iterator[FakeAnthropicThread]:
    with FakeAnthropicThread() as server:
        yield server


@pytest.fixture(scope="module")
def cli_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


def run_claude(
    claude: Path,
    base_url: str,
    home: Path,
    cwd: Path,
    *args: str,
    env: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """Run `claude -p ...` headless; return its exit code and the result object."""
    argv = [str(claude), "-p", *args, "--output-format", "json", "--model", "sonnet"]
    full_env = fake_cli_env(base_url, home, {"CLAUDE_CODE_MAX_RETRIES": "0", **(env or {})})
    proc = subprocess.run(
        argv,
        env=full_env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    assert lines, f"no result line; rc={proc.returncode} stderr={proc.stderr[:500]}"
    result: dict[str, Any] = json.loads(lines[-1])
    assert result["type"] == "result"
    return proc.returncode, result


def session_requests(fake: FakeAnthropicThread, result: dict[str, Any]) -> list[Any]:
    return [
        r for r in fake.requests if r.kind == "messages" and r.session_id == result["session_id"]
    ]


@pytest.mark.cli
def test_cli_success_costs_what_the_usage_says(
    claude: Path, cli_fake: FakeAnthropicThread, cli_home: Path, tmp_path: Path
) -> None:
    rc, result = run_claude(
        claude, cli_fake.base_url, cli_home, tmp_path, "say hi [[fake in=100 out=20]]"
    )
    assert rc == 0
    assert result["subtype"] == "success"
    assert result["is_error"] is False
    assert result["result"] == "fake answer: say hi [[fake in=100 out=20]]"
    assert result["total_cost_usd"] == pytest.approx(0.0006)
    assert result["total_cost_usd"] == pytest.approx(cost_usd("sonnet", 100, 20))
    [request] = session_requests(cli_fake, result)
    assert request.path == "/v1/messages"
    assert request.query == {"beta": "true"}
    assert request.headers["x-api-key"] == mask_secret("sk-test")


@pytest.mark.cli
def test_cli_tool_sequence_writes_edits_and_runs_bash_in_the_cwd(
    claude: Path, cli_fake: FakeAnthropicThread, cli_home: Path, tmp_path: Path
) -> None:
    rc, result = run_claude(
        claude,
        cli_fake.base_url,
        cli_home,
        tmp_path,
        "[[fake tools=write:edit:bash]] do it",
        "--allowedTools",
        "Write",
        "Edit",
        "Bash",
        "Read",
    )
    assert (rc, result["is_error"], result["num_turns"]) == (0, False, 4)
    assert result["permission_denials"] == []
    assert (tmp_path / "fake_written.txt").read_text() == (
        "written by fake via Write tool\nline2 EDITED\n"
    )
    assert (tmp_path / "fake_bash.txt").read_text() == "bash-ran\n"
    answers = [r.answer for r in session_requests(cli_fake, result)]
    assert answers == ["tool_use Write", "tool_use Edit", "tool_use Bash", "text"]


@pytest.mark.cli
def test_cli_tools_work_under_a_custom_system_prompt_without_a_cwd_line(
    claude: Path, cli_fake: FakeAnthropicThread, cli_home: Path, tmp_path: Path
) -> None:
    rc, result = run_claude(
        claude,
        cli_fake.base_url,
        cli_home,
        tmp_path,
        "[[fake tools=write:edit file=notes.txt]] do it",
        "--system-prompt",
        "You are slot-1.",
        "--allowedTools",
        "Write",
        "Edit",
    )
    assert (rc, result["is_error"], result["permission_denials"]) == (0, False, [])
    write = next(r for r in session_requests(cli_fake, result) if r.answer == "tool_use Write")
    assert "Primary working directory" not in json.dumps(write.body["system"])
    assert (tmp_path / "notes.txt").read_text().endswith("line2 EDITED\n")


@pytest.mark.cli
def test_cli_json_schema_yields_structured_output(
    claude: Path, cli_fake: FakeAnthropicThread, cli_home: Path, tmp_path: Path
) -> None:
    rc, result = run_claude(
        claude,
        cli_fake.base_url,
        cli_home,
        tmp_path,
        '[[fake structured={"answer":"forty-two","n":42}]] answer',
        "--json-schema",
        json.dumps(SCHEMA),
    )
    assert rc == 0
    assert result["structured_output"] == {"answer": "forty-two", "n": 42}


@pytest.mark.cli
def test_cli_reports_a_529_as_an_api_error_without_retries(
    claude: Path, cli_fake: FakeAnthropicThread, cli_home: Path, tmp_path: Path
) -> None:
    rc, result = run_claude(claude, cli_fake.base_url, cli_home, tmp_path, "[[fake status=529]]")
    assert rc == 1
    assert (result["is_error"], result["api_error_status"]) == (True, 529)
    assert "fake 529 overloaded_error" in result["result"]
    assert len(session_requests(cli_fake, result)) == 1


@pytest.mark.cli
def test_cli_retries_through_two_failures_and_succeeds(
    claude: Path, cli_fake: FakeAnthropicThread, cli_home: Path, tmp_path: Path
) -> None:
    rc, result = run_claude(
        claude,
        cli_fake.base_url,
        cli_home,
        tmp_path,
        "[[fake fail=2 status=500]] retry me",
        env={"CLAUDE_CODE_MAX_RETRIES": "3"},
    )
    assert (rc, result["is_error"]) == (0, False)
    statuses = [r.status for r in session_requests(cli_fake, result)]
    assert statuses == [500, 500, 200]


@pytest.mark.cli
def test_cli_tool_loop_stops_at_max_turns(
    claude: Path, cli_fake: FakeAnthropicThread, cli_home: Path, tmp_path: Path
) -> None:
    rc, result = run_claude(
        claude,
        cli_fake.base_url,
        cli_home,
        tmp_path,
        "[[fake tools=loop]]",
        "--max-turns",
        "2",
        "--allowedTools",
        "Bash",
    )
    assert rc == 1
    assert result["subtype"] == "error_max_turns"
    assert len(session_requests(cli_fake, result)) == 2


@pytest.mark.cli
def test_cli_echo_system_shows_the_injected_system_prompt(
    claude: Path, cli_fake: FakeAnthropicThread, cli_home: Path, tmp_path: Path
) -> None:
    shared = "## Shared Context\n- **repo**: claude-pool\n- **owner**: ops"
    for option in ("--append-system-prompt", "--system-prompt"):
        rc, result = run_claude(
            claude, cli_fake.base_url, cli_home, tmp_path, "[[fake echo=system]]", option, shared
        )
        assert (rc, result["result"]) == (0, shared), option


@pytest.mark.cli
def test_cli_base_url_path_selects_a_scenario(
    claude: Path, cli_fake: FakeAnthropicThread, cli_home: Path, tmp_path: Path
) -> None:
    cli_fake.add_scenario("router", Scenario(reply="scenario reply", output_tokens=40))
    rc, result = run_claude(claude, cli_fake.scenario_url("router"), cli_home, tmp_path, "hi")
    assert (rc, result["result"]) == (0, "scenario reply")
    assert result["total_cost_usd"] == pytest.approx(cost_usd("sonnet", 100, 40))
    [request] = session_requests(cli_fake, result)
    assert (request.path, request.scenario) == ("/s/router/v1/messages", "router")


# -- the routing call of an auto task, as a slot runs it -------------------------------------


def run_router(
    claude: Path, fake: FakeAnthropicThread, home: Path, cwd: Path, task: str
) -> tuple[int, dict[str, Any], list[Any]]:
    """Run the router child's config through the slot agent's own argv builder."""
    auto = Auto(prompt=task)
    config = router_config(TaskOverrides(model="sonnet"), router_prompt(auto, None))
    pool = ClaudePool.model_validate({"metadata": {"name": "pool"}, "spec": {}})
    request = resolve_request(pool, router_task_prompt(task), config, timeout_seconds=60)
    addition = system_prompt_addition(request)
    assert addition is not None
    system_file = cwd / "system.txt"
    system_file.write_text(addition)
    argv = build_argv(str(claude), request, system_prompt_file=system_file)
    env = fake_cli_env(fake.base_url, home, {"CLAUDE_CODE_MAX_RETRIES": "0"})
    proc = subprocess.run(
        argv,
        input=request.prompt,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["type"] == "result"
    return proc.returncode, result, session_requests(fake, result)


@pytest.mark.cli
@pytest.mark.parametrize(
    ("directive", "kind", "count"),
    [
        ("", RoutePreference.SINGLE, 1),
        ("[[fake route=parallel n=3]]", RoutePreference.PARALLEL, 3),
        ("[[fake route=chain n=4]]", RoutePreference.CHAIN, 4),
    ],
    ids=["single", "parallel", "chain"],
)
def test_cli_router_answers_come_back_structured_with_json_schema(
    claude: Path,
    cli_fake: FakeAnthropicThread,
    cli_home: Path,
    tmp_path: Path,
    directive: str,
    kind: RoutePreference,
    count: int,
) -> None:
    task = f"Translate hello into French, German and Spanish. {directive}".strip()
    rc, result, requests = run_router(claude, cli_fake, cli_home, tmp_path, task)
    assert (rc, result["is_error"], result["num_turns"]) == (0, False, 2)
    structured = result["structured_output"]
    assert structured["route"] == kind.value
    # only the StructuredOutput tool is offered; the router prompt is in the system prompt
    assert [t["name"] for t in requests[0].body["tools"]] == ["StructuredOutput"]
    assert ROUTER_MARKER in json.dumps(requests[0].body["system"])
    decision = decide_route(structured, result["result"], None, task, None)
    assert decision.fallback_reason is None
    assert (decision.route.kind, len(decision.route.prompts)) == (kind, count)
    assert all(
        "<task>" not in prompt and "route=" not in prompt for prompt in decision.route.prompts
    )


@pytest.mark.cli
def test_cli_router_garbage_and_errors_fall_back_to_the_original_prompt(
    claude: Path, cli_fake: FakeAnthropicThread, cli_home: Path, tmp_path: Path
) -> None:
    garbage = "Tidy the repo. [[fake route=garbage]]"
    rc, result, _ = run_router(claude, cli_fake, cli_home, tmp_path, garbage)
    assert (rc, result["is_error"]) == (0, False)
    assert "structured_output" not in result  # the CLI nudged once, then gave up
    decision = decide_route(None, result["result"], None, garbage, None)
    assert decision.route.prompts == (garbage,)
    assert decision.fallback_reason is not None and "could not find" in decision.fallback_reason
    broken = "Tidy the repo. [[fake route=error]]"
    rc, result, requests = run_router(claude, cli_fake, cli_home, tmp_path, broken)
    assert (rc, result["is_error"], [r.status for r in requests]) == (1, True, [400])
    decision = decide_route(None, result["result"], f"ModelError: {result['result']}", broken, None)
    assert decision.route.prompts == (broken,)
    assert decision.fallback_reason is not None
    assert "fake routing error" in decision.fallback_reason


@pytest.mark.cli
def test_cli_json_replies_feed_output_vars(
    claude: Path, cli_fake: FakeAnthropicThread, cli_home: Path, tmp_path: Path
) -> None:
    rc, result = run_claude(
        claude,
        cli_fake.base_url,
        cli_home,
        tmp_path,
        'Plan the change. [[fake json={"files":["a.py","b.py"],"count":2}]]',
    )
    assert rc == 0
    found = extract_vars({"files": "files", "n": "count", "p": "prompt"}, result["result"])
    assert found == {"files": '["a.py","b.py"]', "n": "2", "p": "Plan the change."}
