"""The slot's workspace: owner of the clone's state, its lock and the worktrees in use.

Created by `main` when CLAUDE_POOL_AGENT_WORKSPACE_REPO is set; used by `slot` (is the
clone Ready, the checkout of a task) and `server` (GET /v1/slot, POST /v1/workspace/push).
`keep_cloning` runs in the background from start: clone or fetch, prune stale worktrees,
and on failure retry with backoff until the clone is Ready. Every git command that changes
the clone's refs or worktrees runs under one lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from claude_pool.agent import cloning, worktrees
from claude_pool.agent.cloning import UnknownRefError, WorkspaceSpec
from claude_pool.agent.gitfacts import classify, short_message
from claude_pool.agent.gitrun import Git, GitError
from claude_pool.agent.worktrees import Checkout
from claude_pool.api.workspaces import (
    PushResponse,
    WorkspacePhase,
    WorkspaceReason,
    WorkspaceRequest,
    WorkspaceResult,
    WorkspaceState,
    strip_credentials,
)

Sleep = Callable[[float], Awaitable[None]]


class Workspace:
    """One slot's clone and worktrees."""

    def __init__(
        self,
        spec: WorkspaceSpec,
        git: Git,
        log: Callable[[str], None],
        *,
        retry_seconds: float = 10.0,
        retry_max_seconds: float = 300.0,
    ) -> None:
        self.spec = spec
        self.git = git
        self.log = log
        self.retry_seconds = retry_seconds
        self.retry_max_seconds = retry_max_seconds
        self.lock = asyncio.Lock()
        self.phase = WorkspacePhase.CLONING
        self.reason: WorkspaceReason | None = None
        self.message = ""
        self.commit: str | None = None
        self.attempts = 0
        self.in_use: set[str] = set()
        """Worktrees of the running task: never pruned."""

    @property
    def ready(self) -> bool:
        return self.phase is WorkspacePhase.READY

    @property
    def repository(self) -> str:
        return strip_credentials(self.spec.repo)

    def state(self) -> WorkspaceState:
        """The clone as GET /v1/slot reports it (reads the worktrees directory)."""
        root = self.spec.worktrees
        names = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
        return WorkspaceState(
            phase=self.phase,
            reason=self.reason,
            message=self.message,
            repository=self.repository,
            ref=self.spec.ref,
            commit=self.commit,
            worktrees=names,
            attempts=self.attempts,
        )

    async def keep_cloning(self, sleep: Sleep = asyncio.sleep) -> None:
        """Clone (or fetch) until it works, then prune stale worktrees; the slot is Ready."""
        while True:
            self.attempts += 1
            try:
                async with self.lock:
                    self.commit = await cloning.clone_or_fetch(self.git, self.spec)
                    await cloning.prune_stale(self.git, self.spec, self.in_use, self.log)
            except (GitError, UnknownRefError, OSError) as error:
                reason = (
                    WorkspaceReason.UNKNOWN_REF
                    if isinstance(error, UnknownRefError)
                    else classify(str(error))
                )
                wait = cloning.backoff(self.attempts, self.retry_seconds, self.retry_max_seconds)
                self.phase, self.reason, self.message = (
                    WorkspacePhase.UNAVAILABLE,
                    reason,
                    short_message(str(error)),
                )
                self.log(
                    f"workspace: {self.repository} unavailable ({reason.value}): "
                    f"{self.message}; retrying in {wait:.0f} s"
                )
                await sleep(wait)
                continue
            self.phase, self.reason, self.message = WorkspacePhase.READY, None, ""
            self.log(f"workspace: {self.repository} ready at {self.commit} in {self.spec.clone}")
            return

    async def prepare(self, request: WorkspaceRequest | None) -> Checkout:
        """The checkout a task runs in (GitError, UnknownRefError when it cannot be made)."""
        async with self.lock:
            checkout = await worktrees.prepare(self.git, self.spec, request, self.log)
        if checkout.worktree is not None:
            self.in_use.add(checkout.worktree)
        return checkout

    async def finish(
        self, checkout: Checkout, request: WorkspaceRequest | None, *, may_push: bool
    ) -> tuple[WorkspaceResult, str | None]:
        """Commit, describe, push (when asked and `may_push`) and remove (when asked);
        the result and the push's error message, if it failed."""
        try:
            async with self.lock:
                message = request.commit_message if request else ""
                committed = await worktrees.commit_leftovers(self.git, checkout, message)
                result = await worktrees.describe(
                    self.git, self.spec, checkout, committed=committed
                )
                push_error = None
                if request is not None and checkout.worktree is not None:
                    if request.push and may_push:
                        try:
                            await worktrees.push(self.git, self.spec, checkout.branch)
                            result = result.model_copy(update={"pushed": True})
                        except GitError as error:
                            push_error = str(error)
                    if request.remove:
                        await worktrees.remove(self.git, self.spec, checkout)
                        result = result.model_copy(update={"worktree_kept": False})
        finally:
            if checkout.worktree is not None:
                self.in_use.discard(checkout.worktree)
        return result, push_error

    async def push(self, branch: str) -> PushResponse:
        """Push a branch held in the clone; KeyError if unknown, GitError if it fails."""
        async with self.lock:
            known = await self.git(
                "rev-parse",
                "--verify",
                "--quiet",
                f"refs/heads/{branch}",
                cwd=self.spec.clone,
                check=False,
            )
            if known.code != 0:
                raise KeyError(branch)
            commit = await worktrees.push(self.git, self.spec, branch)
        self.log(f"workspace: pushed {branch} at {commit}")
        return PushResponse(branch=branch, commit=commit, repository=self.repository)
