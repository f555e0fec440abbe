"""One task on a workspace slot: checkout, CLI run, then commit, result, push, removal.

Called by `slot.Slot` when the agent has a workspace. A checkout that cannot be made fails
the task (WorkspaceFailed) before the CLI starts. After the run, success or failure, what
the CLI left is committed; the branch is pushed unless the task was cancelled or the agent
is stopping (then the commit stays in the clone). A failed push fails a task that had
succeeded with PushFailed and git's (redacted) message; a task that had already failed
keeps its own reason and reports `pushed: false`.
"""

from __future__ import annotations

from collections.abc import Callable

from claude_pool.agent.cloning import UnknownRefError
from claude_pool.agent.gitrun import GitError
from claude_pool.agent.runner import Runner, StopSignal, resolve_workdir
from claude_pool.agent.workspace import Workspace
from claude_pool.api.agent import AgentResult, Failure, ProgressEvent, TaskRequest
from claude_pool.api.failures import FailureReason

NO_PUSH_AFTER = frozenset({FailureReason.CANCELLED, FailureReason.INTERRUPTED})


def _failed(reason: FailureReason, message: str) -> AgentResult:
    return AgentResult(success=False, failure=Failure(reason=reason, message=message))


async def run_in_workspace(
    workspace: Workspace,
    runner: Runner,
    uid: str,
    request: TaskRequest,
    stop: StopSignal,
    on_progress: Callable[[ProgressEvent], None],
) -> AgentResult:
    """Run `request` in its checkout of `workspace`; the result with `workspace` filled."""
    try:
        checkout = await workspace.prepare(request.workspace)
    except (GitError, UnknownRefError, OSError) as error:
        return _failed(FailureReason.WORKSPACE_FAILED, f"the worktree could not be made: {error}")
    where = checkout.worktree or "the clone"
    workspace.log(
        f"task {uid}: working in {where} on {checkout.branch} from {checkout.base_commit}"
    )
    try:
        workdir = resolve_workdir(checkout.path, request.workdir)
    except ValueError as error:
        result = _failed(FailureReason.WORKSPACE_FAILED, f"workdir: {error}")
    else:
        result = await runner.run(uid, request, workdir, stop, on_progress)
    may_push = not (stop.requested and stop.reason in NO_PUSH_AFTER)
    try:
        outcome, push_error = await workspace.finish(checkout, request.workspace, may_push=may_push)
    except (GitError, OSError) as error:
        message = f"the workspace could not be committed or described: {error}"
        workspace.log(f"task {uid}: {message}")
        if result.success:
            return _failed(FailureReason.WORKSPACE_FAILED, message)
        return result
    if push_error is not None:
        workspace.log(f"task {uid}: push of {checkout.branch} failed: {push_error}")
        if result.success:
            failure = Failure(reason=FailureReason.PUSH_FAILED, message=push_error)
            result = result.model_copy(update={"success": False, "failure": failure})
    return result.model_copy(update={"workspace": outcome})
