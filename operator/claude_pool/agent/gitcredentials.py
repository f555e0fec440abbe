"""How git authenticates to the workspace's remote, with nothing secret on disk but the key.

Called by `gitrun.Git` for network commands. An https token is answered by an inline
credential helper (`credential.helper=!...`, run by git's shell) that prints
`$CLAUDE_POOL_AGENT_GIT_TOKEN` at call time: the token is in the environment of the git
process only, never in the clone's config, a URL or a file. An ssh key is written 0600 under
the agent's state directory (outside the clone) and used through GIT_SSH_COMMAND, with the
given known_hosts or, without them, the first key seen (accept-new).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

TOKEN_VARIABLE = "CLAUDE_POOL_AGENT_GIT_TOKEN"  # noqa: S105 - a variable name, not a secret
USERNAME_VARIABLE = "CLAUDE_POOL_AGENT_GIT_USERNAME"
DEFAULT_USERNAME = "x-access-token"
CREDENTIAL_HELPER = (
    '!f() { test "$1" = get || exit 0; '
    f'echo "username=${{{USERNAME_VARIABLE}:-{DEFAULT_USERNAME}}}"; '
    f'echo "password=${TOKEN_VARIABLE}"; }}; f'
)
"""Answers `get` from the environment; ignores `store` and `erase` (nothing is kept)."""


def ssh_command(key: Path | None, known_hosts: Path | None) -> str:
    """GIT_SSH_COMMAND for a key file and an optional known_hosts file."""
    parts = ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes"]
    if key is not None:
        parts += ["-i", str(key), "-o", "IdentitiesOnly=yes"]
    if known_hosts is not None:
        parts += ["-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes"]
    else:
        parts += ["-o", "StrictHostKeyChecking=accept-new"]
    return shlex.join(parts)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text if text.endswith("\n") else text + "\n")
    os.chmod(path, 0o600)


class GitCredentials:
    """The credentials of one workspace: a token, or an ssh key (or neither)."""

    def __init__(
        self,
        *,
        token: str | None = None,
        username: str | None = None,
        ssh_key: str | None = None,
        known_hosts: str | None = None,
    ) -> None:
        self.token = token or None
        self.username = username or None
        self.ssh_key = ssh_key or None
        self.known_hosts = known_hosts or None
        self.key_path: Path | None = None
        self.known_hosts_path: Path | None = None

    def install(self, directory: Path) -> None:
        """Write the ssh key (0600) and known_hosts under `directory` (private), if any."""
        if self.ssh_key is None and self.known_hosts is None:
            return
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(directory, 0o700)
        if self.ssh_key is not None:
            self.key_path = directory / "id"
            _write_private(self.key_path, self.ssh_key)
        if self.known_hosts is not None:
            self.known_hosts_path = directory / "known_hosts"
            _write_private(self.known_hosts_path, self.known_hosts)

    def options(self) -> list[str]:
        """`-c` options of a network command (after the reset of credential.helper)."""
        return ["-c", f"credential.helper={CREDENTIAL_HELPER}"] if self.token else []

    def environment(self) -> dict[str, str]:
        """Variables of a network command's git process (and only of it)."""
        env = {"GIT_SSH_COMMAND": ssh_command(self.key_path, self.known_hosts_path)}
        if self.token is not None:
            env[TOKEN_VARIABLE] = self.token
            if self.username is not None:
                env[USERNAME_VARIABLE] = self.username
        return env

    def secrets(self) -> list[str]:
        """Values to redact everywhere: the token, the key and each line of the key's body."""
        found = [s for s in (self.token, self.ssh_key) if s]
        if self.ssh_key is not None:
            found += [line.strip() for line in self.ssh_key.splitlines() if "-----" not in line]
        return found
