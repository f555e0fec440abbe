"""Push on approval (`spec.workspace.pushOnApproval`): what an approval writes once the
task's branch was pushed, or could not be (pure).

With `push: branch`, `pushOnApproval: true` and a task under a review gate, the run does not
push (`workspacing.workspace_request(reviewed=True)`): the branch waits in the slot's clone
while the reviewer reads `status.workspace`. When a ClaudeReview approves, the review step
(`runtime.reviewing`, through `runtime.approvalpush`) asks the slot to push the branch
(`POST /v1/workspace/push`) before it writes the approval: `pushed` turns the approval's
patch into one that also says the branch is pushed, `push_failed` into a failure with
reason PushFailed (the commits stay in the clone; the review stays recorded as approved).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from claude_pool.api.common import MAX_MESSAGE_LENGTH, dump
from claude_pool.api.conditions import Condition, ConditionStatus, TaskConditionType, set_condition
from claude_pool.api.failures import FailureReason
from claude_pool.api.phases import derive_phase
from claude_pool.api.tasks import ClaudeTask
from claude_pool.api.taskworkspaces import TaskWorkspace
from claude_pool.api.workspacespecs import Workspace, WorkspacePush


def push_waits_for_approval(workspace: Workspace | None, task: ClaudeTask) -> bool:
    """Whether `task`'s branch is pushed when a review approves, not after its run."""
    reviewed = task.spec.review is not None and task.spec.review.required
    return (
        reviewed
        and workspace is not None
        and workspace.push is WorkspacePush.BRANCH
        and workspace.push_on_approval
    )


def pending_push(workspace: Workspace | None, task: ClaudeTask) -> TaskWorkspace | None:
    """The branch an approval of `task` must push first (None: nothing to push)."""
    found = task.status.workspace
    if not push_waits_for_approval(workspace, task) or found is None or found.pushed:
        return None
    return found


def pushed(patch: dict[str, Any], workspace: TaskWorkspace, commit: str) -> dict[str, Any]:
    """The approval's patch, with the branch pushed at `commit`."""
    done = workspace.model_copy(update={"pushed": True, "head_commit": commit[:64]})
    return {**patch, "workspace": dump(done)}


def push_failed(
    patch: dict[str, Any], message: str, generation: int, now: datetime
) -> dict[str, Any]:
    """The approval's patch turned into a failure: Failed=True PushFailed, not Succeeded."""
    conditions = [
        Condition.model_validate(c)
        for c in patch.get("conditions") or []
        if c["type"] != TaskConditionType.SUCCEEDED
    ]
    text = f"approved, but the push failed: {message}"[:MAX_MESSAGE_LENGTH]
    set_condition(
        conditions,
        TaskConditionType.FAILED,
        ConditionStatus.TRUE,
        FailureReason.PUSH_FAILED,
        text,
        generation,
        now,
    )
    result = {
        "success": False,
        "failure": {"reason": FailureReason.PUSH_FAILED.value, "message": text},
    }
    return {
        **patch,
        "conditions": [dump(c) for c in conditions],
        "phase": derive_phase(conditions).value,
        "result": result,
    }
