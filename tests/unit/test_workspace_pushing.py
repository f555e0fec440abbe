"""Push on approval (pure): which approvals push, and what they write after the push."""

from __future__ import annotations

import datetime as dt
from typing import Any

from claude_pool.api.tasks import ClaudeTask
from claude_pool.api.taskworkspaces import TaskWorkspace
from claude_pool.api.workspacespecs import Workspace
from claude_pool.workflows.pushing import pending_push, push_failed, pushed

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
BRANCH = TaskWorkspace(
    repository="r", branch="claude-pool/t", head_commit="a" * 40, slot="p-slot-0"
)
APPROVAL = {
    "conditions": [
        {"type": "Reviewed", "status": "True", "reason": "Approved", "message": "ok",
         "lastTransitionTime": "2026-12-03T12:00:00Z"},
        {"type": "Succeeded", "status": "True", "reason": "Completed", "message": "ok",
         "lastTransitionTime": "2026-12-03T12:00:00Z"},
    ],
    "phase": "Succeeded",
}  # fmt: skip


def task(review: bool, workspace: TaskWorkspace | None = BRANCH) -> ClaudeTask:
    spec: dict[str, Any] = {"poolRef": {"name": "p"}, "prompt": "x"}
    if review:
        spec["review"] = {"required": True}
    status = {"workspace": workspace.model_dump(by_alias=True)} if workspace else {}
    return ClaudeTask.model_validate({"metadata": {"name": "t"}, "spec": spec, "status": status})


def test_only_reviewed_tasks_of_push_on_approval_pools_wait_for_their_approval() -> None:
    on = Workspace.model_validate({"repo": "file:///r", "push": "branch", "pushOnApproval": True})
    off = Workspace.model_validate({"repo": "file:///r", "push": "branch"})
    assert pending_push(on, task(review=True)) == BRANCH
    assert pending_push(on, task(review=False)) is None
    assert pending_push(off, task(review=True)) is None
    assert pending_push(on, task(review=True, workspace=None)) is None
    done = BRANCH.model_copy(update={"pushed": True})
    assert pending_push(on, task(review=True, workspace=done)) is None


def test_a_pushed_approval_says_so_in_status_workspace() -> None:
    patch = pushed(APPROVAL, BRANCH, "b" * 40)
    assert patch["phase"] == "Succeeded"
    assert patch["workspace"]["pushed"] is True
    assert patch["workspace"]["headCommit"] == "b" * 40


def test_a_failed_push_turns_the_approval_into_push_failed() -> None:
    patch = push_failed(APPROVAL, "rejected by the hook", 1, NOW)
    kinds = {c["type"]: c for c in patch["conditions"]}
    assert patch["phase"] == "Failed"
    assert "Succeeded" not in kinds
    assert kinds["Reviewed"]["reason"] == "Approved"
    assert kinds["Failed"]["reason"] == "PushFailed"
    assert "rejected by the hook" in kinds["Failed"]["message"]
    assert patch["result"]["failure"]["reason"] == "PushFailed"
