"""The pure parts of the agent's workspace: failure reasons from git's messages, numstat
and diffstat bounds, backoff, credentials (helper, ssh, files), the CLI's environment
without git's secrets, settings, and the server's workspace answers."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from claude_pool.agent.cloning import WorkspaceSpec, backoff
from claude_pool.agent.environment import cli_environment
from claude_pool.agent.gitcredentials import CREDENTIAL_HELPER, GitCredentials, ssh_command
from claude_pool.agent.gitfacts import (
    DiffFigures,
    bound_diffstat,
    classify,
    parse_numstat,
    short_message,
)
from claude_pool.agent.gitrun import Git, scrub_git_text
from claude_pool.agent.redaction import Redactor
from claude_pool.agent.server import build_app
from claude_pool.agent.settings import AgentSettings
from claude_pool.agent.slot import Slot
from claude_pool.agent.store import TaskStore
from claude_pool.agent.workspace import Workspace
from claude_pool.api.workspaces import MAX_DIFFSTAT_BYTES, WorkspaceReason

TOKEN = "unit-test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GIT_TOKEN = "ghp_0123456789abcdefghijklmnop"


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (
            "fatal: Authentication failed for 'http://h/r.git/'",
            WorkspaceReason.AUTHENTICATION_FAILED,
        ),
        (
            "fatal: could not read Username for 'https://h': terminal prompts disabled",
            WorkspaceReason.AUTHENTICATION_FAILED,
        ),
        ("git@h: Permission denied (publickey).", WorkspaceReason.AUTHENTICATION_FAILED),
        ("The requested URL returned error: 403", WorkspaceReason.AUTHENTICATION_FAILED),
        (
            "warning: Could not find remote branch x to clone.\nfatal: Remote branch x not found "
            "in upstream origin",
            WorkspaceReason.UNKNOWN_REF,
        ),
        ("fatal: couldn't find remote ref refs/heads/x", WorkspaceReason.UNKNOWN_REF),
        (
            "fatal: unable to access 'http://h/': Failed to connect to h: Connection refused",
            WorkspaceReason.REPOSITORY_UNREACHABLE,
        ),
        (
            "fatal: unable to access 'https://nope/': Could not resolve host: nope",
            WorkspaceReason.REPOSITORY_UNREACHABLE,
        ),
        (
            "fatal: repository 'http://h/missing.git/' not found",
            WorkspaceReason.REPOSITORY_UNREACHABLE,
        ),
        ("git clone: timed out: ", WorkspaceReason.REPOSITORY_UNREACHABLE),
        ("fatal: destination path exists and is not empty", WorkspaceReason.CLONE_FAILED),
    ],
)
def test_clone_failures_are_classified_from_gits_message(
    message: str, reason: WorkspaceReason
) -> None:
    assert classify(message) is reason


def test_numstat_counts_text_binary_and_renamed_files() -> None:
    output = "3\t1\ta.txt\x00-\t-\timg.png\x000\t0\t\x00old.txt\x00new.txt\x00"
    assert parse_numstat(output) == DiffFigures(3, 3, 1, ["a.txt", "img.png", "new.txt"])
    assert parse_numstat("") == DiffFigures(0, 0, 0, [])


def test_numstat_lists_at_most_a_hundred_files_but_counts_all() -> None:
    output = "".join(f"1\t0\tf{i}\x00" for i in range(250))
    figures = parse_numstat(output)
    assert (figures.files_changed, figures.insertions, len(figures.files)) == (250, 250, 100)


def test_a_long_diffstat_is_cut_but_keeps_its_summary() -> None:
    lines = "".join(f" dir/file{i}.txt | 1 +\n" for i in range(1000))
    stat = lines + " 1000 files changed, 1000 insertions(+)\n"
    cut = bound_diffstat(stat)
    assert len(cut.encode()) <= MAX_DIFFSTAT_BYTES
    assert cut.endswith(" ...\n 1000 files changed, 1000 insertions(+)\n")
    assert bound_diffstat(" a | 1 +\n 1 file changed\n") == " a | 1 +\n 1 file changed\n"


def test_a_state_message_is_one_line_of_at_most_a_kibibyte() -> None:
    message = short_message("fatal:\n" + "é" * 2000)
    assert "\n" not in message and len(message.encode()) <= 1024


def test_backoff_doubles_from_ten_seconds_up_to_five_minutes() -> None:
    assert [backoff(n, 10, 300) for n in range(1, 8)] == [10, 20, 40, 80, 160, 300, 300]


def test_urls_and_secrets_are_scrubbed_from_git_messages() -> None:
    redactor = Redactor([GIT_TOKEN])
    text = f"fatal: unable to access 'https://x-access-token:{GIT_TOKEN}@h/r.git/': {GIT_TOKEN}"
    assert scrub_git_text(text, redactor) == (
        "fatal: unable to access 'https://h/r.git/': [REDACTED]"
    )


def test_the_credential_helper_answers_from_the_environment_at_call_time(tmp_path: Path) -> None:
    helper = CREDENTIAL_HELPER.removeprefix("!")
    env = {"PATH": os.environ["PATH"], "CLAUDE_POOL_AGENT_GIT_TOKEN": GIT_TOKEN}
    done = subprocess.run(
        ["sh", "-c", helper + ' "$@"', "helper", "get"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    assert done.stdout == f"username=x-access-token\npassword={GIT_TOKEN}\n"
    env["CLAUDE_POOL_AGENT_GIT_USERNAME"] = "bot"
    done = subprocess.run(
        ["sh", "-c", helper + ' "$@"', "helper", "store"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    assert done.stdout == ""
    assert GIT_TOKEN not in CREDENTIAL_HELPER


def test_a_token_goes_only_into_network_commands_and_never_to_disk(tmp_path: Path) -> None:
    credentials = GitCredentials(token=GIT_TOKEN, username="bot")
    credentials.install(tmp_path / "ssh")
    assert not (tmp_path / "ssh").exists()
    assert credentials.environment()["CLAUDE_POOL_AGENT_GIT_TOKEN"] == GIT_TOKEN
    assert credentials.environment()["CLAUDE_POOL_AGENT_GIT_USERNAME"] == "bot"
    assert GIT_TOKEN not in " ".join(credentials.options())
    assert GitCredentials().options() == [] and "CLAUDE_POOL_AGENT_GIT_TOKEN" not in (
        GitCredentials().environment()
    )


def test_an_ssh_key_is_written_private_and_used_through_git_ssh_command(tmp_path: Path) -> None:
    key = "\n".join(
        [
            "-----BEGIN OPENSSH PRIVATE KEY-----",
            "b3BlbnNzaC1rZXktdjEAAAAA",
            "-----END OPENSSH KEY-----",
        ]
    )
    credentials = GitCredentials(ssh_key=key, known_hosts="h ssh-ed25519 AAAA")
    credentials.install(tmp_path / "ssh")
    key_file = tmp_path / "ssh" / "id"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "ssh").stat().st_mode) == 0o700
    assert key_file.read_text() == key + "\n"
    command = credentials.environment()["GIT_SSH_COMMAND"]
    assert f"-i {key_file}" in command and "StrictHostKeyChecking=yes" in command
    assert f"UserKnownHostsFile={tmp_path / 'ssh' / 'known_hosts'}" in command
    assert "b3BlbnNzaC1rZXktdjEAAAAA" in credentials.secrets()
    assert "StrictHostKeyChecking=accept-new" in ssh_command(key_file, None)


def test_the_cli_never_sees_git_credentials_or_settings() -> None:
    agent_env = {
        "PATH": "/usr/bin",
        "CLAUDE_POOL_AGENT_GIT_TOKEN": GIT_TOKEN,
        "CLAUDE_POOL_AGENT_GIT_SSH_KEY": "-----BEGIN KEY----- secret-key-material",
        "CLAUDE_POOL_AGENT_WORKSPACE_REPO": "https://h/r.git",
        "GIT_ASKPASS": "/x",
        "GIT_SSH_COMMAND": "ssh -i /k",
        "SSH_AUTH_SOCK": "/tmp/agent",
        "ANTHROPIC_EXTRA": GIT_TOKEN,  # a git secret copied under an allowed name
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:1",
    }
    env = cli_environment(agent_env, home=Path("/h"), retries=0, api_timeout_ms=1000, sandbox=False)
    assert GIT_TOKEN not in env.values()
    assert not [name for name in env if name.startswith(("GIT_", "SSH_", "CLAUDE_POOL_"))]
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:1"


def test_workspace_settings_come_from_the_pod_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "CLAUDE_POOL_AGENT_WORKSPACE_REPO": "https://h/r.git",
        "CLAUDE_POOL_AGENT_WORKSPACE_REF": "release",
        "CLAUDE_POOL_AGENT_WORKSPACE_DEPTH": "50",
        "CLAUDE_POOL_AGENT_WORKSPACE_DIR": "/workspace",
        "CLAUDE_POOL_AGENT_GIT_TOKEN": GIT_TOKEN,
        "CLAUDE_POOL_AGENT_GIT_USERNAME": "bot",
    }.items():
        monkeypatch.setenv(name, value)
    settings = AgentSettings()
    assert (settings.workspace_repo, settings.workspace_ref, settings.workspace_depth) == (
        "https://h/r.git",
        "release",
        50,
    )
    assert settings.workspace_dir == Path("/workspace") and settings.git_username == "bot"
    assert settings.git_token is not None and GIT_TOKEN not in repr(settings)


async def _client(tmp_path: Path, workspace: Workspace | None) -> TestClient[Any, Any]:
    slot = Slot(
        TaskStore(tmp_path / "state"),
        None,  # type: ignore[arg-type]  # never reached: every request here is refused
        clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
        log=lambda message: None,
        agent_version="test",
        cli_version=None,
        workspace=workspace,
    )
    return TestClient(TestServer(build_app(slot, TOKEN, tmp_path / "work", lambda m: None)))


def _workspace(tmp_path: Path) -> Workspace:
    git = Git(
        base_env=os.environ,
        home=tmp_path,
        credentials=GitCredentials(),
        redactor=Redactor([]),
        network_timeout=5,
    )
    return Workspace(WorkspaceSpec("https://h/r.git", None, None, tmp_path / "ws"), git, print)


async def test_tasks_and_pushes_wait_for_the_clone(tmp_path: Path) -> None:
    async with await _client(tmp_path, _workspace(tmp_path)) as client:
        body = {"prompt": "p", "workspace": {"worktree": "w", "branch": "b"}}
        response = await client.put("/v1/tasks/t1", json=body, headers=AUTH)
        assert response.status == 409
        assert (await response.json())["error"] == "WorkspaceNotReady"
        response = await client.put("/v1/tasks/t2", json={"prompt": "p"}, headers=AUTH)
        assert response.status == 409
        response = await client.post("/v1/workspace/push", json={"branch": "b"}, headers=AUTH)
        assert response.status == 409
        response = await client.post("/v1/workspace/push", json={"branch": "a b"}, headers=AUTH)
        assert response.status == 400
        slot = await (await client.get("/v1/slot", headers=AUTH)).json()
        assert slot["workspace"]["phase"] == "Cloning"
        assert slot["workspace"]["repository"] == "https://h/r.git"


async def test_a_slot_without_workspace_refuses_workspace_requests(tmp_path: Path) -> None:
    async with await _client(tmp_path, None) as client:
        body = {"prompt": "p", "workspace": {"worktree": "w", "branch": "b"}}
        response = await client.put("/v1/tasks/t1", json=body, headers=AUTH)
        assert response.status == 400
        assert "no workspace" in (await response.json())["message"]
        response = await client.post("/v1/workspace/push", json={"branch": "b"}, headers=AUTH)
        assert response.status == 404
        slot = await (await client.get("/v1/slot", headers=AUTH)).json()
        assert "workspace" not in slot


async def test_a_cancelled_git_command_leaves_no_process_behind(tmp_path: Path) -> None:
    git = Git(
        base_env=os.environ,
        home=tmp_path,
        credentials=GitCredentials(),
        redactor=Redactor([]),
        network_timeout=60,
    )
    marker = tmp_path / "marker"
    # `git -c alias...` runs a shell alias: a stand-in for a long clone
    call = asyncio.ensure_future(git("-c", f"alias.slow=!sleep 30; touch {marker}", "slow"))
    await asyncio.sleep(0.5)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    for _ in range(100):  # SIGKILL is delivered asynchronously: allow it 5 s
        if not _processes_mentioning(str(marker)):
            break
        await asyncio.sleep(0.05)
    assert _processes_mentioning(str(marker)) == []


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
