"""`ClaudeTask.status.workspace`: what a task's run did to the pool's git workspace.

Written by the operator from the agent's `WorkspaceResult` when the run finishes
(`status.tasks.finished`), and on the chain parent from its last step with a workspace
(`workflows.rollup`). A reviewer reads the diffstat here before approving. Never holds a
credential: the agent strips them from the repository URL, and so does `from_result`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from claude_pool.api.common import Count, Name, StatusModel
from claude_pool.api.workspaces import (
    MAX_DIFFSTAT_BYTES,
    MAX_FILES,
    WorkspaceResult,
    strip_credentials,
)

Commit = Annotated[str, Field(max_length=64)]
Path = Annotated[str, Field(max_length=4096)]


class TaskWorkspace(StatusModel):
    """The branch a task's work is on, and where it is kept."""

    repository: Annotated[str, Field(max_length=2048)]
    """The repository's URL (credentials stripped)."""
    branch: Annotated[str, Field(max_length=255)]
    """The branch holding the task's work."""
    base_commit: Commit = ""
    """Where the branch started."""
    head_commit: Commit = ""
    """The branch's commit after the run."""
    files_changed: Count = 0
    """Files changed between base and head."""
    insertions: Count = 0
    """Lines added."""
    deletions: Count = 0
    """Lines removed."""
    files: Annotated[list[Path], Field(max_length=MAX_FILES)] = Field(default_factory=list)
    """The changed paths (at most 100)."""
    diffstat: Annotated[str, Field(max_length=MAX_DIFFSTAT_BYTES)] = ""
    """`git diff --stat` of base..head (at most 4 KiB)."""
    committed_by_agent: bool = False
    """The CLI left changes uncommitted; the agent committed them with a generated message."""
    pushed: bool = False
    """The branch was pushed to the repository. When false, it is kept only in the clone of
    `slot` (and pushOnApproval pushes it when a review approves)."""
    slot: Name | None = None
    """The slot pod whose clone holds the branch (and the worktree, when kept)."""
    worktree_kept: bool = False
    """The worktree directory is still on the slot (isolation slot or chain)."""

    @classmethod
    def from_result(cls, result: WorkspaceResult, slot: str | None) -> TaskWorkspace:
        """The status form of the agent's report, bounded to the CRD's limits."""
        return cls(
            repository=strip_credentials(result.repository)[:2048],
            branch=result.branch[:255],
            base_commit=result.base_commit[:64],
            head_commit=result.head_commit[:64],
            files_changed=max(result.files_changed, 0),
            insertions=max(result.insertions, 0),
            deletions=max(result.deletions, 0),
            files=[f[:4096] for f in result.files[:MAX_FILES]],
            diffstat=result.diffstat.encode()[:MAX_DIFFSTAT_BYTES].decode(errors="ignore"),
            committed_by_agent=result.committed_by_agent,
            pushed=result.pushed,
            slot=slot,
            worktree_kept=result.worktree_kept,
        )
