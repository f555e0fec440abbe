"""The agent's workspace manager on real git against the loopback git server (no CLI).

Clone, ready state, worktree rules (new branch, reuse, local branch, a pushed branch
continued), commit of leftovers, result figures, push and refused push, removal, stale
worktree pruning, and the failure reasons of a clone (bad token, unknown ref, unreachable).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from claude_pool.agent.cloning import WorkspaceSpec
from claude_pool.agent.gitcredentials import GitCredentials
from claude_pool.agent.gitrun import Git
from claude_pool.agent.redaction import Redactor
from claude_pool.agent.workspace import Workspace
from claude_pool.api.workspaces import WorkspacePhase, WorkspaceReason, WorkspaceRequest
from tests.gitserver import GitServer

FILES = {"README.md": "hello\n", "src/app.py": "print('app')\n"}


def make_workspace(
    server: GitServer,
    root: Path,
    *,
    token: str | None = None,
    ref: str | None = None,
    repo: str | None = None,
    logs: list[str] | None = None,
    depth: int | None = None,
) -> Workspace:
    token = server.token if token is None else token
    credentials = GitCredentials(token=token)
    log = (logs if logs is not None else []).append
    git = Git(
        base_env=os.environ,
        home=root / "githome",
        credentials=credentials,
        redactor=Redactor(credentials.secrets()),
        network_timeout=30,
        log=log,
    )
    spec = WorkspaceSpec(repo or server.url("repo"), ref, depth, root / "ws")
    return Workspace(spec, git, log)


async def no_sleep(seconds: float) -> None:
    raise asyncio.CancelledError  # one attempt only: the test reads the state it left


async def ready(workspace: Workspace) -> Workspace:
    await asyncio.wait_for(workspace.keep_cloning(), 30)
    assert workspace.ready
    return workspace


async def test_the_clone_becomes_ready_at_the_ref(git_server: GitServer, tmp_path: Path) -> None:
    git_server.create_repo("repo", FILES)
    workspace = await ready(make_workspace(git_server, tmp_path))
    state = workspace.state()
    assert state.phase is WorkspacePhase.READY and state.commit == git_server.head("repo", "main")
    assert (tmp_path / "ws" / "clone" / "src" / "app.py").read_text() == "print('app')\n"
    config = (tmp_path / "ws" / "clone" / ".git" / "config").read_text()
    assert git_server.token not in config and "@" not in config.split("url =")[1].split()[0]


async def test_a_task_worktree_is_committed_pushed_and_removed(
    git_server: GitServer, tmp_path: Path
) -> None:
    git_server.create_repo("repo", FILES)
    workspace = await ready(make_workspace(git_server, tmp_path))
    request = WorkspaceRequest(
        worktree="t1", branch="claude-pool/t1", push=True, remove=True, commit_message="t1 work"
    )
    checkout = await workspace.prepare(request)
    assert checkout.path == tmp_path / "ws" / "worktrees" / "t1"
    (checkout.path / "new.txt").write_text("one\ntwo\n")
    (checkout.path / "README.md").write_text("changed\n")
    result, push_error = await workspace.finish(checkout, request, may_push=True)
    assert push_error is None
    assert result.pushed and result.committed_by_agent and not result.worktree_kept
    assert (result.files_changed, result.insertions, result.deletions) == (2, 3, 1)
    assert sorted(result.files) == ["README.md", "new.txt"]
    assert "2 files changed" in result.diffstat
    assert result.base_commit == git_server.head("repo", "main")
    assert result.head_commit == git_server.head("repo", "claude-pool/t1")
    assert git_server.files("repo", "claude-pool/t1")["new.txt"] == "one\ntwo\n"
    (_, author, subject), *_ = git_server.commits("repo", "claude-pool/t1")
    assert (author, subject) == ("claude-pool@localhost", "t1 work")
    assert not checkout.path.exists() and workspace.state().worktrees == []


async def test_config_a_task_writes_to_redirect_the_credentials_is_removed_before_a_push(
    git_server: GitServer, tmp_path: Path
) -> None:
    git_server.create_repo("repo", FILES)
    logs: list[str] = []
    workspace = await ready(make_workspace(git_server, tmp_path, logs=logs))
    request = WorkspaceRequest(worktree="t", branch="claude-pool/t", push=True, remove=True)
    checkout = await workspace.prepare(request)
    for key, value in (
        ("url.http://127.0.0.1:9/.insteadOf", git_server.url("repo")),
        ("http.extraHeader", "X-Steal: 1"),
        ("include.path", "/tmp/elsewhere"),
    ):  # what a task's Bash could do in its worktree
        writer = await asyncio.create_subprocess_exec(
            "git", "config", key, value, cwd=checkout.path
        )
        assert await asyncio.wait_for(writer.wait(), 30) == 0
    (checkout.path / "f.txt").write_text("f\n")
    result, error = await workspace.finish(checkout, request, may_push=True)
    assert error is None and result.pushed  # to the real server, not the redirect
    assert git_server.files("repo", "claude-pool/t")["f.txt"] == "f\n"
    config = (tmp_path / "ws" / "clone" / ".git" / "config").read_text()
    assert "insteadOf" not in config and "extraHeader" not in config and "include" not in config
    removed = [line for line in logs if "from the clone's git config" in line]
    assert len(removed) == 3 and "url.http://127.0.0.1:9/.insteadof" in removed[0]


async def test_a_kept_worktree_is_reused_with_its_files(
    git_server: GitServer, tmp_path: Path
) -> None:
    git_server.create_repo("repo", FILES)
    workspace = await ready(make_workspace(git_server, tmp_path))
    request = WorkspaceRequest(worktree="chain", branch="claude-pool/chain")
    first = await workspace.prepare(request)
    (first.path / "step1.txt").write_text("1\n")
    result, _ = await workspace.finish(first, request, may_push=True)
    assert result.worktree_kept and not result.pushed
    assert workspace.state().worktrees == ["chain"]
    second = await workspace.prepare(request)
    assert (second.path / "step1.txt").read_text() == "1\n"
    assert second.base_commit == result.base_commit
    (second.path / "step2.txt").write_text("2\n")
    again, _ = await workspace.finish(second, request, may_push=True)
    assert sorted(again.files) == ["step1.txt", "step2.txt"]
    assert git_server.head("repo", "claude-pool/chain") is None  # never pushed


async def test_a_new_slot_continues_a_pushed_branch(git_server: GitServer, tmp_path: Path) -> None:
    git_server.create_repo("repo", FILES)
    one = await ready(make_workspace(git_server, tmp_path / "a"))
    request = WorkspaceRequest(worktree="c", branch="claude-pool/c", push=True, remove=True)
    checkout = await one.prepare(request)
    (checkout.path / "step1.txt").write_text("1\n")
    first, _ = await one.finish(checkout, request, may_push=True)
    git_server.commit("repo", "main", {"upstream.txt": "u\n"})
    two = await ready(make_workspace(git_server, tmp_path / "b"))
    checkout = await two.prepare(request)
    assert (checkout.path / "step1.txt").exists() and not (checkout.path / "upstream.txt").exists()
    assert checkout.base_commit == first.base_commit
    (checkout.path / "step2.txt").write_text("2\n")
    second, error = await two.finish(checkout, request, may_push=True)
    assert error is None and second.pushed
    assert set(git_server.files("repo", "claude-pool/c")) == {*FILES, "step1.txt", "step2.txt"}


async def test_a_refused_push_is_reported_and_the_commit_kept(
    git_server: GitServer, tmp_path: Path
) -> None:
    git_server.create_repo("repo", FILES)
    workspace = await ready(make_workspace(git_server, tmp_path))
    git_server.refuse_pushes("repo", "branch protection says no")
    request = WorkspaceRequest(worktree="t", branch="claude-pool/t", push=True, remove=True)
    checkout = await workspace.prepare(request)
    (checkout.path / "f.txt").write_text("f\n")
    result, error = await workspace.finish(checkout, request, may_push=True)
    assert error is not None and "branch protection says no" in error
    assert git_server.token not in error
    assert not result.pushed and result.head_commit != result.base_commit
    assert git_server.head("repo", "claude-pool/t") is None
    with pytest.raises(Exception, match="branch protection"):
        await workspace.push("claude-pool/t")


async def test_push_on_approval_pushes_a_kept_branch(git_server: GitServer, tmp_path: Path) -> None:
    git_server.create_repo("repo", FILES)
    workspace = await ready(make_workspace(git_server, tmp_path))
    request = WorkspaceRequest(worktree="t", branch="claude-pool/t", remove=True)
    checkout = await workspace.prepare(request)
    (checkout.path / "f.txt").write_text("f\n")
    result, _ = await workspace.finish(checkout, request, may_push=False)
    pushed = await workspace.push("claude-pool/t")
    assert pushed.commit == result.head_commit == git_server.head("repo", "claude-pool/t")
    with pytest.raises(KeyError):
        await workspace.push("claude-pool/unknown")


async def test_no_push_when_the_task_was_cancelled(git_server: GitServer, tmp_path: Path) -> None:
    git_server.create_repo("repo", FILES)
    workspace = await ready(make_workspace(git_server, tmp_path))
    request = WorkspaceRequest(worktree="t", branch="claude-pool/t", push=True)
    checkout = await workspace.prepare(request)
    (checkout.path / "f.txt").write_text("f\n")
    result, error = await workspace.finish(checkout, request, may_push=False)
    assert error is None and result.committed_by_agent and not result.pushed
    assert git_server.head("repo", "claude-pool/t") is None


async def test_stale_worktrees_are_pruned_at_start_and_their_changes_committed(
    git_server: GitServer, tmp_path: Path
) -> None:
    git_server.create_repo("repo", FILES)
    workspace = await ready(make_workspace(git_server, tmp_path))
    request = WorkspaceRequest(worktree="crashed", branch="claude-pool/crashed")
    checkout = await workspace.prepare(request)
    (checkout.path / "half.txt").write_text("half done\n")  # the agent dies here
    (tmp_path / "ws" / "worktrees" / "junk").mkdir()
    logs: list[str] = []
    restarted = await ready(make_workspace(git_server, tmp_path, logs=logs))
    assert restarted.state().worktrees == []
    assert any("removed the stale worktree crashed" in line for line in logs)
    assert any("removed the stale worktree junk" in line for line in logs)
    again = await restarted.prepare(request)
    assert (again.path / "half.txt").read_text() == "half done\n"


async def test_a_bad_token_makes_the_workspace_unavailable(
    git_server: GitServer, tmp_path: Path
) -> None:
    git_server.create_repo("repo", FILES)
    bad = "wrong-token-0123456789abcdef"
    workspace = make_workspace(git_server, tmp_path, token=bad)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(workspace.keep_cloning(no_sleep), 30)
    state = workspace.state()
    assert state.phase is WorkspacePhase.UNAVAILABLE
    assert state.reason is WorkspaceReason.AUTHENTICATION_FAILED, state.message
    assert bad not in state.message and git_server.token not in state.message
    assert git_server.token not in git_server.recorded_text()


@pytest.mark.parametrize(
    ("ref", "repo", "reason"),
    [
        ("no-such-branch", None, WorkspaceReason.UNKNOWN_REF),
        (None, "http://127.0.0.1:9/nothing.git", WorkspaceReason.REPOSITORY_UNREACHABLE),
        (None, "missing", WorkspaceReason.REPOSITORY_UNREACHABLE),
    ],
)
async def test_clone_failures_have_reasons(
    git_server: GitServer,
    tmp_path: Path,
    ref: str | None,
    repo: str | None,
    reason: WorkspaceReason,
) -> None:
    git_server.create_repo("repo", FILES)
    url = git_server.url("missing") if repo == "missing" else repo
    workspace = make_workspace(git_server, tmp_path, ref=ref, repo=url)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(workspace.keep_cloning(no_sleep), 30)
    assert workspace.state().reason is reason, workspace.state().message
    assert not (tmp_path / "ws" / "clone").exists()


async def test_an_unknown_base_fails_the_checkout(git_server: GitServer, tmp_path: Path) -> None:
    git_server.create_repo("repo", FILES)
    workspace = await ready(make_workspace(git_server, tmp_path))
    with pytest.raises(Exception, match="unknown ref"):
        await workspace.prepare(WorkspaceRequest(worktree="t", branch="b", base="nope"))


async def test_a_task_without_a_worktree_runs_in_the_clone(
    git_server: GitServer, tmp_path: Path
) -> None:
    git_server.create_repo("repo", FILES)
    workspace = await ready(make_workspace(git_server, tmp_path))
    checkout = await workspace.prepare(None)
    assert checkout.path == tmp_path / "ws" / "clone" and checkout.branch == "main"
    (checkout.path / "dirty.txt").write_text("x\n")
    result, error = await workspace.finish(checkout, None, may_push=True)
    assert error is None and not result.committed_by_agent and result.files_changed == 0
    assert (checkout.path / "dirty.txt").exists()


async def test_a_slot_back_on_a_chain_fast_forwards_its_stale_branch(
    git_server: GitServer, tmp_path: Path
) -> None:
    git_server.create_repo("repo", FILES)
    one = await ready(make_workspace(git_server, tmp_path / "a"))
    two = await ready(make_workspace(git_server, tmp_path / "b"))
    request = WorkspaceRequest(worktree="c", branch="claude-pool/c", push=True, remove=True)
    for workspace, name in ((one, "step1.txt"), (two, "step2.txt"), (one, "step3.txt")):
        checkout = await workspace.prepare(request)
        (checkout.path / name).write_text(f"{name}\n")
        result, error = await workspace.finish(checkout, request, may_push=True)
        assert error is None and result.pushed, error
    assert {"step1.txt", "step2.txt", "step3.txt"} <= set(git_server.files("repo", "claude-pool/c"))


async def test_a_kept_clone_is_fetched_at_restart(git_server: GitServer, tmp_path: Path) -> None:
    git_server.create_repo("repo", FILES)
    await ready(make_workspace(git_server, tmp_path))
    newer = git_server.commit("repo", "main", {"later.txt": "later\n"})
    restarted = await ready(make_workspace(git_server, tmp_path))
    assert restarted.state().commit == newer
    checkout = await restarted.prepare(WorkspaceRequest(worktree="t", branch="b"))
    assert (checkout.path / "later.txt").exists() and checkout.base_commit == newer


async def test_a_shallow_clone_works_and_pushes(git_server: GitServer, tmp_path: Path) -> None:
    git_server.create_repo("repo", FILES)
    for number in range(3):
        git_server.commit("repo", "main", {f"history{number}.txt": "h\n"})
    workspace = await ready(make_workspace(git_server, tmp_path, depth=1))
    clone = tmp_path / "ws" / "clone"
    assert (clone / ".git" / "shallow").exists()
    request = WorkspaceRequest(worktree="t", branch="claude-pool/t", push=True)
    checkout = await workspace.prepare(request)
    (checkout.path / "f.txt").write_text("f\n")
    result, error = await workspace.finish(checkout, request, may_push=True)
    assert error is None and result.pushed and result.files == ["f.txt"]


async def test_a_commit_as_the_ref_is_checked_out_detached(
    git_server: GitServer, tmp_path: Path
) -> None:
    git_server.create_repo("repo", FILES)
    first = git_server.head("repo", "main")
    assert first is not None
    git_server.commit("repo", "main", {"later.txt": "later\n"})
    workspace = await ready(make_workspace(git_server, tmp_path, ref=first))
    assert workspace.state().commit == first
    checkout = await workspace.prepare(WorkspaceRequest(worktree="t", branch="from-commit"))
    assert checkout.base_commit == first and not (checkout.path / "later.txt").exists()


async def test_a_file_url_is_cloned_without_credentials(
    git_server: GitServer, tmp_path: Path
) -> None:
    git_server.create_repo("repo", FILES)
    url = f"file://{git_server.bare('repo')}"
    workspace = await ready(make_workspace(git_server, tmp_path, repo=url, token=""))
    request = WorkspaceRequest(worktree="t", branch="claude-pool/t", push=True)
    checkout = await workspace.prepare(request)
    (checkout.path / "f.txt").write_text("f\n")
    result, error = await workspace.finish(checkout, request, may_push=True)
    assert error is None and result.pushed and result.repository == url
    assert git_server.files("repo", "claude-pool/t")["f.txt"] == "f\n"


async def test_an_ssh_url_uses_the_key_file_through_git_ssh_command(
    git_server: GitServer, tmp_path: Path
) -> None:
    """An `ssh` stand-in first on PATH records its arguments and runs the remote command
    locally (no sshd here): the clone and the push go through GIT_SSH_COMMAND."""
    git_server.create_repo("repo", FILES)
    bin_dir, calls = tmp_path / "bin", tmp_path / "ssh-calls"
    bin_dir.mkdir()
    fake_ssh = bin_dir / "ssh"
    fake_ssh.write_text(
        f'#!/bin/sh\necho "$@" >> {calls}\nfor last; do :; done\nexec sh -c "$last"\n'
    )
    fake_ssh.chmod(0o755)
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nkey-material-0123456789\n-----END KEY-----"
    credentials = GitCredentials(ssh_key=key, known_hosts="localhost ssh-ed25519 AAAA")
    credentials.install(tmp_path / "state" / "ssh")
    git = Git(
        base_env={"PATH": f"{bin_dir}:{os.environ['PATH']}"},
        home=tmp_path / "githome",
        credentials=credentials,
        redactor=Redactor(credentials.secrets()),
        network_timeout=30,
    )
    url = f"ssh://git@localhost{git_server.bare('repo')}"
    workspace = Workspace(WorkspaceSpec(url, None, None, tmp_path / "ws"), git, print)
    await ready(workspace)
    request = WorkspaceRequest(worktree="t", branch="claude-pool/t", push=True)
    checkout = await workspace.prepare(request)
    (checkout.path / "f.txt").write_text("f\n")
    result, error = await workspace.finish(checkout, request, may_push=True)
    assert error is None and result.pushed
    assert git_server.files("repo", "claude-pool/t")["f.txt"] == "f\n"
    recorded = calls.read_text().splitlines()
    key_file = tmp_path / "state" / "ssh" / "id"
    assert recorded and all(f"-i {key_file}" in line for line in recorded)
    assert all("StrictHostKeyChecking=yes" in line for line in recorded)
    assert any("git-receive-pack" in line for line in recorded)
    assert key not in calls.read_text()
