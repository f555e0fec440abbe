"""spec.workspace of a ClaudePool: what admission accepts and refuses, and the defaults."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from claude_pool.api.modes import Chain
from claude_pool.api.pools import ClaudePoolSpec
from claude_pool.api.workspacespecs import (
    Workspace,
    WorkspaceIsolation,
    WorkspacePush,
    unknown_placeholders,
)


@pytest.mark.parametrize(
    "repo",
    [
        "https://git.example.com/app.git",
        "http://127.0.0.1:8080/repos/app.git",
        "ssh://git@git.example.com/app.git",
        "git@github.com:org/app.git",
        "file:///srv/git/app.git",
    ],
)
def test_every_supported_url_form_is_accepted(repo: str) -> None:
    assert Workspace.model_validate({"repo": repo}).repo == repo


@pytest.mark.parametrize(
    "repo",
    [
        "https://bot:tok@git.example.com/app.git",
        "https://ghp_secret@git.example.com/app.git",
        "ssh://git:pw@git.example.com/app.git",
    ],
)
def test_a_url_with_credentials_is_refused_with_a_pointer_to_the_secret(repo: str) -> None:
    with pytest.raises(ValidationError, match="credentialsSecret"):
        Workspace.model_validate({"repo": repo})


def test_defaults_are_task_isolation_no_push_and_an_empty_dir() -> None:
    ws = Workspace.model_validate({"repo": "file:///r"})
    assert (ws.isolation, ws.push, ws.volume, ws.push_on_approval) == (
        WorkspaceIsolation.TASK,
        WorkspacePush.NONE,
        None,
        False,
    )


def test_push_on_approval_needs_push_branch() -> None:
    with pytest.raises(ValidationError, match="pushOnApproval needs push: branch"):
        Workspace.model_validate({"repo": "file:///r", "pushOnApproval": True})
    assert Workspace.model_validate(
        {"repo": "file:///r", "push": "branch", "pushOnApproval": True}
    ).push_on_approval


def test_unknown_placeholders_are_named() -> None:
    assert unknown_placeholders("cp/{task}-{slot}") == []
    assert unknown_placeholders("cp/{branch}/{uid}") == ["{branch}"]
    assert unknown_placeholders("cp/{task") == ["{task"]


def test_a_pool_with_a_workspace_and_a_claim_template_is_accepted() -> None:
    spec = ClaudePoolSpec.model_validate(
        {
            "workspace": {
                "repo": "https://git.example.com/app.git",
                "ref": "main",
                "depth": 1,
                "credentialsSecret": {"name": "git"},
                "isolation": "chain",
                "push": "branch",
                "branchTemplate": "work/{pool}/{task}",
                "volume": {"claimTemplate": {"size": "2Gi", "accessModes": ["ReadWriteOnce"]}},
            }
        }
    )
    assert spec.workspace is not None
    assert spec.workspace.volume is not None
    assert spec.workspace.volume.claim_template is not None
    assert spec.workspace.volume.claim_template.size == "2Gi"


def test_chain_isolation_worktree_is_accepted_and_clone_refused() -> None:
    steps = [{"name": "a", "prompt": "x"}]
    assert Chain.model_validate({"steps": steps, "isolation": "worktree"}).isolation == "worktree"
    with pytest.raises(ValidationError, match="use worktree"):
        Chain.model_validate({"steps": steps, "isolation": "clone"})


@pytest.mark.parametrize(
    "template", ["a..{task}", "{task}.lock", "w/{task}/", ".x/{task}", "x//{task}"]
)
def test_a_branch_template_git_would_refuse_is_refused(template: str) -> None:
    with pytest.raises(ValidationError, match="branchTemplate"):
        Workspace.model_validate({"repo": "file:///r", "branchTemplate": template})
