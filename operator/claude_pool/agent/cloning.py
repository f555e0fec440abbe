"""The slot's clone: cloned (or fetched, on a kept volume) at start, stale worktrees pruned.

Called by `workspace.Workspace`. Layout under the workspace directory: `clone/` (the clone,
with its own checkout), `worktrees/<name>/` (one per task or chain). A clone is made in
`clone.partial/` and renamed, so a crash mid-clone leaves nothing that looks finished.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from claude_pool.agent.gitrun import Git, GitError

COMMIT_PATTERN = re.compile(r"^[0-9a-f]{40}$")
ALL_BRANCHES = "+refs/heads/*:refs/remotes/origin/*"
INTERRUPTED_MESSAGE = "claude-pool: changes left by an interrupted task"
AGENT_USER = ("claude-pool", "claude-pool@localhost")


@dataclass(frozen=True)
class WorkspaceSpec:
    """The repository of a slot and where its clone lives."""

    repo: str
    ref: str | None
    depth: int | None
    directory: Path

    @property
    def clone(self) -> Path:
        return self.directory / "clone"

    @property
    def worktrees(self) -> Path:
        return self.directory / "worktrees"


class UnknownRefError(Exception):
    """The ref (or a task's base) names nothing in the clone."""


def backoff(attempt: int, first: float, maximum: float) -> float:
    """The wait after failed attempt number `attempt` (1-based): doubling, capped."""
    return float(min(maximum, first * 2 ** max(attempt - 1, 0)))


async def fetch(git: Git, spec: WorkspaceSpec) -> None:
    """Fetch every branch (and tags) of origin into the clone."""
    depth = ["--depth", str(spec.depth)] if spec.depth else []
    await git(
        "fetch", "--prune", "--tags", *depth, spec.repo, ALL_BRANCHES, cwd=spec.clone, network=True
    )


async def clone_or_fetch(git: Git, spec: WorkspaceSpec) -> str:
    """Make the clone ready (clone it, or fetch an existing one); the ref's commit."""
    spec.worktrees.mkdir(parents=True, exist_ok=True)
    if (spec.clone / ".git").exists():
        await git("remote", "set-url", "origin", spec.repo, cwd=spec.clone)
        await fetch(git, spec)
        if spec.ref is None:
            await git("remote", "set-head", "origin", "--auto", cwd=spec.clone, network=True)
    else:
        partial = spec.directory / "clone.partial"
        shutil.rmtree(partial, ignore_errors=True)
        args = ["clone", "--quiet"]
        if spec.depth:
            args += ["--depth", str(spec.depth), "--no-single-branch"]
        if spec.ref is not None and not COMMIT_PATTERN.match(spec.ref):
            args += ["--branch", spec.ref]
        await git(*args, "--", spec.repo, str(partial), network=True)
        for key, value in zip(("user.name", "user.email"), AGENT_USER, strict=True):
            await git("config", key, value, cwd=partial)
        partial.rename(spec.clone)
    commit = await resolve(git, spec.clone, spec.ref)
    if spec.ref is not None and COMMIT_PATTERN.match(spec.ref):
        await git("checkout", "--quiet", "--detach", commit, "--", cwd=spec.clone)
    return commit


async def resolve(git: Git, clone: Path, ref: str | None, *, local: bool = False) -> str:
    """The commit `ref` names (default the remote's HEAD); UnknownRefError if none.

    Remote branches come first (the freshest); `local` also looks at the clone's branches.
    """
    if ref is None:
        candidates = ["refs/remotes/origin/HEAD", "HEAD"]
    else:
        candidates = [f"refs/remotes/origin/{ref}", f"refs/tags/{ref}", ref]
        if local:
            candidates.insert(1, f"refs/heads/{ref}")
    for candidate in candidates:
        found = await git(
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            f"{candidate}^{{commit}}",
            cwd=clone,
            check=False,
        )
        if found.code == 0 and found.stdout.strip():
            return found.stdout.strip()
    raise UnknownRefError(f"unknown ref {ref or 'HEAD'!r}: not a branch, tag or commit of origin")


async def prune_stale(
    git: Git, spec: WorkspaceSpec, owned: set[str], log: Callable[[str], None]
) -> list[str]:
    """Remove worktree directories no running task owns; commit what they left dirty first
    (on their branch, so nothing is lost). The names removed."""
    await git("worktree", "prune", cwd=spec.clone)
    removed = []
    for path in sorted(spec.worktrees.iterdir()) if spec.worktrees.exists() else []:
        if path.name in owned:
            continue
        if (path / ".git").is_file():
            await _commit_leftovers(git, path, log)
            await git("worktree", "remove", "--force", str(path), cwd=spec.clone, check=False)
        shutil.rmtree(path, ignore_errors=True)
        log(f"workspace: removed the stale worktree {path.name}")
        removed.append(path.name)
    await git("worktree", "prune", cwd=spec.clone)
    return removed


async def _commit_leftovers(git: Git, worktree: Path, log: Callable[[str], None]) -> None:
    try:
        branch = await git("symbolic-ref", "--quiet", "--short", "HEAD", cwd=worktree, check=False)
        status = await git("status", "--porcelain", cwd=worktree)
        if branch.code != 0 or not status.stdout.strip():
            return
        await git("add", "-A", cwd=worktree)
        await git("commit", "--quiet", "--no-verify", "-m", INTERRUPTED_MESSAGE, cwd=worktree)
        log(f"workspace: committed what {worktree.name} left on {branch.stdout.strip()}")
    except GitError as error:
        log(f"workspace: could not commit what {worktree.name} left: {error}")
