"""Runs the Claude CLI for one task and turns what it prints into a `AgentResult`.

Called by `slot.Slot`, one run at a time. The CLI gets a new process group
(start_new_session), the prompt on stdin from a regular file (see `argv`), the task's working
directory, the slot's HOME and an allow-listed environment. A timeout, a cancel or an agent
shutdown stops the whole group: SIGTERM, then SIGKILL after the grace. When the CLI exits by
itself, whatever it left running in its group (background shells of the Bash tool) is killed
too, so nothing of one task outlives it. The CLI also dies with the agent (Linux
PR_SET_PDEATHSIG): an agent killed outright (SIGKILL, OOM) cannot leave a CLI running on,
still calling the model, while the operator retries the task elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import shutil
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from claude_pool.agent.argv import build_argv, mcp_config_document, system_prompt_addition
from claude_pool.agent.environment import cli_environment, needs_sandbox_flag
from claude_pool.agent.events import RunEnd, StreamObservation, build_result
from claude_pool.agent.redaction import Redactor
from claude_pool.agent.settings import AgentSettings
from claude_pool.api.agent import (
    AgentResult,
    Failure,
    ProgressEvent,
    ProgressKind,
    TaskRequest,
)
from claude_pool.api.failures import FailureReason

STDERR_TAIL_BYTES = 4096
LINE_LIMIT = 64 * 1024 * 1024
"""A stream-json line longer than this (a huge tool result) is skipped, not fatal."""
DRAIN_SECONDS = 30.0
"""Bound of reading what the CLI printed after it exited (its group is killed first, so the
pipes close at once unless a process escaped the group). Generous: a loaded machine took
over 5 s to parse a 200 KB result line once, and the run was reported without its result."""
_PR_SET_PDEATHSIG = 1


def die_with_agent() -> None:
    """In the CLI between fork and exec: SIGKILL when the agent (the forking thread) dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class StopSignal:
    """A request to stop a run early, with the reason to report."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.reason: FailureReason = FailureReason.CANCELLED
        self.message = ""

    def request(self, reason: FailureReason, message: str) -> None:
        if not self._event.is_set():
            self.reason, self.message = reason, message
            self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()


@dataclass(frozen=True)
class RunFiles:
    """The files one run needs, under `<state>/run/<uid>/`."""

    directory: Path
    prompt: Path
    system_prompt: Path | None
    mcp_config: Path | None


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def resolve_workdir(work_root: Path, workdir: str | None) -> Path:
    """The task's working directory; ValueError if it leaves the work root (symlinks too)."""
    root = work_root.resolve()
    path = (root / (workdir or ".")).resolve()
    if path != root and root not in path.parents:
        raise ValueError("workdir leaves the slot's work directory")
    return path


class Runner:
    """Runs the CLI; one instance per agent."""

    def __init__(
        self,
        settings: AgentSettings,
        claude_bin: str,
        redactor: Redactor,
        agent_env: Mapping[str, str],
        log: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self.claude_bin = claude_bin
        self.redactor = redactor
        self.agent_env = dict(agent_env)
        self.log = log

    def prepare(
        self, uid: str, request: TaskRequest, workdir: Path
    ) -> tuple[list[str], dict[str, str], RunFiles]:
        """Create the directories, write the run's files; return argv, environment and files."""
        self.settings.home_path.mkdir(parents=True, exist_ok=True)
        workdir.mkdir(parents=True, exist_ok=True)
        directory = self.settings.state_path / "run" / uid
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        addition = system_prompt_addition(request)
        document = mcp_config_document(request)
        files = RunFiles(
            directory=directory,
            prompt=directory / "prompt.txt",
            system_prompt=None if addition is None else directory / "system-prompt.md",
            mcp_config=None if document is None else directory / "mcp.json",
        )
        _write_private(files.prompt, request.prompt)
        if files.system_prompt is not None and addition is not None:
            _write_private(files.system_prompt, addition)
        if files.mcp_config is not None:
            _write_private(files.mcp_config, json.dumps(document))
        argv = build_argv(
            self.claude_bin,
            request,
            system_prompt_file=files.system_prompt,
            mcp_config_file=files.mcp_config,
        )
        env = cli_environment(
            self.agent_env,
            home=self.settings.home_path,
            retries=self.settings.cli_retries,
            api_timeout_ms=self.settings.api_timeout_ms,
            sandbox=needs_sandbox_flag(os.geteuid(), request.permission_mode),
        )
        return argv, env, files

    async def run(
        self,
        uid: str,
        request: TaskRequest,
        workdir: Path,
        stop: StopSignal,
        on_progress: Callable[[ProgressEvent], None],
    ) -> AgentResult:
        """Run the CLI for `request` in `workdir` until it ends or `stop` is requested."""
        argv, env, files = await asyncio.to_thread(self.prepare, uid, request, workdir)
        try:
            result = await self._run(uid, request, argv, env, workdir, files, stop, on_progress)
        finally:
            shutil.rmtree(files.directory, ignore_errors=True)
        return self.redactor.scrub_result(result)

    async def _run(
        self,
        uid: str,
        request: TaskRequest,
        argv: list[str],
        env: dict[str, str],
        workdir: Path,
        files: RunFiles,
        stop: StopSignal,
        on_progress: Callable[[ProgressEvent], None],
    ) -> AgentResult:
        seen = StreamObservation()
        started = time.monotonic()
        try:
            with files.prompt.open("rb") as prompt:
                proc = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=prompt,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    cwd=workdir,
                    env=env,
                    start_new_session=True,
                    preexec_fn=die_with_agent if sys.platform == "linux" else None,
                    limit=LINE_LIMIT,
                )
        except OSError as error:
            message = self.redactor.scrub(f"the CLI could not be started: {error}")
            return AgentResult(
                success=False,
                failure=Failure(reason=FailureReason.CLI_CRASHED, message=message),
            )
        on_progress(ProgressEvent(seq=0, kind=ProgressKind.STARTED))
        tail: deque[bytes] = deque()
        readers = [
            asyncio.create_task(self._read_stdout(uid, proc, seen, on_progress)),
            asyncio.create_task(_read_tail(proc, tail)),
        ]
        exited = asyncio.create_task(proc.wait())
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait(
                {exited, stopping},
                timeout=request.timeout_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not exited.done():
                if not stop.requested:
                    stop.request(
                        FailureReason.TIMEOUT,
                        f"the task's timeout of {request.timeout_seconds} s expired",
                    )
                await self._stop_group(proc, exited)
        except asyncio.CancelledError:
            await self._stop_group(proc, exited)
            raise
        finally:
            stopping.cancel()
            _signal_group(proc.pid, signal.SIGKILL)
            _, pending = await asyncio.wait(readers, timeout=DRAIN_SECONDS)
            for reader in pending:
                reader.cancel()
        end = RunEnd(
            exit_code=proc.returncode,
            stderr_tail=b"".join(tail)[-STDERR_TAIL_BYTES:].decode("utf-8", "replace"),
            duration_ms=int((time.monotonic() - started) * 1000),
            stopped=stop.reason if stop.requested else None,
            stop_message=stop.message,
        )
        return build_result(
            seen, end, requested_model=request.model, schema=request.json_schema is not None
        )

    async def _stop_group(
        self, proc: asyncio.subprocess.Process, exited: asyncio.Task[int]
    ) -> None:
        """SIGTERM the CLI's process group, SIGKILL it after the grace; wait for the CLI."""
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(exited), self.settings.kill_grace_seconds)
        except TimeoutError:
            _signal_group(proc.pid, signal.SIGKILL)
            await asyncio.shield(exited)

    async def _read_stdout(
        self,
        uid: str,
        proc: asyncio.subprocess.Process,
        seen: StreamObservation,
        on_progress: Callable[[ProgressEvent], None],
    ) -> None:
        assert proc.stdout is not None
        while True:
            try:
                line = await proc.stdout.readline()
            except ValueError:  # longer than LINE_LIMIT: asyncio dropped it
                continue
            if not line:
                return
            for event in seen.feed(line):
                event = self.redactor.scrub_event(event)
                on_progress(event)
                self._log_progress(uid, event)

    def _log_progress(self, uid: str, event: ProgressEvent) -> None:
        if event.kind is ProgressKind.TOOL_USE:
            self.log(f"task {uid}: turn {event.turns}: tool {event.tool}")
        elif event.kind is ProgressKind.RETRY:
            self.log(
                f"task {uid}: API retry {event.attempt} "
                f"(status {event.error_status}, {event.text or 'error'})"
            )
        elif event.kind is ProgressKind.TEXT and event.text:
            snippet = " ".join(event.text.split())[:160]
            self.log(f"task {uid}: turn {event.turns}: {snippet}")


async def _read_tail(proc: asyncio.subprocess.Process, tail: deque[bytes]) -> None:
    """Read stderr to EOF (so the CLI never blocks on it), keeping only the tail."""
    assert proc.stderr is not None
    size = 0
    while chunk := await proc.stderr.read(65536):
        tail.append(chunk)
        size += len(chunk)
        while size - len(tail[0]) >= STDERR_TAIL_BYTES:
            size -= len(tail.popleft())


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
