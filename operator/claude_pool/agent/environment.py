"""Pure: the CLI's environment and the secrets to keep out of every output.

Called by `runner.Runner` (environment) and `main` (secrets). The CLI gets an allow-list of
the agent's environment, never the agent's own `CLAUDE_POOL_AGENT_*` settings (the model can
run `env` through its Bash tool, so the agent token must not be there). Nothing of git's
credentials reaches it either: every `GIT_*`, `SSH_*` and `CLAUDE_POOL_AGENT_*` variable is
dropped whatever the allow-list says, and so is any variable holding a git secret.

IS_SANDBOX=1 is set only when the agent runs as root (uid 0) AND the task asks for
bypassPermissions: the CLI refuses that mode as root otherwise. The slot image runs as a
non-root user, where the CLI needs no such flag, so in a slot pod it is never set.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from claude_pool.api.agent import CliPermissionMode

PASSTHROUGH_NAMES = frozenset(
    {
        "PATH",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "USER",
        "LOGNAME",
        "SHELL",
        "TERM",
        "NODE_EXTRA_CA_CERTS",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
    }
)
PASSTHROUGH_PREFIXES = ("ANTHROPIC_", "CLAUDE_CODE_", "LC_")
STRIPPED_PREFIXES = ("GIT_", "SSH_", "CLAUDE_POOL_AGENT_")
"""Never given to the CLI: git's credentials and settings, ssh's agent, the agent's own."""
SECRET_NAMES = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")
GIT_SECRET_NAMES = ("CLAUDE_POOL_AGENT_GIT_TOKEN", "CLAUDE_POOL_AGENT_GIT_SSH_KEY")
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


def needs_sandbox_flag(euid: int, mode: CliPermissionMode | None) -> bool:
    """Whether the CLI needs IS_SANDBOX=1: only as root with bypassPermissions."""
    return euid == 0 and mode is CliPermissionMode.BYPASS_PERMISSIONS


def cli_environment(
    agent_env: Mapping[str, str],
    *,
    home: Path,
    retries: int,
    api_timeout_ms: int,
    sandbox: bool,
) -> dict[str, str]:
    """The environment of one CLI run, built from the agent's own environment."""
    git_secrets = {agent_env[name] for name in GIT_SECRET_NAMES if agent_env.get(name)}
    env = {
        name: value
        for name, value in agent_env.items()
        if (name in PASSTHROUGH_NAMES or name.startswith(PASSTHROUGH_PREFIXES))
        and not name.startswith(STRIPPED_PREFIXES)
        and value not in git_secrets
    }
    env.setdefault("PATH", DEFAULT_PATH)
    env.update(
        HOME=str(home),
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_TELEMETRY="1",
        DISABLE_AUTOUPDATER="1",
        CLAUDE_CODE_MAX_RETRIES=str(retries),
        API_TIMEOUT_MS=str(api_timeout_ms),
    )
    if sandbox:
        env["IS_SANDBOX"] = "1"
    return env


def secrets_in(agent_env: Mapping[str, str]) -> list[str]:
    """The credential values found in the agent's environment."""
    return [agent_env[name] for name in SECRET_NAMES if agent_env.get(name)]
