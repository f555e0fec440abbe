"""Spare worktrees on real git (the loopback git server, no CLI): a removed worktree is kept
detached as a spare, the next new worktree takes it and holds nothing of the previous task
(untracked and ignored files, a dirty index, merge state, another base), the branch rules
and results stay those of a fresh worktree, the spares are bounded (extra ones deleted in
the background) and a crashed agent's spares are tidied at start.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from claude_pool.agent.workspace import Workspace
from claude_pool.api.workspaces import WorkspaceRequest
from tests.gitserver import GitServer
from tests.unit.test_workspace_manager import make_workspace, ready

FILES = {".gitignore": "*.log\nbuild/\n", "README.md": "hello\n", "src/app.py": "print('app')\n"}


def task(name: str, *, base: str | None = None, branch: str | None = None) -> WorkspaceRequest:
    return WorkspaceRequest(
        worktree=name, branch=branch or f"claude-pool/{name}", base=base, push=True, remove=True
    )


def files_on_disk(path: Path) -> set[str]:
    return {
        str(p.relative_to(path))
        for p in path.rglob("*")
        if not p.is_dir() and ".git" not in p.relative_to(path).parts[:1]
    }


async def assert_pristine(workspace: Workspace, path: Path, commit: str) -> None:
    """`path` holds exactly `commit`'s tree: nothing untracked, ignored, staged or modified."""
    git = workspace.git
    status = await git("status", "--porcelain", "--ignored", "--untracked-files=all", cwd=path)
    assert status.stdout == ""
    tree = await git("ls-tree", "-r", "--name-only", commit, cwd=path)
    assert files_on_disk(path) == set(tree.stdout.split())
    index = await git("diff", "--cached", "--quiet", commit, cwd=path, check=False)
    assert index.code == 0
    git_dir = (await git("rev-parse", "--absolute-git-dir", cwd=path)).stdout.strip()
    assert not (Path(git_dir) / "MERGE_HEAD").exists()
    assert not (Path(git_dir) / "rebase-merge").exists()


async def test_a_removed_worktree_becomes_a_detached_spare_and_the_branch_stays(
    git_server: GitServer, tmp_path: Path
) -> None:
    git_server.create_repo("repo", FILES)
    workspace = await ready(make_workspace(git_server, tmp_path))
    checkout = await workspace.prepare(task("t1"))
    (checkout.path / "one.txt").write_text("one\n")
    result, error = await workspace.finish(checkout, task("t1"), may_push=True)
    assert error is None and result.pushed and not result.worktree_kept
    assert result.files == ["one.txt"] and result.base_commit == git_server.head("repo", "main")
    assert not checkout.path.exists() and workspace.state().worktrees == []
    assert workspace.spares.names() == ["0"]
    spare = tmp_path / "ws" / "spares" / "0"
    head = await workspace.git("symbolic-ref", "--quiet", "HEAD", cwd=spare, check=False)
    assert head.code != 0  # detached: the spare holds no branch
    kept = await workspace.git("rev-parse", "refs/heads/claude-pool/t1", cwd=workspace.spec.clone)
    assert kept.stdout.strip() == result.head_commit == git_server.head("repo", "claude-pool/t1")


async def test_a_taken_spare_leaks_nothing_of_the_previous_task(
    git_server: GitServer, tmp_path: Path
) -> None:
    git_server.create_repo("repo", FILES)
    main = git_server.head("repo", "main")
    assert main is not None
    other = git_server.commit("repo", "other", {"other.txt": "other\n"}, parent=main)
    workspace = await ready(make_workspace(git_server, tmp_path))
    first = await workspace.prepare(task("t1", base="other"))
    (first.path / "README.md").write_text("changed by t1\n")
    (first.path / "t1.txt").write_text("t1\n")
    await workspace.finish(first, task("t1", base="other"), may_push=True)
    spare = tmp_path / "ws" / "spares" / "0"
    # what a task (or a crash) could leave behind in the spare after its commit
    (spare / "debug.log").write_text("ignored\n")
    (spare / "build").mkdir()
    (spare / "build" / "out.bin").write_bytes(b"\0ignored")
    (spare / "scratch").mkdir()
    (spare / "scratch" / "notes.txt").write_text("untracked\n")
    (spare / "staged.txt").write_text("staged\n")
    await workspace.git("add", "staged.txt", cwd=spare)
    (spare / "src" / "app.py").write_text("print('dirty')\n")
    await workspace.git("add", "src/app.py", cwd=spare)
    git_dir = (await workspace.git("rev-parse", "--absolute-git-dir", cwd=spare)).stdout.strip()
    (Path(git_dir) / "MERGE_HEAD").write_text(f"{other}\n")
    (Path(git_dir) / "rebase-merge").mkdir()

    second = await workspace.prepare(task("t2"))
    assert workspace.spares.names() == []  # taken, not checked out afresh
    assert second.base_commit == main
    await assert_pristine(workspace, second.path, main)
    assert (second.path / "README.md").read_text() == "hello\n"
    branch = await workspace.git("symbolic-ref", "--short", "HEAD", cwd=second.path)
    assert branch.stdout.strip() == "claude-pool/t2"
    (second.path / "t2.txt").write_text("t2\n")
    result, _ = await workspace.finish(second, task("t2"), may_push=True)
    assert result.files == ["t2.txt"] and git_server.files("repo", "claude-pool/t2") == {
        **FILES,
        "t2.txt": "t2\n",
    }
    third = await workspace.prepare(task("t3", base="other"))
    assert third.base_commit == other
    await assert_pristine(workspace, third.path, other)


async def test_a_spare_takes_an_existing_branch_with_its_recorded_base(
    git_server: GitServer, tmp_path: Path
) -> None:
    git_server.create_repo("repo", FILES)
    workspace = await ready(make_workspace(git_server, tmp_path))
    step = task("c1", branch="claude-pool/chain")
    first = await workspace.prepare(step)
    (first.path / "step1.txt").write_text("step 1\n")
    done, _ = await workspace.finish(first, step, may_push=False)
    second_step = task("c2", branch="claude-pool/chain")
    second = await workspace.prepare(second_step)  # takes the spare of step 1
    assert (second.path / "step1.txt").read_text() == "step 1\n"
    assert second.base_commit == done.base_commit
    head = await workspace.git("rev-parse", "HEAD", cwd=second.path)
    assert head.stdout.strip() == done.head_commit
    await assert_pristine(workspace, second.path, done.head_commit)


async def test_spares_are_bounded_and_the_extra_ones_deleted_in_the_background(
    git_server: GitServer, tmp_path: Path
) -> None:
    git_server.create_repo("repo", FILES)
    workspace = await ready(make_workspace(git_server, tmp_path))
    checkouts = [await workspace.prepare(task(f"t{n}")) for n in range(4)]
    for number, checkout in enumerate(checkouts):
        result, _ = await workspace.finish(checkout, task(f"t{number}"), may_push=False)
        assert not result.worktree_kept and not checkout.path.exists()
    assert workspace.spares.names() == ["0", "1"]
    await asyncio.wait_for(workspace.spares.settle(), 30)
    assert list((tmp_path / "ws" / "discarded").iterdir()) == []
    listed = await workspace.git("worktree", "list", "--porcelain", cwd=workspace.spec.clone)
    paths = [line.split(" ", 1)[1] for line in listed.stdout.splitlines() if line.startswith("w")]
    assert len(paths) == 3 and all("/spares/" in p for p in paths[1:])
    for number in range(4):
        branch = f"refs/heads/claude-pool/t{number}"
        found = await workspace.git("rev-parse", "--verify", branch, cwd=workspace.spec.clone)
        assert found.stdout.strip()


async def test_a_broken_spare_is_discarded_and_a_fresh_worktree_made(
    git_server: GitServer, tmp_path: Path
) -> None:
    git_server.create_repo("repo", FILES)
    logs: list[str] = []
    workspace = await ready(make_workspace(git_server, tmp_path, logs=logs))
    first = await workspace.prepare(task("t1"))
    await workspace.finish(first, task("t1"), may_push=False)
    (tmp_path / "ws" / "spares" / "0" / ".git").write_text("gitdir: /nonexistent\n")
    second = await workspace.prepare(task("t2"))
    await assert_pristine(workspace, second.path, second.base_commit)
    assert any("spare 0 discarded" in line for line in logs)
    await asyncio.wait_for(workspace.spares.settle(), 30)
    assert list((tmp_path / "ws" / "discarded").iterdir()) == []


async def test_a_crashed_agents_spares_are_tidied_at_start(
    git_server: GitServer, tmp_path: Path
) -> None:
    git_server.create_repo("repo", FILES)
    workspace = await ready(make_workspace(git_server, tmp_path))
    checkouts = [await workspace.prepare(task(name)) for name in ("t1", "t2")]
    for checkout in checkouts:
        await workspace.finish(checkout, task(checkout.worktree or ""), may_push=False)
    spares = tmp_path / "ws" / "spares"
    # the agent died while a spare held a branch, with a junk directory and a discard pending
    await workspace.git("checkout", "--quiet", "claude-pool/t1", cwd=spares / "0")
    (spares / "junk").mkdir()
    (tmp_path / "ws" / "discarded" / "half").mkdir(parents=True)
    logs: list[str] = []
    restarted = await ready(make_workspace(git_server, tmp_path, logs=logs))
    assert restarted.spares.names() == ["0", "1"]
    assert not (spares / "junk").exists() and not (tmp_path / "ws" / "discarded").exists()
    assert any("removed the spare worktree junk" in line for line in logs)
    head = await restarted.git("symbolic-ref", "--quiet", "HEAD", cwd=spares / "0", check=False)
    assert head.code != 0
    again = await restarted.prepare(task("c", branch="claude-pool/t1"))  # the branch is free
    branch = await restarted.git("symbolic-ref", "--short", "HEAD", cwd=again.path)
    assert branch.stdout.strip() == "claude-pool/t1"
