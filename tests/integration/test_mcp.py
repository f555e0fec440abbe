"""The MCP server (`claude-pool mcp`, stdio) driven by the MCP SDK's own client, against the
suite's control plane with the operator running."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters

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
