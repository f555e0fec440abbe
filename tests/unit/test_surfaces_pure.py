"""Pure parts of the user surfaces: manifest loading, the CLI's flag hoisting and exit codes,
and the MCP tools called in-process through the MCP SDK's own client over the fake door."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp import Client as McpClient

from claude_pool.api.phases import TaskPhase
from claude_pool.api.tasks import ClaudeTask
from claude_pool.cli.app import hoist_globals
from claude_pool.cli.exitcodes import ExitCode, code_for, code_for_phase
from claude_pool.cli.progress import describe
from claude_pool.mcpserver.server import build_server
from claude_pool.sdk import AsyncClient, InvalidRequest, PoolNotFound, WaitTimeout
from claude_pool.sdk.manifests import load_chain, load_chains, load_tasks
from tests.builders import pool_manifest, task_manifest
from tests.unit.sdkfake import FakeDoor

NS = "team"


def test_task_manifests_load_and_validate() -> None:
    import yaml

    text = yaml.safe_dump_all([task_manifest("a", "p"), task_manifest("b", "p")])
    assert [t.metadata.name for t in load_tasks(text)] == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: ClaudePool\napiVersion: claudepool.io/v1alpha1\n", "expected kind ClaudeTask"),
        ("a: [", "not valid YAML"),
        ("", "holds no object"),
        (
            "apiVersion: claudepool.io/v1alpha1\nkind: ClaudeTask\nmetadata: {name: x}\n"
            "spec: {poolRef: {name: p}, prompt: hi, promt: typo}\n",
            "promt",
        ),
        (
            "apiVersion: claudepool.io/v1alpha1\nkind: ClaudeTask\nmetadata: {name: x}\n"
            "spec: {poolRef: {name: p}}\n",
            "exactly one of spec.prompt",
        ),
    ],
)
def test_bad_task_manifests_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        load_tasks(text)


def test_chain_files_are_a_list_of_steps_or_a_mapping() -> None:
    listed = load_chain("- {name: a, prompt: x}\n- {name: b, prompt: '{previous_output}'}\n")
    mapped = load_chain("steps:\n- {name: a, prompt: x}\nisolation: none\n")
    assert [s.name for s in listed.steps] == ["a", "b"]
    assert mapped.isolation == "none"
    with pytest.raises(InvalidRequest, match="steps"):
        load_chain("name: lonely\n")


def test_chains_files_are_a_list_of_chains_each_named_in_errors() -> None:
    chains = load_chains(
        "- [{name: a, prompt: x}]\n- {steps: [{name: b, prompt: y}], isolation: none}\n"
    )
    assert [c.steps[0].name for c in chains] == ["a", "b"]
    with pytest.raises(InvalidRequest, match="non-empty list"):
        load_chains("steps: []\n")
    with pytest.raises(InvalidRequest, match="chain 1"):
        load_chains("- [{name: a, prompt: x}]\n- lonely\n")


def test_kubectl_global_flags_are_hoisted_from_anywhere() -> None:
    args = ["get", "tasks", "-n", "team", "--context=kind", "-o", "json", "--", "-n"]
    assert hoist_globals(args) == ["-n", "team", "--context=kind", "get", "tasks", "-o", "json",
                                   "--", "-n"]  # fmt: skip


def test_exit_codes_are_distinct_and_follow_the_outcome() -> None:
    assert len({code.value for code in ExitCode}) == len(ExitCode)
    assert code_for(PoolNotFound("x")) == ExitCode.NOT_FOUND == 3
    assert code_for(InvalidRequest("x")) == ExitCode.INVALID == 4
    assert code_for(WaitTimeout("x")) == ExitCode.TIMEOUT == 6
    assert code_for_phase(TaskPhase.SUCCEEDED) == 0
    assert code_for_phase(TaskPhase.FAILED) == 1
    assert code_for_phase(TaskPhase.CANCELLED) == 7
    assert code_for_phase(TaskPhase.RUNNING) == ExitCode.NOT_FINISHED
    assert code_for_phase(TaskPhase.AWAITING_REVIEW) == ExitCode.OK


def _structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    data: dict[str, Any] = json.loads(result.content[0].text)
    return data


async def test_mcp_tools_are_listed_and_called_through_an_mcp_client() -> None:
    door = FakeDoor()
    door.put("claudepools", NS, pool_manifest("demo", slots=2))
    server = build_server(AsyncClient(door, NS), default_pool="demo")
    async with McpClient(server) as mcp:
        names = {tool.name for tool in (await mcp.list_tools()).tools}
        assert {"pool_run", "pool_submit", "pool_result", "pool_cancel", "pool_fan_out",
                "pool_submit_chain", "pool_auto", "pool_status", "context_set", "context_get",
                "context_list", "context_delete", "pool_scale_up", "pool_scale_down",
                "pool_set_target_slots", "pool_drain", "pool_submit_with_review",
                "pool_approve_result", "pool_reject_result", "pool_send_message",
                "pool_broadcast", "pool_list_messages"} <= names  # fmt: skip
        submitted = _structured(await mcp.call_tool("pool_submit", {"prompt": "hi"}))
        task_id = submitted["task_id"]
        pending = _structured(await mcp.call_tool("pool_result", {"task_id": task_id}))
        assert pending["phase"] == "Pending" and "result" not in pending
        assert _structured(await mcp.call_tool("pool_scale_up", {"count": 3})) == {"total_slots": 5}
        await mcp.call_tool("context_set", {"key": "k", "value": "v"})
        assert _structured(await mcp.call_tool("context_get", {"key": "k"})) == {"value": "v"}
        chained = _structured(await mcp.call_tool("pool_submit_chain", {
            "steps": [{"name": "a", "prompt": "x", "model": "haiku"}]}))  # fmt: skip
        spec = door.objects[("claudetasks", NS, chained["task_id"])]["spec"]
        assert spec["chain"]["steps"][0]["config"] == {"model": "haiku"}
        waited = _structured(
            await mcp.call_tool("pool_run", {"prompt": "slow", "timeout_seconds": 1})
        )
        assert waited["timed_out"] is True and waited["phase"] == "Pending"
        listed = _structured(await mcp.call_tool("pool_list_tasks", {}))["tasks"]
        assert len(listed) == 3
        sent = _structured(await mcp.call_tool("pool_broadcast", {"content": "hi", "from_slot": 0}))
        messages = _structured(await mcp.call_tool("pool_list_messages", {"slot": 1}))["messages"]
        assert [(m["message_id"], m["from"], m["state"]) for m in messages] == [
            (sent["message_id"], "slot-0", "Pending")]  # fmt: skip
        assert _structured(await mcp.call_tool("pool_list_messages", {"slot": 0})) == {
            "messages": []}  # fmt: skip
        gated = _structured(await mcp.call_tool("pool_submit_with_review", {"prompt": "r"}))
        assert door.objects[("claudetasks", NS, gated["task_id"])]["spec"]["review"]["required"]
        early = await mcp.call_tool(
            "pool_reject_result",
            {"task_id": gated["task_id"], "feedback": "", "timeout_seconds": 1},
        )
        assert early.is_error and "needs feedback" in early.content[0].text
        missing = await mcp.call_tool("pool_submit", {"prompt": "hi", "pool": "nope"})
        assert missing.is_error
        assert "pool 'nope' not found" in missing.content[0].text


def test_shell_completion_completes_commands() -> None:
    from typer.testing import CliRunner

    from claude_pool.cli.app import app

    env = {"_CLAUDE_POOL_COMPLETE": "complete_bash", "COMP_WORDS": "claude-pool con",
           "COMP_CWORD": "1"}  # fmt: skip
    result = CliRunner().invoke(app, [], env=env, prog_name="claude-pool")
    assert result.exit_code == 0, result.output
    assert result.output.split() == ["context"]


def test_the_progress_line_shows_a_reviewed_composites_generation() -> None:
    body = task_manifest("f", "p", None, fan_out={"prompts": ["a", "b"]})
    body["status"] = {
        "phase": "Running",
        "children": {"generation": 1, "total": 2, "running": 1, "succeeded": 1},
        "progress": {"completedSteps": 1, "totalSteps": 2},
        "costMicrodollars": 1200,
    }
    line = describe(ClaudeTask.model_validate(body))
    assert line == "f Running generation 1 steps 1/2 $0.0012"
