"""Where a task works in its pool's git workspace: the `WorkspaceRequest` sent with it (pure).

Called at every start of a leaf task (`runtime.starting.start_run`) and, for chain steps, by
dispatch (`chain_slot`: the slot a step must run on). The pool's `spec.workspace.isolation`
decides, with a chain's `spec.chain.isolation: worktree` forcing chain isolation for its
steps (a chain's explicit `isolation: none` opts out: its steps work as single tasks):

- none: the clone's own checkout, nothing committed or pushed;
- slot: worktree `slot-N`, kept between the slot's tasks, branch
  `claude-pool/{pool}-slot-{slot}`;
- task: worktree `task-UID`, removed after the run, branch `claude-pool/{task}`;
- chain (a chain's step): worktree `chain-CHAINUID` shared by the steps, removed after the
  last step, branch `claude-pool/{task}` with {task} the chain's name (a task that is not
  a chain step works as with task).

A removed worktree's branch stays in the slot's clone (and is pushed first with push
branch): the work of a task is never deleted. A chain's next step runs on the slot of the
step before when nothing is pushed (its worktree is there); with push branch it may run on
any slot, which continues the pushed branch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from claude_pool.api.modes import ChainIsolation
from claude_pool.api.workspaces import MAX_BRANCH_CHARS, WorkspaceRequest, is_valid_branch
from claude_pool.api.workspacespecs import Workspace, WorkspaceIsolation, WorkspacePush

TASK_BRANCH = "claude-pool/{task}"
SLOT_BRANCH = "claude-pool/{pool}-slot-{slot}"
NO_WORKSPACE_FOR_CHAIN = (
    "spec.chain.isolation: worktree needs a workspace: the pool has no spec.workspace;"
    " the step waits until the pool gets one (or remove isolation from the chain)"
)


@dataclass(frozen=True)
class ChainPlace:
    """Where a chain step stands: its chain (the step's parent task) and whether it ends it."""

    name: str
    uid: str
    isolation: ChainIsolation | None
    """The chain's spec.chain.isolation."""
    step: str
    last: bool
    """The chain's last step (its worktree is removed after it; the branch stays)."""


def chain_isolated(workspace: Workspace | None, chain: ChainPlace | None) -> bool:
    """Whether a step shares its chain's worktree: the chain's own isolation (worktree: yes,
    none: no, each step works as the pool's isolation says, chain counting as task), else
    the pool's isolation chain."""
    if chain is None or chain.isolation is ChainIsolation.NONE:
        return False
    if chain.isolation is ChainIsolation.WORKTREE:
        return True
    return workspace is not None and workspace.isolation is WorkspaceIsolation.CHAIN


def branch_name(template: str, *, task: str, pool: str, slot: int, uid: str) -> str:
    """The template with its placeholders filled in; a name git would refuse (over 255
    characters with long object names) is cut and made unique with a hash of it."""
    name = (
        template.replace("{task}", task)
        .replace("{pool}", pool)
        .replace("{slot}", str(slot))
        .replace("{uid}", uid)
    )
    if is_valid_branch(name):
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    cut = f"{name[: MAX_BRANCH_CHARS - 13].rstrip('/.')}-{digest}"
    return cut if is_valid_branch(cut) else f"claude-pool/{digest}"


def workspace_request(
    workspace: Workspace | None,
    *,
    pool: str,
    task: str,
    uid: str,
    slot: int,
    chain: ChainPlace | None = None,
    reviewed: bool = False,
) -> WorkspaceRequest | None:
    """The request of task `task` (`uid`) on slot `slot`; None when it runs without a
    worktree (no workspace, or isolation none). A `reviewed` task (a review gate) on a pool
    with pushOnApproval is not pushed after its run: the approval pushes it."""
    if workspace is None:
        return None
    push = workspace.push is WorkspacePush.BRANCH and not (reviewed and workspace.push_on_approval)
    if chain_isolated(workspace, chain):
        assert chain is not None
        template = workspace.branch_template or TASK_BRANCH
        return WorkspaceRequest(
            worktree=f"chain-{chain.uid}",
            branch=branch_name(template, task=chain.name, pool=pool, slot=slot, uid=chain.uid),
            push=push,
            remove=chain.last,
            commit_message=f"claude-pool: chain {chain.name}, step {chain.step} ({task})",
        )
    isolation = workspace.isolation
    if isolation is WorkspaceIsolation.NONE:
        return None
    if isolation is WorkspaceIsolation.SLOT:
        template = workspace.branch_template or SLOT_BRANCH
        worktree, remove = f"slot-{slot}", False
    else:  # task, and chain isolation for a task that is not a chain step
        template = workspace.branch_template or TASK_BRANCH
        worktree, remove = f"task-{uid}", True
    return WorkspaceRequest(
        worktree=worktree,
        branch=branch_name(template, task=task, pool=pool, slot=slot, uid=uid),
        push=push,
        remove=remove,
        commit_message=f"claude-pool: task {task} of pool {pool}",
    )


def chain_slot(
    workspace: Workspace | None, chain: ChainPlace | None, previous_slot: str | None
) -> str | None:
    """The one slot a chain step may run on: the slot of the step before when the chain
    shares a worktree that is not pushed (None: any slot)."""
    if previous_slot is None or not chain_isolated(workspace, chain) or workspace is None:
        return None
    return None if workspace.push is WorkspacePush.BRANCH else previous_slot
