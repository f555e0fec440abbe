"""The git server fixture itself: auth, clone, push, refused pushes, and the record."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from tests.gitserver import GitServer, git_env


def _git(
    server: GitServer, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=git_env(server.home),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _authed(server: GitServer, url: str) -> str:
    return url.replace("http://", f"http://user:{server.token}@")


def test_a_request_without_the_token_is_refused(git_server: GitServer) -> None:
    git_server.create_repo("r", {"a.txt": "a\n"})
    with pytest.raises(HTTPError) as refused:
        urlopen(git_server.url("r") + "/info/refs?service=git-upload-pack", timeout=10)
    assert refused.value.code == 401
    wrong = Request(
        git_server.url("r") + "/info/refs?service=git-upload-pack",
        headers={"Authorization": "Basic dXNlcjp3cm9uZw=="},  # user:wrong
    )
    with pytest.raises(HTTPError) as refused:
        urlopen(wrong, timeout=10)
    assert refused.value.code == 401
    assert [r.authorized for r in git_server.requests] == [False, False]


def test_clone_then_push_a_branch_and_read_it_back(git_server: GitServer, tmp_path: Path) -> None:
    base = git_server.create_repo("r", {"a.txt": "a\n", "dir/b.txt": "b\n"})
    clone = tmp_path / "clone"
    done = _git(git_server, "clone", _authed(git_server, git_server.url("r")), str(clone))
    assert done.returncode == 0, done.stderr
    assert (clone / "dir" / "b.txt").read_text() == "b\n"
    (clone / "c.txt").write_text("c\n")
    _git(git_server, "checkout", "-b", "work", cwd=clone)
    _git(git_server, "add", "-A", cwd=clone)
    assert _git(git_server, "commit", "-m", "add c", cwd=clone).returncode == 0
    pushed = _git(git_server, "push", "origin", "work", cwd=clone)
    assert pushed.returncode == 0, pushed.stderr
    assert git_server.branches("r") == ["main", "work"]
    assert git_server.files("r", "work") == {"a.txt": "a\n", "dir/b.txt": "b\n", "c.txt": "c\n"}
    subjects = [subject for _, _, subject in git_server.commits("r", "work")]
    assert subjects == ["add c", "initial commit"]
    assert base == git_server.url("r")
    assert any(r.method == "POST" and "receive-pack" in r.path for r in git_server.requests)
    assert git_server.token not in git_server.recorded_text()


def test_upstream_commits_build_on_the_branch(git_server: GitServer) -> None:
    git_server.create_repo("r", {"a.txt": "1\n"})
    first = git_server.head("r", "main")
    second = git_server.commit("r", "main", {"a.txt": "2\n", "n.txt": "n\n"})
    assert git_server.head("r", "main") == second != first
    assert git_server.files("r", "main") == {"a.txt": "2\n", "n.txt": "n\n"}
    git_server.commit("r", "other", {"o.txt": "o\n"}, parent=first)
    assert git_server.files("r", "other") == {"a.txt": "1\n", "o.txt": "o\n"}
    assert git_server.head("r", "missing") is None


def test_refused_pushes_fail_with_the_hook_message(git_server: GitServer, tmp_path: Path) -> None:
    git_server.create_repo("r", {"a.txt": "a\n"})
    clone = tmp_path / "clone"
    _git(git_server, "clone", _authed(git_server, git_server.url("r")), str(clone))
    git_server.refuse_pushes("r", "no pushes today")
    (clone / "a.txt").write_text("changed\n")
    _git(git_server, "commit", "-am", "x", cwd=clone)
    pushed = _git(git_server, "push", "origin", "HEAD:refs/heads/x", cwd=clone)
    assert pushed.returncode != 0
    assert "no pushes today" in pushed.stderr
    assert git_server.head("r", "x") is None
