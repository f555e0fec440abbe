"""The slot agent's workspace, end to end: the agent process clones from the loopback git
server (`tests/gitserver.py`, a real `git http-backend` with a token check) and the real CLI,
driven by the fake API's Write/Edit/Bash steps in bypassPermissions, works in a worktree.

Asserted: the written files committed by the agent and pushed; two agents on one repository
in parallel without conflict; a reused worktree sees the previous task's file; a stale
worktree pruned at restart; a bad token (Unavailable, AuthenticationFailed, tasks refused
409), an unknown ref (UnknownRef); a refused push (PushFailed); push on approval through
POST /v1/workspace/push; the token in no log line, result or recorded request but the
Authorization headers; the CLI's environment without any git credential. The first test
also runs against the slot image in a container with the slot pod's settings (read-only
root, uid 10001; marker `container`, skipped with the reason when no images are built).
Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from claude_pool.devenv.fakeapi import FakeAnthropic
from tests.agentdriver import (
    CONTAINER_VOLUME,
    RUN_BOUND,
    Agent,
    kill_cli_processes,
    processes_under,
    start_agent,
    start_agent_container,
)
from tests.gitserver import GitServer
from tests.helpers import eventually_async

pytestmark = [pytest.mark.cli, pytest.mark.timeout(180)]

FILES = {"README.md": "# demo\n", "src/main.py": "print('hi')\n"}
WRITTEN = "written by fake via Write tool\nline2 EDITED\n"


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic.start() as server:
        yield server


@pytest.fixture
def repo(git_server: GitServer) -> str:
    return git_server.create_repo("demo", FILES)


async def launch(
    fake: FakeAnthropic, volume: Path, repo: str, token: str, **settings: str
) -> Agent:
    return await start_agent(
        fake.base_url,
        volume,
        workspace_repo=repo,
        workspace_dir=str(volume / "workspace"),
        git_token=token,
        workspace_retry_seconds="1",
        **settings,
    )


async def workspace_state(agent: Agent, phase: str = "Ready") -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        status, body = await agent.call("GET", "/v1/slot")
        assert status == 200, body
        state: dict[str, Any] = body["workspace"]
        return state if state["phase"] == phase else None

    return await eventually_async(reached, timeout=RUN_BOUND, interval=0.1, what=f"{phase}")


@pytest.fixture
async def agent(
    fake: FakeAnthropic, tmp_path: Path, repo: str, git_server: GitServer
) -> AsyncIterator[Agent]:
    running = await launch(fake, tmp_path / "slot", repo, git_server.token)
    await workspace_state(running)
    yield running
    await running.stop()
    kill_cli_processes(tmp_path)


def task(name: str, tools: str = "write:edit:bash", file: str = "notes.txt", **ws: Any) -> Any:
    return {
        "prompt": f"work on {name} [[fake tools={tools} file={file}]]",
        "model": "sonnet",
        "permissionMode": "bypassPermissions",
        "workspace": {"worktree": name, "branch": f"claude-pool/{name}", **ws},
    }


def assert_no_token(git_server: GitServer, *texts: str) -> None:
    for text in texts:
        assert git_server.token not in text
    assert git_server.token not in git_server.recorded_text()
    assert any(r.authorized for r in git_server.requests)


@pytest.fixture(params=["process", pytest.param("container", marks=pytest.mark.container)])
async def any_agent(
    request: pytest.FixtureRequest,
    fake: FakeAnthropic,
    tmp_path: Path,
    repo: str,
    git_server: GitServer,
) -> AsyncIterator[Agent]:
    """A workspace agent as a host process, or in the slot image with the pod's settings."""
    if request.param == "process":
        running = await launch(fake, tmp_path / "slot", repo, git_server.token)
    else:
        images = request.getfixturevalue("container_images")
        running = await start_agent_container(
            images.engine,
            images.slot,
            fake.base_url,
            tmp_path / "slot",
            workspace_repo=repo,
            workspace_dir=str(CONTAINER_VOLUME / "workspace"),
            git_token=git_server.token,
        )
    await workspace_state(running)
    yield running
    await running.stop()
    kill_cli_processes(tmp_path)


async def test_a_task_commits_and_pushes_what_the_cli_wrote_in_its_worktree(
    any_agent: Agent, git_server: GitServer, fake: FakeAnthropic
) -> None:
    agent = any_agent
    body = await agent.run(
        "t1", **task("t1", push=True, remove=True, commitMessage="claude-pool: task t1")
    )
    assert body["state"] == "succeeded", body
    ws = body["result"]["workspace"]
    assert ws["repository"] == git_server.url("demo")
    assert ws["branch"] == "claude-pool/t1" and ws["pushed"] and ws["committedByAgent"]
    assert not ws["worktreeKept"]
    assert ws["baseCommit"] == git_server.head("demo", "main")
    assert ws["headCommit"] == git_server.head("demo", "claude-pool/t1")
    assert sorted(ws["files"]) == ["fake_bash.txt", "notes.txt"]
    assert (ws["filesChanged"], ws["insertions"], ws["deletions"]) == (2, 3, 0)
    assert "2 files changed, 3 insertions(+)" in ws["diffstat"]
    pushed = git_server.files("demo", "claude-pool/t1")
    assert pushed["notes.txt"] == WRITTEN and pushed["fake_bash.txt"] == "bash-ran\n"
    assert pushed["README.md"] == FILES["README.md"]
    (_, author, subject), *_ = git_server.commits("demo", "claude-pool/t1")
    assert (author, subject) == ("claude-pool@localhost", "claude-pool: task t1")
    seen = agent.mounted_at / "workspace" / "worktrees" / "t1"
    system = next(r for r in fake.requests if r.kind == "messages").body["system"][-1]["text"]
    assert f"Primary working directory: {seen}" in system
    assert not (agent.volume / "workspace" / "worktrees" / "t1").exists()
    assert (await workspace_state(agent))["worktrees"] == []
    assert_no_token(git_server, agent.output, json.dumps(body))


async def test_two_agents_work_on_one_repository_in_parallel_without_conflict(
    fake: FakeAnthropic, tmp_path: Path, repo: str, git_server: GitServer
) -> None:
    agents = await asyncio.gather(
        launch(fake, tmp_path / "a", repo, git_server.token),
        launch(fake, tmp_path / "b", repo, git_server.token),
    )
    try:
        await asyncio.gather(*(workspace_state(a) for a in agents))
        bodies = await asyncio.gather(
            agents[0].run("pa", **task("pa", file="a.txt", push=True, remove=True)),
            agents[1].run("pb", **task("pb", file="b.txt", push=True, remove=True)),
        )
        assert [b["state"] for b in bodies] == ["succeeded", "succeeded"], bodies
        assert set(git_server.files("demo", "claude-pool/pa")) == {*FILES, "a.txt", "fake_bash.txt"}
        assert set(git_server.files("demo", "claude-pool/pb")) == {*FILES, "b.txt", "fake_bash.txt"}
        assert git_server.files("demo", "main") == FILES
        assert_no_token(git_server, *(a.output for a in agents), json.dumps(bodies))
    finally:
        for running in agents:
            await running.stop()
        kill_cli_processes(tmp_path)


async def test_a_reused_worktree_sees_the_previous_tasks_file(
    agent: Agent, git_server: GitServer
) -> None:
    first = await agent.run("r1", **task("chain", file="step1.txt"))
    assert first["state"] == "succeeded", first
    assert first["result"]["workspace"]["worktreeKept"]
    assert (await workspace_state(agent))["worktrees"] == ["chain"]
    second = await agent.run("r2", **task("chain", tools="read:bash", file="step1.txt", push=True))
    assert second["state"] == "succeeded", second
    ws = second["result"]["workspace"]
    assert ws["baseCommit"] == first["result"]["workspace"]["baseCommit"]
    assert ws["files"] == ["fake_bash.txt", "step1.txt"] and ws["pushed"]
    assert git_server.files("demo", "claude-pool/chain")["step1.txt"] == WRITTEN


async def test_a_stale_worktree_is_pruned_when_the_agent_restarts(
    fake: FakeAnthropic, tmp_path: Path, repo: str, git_server: GitServer
) -> None:
    volume = tmp_path / "slot"
    first = await launch(fake, volume, repo, git_server.token)
    await workspace_state(first)
    body = await first.run("s1", **task("left", file="kept.txt"))
    assert body["state"] == "succeeded", body
    await first.stop()
    worktree = volume / "workspace" / "worktrees" / "left"
    (worktree / "unfinished.txt").write_text("the agent died here\n")
    second = await launch(fake, volume, repo, git_server.token)
    try:
        state = await workspace_state(second)
        assert state["worktrees"] == [] and not worktree.exists()
        assert "workspace: removed the stale worktree left" in second.output
        again = await second.run("s2", **task("left", tools="bash", push=True))
        assert again["state"] == "succeeded", again
        pushed = git_server.files("demo", "claude-pool/left")
        assert pushed["unfinished.txt"] == "the agent died here\n"
        assert pushed["kept.txt"] == WRITTEN
    finally:
        await second.stop()
        kill_cli_processes(tmp_path)


async def test_a_bad_token_makes_the_workspace_unavailable_and_tasks_wait(
    fake: FakeAnthropic, tmp_path: Path, repo: str, git_server: GitServer
) -> None:
    bad = "not-the-token-4f1e2d3c4b5a69788796"
    running = await launch(fake, tmp_path / "slot", repo, bad)
    try:
        state = await workspace_state(running, "Unavailable")
        assert state["reason"] == "AuthenticationFailed", state
        assert state["repository"] == repo
        status, body = await running.start_task("w1", **task("w1"))
        assert (status, body["error"]) == (409, "WorkspaceNotReady"), body
        status, body = await running.call("POST", "/v1/workspace/push", {"branch": "x"})
        assert status == 409, body
        assert bad not in running.output and bad not in json.dumps(state)
        assert "AuthenticationFailed" in running.output
    finally:
        await running.stop()


async def test_an_unknown_ref_makes_the_workspace_unavailable(
    fake: FakeAnthropic, tmp_path: Path, repo: str, git_server: GitServer
) -> None:
    running = await launch(fake, tmp_path / "slot", repo, git_server.token, workspace_ref="nope")
    try:
        state = await workspace_state(running, "Unavailable")
        assert state["reason"] == "UnknownRef", state
        assert state["ref"] == "nope"
    finally:
        await running.stop()


async def test_a_refused_push_fails_the_task_with_push_failed(
    agent: Agent, git_server: GitServer
) -> None:
    git_server.refuse_pushes("demo", "protected branch: no pushes")
    body = await agent.run("p1", **task("p1", push=True))
    assert body["state"] == "failed", body
    failure = body["result"]["failure"]
    assert failure["reason"] == "PushFailed"
    assert "protected branch: no pushes" in failure["message"]
    ws = body["result"]["workspace"]
    assert not ws["pushed"] and ws["worktreeKept"] and ws["headCommit"] != ws["baseCommit"]
    assert git_server.head("demo", "claude-pool/p1") is None
    assert_no_token(git_server, agent.output, json.dumps(body))


async def test_push_on_approval_pushes_a_branch_kept_in_the_clone(
    agent: Agent, git_server: GitServer
) -> None:
    body = await agent.run("a1", **task("a1", remove=True))
    assert body["state"] == "succeeded", body
    assert git_server.head("demo", "claude-pool/a1") is None
    git_server.refuse_pushes("demo", "closed for the night")
    status, refused = await agent.call("POST", "/v1/workspace/push", {"branch": "claude-pool/a1"})
    assert status == 502 and refused["error"] == "PushFailed", refused
    assert "closed for the night" in refused["message"]
    git_server.accept_pushes("demo")
    status, pushed = await agent.call("POST", "/v1/workspace/push", {"branch": "claude-pool/a1"})
    assert status == 200, pushed
    assert pushed["commit"] == body["result"]["workspace"]["headCommit"]
    assert git_server.files("demo", "claude-pool/a1")["notes.txt"] == WRITTEN
    status, missing = await agent.call("POST", "/v1/workspace/push", {"branch": "claude-pool/zz"})
    assert (status, missing["error"]) == (404, "NotFound")
    assert_no_token(git_server, agent.output, json.dumps(refused))


async def test_the_cli_never_sees_git_credentials_and_a_cancelled_task_is_not_pushed(
    agent: Agent, git_server: GitServer
) -> None:
    status, body = await agent.start_task(
        "c1",
        **task("c1", tools="write", file="partial.txt", push=True)
        | {"prompt": "slow [[fake tools=write file=partial.txt delay=20]]"},
    )
    assert status == 201, body
    worktree = agent.volume / "workspace" / "worktrees" / "c1"

    async def cli_running() -> list[int]:
        return [pid for pid in processes_under(worktree) if b"claude" in _cmdline(pid)]

    pids = await eventually_async(cli_running, timeout=RUN_BOUND, interval=0.05, what="the CLI")
    environments = [_environ(pid) for pid in pids]
    assert any(environments)
    for environ in environments:
        assert git_server.token.encode() not in environ
        names = [item.split(b"=", 1)[0] for item in environ.split(b"\0") if item]
        assert not [n for n in names if n.startswith((b"GIT_", b"SSH_", b"CLAUDE_POOL_AGENT"))]
    (worktree / "partial.txt").write_text("half of the work\n")  # as if a tool had written it
    status, _ = await agent.call("POST", "/v1/tasks/c1/cancel")
    assert status == 202
    final = await agent.finished("c1")
    assert final["result"]["failure"]["reason"] == "Cancelled"
    ws = final["result"]["workspace"]
    assert ws["committedByAgent"] and not ws["pushed"] and ws["files"] == ["partial.txt"]
    assert git_server.head("demo", "claude-pool/c1") is None


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _environ(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return b""
