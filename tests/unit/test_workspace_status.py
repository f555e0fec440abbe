"""Workspace status: the pool's WorkspaceUnavailable condition from the slots' clones, and a
task's status.workspace from the agent's result."""

from __future__ import annotations

import datetime as dt

from claude_pool.api.agent import AgentResult
from claude_pool.api.pools import ClaudePool
from claude_pool.api.reasons import PoolReason
from claude_pool.api.tasks import ClaudeTaskStatus
from claude_pool.api.workspaces import (
    WorkspacePhase,
    WorkspaceReason,
    WorkspaceResult,
    WorkspaceState,
)
from claude_pool.slots.workspaces import clone_ready, clone_verdict
from claude_pool.status import tasks as transitions
from claude_pool.status.pools import PoolFacts, SlotCounts, WorkspaceFacts, pool_status

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)


def state(phase: WorkspacePhase, reason: WorkspaceReason | None = None) -> WorkspaceState:
    return WorkspaceState(phase=phase, reason=reason, message="git said no" if reason else "")


def test_a_slot_whose_clone_failed_makes_the_condition_true_with_its_reason() -> None:
    reason, message, waits = clone_verdict(
        {
            "p-slot-1": state(WorkspacePhase.UNAVAILABLE, WorkspaceReason.AUTHENTICATION_FAILED),
            "p-slot-0": state(WorkspacePhase.CLONING),
        }
    )
    assert reason is PoolReason.AUTHENTICATION_FAILED
    assert message == "slot p-slot-1: AuthenticationFailed: git said no"
    assert waits is not None
    assert "AuthenticationFailed" in waits


def test_tasks_wait_only_while_no_clone_is_ready() -> None:
    reason, _, waits = clone_verdict(
        {
            "p-slot-0": state(WorkspacePhase.READY),
            "p-slot-1": state(WorkspacePhase.UNAVAILABLE, WorkspaceReason.UNKNOWN_REF),
        }
    )
    assert reason is PoolReason.UNKNOWN_REF
    assert waits is None


def test_cloning_and_ready_slots_are_not_unavailable() -> None:
    assert clone_verdict({"a": state(WorkspacePhase.CLONING)})[0] is PoolReason.WORKSPACE_CLONING
    assert clone_verdict({"a": state(WorkspacePhase.READY)})[:2] == (
        PoolReason.WORKSPACE_READY,
        "the clone of 1 slots is ready",
    )
    assert clone_verdict({})[0] is PoolReason.WORKSPACE_CLONING
    assert clone_ready(None)
    assert not clone_ready(state(WorkspacePhase.CLONING))


def _pool_conditions(workspace: WorkspaceFacts | None) -> dict[str, dict[str, str]]:
    pool = ClaudePool.model_validate({"metadata": {"name": "p", "generation": 1}, "spec": {}})
    facts = PoolFacts(
        slots=SlotCounts(existing=1),
        pending=0,
        waiting=0,
        running=0,
        limit=None,
        spent=0,
        reserved=0,
        recent_commits=(),
        selector="s",
        workspace=workspace,
    )
    return {c["type"]: c for c in pool_status(pool, facts, NOW)["conditions"]}


def test_the_pool_condition_is_written_only_for_pools_with_a_workspace() -> None:
    assert "WorkspaceUnavailable" not in _pool_conditions(None)
    failing = _pool_conditions(WorkspaceFacts(PoolReason.UNKNOWN_REF, "slot p-slot-0: no ref"))
    assert failing["WorkspaceUnavailable"]["status"] == "True"
    assert failing["WorkspaceUnavailable"]["reason"] == "UnknownRef"
    ready = _pool_conditions(WorkspaceFacts(PoolReason.WORKSPACE_READY, "ready"))
    assert ready["WorkspaceUnavailable"]["status"] == "False"


def test_a_finished_run_records_its_branch_in_status_workspace_without_credentials() -> None:
    result = AgentResult(
        success=True,
        workspace=WorkspaceResult(
            repository="https://bot:tok@git.example.com/app.git",
            branch="claude-pool/t1",
            base_commit="a" * 40,
            head_commit="b" * 40,
            files_changed=1,
            insertions=3,
            files=["hello.txt"],
            diffstat=" hello.txt | 3 +++\n 1 file changed, 3 insertions(+)",
            committed_by_agent=True,
            pushed=False,
            worktree_kept=False,
        ),
    )
    status = ClaudeTaskStatus(slot="p-slot-0")
    patch = transitions.finished(
        status, result, output={"output": ""}, cancelled=False, generation=1, now=NOW
    )
    ws = patch["workspace"]
    assert ws["repository"] == "https://git.example.com/app.git"
    assert ws["branch"] == "claude-pool/t1"
    assert (ws["filesChanged"], ws["insertions"], ws["files"]) == (1, 3, ["hello.txt"])
    assert ws["slot"] == "p-slot-0"
    assert ws["pushed"] is False
    assert ws["committedByAgent"] is True
    assert "1 file changed" in ws["diffstat"]


def test_a_run_without_workspace_writes_no_workspace_status() -> None:
    patch = transitions.finished(
        ClaudeTaskStatus(),
        AgentResult(success=True),
        output={"output": ""},
        cancelled=False,
        generation=1,
        now=NOW,
    )
    assert "workspace" not in patch
