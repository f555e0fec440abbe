"""`python -m claude_pool agent`: start the slot agent and serve until SIGTERM/SIGINT.

Called by `claude_pool.__main__` (the slot image's entry point). Reads `AgentSettings` from
the environment, turns tasks left running by a previous agent into Interrupted failures,
prints `agent listening on http://HOST:PORT` once it accepts connections (PORT is the bound
one, so port 0 works), and on SIGTERM stops a running task (reported Interrupted) before it
exits.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
from datetime import UTC, datetime
from importlib import metadata

from aiohttp import web
from pydantic import ValidationError

from claude_pool.agent.environment import cli_environment, secrets_in
from claude_pool.agent.redaction import Redactor
from claude_pool.agent.runner import Runner
from claude_pool.agent.server import build_app
from claude_pool.agent.settings import AgentSettings
from claude_pool.agent.slot import Slot
from claude_pool.agent.store import TaskStore


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


def now() -> datetime:
    return datetime.now(UTC)


async def serve(settings: AgentSettings, token: str, claude_bin: str) -> int:
    redactor = Redactor([token, *secrets_in(os.environ)])

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
    slot = Slot(
        store,
        runner,
        clock=now,
        log=log,
        agent_version=agent_version(),
        cli_version=await cli_version(claude_bin, env),
    )
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
