"""The pool worker with a workspace, against its fakes: slots whose clone is not ready take
no task (tasks wait WorkspaceUnavailable, the pool says why, once as a Warning Event), a
ready clone gets the task's WorkspaceRequest, and an approval pushes first."""

from __future__ import annotations

from claude_pool.api.agent import AgentResult
from claude_pool.api.workspaces import (
    WorkspacePhase,
    WorkspaceReason,
    WorkspaceResult,
    WorkspaceState,
)
from claude_pool.kube.client import POOLS, REVIEWS, TASKS
from tests.unit.test_worker_cycle import NS, Rig, ip

WORKSPACE = {"repo": "https://git.example.com/app.git", "push": "branch"}


def clone(phase: WorkspacePhase, reason: WorkspaceReason | None = None) -> WorkspaceState:
    return WorkspaceState(phase=phase, reason=reason, message="denied" if reason else "")


def pool_condition(rig: Rig, kind: str) -> dict[str, str]:
    conditions = rig.status(POOLS, "p").get("conditions") or []
    return next(c for c in conditions if c["type"] == kind)


async def test_tasks_wait_while_no_clone_is_ready_and_start_with_their_worktree_once_it_is() -> (
    None
):
    rig = Rig(workspace=WORKSPACE)
    agent = rig.slots.agent(ip(0))
    agent.workspace = clone(WorkspacePhase.UNAVAILABLE, WorkspaceReason.AUTHENTICATION_FAILED)
    uid = rig.task("t1")
    worker = rig.worker()
    await rig.cycle(worker)
    rig.clock.advance(5)
    await rig.cycle(worker)
    assert agent.requests == {}
    admitted = rig.condition("t1", "Admitted")
    assert (admitted["status"], admitted["reason"]) == ("False", "WorkspaceUnavailable")
    assert "AuthenticationFailed" in admitted["message"]
    unavailable = pool_condition(rig, "WorkspaceUnavailable")
    assert (unavailable["status"], unavailable["reason"]) == ("True", "AuthenticationFailed")
    assert len(rig.events("WorkspaceUnavailable")) == 1
    assert rig.status(POOLS, "p")["readySlots"] == 0

    agent.workspace = clone(WorkspacePhase.READY)
    rig.clock.advance(5)
    await rig.cycle(worker)
    request = agent.requests[uid]
    assert request.workspace is not None
    assert (request.workspace.worktree, request.workspace.branch) == (
        f"task-{uid}",
        "claude-pool/t1",
    )
    assert request.workspace.push is True
    assert pool_condition(rig, "WorkspaceUnavailable")["status"] == "False"
    await rig.stop()


async def test_an_approval_pushes_the_branch_the_run_left_with_push_on_approval() -> None:
    rig = Rig(workspace={**WORKSPACE, "pushOnApproval": True})
    agent = rig.slots.agent(ip(0))
    agent.workspace = clone(WorkspacePhase.READY)
    uid = rig.task("t1", review={"required": True})
    worker = rig.worker()
    await rig.cycle(worker)
    assert agent.requests[uid].workspace is not None
    assert agent.requests[uid].workspace.push is False  # the approval pushes
    branch = WorkspaceResult(
        repository="r", branch="claude-pool/t1", base_commit="a" * 40, head_commit="b" * 40
    )
    agent.finish(uid, AgentResult(output="done", success=True, workspace=branch))
    await rig.settle()
    await rig.cycle(worker)
    assert rig.status(TASKS, "t1")["phase"] == "AwaitingReview"
    rig.kube.add(
        REVIEWS,
        {
            "apiVersion": "claudepool.io/v1alpha1",
            "kind": "ClaudeReview",
            "metadata": {
                "name": "ok",
                "namespace": NS,
                "creationTimestamp": "2026-12-31T00:00:00Z",  # after the result it decides
            },
            "spec": {"taskRef": {"name": "t1"}, "decision": "approve", "reviewer": "ann"},
        },
    )
    await rig.cycle(worker)
    assert agent.pushes == ["claude-pool/t1"]
    status = rig.status(TASKS, "t1")
    assert status["phase"] == "Succeeded"
    assert status["workspace"]["pushed"] is True
    await rig.stop()
