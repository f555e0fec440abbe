"""Review decisions and messages through the CLI (a subprocess) and the MCP server (stdio,
the MCP SDK's client) against the suite's control plane with the operator and the
admission policies: the caller's user is stamped as the reviewer."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from tests.helpers import eventually
from tests.integration.harness import ROOT, Env
from tests.integration.test_cli import cli, parsed

pytestmark = pytest.mark.integration


def sent_prompts(env: Env, marker: str) -> list[str]:
    """The user turns of the fake API's requests whose conversation mentions `marker`."""
    return [
        json.dumps(r.body.get("messages"))
        for r in env.fake.requests
        if r.kind == "messages" and marker in json.dumps(r.body.get("messages"))
    ]


@pytest.mark.timeout(240)
def test_cli_reviews_a_task_and_broadcasts_a_message(env: Env, kubeconfig: Path) -> None:
    env.create_pool(slots=1)
    env.wait_ready_slots(1)
    ns = env.namespace

    held = cli(kubeconfig, ns, "run", "-p", "pool", "--name", "gated", "--review",
               "--max-rejections", "2", "plan it [[fake in=100 out=20]]")  # fmt: skip
    assert held.returncode == 0, held.stderr
    assert "gated: AwaitingReview: decide with `claude-pool approve gated`" in held.stderr
    assert env.get("claudetasks", "gated")["spec"]["review"]["maxRejections"] == 2

    rejected = cli(kubeconfig, ns, "reject", "gated", "--feedback", "add a risk section")
    assert rejected.returncode == 0, rejected.stderr
    assert "task gated rejected (1)" in rejected.stdout
    again = cli(kubeconfig, ns, "wait", "gated", "--timeout", "90", "-q")
    assert again.returncode == 0, again.stderr
    assert any("add a risk section" in p for p in sent_prompts(env, "plan it"))

    approved = cli(kubeconfig, ns, "approve", "gated", "-o", "json")
    assert approved.returncode == 0, approved.stderr
    review = parsed(approved)
    assert review["spec"]["decision"] == "approve" and review["spec"]["reviewer"]
    assert env.get("claudetasks", "gated")["status"]["phase"] == "Succeeded"
    history = env.get("claudetasks", "gated")["status"]["review"]["history"]
    assert [h["decision"] for h in history] == ["reject", "approve"]

    twice = cli(kubeconfig, ns, "approve", "gated")
    assert twice.returncode == 11, twice.stderr
    assert "NotAwaitingReview" in twice.stderr
    no_feedback = cli(kubeconfig, ns, "reject", "gated")
    assert no_feedback.returncode == 2  # --feedback is required

    note = cli(kubeconfig, ns, "message", "broadcast", "pool", "the API moved", "-o", "name")
    assert note.returncode == 0, note.stderr
    name = note.stdout.strip().removeprefix("claudemessage/")
    after = cli(kubeconfig, ns, "run", "-p", "pool", "--name", "after", "-q", "next [[fake]]")
    assert after.returncode == 0, after.stderr
    assert any("the API moved" in p for p in sent_prompts(env, "next"))

    def delivered() -> dict[str, Any] | None:
        listed = parsed(cli(kubeconfig, ns, "message", "list", "pool", "-o", "json"))["items"]
        found = next(m for m in listed if m["metadata"]["name"] == name)
        return found if found["status"].get("deliveries") else None

    message = eventually(delivered, timeout=30, what="the broadcast delivered")
    assert message["spec"]["from"] == "coordinator"
    assert message["status"]["deliveries"][0]["task"] == "after"
    table = cli(kubeconfig, ns, "message", "list", "pool")
    assert table.returncode == 0 and name in table.stdout and "Delivered" in table.stdout


def _data(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    data: dict[str, Any] = json.loads(result.content[0].text)
    return data


@pytest.mark.timeout(180)
async def test_mcp_approves_a_held_result_and_sends_messages(env: Env, kubeconfig: Path) -> None:
    env.create_pool(slots=2)
    env.wait_ready_slots(2)
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
        ask = {"prompt": "draft [[fake in=100 out=20]]", "wait": True, "timeout_seconds": 90}
        held = _data(await mcp.call_tool("pool_submit_with_review", ask))
        assert held["phase"] == "AwaitingReview"
        assert held["result"]["output"].startswith("fake answer: draft")
        approved = _data(await mcp.call_tool("pool_approve_result", {"task_id": held["task_id"]}))
        assert approved["phase"] == "Succeeded" and approved["decision"] == "approve"
        refused = await mcp.call_tool("pool_reject_result",
                                      {"task_id": held["task_id"], "feedback": "late"})  # fmt: skip
        assert refused.is_error and "NotAwaitingReview" in refused.content[0].text

        note = {"to": 1, "content": "hi slot 1", "from_slot": 0}
        sent = _data(await mcp.call_tool("pool_send_message", note))
        listed = _data(await mcp.call_tool("pool_list_messages", {"slot": 1}))["messages"]
        assert [(m["message_id"], m["from"], m["to_slot"]) for m in listed] == [
            (sent["message_id"], "slot-0", 1)]  # fmt: skip
        assert _data(await mcp.call_tool("pool_list_messages", {"slot": 0})) == {"messages": []}
