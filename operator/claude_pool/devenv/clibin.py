"""Find the Claude Code CLI binary and build the environment that points it at the fake API.

Called by tests that run the real CLI (tests/integration, the slot agent's and the operator's)
and by the dev environment. `make setup` installs the pinned CLI under
`<repo>/.tools/claude-code`. Lookup order: env `CLAUDE_POOL_CLAUDE_BIN`, then the pinned
install, then `claude` on PATH.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

BIN_ENV = "CLAUDE_POOL_CLAUDE_BIN"
REPO_ROOT = Path(__file__).resolve().parents[3]
PINNED_BIN = REPO_ROOT / ".tools" / "claude-code" / "node_modules" / ".bin" / "claude"
FAKE_API_KEY = "sk-test"


class ClaudeBinaryNotFound(FileNotFoundError):
    """The Claude CLI is not installed where we look."""


def claude_binary(env: Mapping[str, str] | None = None) -> Path:
    """The Claude CLI to run; raise ClaudeBinaryNotFound (naming `make setup`) if absent."""
    env = os.environ if env is None else env
    named = env.get(BIN_ENV)
    if named:
        path = Path(named)
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise ClaudeBinaryNotFound(f"{BIN_ENV}={named} is not an executable file")
    if PINNED_BIN.exists() and os.access(PINNED_BIN, os.X_OK):
        return PINNED_BIN
    found = shutil.which("claude", path=env.get("PATH"))
    if found:
        return Path(found)
    raise ClaudeBinaryNotFound(
        f"Claude CLI not found: set {BIN_ENV}, or run `make setup` to install it at "
        f"{PINNED_BIN}, or put `claude` on PATH"
    )


def fake_cli_env(
    base_url: str, home: Path, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A minimal environment for running the CLI offline against a fake API at `base_url`."""
    env = {
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": FAKE_API_KEY,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "HOME": str(home),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    env.update(extra or {})
    return env
