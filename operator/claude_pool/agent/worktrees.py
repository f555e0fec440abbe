"""A task's checkout: the worktree made (or reused) before the run, committed and reported,
pushed and removed after it.

Called by `workspace.Workspace` under its lock. The rules (slot-image/README.md):
an existing worktree directory is reused as is; else the clone is fetched (a failed fetch is
logged and the local refs used), then the worktree holds the local branch (fast-forwarded
to origin's when that one is ahead), else a branch from `origin/<branch>` (a chain step
continuing a pushed branch), else a new branch from the base. Where a branch started is
kept in `branch.<name>.claudePoolBase` of the clone's config.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from claude_pool.agent.cloning import UnknownRefError, WorkspaceSpec, fetch, resolve
from claude_pool.agent.gitfacts import bound_diffstat, parse_numstat
from claude_pool.agent.gitrun import Git, GitError
from claude_pool.api.workspaces import WorkspaceRequest, WorkspaceResult, strip_credentials


@dataclass(frozen=True)
class Checkout:
    """Where a task runs, and what its result is measured from."""

    path: Path
    worktree: str | None
    """The worktree's name; None when the task runs in the clone itself."""
    branch: str
    base_commit: str


def _base_key(branch: str) -> str:
    return f"branch.{branch}.claudePoolBase"


async def _commit_of(git: Git, clone: Path, ref: str) -> str | None:
    found = await git(
        "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=clone, check=False
    )
    return found.stdout.strip() if found.code == 0 else None


async def recorded_base(git: Git, clone: Path, branch: str, fallback: str) -> str:
    """Where `branch` started: the recorded commit, else its merge-base with `fallback`."""
    recorded = await git("config", "--get", _base_key(branch), cwd=clone, check=False)
    if recorded.code == 0 and recorded.stdout.strip():
        return recorded.stdout.strip()
    merged = await git("merge-base", f"refs/heads/{branch}", fallback, cwd=clone, check=False)
    return merged.stdout.strip() if merged.code == 0 else fallback


async def prepare(
    git: Git, spec: WorkspaceSpec, request: WorkspaceRequest | None, log: Callable[[str], None]
) -> Checkout:
    """The checkout of `request` (see the module docstring); GitError/UnknownRefError."""
    clone = spec.clone
    if request is None or request.worktree is None:
        head = await git("rev-parse", "HEAD", cwd=clone)
        named = await git("symbolic-ref", "--quiet", "--short", "HEAD", cwd=clone, check=False)
        branch = named.stdout.strip() if named.code == 0 else "HEAD"
        return Checkout(clone, None, branch, head.stdout.strip())
    path = spec.worktrees / request.worktree
    branch = request.branch
    if path.exists():
        base = await recorded_base(git, clone, branch, "HEAD")
        return Checkout(path, request.worktree, branch, base)
    try:
        await fetch(git, spec)
    except GitError as error:
        log(f"workspace: fetch failed, using the clone's refs as they are: {error}")
    local = await _commit_of(git, clone, f"refs/heads/{branch}")
    remote = await _commit_of(git, clone, f"refs/remotes/origin/{branch}")
    try:
        base = await resolve(git, clone, request.base or spec.ref, local=True)
    except UnknownRefError:
        if local is None and remote is None:
            raise
        base = local or remote or ""  # only a fallback: the branch exists
    if local is not None:
        if remote is not None and remote != local:
            ahead = await git("merge-base", "--is-ancestor", local, remote, cwd=clone, check=False)
            if ahead.code == 0:
                await git("update-ref", f"refs/heads/{branch}", remote, local, cwd=clone)
        await git("worktree", "add", "--quiet", str(path), branch, cwd=clone)
        base = await recorded_base(git, clone, branch, base)
    elif remote is not None:
        await git(
            "worktree", "add", "--quiet", "--no-track", "-b", branch, str(path), remote, cwd=clone
        )
        merged = await git("merge-base", remote, base, cwd=clone, check=False)
        base = merged.stdout.strip() if merged.code == 0 else remote
    else:
        await git(
            "worktree", "add", "--quiet", "--no-track", "-b", branch, str(path), base, cwd=clone
        )
    if (await git("config", "--get", _base_key(branch), cwd=clone, check=False)).code != 0:
        await git("config", _base_key(branch), base, cwd=clone)
    return Checkout(path, request.worktree, branch, base)


async def commit_leftovers(git: Git, checkout: Checkout, message: str) -> bool:
    """Stage and commit whatever the run left dirty in a worktree; whether it committed."""
    if checkout.worktree is None:
        return False
    await git("add", "-A", cwd=checkout.path)
    staged = await git("diff", "--cached", "--quiet", cwd=checkout.path, check=False)
    if staged.code == 0:
        return False
    await git("commit", "--quiet", "--no-verify", "-m", message, cwd=checkout.path)
    return True


async def describe(
    git: Git, spec: WorkspaceSpec, checkout: Checkout, *, committed: bool
) -> WorkspaceResult:
    """The result of a run: base..head figures and diffstat (nothing pushed yet)."""
    ref = f"refs/heads/{checkout.branch}" if checkout.worktree is not None else "HEAD"
    cwd = spec.clone if checkout.worktree is not None else checkout.path
    head = (await git("rev-parse", ref, cwd=cwd)).stdout.strip()
    span = f"{checkout.base_commit}..{head}"
    numstat = await git("diff", "--numstat", "-z", "-M", span, "--", cwd=cwd)
    stat = await git("diff", "--stat", "-M", span, "--", cwd=cwd)
    figures = parse_numstat(numstat.stdout)
    return WorkspaceResult(
        repository=strip_credentials(spec.repo),
        branch=checkout.branch,
        base_commit=checkout.base_commit,
        head_commit=head,
        files_changed=figures.files_changed,
        insertions=figures.insertions,
        deletions=figures.deletions,
        files=figures.files,
        diffstat=bound_diffstat(stat.stdout),
        committed_by_agent=committed,
    )


async def push(git: Git, spec: WorkspaceSpec, branch: str) -> str:
    """Push `branch` of the clone to the repository; the commit pushed. GitError if refused."""
    commit = (await git("rev-parse", f"refs/heads/{branch}", cwd=spec.clone)).stdout.strip()
    refspec = f"refs/heads/{branch}:refs/heads/{branch}"
    await git("push", "--quiet", "--", spec.repo, refspec, cwd=spec.clone, network=True)
    await git("update-ref", f"refs/remotes/origin/{branch}", commit, cwd=spec.clone)
    return commit


async def remove(git: Git, spec: WorkspaceSpec, checkout: Checkout) -> None:
    """Remove a worktree's directory (its branch stays in the clone)."""
    await git("worktree", "remove", "--force", str(checkout.path), cwd=spec.clone)
