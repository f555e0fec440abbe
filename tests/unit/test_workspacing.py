"""The WorkspaceRequest of each task: worktree, branch, push and removal per isolation."""

from __future__ import annotations

from typing import Any

import pytest

from claude_pool.api.modes import ChainIsolation
from claude_pool.api.workspacespecs import Workspace
from claude_pool.workflows.workspacing import (
    ChainPlace,
    branch_name,
    chain_slot,
    workspace_request,
)


def ws(**fields: Any) -> Workspace:
    return Workspace.model_validate({"repo": "https://git.example.com/app.git", **fields})


def chain(*, last: bool = False, isolation: ChainIsolation | None = None) -> ChainPlace:
    return ChainPlace("build", "chain-uid", isolation, "second", last)


def request(workspace: Workspace | None, place: ChainPlace | None = None) -> Any:
    return workspace_request(workspace, pool="p", task="t1", uid="u1", slot=2, chain=place)


def test_no_workspace_and_isolation_none_send_no_request() -> None:
    assert request(None) is None
    assert request(ws(isolation="none")) is None


def test_isolation_task_gets_its_own_worktree_removed_after_the_run() -> None:
    got = request(ws(push="branch"))
    assert (got.worktree, got.branch, got.push, got.remove) == (
        "task-u1",
        "claude-pool/t1",
        True,
        True,
    )
    assert "t1" in got.commit_message


def test_isolation_slot_keeps_one_worktree_per_slot_on_the_slot_branch() -> None:
    got = request(ws(isolation="slot"))
    assert (got.worktree, got.branch, got.push, got.remove) == (
        "slot-2",
        "claude-pool/p-slot-2",
        False,
        False,
    )


def test_a_chain_step_shares_the_chains_worktree_named_after_the_chain() -> None:
    middle = request(ws(isolation="chain"), chain())
    last = request(ws(isolation="chain"), chain(last=True))
    assert (middle.worktree, middle.branch, middle.remove) == (
        "chain-chain-uid",
        "claude-pool/build",
        False,
    )
    assert (last.worktree, last.branch, last.remove) == (
        "chain-chain-uid",
        "claude-pool/build",
        True,
    )


def test_chain_isolation_worktree_on_the_chain_wins_over_the_pools_isolation() -> None:
    got = request(ws(isolation="task"), chain(isolation=ChainIsolation.WORKTREE))
    assert got.worktree == "chain-chain-uid"
    assert request(ws(isolation="task"), chain()).worktree == "task-u1"


def test_a_chain_with_isolation_none_opts_out_of_the_pools_chain_isolation() -> None:
    assert (
        request(ws(isolation="chain"), chain(isolation=ChainIsolation.NONE)).worktree == "task-u1"
    )


def test_a_task_that_is_no_chain_step_works_alone_under_chain_isolation() -> None:
    assert request(ws(isolation="chain")).worktree == "task-u1"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("work/{pool}/{task}-{slot}", "work/p/t1-2"),
        ("x/{uid}", "x/u1"),
    ],
)
def test_the_branch_template_fills_every_placeholder(template: str, expected: str) -> None:
    assert request(ws(branchTemplate=template)).branch == expected
    assert branch_name(template, task="t1", pool="p", slot=2, uid="u1") == expected


def test_an_unpushed_chain_step_is_pinned_to_the_slot_before_and_a_pushed_one_is_not() -> None:
    assert chain_slot(ws(isolation="chain"), chain(), "p-slot-1") == "p-slot-1"
    assert chain_slot(ws(isolation="chain", push="branch"), chain(), "p-slot-1") is None
    assert chain_slot(ws(isolation="task"), chain(), "p-slot-1") is None
    assert chain_slot(ws(isolation="chain"), None, "p-slot-1") is None
    assert chain_slot(None, chain(isolation=ChainIsolation.WORKTREE), "p-slot-1") is None


def test_a_reviewed_task_waits_for_the_approval_to_push_with_push_on_approval() -> None:
    workspace = ws(push="branch", pushOnApproval=True)
    reviewed = workspace_request(workspace, pool="p", task="t1", uid="u1", slot=0, reviewed=True)
    plain = workspace_request(workspace, pool="p", task="t1", uid="u1", slot=0)
    assert reviewed is not None and plain is not None
    assert (reviewed.push, plain.push) == (False, True)


def test_a_branch_name_too_long_for_git_is_cut_and_kept_unique() -> None:
    long_task = "t" * 250
    first = branch_name("claude-pool/{task}", task=long_task, pool="p", slot=0, uid="u1")
    second = branch_name("claude-pool/{task}", task=long_task + "x", pool="p", slot=0, uid="u1")
    assert len(first) <= 255 and first.startswith("claude-pool/ttt")
    assert first != second
