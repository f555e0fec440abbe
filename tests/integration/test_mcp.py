"""The MCP server (`claude-pool mcp`, stdio) driven by the MCP SDK's own client, against the
suite's control plane with the operator running."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters

from claude_pool.devenv.clibin import claude_binary, fake_cli_env
from tests.builders import pool_manifest
from tests.helpers import eventually_async
from tests.integration.harness import ROOT, Env


def _data(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    data: dict[str, Any] = json.loads(result.content[0].text)
    return data


async def test_mcp_tools_run_tasks_and_read_the_pool(env: Env, kubeconfig: Path) -> None:
    env.create_pool(slots=1)
    env.wait_ready_slots(1)
    server = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m",
            "claude_pool",
            "mcp",
            "--kubeconfig",
            str(kubeconfig),
            "-n",
            env.namespace,
            "--pool",
            "pool",
        ],
        cwd=str(ROOT),
    )
    async with Client(server) as mcp:
        tools = {tool.name for tool in (await mcp.list_tools()).tools}
        assert {"pool_run", "pool_status", "pool_drain", "context_set"} <= tools

        ran = _data(await mcp.call_tool("pool_run", {"prompt": "hi [[fake in=100 out=20]]"}))
        assert ran["phase"] == "Succeeded"
        assert ran["result"]["output"].startswith("fake answer: hi")
        assert ran["result"]["cost_microdollars"] == 600

        submitted = _data(await mcp.call_tool("pool_submit", {"prompt": "later"}))
        assert submitted["task_id"].startswith("pool-")

        await mcp.call_tool("context_set", {"key": "team", "value": "infra"})
        assert env.pool()["spec"]["context"] == {"team": "infra"}

        status = _data(await mcp.call_tool("pool_status", {}))["pools"][0]
        assert status["pool"] == "pool"
        assert status["total_spend_microdollars"] >= 600

        assert _data(await mcp.call_tool("pool_set_target_slots", {"target": 2})) == {
            "total_slots": 2
        }
        refused = await mcp.call_tool("pool_result", {"task_id": "ghost"})
        assert refused.is_error and "not found" in refused.content[0].text


def test_the_claude_cli_calls_a_pool_tool_over_mcp(
    api_client: Any, namespace: str, kubeconfig: Path, fake_api: Any, tmp_path: Path
) -> None:
    """The real Claude CLI as the MCP client: the fake model answers with a tool_use of
    mcp__claude-pool__context_set, the CLI calls `claude-pool mcp` over stdio, and the pool's
    shared context changes on the API server."""
    from kubernetes import client as k8s

    k8s.CustomObjectsApi(api_client).create_namespaced_custom_object(
        "claudepool.io", "v1alpha1", namespace, "claudepools", pool_manifest("p")
    )
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"mcpServers": {"claude-pool": {
        "type": "stdio", "command": sys.executable,
        "args": ["-m", "claude_pool", "mcp", "--kubeconfig", str(kubeconfig), "-n", namespace,
                 "--pool", "p"],
    }}}))  # fmt: skip
    tool = "mcp__claude-pool__context_set"
    prompt = f'[[fake mcp={tool} mcp_input={{"key":"from-claude","value":"hello"}}]] Set it.'
    home = tmp_path / "home"
    home.mkdir()
    proc = subprocess.run(
        [str(claude_binary()), "-p", prompt, "--output-format", "json", "--model", "sonnet",
         "--mcp-config", str(config), "--strict-mcp-config", "--allowedTools", tool],
        env=fake_cli_env(fake_api.base_url, home, {"CLAUDE_CODE_MAX_RETRIES": "0",
                                                    "MCP_CONNECTION_NONBLOCKING": "false"}),
        cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["is_error"] is False, result
    assert result["num_turns"] >= 2  # the tool call, then the answer
    pool = k8s.CustomObjectsApi(api_client).get_namespaced_custom_object(
        "claudepool.io", "v1alpha1", namespace, "claudepools", "p"
    )
    requests = [
        r
        for r in fake_api.requests
        if r.session_id == result["session_id"] and r.kind == "messages"
    ]
    last = requests[-1].body["messages"]
    tool_results = [
        b
        for m in last
        if isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "tool_result"
    ]
    assert tool_results, last
    assert "is_error" not in tool_results[-1] or not tool_results[-1]["is_error"], tool_results
    content = tool_results[-1]["content"]
    assert json.loads(content if isinstance(content, str) else content[0]["text"]) == {"set": True}
    assert pool["spec"]["context"] == {"from-claude": "hello"}


async def test_the_mcp_server_speaks_streamable_http(
    api_client: Any, namespace: str, kubeconfig: Path
) -> None:
    from kubernetes import client as k8s

    k8s.CustomObjectsApi(api_client).create_namespaced_custom_object(
        "claudepool.io", "v1alpha1", namespace, "claudepools", pool_manifest("p", slots=2)
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "claude_pool", "mcp", "--transport", "http", "--port", str(port),
        "--kubeconfig", str(kubeconfig), "-n", namespace, "--pool", "p",
        cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:

        async def listening() -> bool:
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                return True
            assert server.returncode is None, "the MCP server exited"
            return False

        await eventually_async(listening, timeout=30, what="the MCP server's HTTP port")
        async with Client(f"http://127.0.0.1:{port}/mcp") as mcp:
            status = _data(await mcp.call_tool("pool_status", {}))["pools"][0]
            assert (status["pool"], status["target_slots"]) == ("p", 2)
            assert _data(await mcp.call_tool("pool_scale_down", {"count": 1})) == {"total_slots": 1}
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), timeout=10)
