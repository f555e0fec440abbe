"""Spare worktrees: a removed task worktree is kept, detached, and the next new one takes it.

Called by `workspace.Workspace` (and `worktrees.prepare`) under the workspace lock. Deleting
a worktree of thousands of files and checking out a new one cost the disk a full tree each
time (seconds on an ext4 volume mounted with `discard`); recycling costs a checkout of the
difference. Layout under the workspace directory: `spares/<n>/` (registered git worktrees,
detached: they hold no branch) and `discarded/<id>/` (directories being deleted in the
background, off the task's path). At most `limit` spares are kept; more are discarded.

A spare never carries a task's state into the next one: taking it moves it to its new
name, detaches its HEAD at the start commit without touching any branch (`update-ref
--no-deref`), resets its index and files to that commit (`reset --hard`: only files that
differ or are dirty are written), removes untracked and ignored files (`clean -ffdx`) and
any merge, rebase or bisect state in its git directory. A spare that fails any step is
discarded and the caller checks a fresh worktree out instead.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from claude_pool.agent.cloning import WorkspaceSpec
from claude_pool.agent.gitrun import Git, GitError

DEFAULT_LIMIT = 2
OPERATION_STATE = (
    "MERGE_HEAD",
    "MERGE_MSG",
    "MERGE_MODE",
    "MERGE_RR",
    "AUTO_MERGE",
    "CHERRY_PICK_HEAD",
    "REVERT_HEAD",
    "BISECT_LOG",
    "BISECT_START",
    "BISECT_TERMS",
    "BISECT_EXPECTED_REV",
    "BISECT_ANCESTORS_OK",
    "BISECT_NAMES",
    "BISECT_RUN",
    "rebase-merge",
    "rebase-apply",
    "sequencer",
    "config.worktree",
)
"""What a task's git left in its worktree's git directory that must not reach the next."""


def _git_dir(worktree: Path) -> Path | None:
    """The worktree's own git directory (from its `.git` file), None when it has none."""
    try:
        pointer = (worktree / ".git").read_text().strip()
    except OSError:
        return None
    prefix = "gitdir: "
    return Path(pointer[len(prefix) :]) if pointer.startswith(prefix) else None


def forget_operations(worktree: Path) -> None:
    """Remove merge/rebase/bisect/cherry-pick state and per-worktree config of `worktree`."""
    git_dir = _git_dir(worktree)
    if git_dir is None:
        return
    for name in OPERATION_STATE:
        target = git_dir / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        elif target.exists() or target.is_symlink():
            target.unlink(missing_ok=True)


class Spares:
    """The spare worktrees of one clone."""

    def __init__(
        self, spec: WorkspaceSpec, git: Git, log: Callable[[str], None], limit: int
    ) -> None:
        self.spec = spec
        self.git = git
        self.log = log
        self.limit = limit
        self.deleting: set[asyncio.Task[None]] = set()

    @property
    def root(self) -> Path:
        return self.spec.directory / "spares"

    @property
    def discarded(self) -> Path:
        return self.spec.directory / "discarded"

    def names(self) -> list[str]:
        """The spares present, in the order they are taken."""
        root = self.root
        found = [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
        return [p.name for p in sorted(found, key=lambda p: (len(p.name), p.name))]

    async def take(self, path: Path, start: str) -> bool:
        """Make a spare the worktree `path`, detached and clean at `start`; False if none
        (or the one tried failed: it is discarded, and `path` does not exist)."""
        names = self.names()
        if not names:
            return False
        spare = self.root / names[0]
        try:
            await self.git("worktree", "move", str(spare), str(path), cwd=self.spec.clone)
            await self.git("update-ref", "--no-deref", "HEAD", start, cwd=path)
            forget_operations(path)
            await self.git("reset", "--hard", "--quiet", start, "--", cwd=path)
            await self.git("clean", "-ffdxq", cwd=path)
        except (GitError, OSError) as error:
            self.log(f"workspace: spare {spare.name} discarded, it could not be reset: {error}")
            try:
                self.discard(_present(path, spare))
            except OSError as failure:  # then the fresh checkout reports what is in the way
                self.log(f"workspace: spare {spare.name} could not be discarded: {failure}")
            return False
        return True

    async def keep(self, path: Path) -> bool:
        """Detach the worktree `path` and keep it as a spare (or discard it when there are
        `limit` already); False when it could not be detached or moved (then it is left
        where it is, for the caller to remove)."""
        try:
            head = await self.git("rev-parse", "--verify", "--quiet", "HEAD", cwd=path)
            await self.git("update-ref", "--no-deref", "HEAD", head.stdout.strip(), cwd=path)
            names = self.names()
            if len(names) >= self.limit:
                self.discard(path)
                return True
            spare = self.root / _free_name(names)
            self.root.mkdir(parents=True, exist_ok=True)
            await self.git("worktree", "move", str(path), str(spare), cwd=self.spec.clone)
        except (GitError, OSError) as error:
            self.log(f"workspace: {path.name} not kept as a spare: {error}")
            return False
        return True

    def discard(self, path: Path) -> None:
        """Move `path` out of the way (a rename) and delete it in the background."""
        self.discarded.mkdir(parents=True, exist_ok=True)
        target = self.discarded / uuid.uuid4().hex[:16]
        os.rename(path, target)
        task = asyncio.get_running_loop().create_task(self._delete(target))
        self.deleting.add(task)
        task.add_done_callback(self.deleting.discard)

    async def _delete(self, target: Path) -> None:
        await asyncio.to_thread(shutil.rmtree, target, True)
        await self.git("worktree", "prune", cwd=self.spec.clone, check=False)

    async def settle(self) -> None:
        """Wait for the background deletions (tests, benchmarks)."""
        while self.deleting:
            await asyncio.gather(*list(self.deleting), return_exceptions=True)

    async def tidy(self) -> list[str]:
        """At start (a crashed agent's leftovers): delete what was being discarded, and every
        spare that is not a registered worktree or past the limit; detach the others. The
        spares kept."""
        shutil.rmtree(self.discarded, ignore_errors=True)
        await self.git("worktree", "prune", cwd=self.spec.clone)
        listed = await self.git("worktree", "list", "--porcelain", cwd=self.spec.clone)
        registered = _registered(listed.stdout)
        kept: list[str] = []
        for name in self.names():
            path = self.root / name
            if len(kept) < self.limit and path.resolve(strict=False) in registered:
                try:
                    head = await self.git("rev-parse", "--verify", "--quiet", "HEAD", cwd=path)
                    commit = head.stdout.strip()
                    await self.git("update-ref", "--no-deref", "HEAD", commit, cwd=path)
                except GitError as error:
                    self.log(f"workspace: spare {name} unusable: {error}")
                else:
                    kept.append(name)
                    continue
            shutil.rmtree(path, ignore_errors=True)
            self.log(f"workspace: removed the spare worktree {name}")
        await self.git("worktree", "prune", cwd=self.spec.clone)
        return kept


def _free_name(names: list[str]) -> str:
    taken = set(names)
    return next(str(n) for n in range(len(taken) + 1) if str(n) not in taken)


def _present(path: Path, spare: Path) -> Path:
    """Where a spare that failed to be taken is: moved to `path`, or still in its place."""
    return path if path.exists() else spare


def _registered(porcelain: str) -> set[Path]:
    """The paths of the worktrees in `git worktree list --porcelain`."""
    prefix = "worktree "
    return {
        Path(line.removeprefix(prefix)).resolve()
        for line in porcelain.splitlines()
        if line.startswith(prefix)
    }
