"""`python -m claude_pool agent`: start the slot agent and serve until SIGTERM/SIGINT.

Called by `claude_pool.__main__` (the slot image's entry point). Reads `AgentSettings` from
the environment, turns tasks left running by a previous agent into Interrupted failures,
prints `agent listening on http://HOST:PORT` once it accepts connections (PORT is the bound
one, so port 0 works), and on SIGTERM stops a running task (reported Interrupted) before it
exits. With a workspace repository set, it starts cloning in the background at once: the
agent listens meanwhile (GET /v1/slot says Cloning) and takes tasks once the clone is Ready.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata

from aiohttp import web
from pydantic import ValidationError

from claude_pool.agent.cloning import WorkspaceSpec
from claude_pool.agent.environment import cli_environment, secrets_in
from claude_pool.agent.gitcredentials import GitCredentials
from claude_pool.agent.gitrun import Git
from claude_pool.agent.redaction import Redactor
from claude_pool.agent.runner import Runner
from claude_pool.agent.server import build_app
from claude_pool.agent.settings import AgentSettings
from claude_pool.agent.slot import Slot
from claude_pool.agent.store import TaskStore
from claude_pool.agent.workspace import Workspace


def agent_version() -> str:
    try:
        return metadata.version("claude-pool")
    except metadata.PackageNotFoundError:
        return "unknown"


async def cli_version(claude_bin: str, env: dict[str, str]) -> str | None:
    """`claude --version`'s first word (e.g. 2.1.197), or None if it does not answer."""
    try:
        proc = await asyncio.create_subprocess_exec(
            claude_bin,
            "--version",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    except (OSError, TimeoutError):
        return None
    words = out.decode(errors="replace").split()
    return words[0] if proc.returncode == 0 and words else None


Log = Callable[[str], None]


def now() -> datetime:
    return datetime.now(UTC)


def git_credentials(settings: AgentSettings) -> GitCredentials:
    return GitCredentials(
        token=settings.git_token.get_secret_value() if settings.git_token else None,
        username=settings.git_username,
        ssh_key=settings.git_ssh_key.get_secret_value() if settings.git_ssh_key else None,
        known_hosts=settings.git_known_hosts,
    )


def build_workspace(
    settings: AgentSettings, credentials: GitCredentials, redactor: Redactor, log: Log
) -> Workspace | None:
    """The slot's workspace, when a repository is set (its credentials installed)."""
    if not settings.workspace_repo:
        return None
    git_dir = settings.state_path / "git"
    credentials.install(git_dir / "ssh")
    (git_dir / "home").mkdir(parents=True, exist_ok=True)
    git = Git(
        base_env=os.environ,
        home=git_dir / "home",
        credentials=credentials,
        redactor=redactor,
        network_timeout=settings.git_timeout_seconds,
    )
    spec = WorkspaceSpec(
        repo=settings.workspace_repo,
        ref=settings.workspace_ref or None,
        depth=settings.workspace_depth,
        directory=settings.workspace_dir,
    )
    return Workspace(
        spec,
        git,
        log,
        retry_seconds=settings.workspace_retry_seconds,
        retry_max_seconds=settings.workspace_retry_max_seconds,
    )


async def serve(settings: AgentSettings, token: str, claude_bin: str) -> int:
    credentials = git_credentials(settings)
    redactor = Redactor([token, *secrets_in(os.environ), *credentials.secrets()])

    def log(message: str) -> None:
        print(redactor.scrub(message), flush=True)

    for directory in (settings.state_path, settings.work_path, settings.home_path):
        directory.mkdir(parents=True, exist_ok=True)
    store = TaskStore(settings.state_path / "tasks")
    shutil.rmtree(settings.state_path / "run", ignore_errors=True)  # prompts of killed runs
    for status in store.recover(now()):
        log(f"task {status.uid}: was running when the agent stopped; reported Interrupted")
    env = cli_environment(
        os.environ, home=settings.home_path, retries=0, api_timeout_ms=1000, sandbox=False
    )
    runner = Runner(settings, claude_bin, redactor, os.environ, log)
    workspace = build_workspace(settings, credentials, redactor, log)
    slot = Slot(
        store,
        runner,
        clock=now,
        log=log,
        agent_version=agent_version(),
        cli_version=await cli_version(claude_bin, env),
        workspace=workspace,
    )
    cloner = asyncio.create_task(workspace.keep_cloning()) if workspace is not None else None
    app = build_app(slot, token, settings.work_path, log)
    web_runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5)
    await web_runner.setup()
    site = web.TCPSite(web_runner, settings.host, settings.port)
    await site.start()
    port = web_runner.addresses[0][1] if web_runner.addresses else settings.port
    log(f"agent {slot.agent_version} (CLI {slot.cli_version}) using {claude_bin}")
    log(f"agent listening on http://{settings.host}:{port}")

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    log("agent: stopping")
    if cloner is not None:
        cloner.cancel()
    await slot.shutdown()
    await web_runner.cleanup()
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m claude_pool agent",
        description="The slot agent: runs Claude CLI tasks for the operator over HTTP. "
        "Configured by CLAUDE_POOL_AGENT_* variables (see slot-image/README.md).",
    )
    parser.add_argument("--host", help="override CLAUDE_POOL_AGENT_HOST")
    parser.add_argument("--port", type=int, help="override CLAUDE_POOL_AGENT_PORT (0: any)")
    args = parser.parse_args(argv)
    try:
        settings = AgentSettings()
        if args.host is not None:
            settings.host = args.host
        if args.port is not None:
            settings.port = args.port
        token = settings.resolve_token()
        claude_bin = settings.resolve_claude_bin()
    except (ValidationError, ValueError, OSError) as error:
        print(f"agent: {error}", file=sys.stderr)
        return 2
    return asyncio.run(serve(settings, token, claude_bin))
