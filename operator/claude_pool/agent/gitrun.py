"""Runs git for the workspace: asyncio subprocesses, bounded, with a clean environment.

Called by `cloning`, `worktrees` and `workspace`. Every command gets options that keep what
a task may have written into the clone from running in the agent (no hooks, no fsmonitor,
no credential helper but ours); only network commands (`network=True`) get the credentials
(`gitcredentials`); every output is redacted before it is returned or raised, so a git
message can be logged or reported as is.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from claude_pool.agent.gitcredentials import GitCredentials
from claude_pool.agent.redaction import Redactor

LOCAL_TIMEOUT_SECONDS = 120.0
"""The bound of a local command (worktree add on a large tree, commit, diff)."""
SAFE_OPTIONS = (
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "credential.helper=",
    "-c",
    "gc.autoDetach=false",
)
_URL_CREDENTIALS = re.compile(r"(\w+://)[^/@\s]+@")


def scrub_git_text(text: str, redactor: Redactor) -> str:
    """`text` with known secrets and any `user:pass@` in URLs removed."""
    return _URL_CREDENTIALS.sub(r"\1", redactor.scrub(text))


@dataclass(frozen=True)
class GitOutput:
    """What a git command printed (redacted) and its exit code."""

    code: int
    stdout: str
    stderr: str


class GitError(Exception):
    """A git command failed or timed out; the message is redacted."""

    def __init__(self, command: str, output: GitOutput, timed_out: bool = False) -> None:
        detail = output.stderr.strip() or output.stdout.strip() or f"exit code {output.code}"
        if timed_out:
            detail = f"timed out: {detail}"
        super().__init__(f"git {command}: {detail}")
        self.output = output
        self.timed_out = timed_out


class Git:
    """Runs git commands for one agent."""

    def __init__(
        self,
        *,
        base_env: Mapping[str, str],
        home: Path,
        credentials: GitCredentials,
        redactor: Redactor,
        network_timeout: float,
    ) -> None:
        self.env = {
            "PATH": base_env.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": "claude-pool",
            "GIT_AUTHOR_EMAIL": "claude-pool@localhost",
            "GIT_COMMITTER_NAME": "claude-pool",
            "GIT_COMMITTER_EMAIL": "claude-pool@localhost",
        }
        self.credentials = credentials
        self.redactor = redactor
        self.network_timeout = network_timeout

    async def __call__(
        self,
        *args: str,
        cwd: Path | None = None,
        network: bool = False,
        check: bool = True,
    ) -> GitOutput:
        """Run `git ARGS`; raise GitError on a non-zero exit (when `check`) or a timeout."""
        env = dict(self.env)
        options = list(SAFE_OPTIONS)
        if network:
            env.update(self.credentials.environment())
            options += self.credentials.options()
        bound = self.network_timeout if network else LOCAL_TIMEOUT_SECONDS
        proc = await asyncio.create_subprocess_exec(
            "git",
            *options,
            *args,
            cwd=cwd,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        timed_out = False
        try:
            out, err = await asyncio.wait_for(proc.communicate(), bound)
        except TimeoutError:
            timed_out = True
            _kill_group(proc.pid)
            out, err = await proc.communicate()
        except asyncio.CancelledError:  # the agent is stopping: leave no git behind
            _kill_group(proc.pid)
            raise
        output = GitOutput(
            code=proc.returncode if proc.returncode is not None else -1,
            stdout=scrub_git_text(out.decode("utf-8", "replace"), self.redactor),
            stderr=scrub_git_text(err.decode("utf-8", "replace"), self.redactor),
        )
        if timed_out or (check and output.code != 0):
            raise GitError(args[0] if args else "", output, timed_out)
        return output


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
