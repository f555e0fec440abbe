"""Keep a task's edits to the clone's git config from steering the agent's credentials.

The CLI works in a worktree of the agent's clone, as the agent's user, so it can write the
clone's `.git/config`. Before a network command (the only ones that carry credentials),
`risky_keys` finds the settings that would redirect or intercept them (`url.*.insteadOf`
sends the token to another host, `http.*` a proxy or a disabled TLS check, `include*` pulls
in any of these, `credential.*`, `core.sshCommand`/`askpass`/`gitProxy`); `gitrun.Git` removes
them and logs each before it runs the command. `git clone` writes none of them.
"""

from __future__ import annotations

RISKY_PREFIXES = ("url.", "http.", "include.", "includeif.", "credential.")
RISKY_KEYS = frozenset(
    {"core.sshcommand", "core.askpass", "core.gitproxy", "extensions.worktreeconfig"}
)


def risky_keys(names: str) -> list[str]:
    """The keys of `git config --local --list --name-only` output that must not stay
    (lower-cased as git prints them; each once, in order)."""
    found: list[str] = []
    for line in names.splitlines():
        key = line.strip().lower()
        if key and (key.startswith(RISKY_PREFIXES) or key in RISKY_KEYS) and key not in found:
            found.append(key)
    return found
