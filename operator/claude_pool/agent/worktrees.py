"""A task's checkout: the worktree made (or reused) before the run, committed and reported,
pushed and removed after it.

Called by `workspace.Workspace` under its lock. The rules (slot-image/README.md): an
existing worktree directory is reused as is; else the clone is fetched (a failed fetch is
logged and the local refs used) while the worktree is checked out, then the worktree holds
the local branch (fast-forwarded to origin's when that one is ahead), else a branch from
`origin/<branch>` (a chain step continuing a pushed branch), else a new branch from the
base. Where a branch started is kept in `branch.<name>.claudePoolBase` of the clone's config.
"""

from __future__ import annotations

import asyncio
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


async def _branch_commits(git: Git, clone: Path, branch: str) -> tuple[str | None, str | None]:
    """The commits of the local `branch` and of `origin/<branch>` (None when absent)."""
    local, remote = f"refs/heads/{branch}", f"refs/remotes/origin/{branch}"
    found = await git("for-each-ref", "--format=%(refname) %(objectname)", local, remote, cwd=clone)
    refs = dict(line.split(" ", 1) for line in found.stdout.splitlines() if " " in line)
    return refs.get(local), refs.get(remote)


async def recorded_base(git: Git, clone: Path, branch: str, fallback: str) -> str:
    """Where `branch` started: the recorded commit, else its merge-base with `fallback`."""
    recorded = await git("config", "--get", _base_key(branch), cwd=clone, check=False)
    if recorded.code == 0 and recorded.stdout.strip():
        return recorded.stdout.strip()
    merged = await git("merge-base", f"refs/heads/{branch}", fallback, cwd=clone, check=False)
    return merged.stdout.strip() if merged.code == 0 else fallback


async def _fetch_or_log(git: Git, spec: WorkspaceSpec, log: Callable[[str], None]) -> None:
    try:
        await fetch(git, spec)
    except GitError as error:
        log(f"workspace: fetch failed, using the clone's refs as they are: {error}")


async def prepare(
    git: Git, spec: WorkspaceSpec, request: WorkspaceRequest | None, log: Callable[[str], None]
) -> Checkout:
    """The checkout of `request` (see the module docstring); GitError/UnknownRefError.

    A new worktree is checked out (detached, at the base as known before the fetch) while
    the clone fetches; then it is switched to its branch, which moves only the files that
    differ (usually none).
    """
    clone = spec.clone
    if request is None or request.worktree is None:
        head = await git("rev-parse", "HEAD", cwd=clone)
        named = await git("symbolic-ref", "--quiet", "--short", "HEAD", cwd=clone, check=False)
        branch = named.stdout.strip() if named.code == 0 else "HEAD"
        return Checkout(clone, None, branch, head.stdout.strip())
    path = spec.worktrees / request.worktree
    if path.exists():
        base = await recorded_base(git, clone, request.branch, "HEAD")
        return Checkout(path, request.worktree, request.branch, base)
    try:
        start = await resolve(git, clone, request.base or spec.ref, local=True)
    except UnknownRefError:
        start = "HEAD"
    adding = git("worktree", "add", "--quiet", "--detach", str(path), start, cwd=clone)
    added, _ = await asyncio.gather(adding, _fetch_or_log(git, spec, log), return_exceptions=True)
    if isinstance(added, BaseException):
        raise added
    try:
        base = await _switch(git, spec, path, request, start)
    except BaseException:
        await git("worktree", "remove", "--force", str(path), cwd=clone, check=False)
        raise
    return Checkout(path, request.worktree, request.branch, base)


async def _switch(
    git: Git, spec: WorkspaceSpec, path: Path, request: WorkspaceRequest, start: str
) -> str:
    """Put the new worktree (detached at `start`) on its branch (the rules above); where the
    branch started. A new branch at `start` itself only gets its ref and HEAD: a checkout
    would refresh the index of every file for nothing."""
    clone, branch = spec.clone, request.branch
    local, remote = await _branch_commits(git, clone, branch)
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
        await git("checkout", "--quiet", branch, "--", cwd=path)
        return await recorded_base(git, clone, branch, base)
    if remote is not None:
        await git("checkout", "--quiet", "--no-track", "-b", branch, remote, "--", cwd=path)
        merged = await git("merge-base", remote, base, cwd=clone, check=False)
        base = merged.stdout.strip() if merged.code == 0 else remote
    elif base == start:
        await git("update-ref", f"refs/heads/{branch}", base, "", cwd=clone)
        await git("symbolic-ref", "HEAD", f"refs/heads/{branch}", cwd=path)
    else:
        await git("checkout", "--quiet", "--no-track", "-b", branch, base, "--", cwd=path)
    await git("config", _base_key(branch), base, cwd=clone)
    return base


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
