"""Wire models of a slot's git workspace, shared by the operator (client) and the slot agent.

The operator puts a `WorkspaceRequest` in `TaskRequest.workspace` (which worktree, which
branch, push or not); the agent answers with a `WorkspaceResult` in `AgentResult.workspace`
(commits, diffstat, pushed or not) and reports its clone as `WorkspaceState` in
`SlotStatus.workspace`. `POST /v1/workspace/push` takes a `PushRequest` (push on approval).
slot-image/README.md documents the same contract for humans. No field ever holds a
credential: the repository URL is reported with any `user:pass@` stripped.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, StringConstraints, field_validator

from claude_pool.api.wire import RequestModel, WireModel

WORKTREE_NAME_PATTERN = r"^[A-Za-z0-9._-]{1,128}$"
"""A worktree's directory name under `<workspace>/worktrees/`: never a path."""
MAX_BRANCH_CHARS = 255
MAX_MESSAGE_BYTES = 1024
"""A workspace state's message (a redacted git error) is cut to this."""
MAX_DIFFSTAT_BYTES = 4096
MAX_FILES = 100
"""At most this many changed paths are listed in a result (`files_changed` counts them all)."""
MAX_COMMIT_MESSAGE_CHARS = 65_536
DEFAULT_COMMIT_MESSAGE = "claude-pool: changes left uncommitted by the task"

_BAD_REF_PARTS = re.compile(r"(\.\.|@\{|//|[\x00-\x20\x7f~^:?*\[\\])")
_BAD_REVISION = re.compile(r"[\x00-\x20\x7f:\\]")
"""A base may be `v1.0`, `origin/main`, `HEAD~2` or a commit, never `rev:path` nor spaces."""


def is_valid_branch(name: str) -> bool:
    """Whether `name` is a valid branch name (the rules of `git check-ref-format --branch`)."""
    if not name or len(name) > MAX_BRANCH_CHARS or name == "@" or name.startswith("-"):
        return False
    if _BAD_REF_PARTS.search(name) or name.endswith(("/", ".")) or name.startswith("/"):
        return False
    return all(
        part and not part.startswith(".") and not part.endswith(".lock") for part in name.split("/")
    )


def _check_branch(value: str) -> str:
    if not is_valid_branch(value):
        raise ValueError(f"{value!r} is not a valid git branch name")
    return value


def strip_credentials(url: str) -> str:
    """`url` without any `user[:password]@` part (scp-like `git@host:path` is kept as is)."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=host))


WorktreeName = Annotated[str, StringConstraints(pattern=WORKTREE_NAME_PATTERN)]
BranchName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_BRANCH_CHARS)]


class WorkspaceRequest(RequestModel):
    """Where and how one task works in the slot's clone (`TaskRequest.workspace`)."""

    worktree: WorktreeName | None = None
    """The worktree's directory under `<workspace>/worktrees/`; reused when it exists.
    None runs in the clone's own checkout: nothing is committed or pushed by the agent."""
    branch: BranchName
    """The branch the worktree holds: an existing local branch, else `origin/<branch>`,
    else a new branch from `base`."""
    base: Annotated[str, StringConstraints(min_length=1, max_length=MAX_BRANCH_CHARS)] | None = None
    """A ref or commit a new branch starts from; default the workspace's ref."""
    push: bool = False
    """Push the branch to origin after the run (a failed push fails the task: PushFailed)."""
    remove: bool = False
    """Remove the worktree directory after the run (the branch always stays in the clone)."""
    commit_message: Annotated[
        str, StringConstraints(min_length=1, max_length=MAX_COMMIT_MESSAGE_CHARS)
    ] = DEFAULT_COMMIT_MESSAGE
    """The message of the commit of whatever the CLI left uncommitted."""

    _branch = field_validator("branch")(_check_branch)

    @field_validator("base")
    @classmethod
    def _plain_revision(cls, value: str | None) -> str | None:
        if value is not None and (value.startswith("-") or _BAD_REVISION.search(value)):
            raise ValueError(f"{value!r} is not a valid git ref or commit")
        return value


class WorkspaceResult(WireModel):
    """What a task did to the workspace (`AgentResult.workspace`)."""

    repository: str
    """The repository's URL, credentials stripped."""
    branch: str
    base_commit: str
    """Where the branch started (recorded when the agent created it)."""
    head_commit: str
    files_changed: int = 0
    insertions: int = 0
    deletions: int = 0
    files: Annotated[list[str], Field(max_length=MAX_FILES)] = Field(default_factory=list)
    """Paths changed between base and head (at most MAX_FILES)."""
    diffstat: str = ""
    """`git diff --stat base..head`, at most MAX_DIFFSTAT_BYTES."""
    committed_by_agent: bool = False
    """The CLI left changes uncommitted and the agent committed them."""
    pushed: bool = False
    worktree_kept: bool = True
    """The worktree directory is still on the slot (not removed after the run)."""


class WorkspacePhase(StrEnum):
    """Where the slot's clone is."""

    CLONING = "Cloning"
    READY = "Ready"
    UNAVAILABLE = "Unavailable"


class WorkspaceReason(StrEnum):
    """Why the clone is not Ready (retried with backoff)."""

    REPOSITORY_UNREACHABLE = "RepositoryUnreachable"
    AUTHENTICATION_FAILED = "AuthenticationFailed"
    UNKNOWN_REF = "UnknownRef"
    CLONE_FAILED = "CloneFailed"


class WorkspaceState(WireModel):
    """The slot's clone (`SlotStatus.workspace`; absent when the slot has no workspace)."""

    phase: WorkspacePhase
    reason: WorkspaceReason | None = None
    message: Annotated[str, StringConstraints(max_length=MAX_MESSAGE_BYTES)] = ""
    """The last failure, redacted (no token, no credentials in URLs)."""
    repository: str = ""
    """The repository's URL, credentials stripped."""
    ref: str | None = None
    """The ref cloned (None: the remote's HEAD)."""
    commit: str | None = None
    """The commit the ref pointed at when last fetched."""
    worktrees: list[str] = Field(default_factory=list)
    """Worktree directory names held in the clone."""
    attempts: int = 0
    """Clone or fetch attempts since the agent started."""


class PushRequest(RequestModel):
    """The body of `POST /v1/workspace/push`: push a branch held in the clone."""

    branch: BranchName

    _branch = field_validator("branch")(_check_branch)


class PushResponse(WireModel):
    """The answer to a successful `POST /v1/workspace/push`."""

    branch: str
    commit: str
    repository: str
