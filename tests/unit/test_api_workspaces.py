"""The workspace wire models: names, bounds, camelCase, and no credential in a URL."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from claude_pool.api.agent import AgentResult, AgentSlotState, SlotStatus, TaskRequest
from claude_pool.api.failures import FailureReason
from claude_pool.api.workspaces import (
    DEFAULT_COMMIT_MESSAGE,
    PushRequest,
    WorkspacePhase,
    WorkspaceReason,
    WorkspaceRequest,
    WorkspaceResult,
    WorkspaceState,
    is_valid_branch,
    strip_credentials,
)


@pytest.mark.parametrize(
    "name", ["main", "claude-pool/task-1", "feature/a.b_c", "v1.2", "x" * 255, "a/b/c"]
)
def test_valid_branch_names_are_accepted(name: str) -> None:
    assert is_valid_branch(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "-x",
        "a..b",
        "a b",
        "a~1",
        "a^",
        "a:b",
        "a?",
        "a*",
        "a[",
        "a\\b",
        "/a",
        "a/",
        "a.",
        "a//b",
        "a/.b",
        "a.lock",
        "a/b.lock/c",
        "@",
        "a@{1}",
        "x" * 256,
        "a\x00",
    ],
)
def test_invalid_branch_names_are_refused(name: str) -> None:
    assert not is_valid_branch(name)


def test_a_task_request_carries_a_workspace_request_in_camel_case() -> None:
    request = TaskRequest.model_validate(
        {
            "prompt": "p",
            "workspace": {
                "worktree": "task-1",
                "branch": "claude-pool/t1",
                "base": "origin/main",
                "push": True,
                "remove": True,
                "commitMessage": "claude-pool: t1",
            },
        }
    )
    assert request.workspace == WorkspaceRequest(
        worktree="task-1",
        branch="claude-pool/t1",
        base="origin/main",
        push=True,
        remove=True,
        commit_message="claude-pool: t1",
    )
    assert request.to_wire()["workspace"]["commitMessage"] == "claude-pool: t1"


def test_a_workspace_request_has_safe_defaults() -> None:
    request = WorkspaceRequest(branch="b")
    assert (request.worktree, request.base, request.push, request.remove) == (
        None,
        None,
        False,
        False,
    )
    assert request.commit_message == DEFAULT_COMMIT_MESSAGE


@pytest.mark.parametrize(
    "body",
    [
        {"branch": "a..b"},
        {"branch": "b", "worktree": "../x"},
        {"branch": "b", "worktree": "a/b"},
        {"branch": "b", "worktree": ""},
        {"branch": "b", "worktree": "w" * 129},
        {"branch": "b", "base": "--upload-pack=x"},
        {"branch": "b", "base": "main:secret.txt"},
        {"branch": "b", "base": "a b"},
        {"branch": "b", "commitMessage": ""},
        {"branch": "b", "unknown": 1},
    ],
)
def test_bad_workspace_requests_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        WorkspaceRequest.model_validate(body)


@pytest.mark.parametrize("base", ["main", "origin/main", "HEAD~2", "v1.0^{}", "a" * 40])
def test_a_base_may_be_a_ref_or_a_revision(base: str) -> None:
    assert WorkspaceRequest(branch="b", base=base).base == base


def test_a_result_carries_the_workspace_result() -> None:
    result = AgentResult.model_validate(
        {
            "success": True,
            "workspace": {
                "repository": "https://git.example/r.git",
                "branch": "b",
                "baseCommit": "a" * 40,
                "headCommit": "b" * 40,
                "filesChanged": 2,
                "insertions": 3,
                "deletions": 1,
                "files": ["x", "y"],
                "diffstat": " x | 1 +\n",
                "committedByAgent": True,
                "pushed": True,
                "worktreeKept": False,
            },
        }
    )
    assert result.workspace is not None
    assert (result.workspace.files_changed, result.workspace.worktree_kept) == (2, False)
    assert result.to_wire()["workspace"]["headCommit"] == "b" * 40


def test_a_result_lists_at_most_a_hundred_files() -> None:
    with pytest.raises(ValidationError):
        WorkspaceResult(
            repository="r", branch="b", base_commit="a", head_commit="b", files=["f"] * 101
        )


def test_the_slot_status_reports_the_workspace_state() -> None:
    status = SlotStatus(
        state=AgentSlotState.IDLE,
        agent_version="1",
        workspace=WorkspaceState(
            phase=WorkspacePhase.UNAVAILABLE,
            reason=WorkspaceReason.AUTHENTICATION_FAILED,
            message="Authentication failed",
            worktrees=["t1"],
        ),
    )
    wire = status.to_wire()["workspace"]
    assert wire["phase"] == "Unavailable" and wire["reason"] == "AuthenticationFailed"
    assert SlotStatus.model_validate(status.to_wire()) == status
    assert "workspace" not in SlotStatus(state=AgentSlotState.IDLE, agent_version="1").to_wire()


def test_a_workspace_message_is_bounded() -> None:
    with pytest.raises(ValidationError):
        WorkspaceState(phase=WorkspacePhase.UNAVAILABLE, message="m" * 1025)


def test_a_push_request_names_a_valid_branch() -> None:
    assert PushRequest.model_validate({"branch": "claude-pool/x"}).branch == "claude-pool/x"
    for body in ({"branch": "a b"}, {}, {"branch": "b", "force": True}):
        with pytest.raises(ValidationError):
            PushRequest.model_validate(body)


def test_push_failed_is_a_failure_reason() -> None:
    assert FailureReason("PushFailed") is FailureReason.PUSH_FAILED


@pytest.mark.parametrize(
    ("url", "clean"),
    [
        ("https://x-access-token:s3cret@github.com/o/r.git", "https://github.com/o/r.git"),
        ("https://user@host:8443/r.git", "https://host:8443/r.git"),
        ("https://host/r.git", "https://host/r.git"),
        ("ssh://git@host/r.git", "ssh://host/r.git"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ("file:///srv/r.git", "file:///srv/r.git"),
    ],
)
def test_credentials_are_stripped_from_urls(url: str, clean: str) -> None:
    assert strip_credentials(url) == clean
