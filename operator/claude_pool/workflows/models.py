"""Model names: aliases resolved to full model ids; was the model that ran the one asked for?

Pure; `resolve_model` is called by `resolving.resolve_request` (so the CLI always receives a
full id) and `check_model` is for the pool worker when it records a result (`reporting.run_report`).
Why: the pinned CLI (2.1.197) resolves some aliases by permission mode. With `--model haiku`
in plan mode it runs the "plan upgrade model", Sonnet, and bills Sonnet prices; `opusplan`
is Opus in plan mode and Sonnet otherwise. A full id is sent verbatim in every mode
(shared/notes/claude-cli.md §6). `MODEL_ALIASES` is the CLI's own table (its `--model`
aliases, read from the CLI 2.1.197 binary and measured against the fake API). It belongs to
`CLI_VERSION`: a test fails when slot-image/cli/package.json pins another version, so a CLI
upgrade re-checks it. Operators override or extend it with CLAUDE_POOL_MODEL_ALIASES
(runtime settings), e.g. for a gateway's own model ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from claude_pool.api.agent import CliPermissionMode
from claude_pool.api.reasons import TaskReason

CLI_VERSION = "2.1.197"
"""The Claude Code CLI version MODEL_ALIASES was read from (slot-image/cli/package.json)."""
SONNET = "claude-sonnet-5"
OPUS = "claude-opus-4-8"
HAIKU = "claude-haiku-4-5-20251001"
FABLE = "claude-fable-5"
LONG_CONTEXT = "[1m]"
"""The suffix that asks the CLI for the 1M-token context beta; it is kept on the full id."""

MODEL_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "sonnet": SONNET,
        "opus": OPUS,
        "haiku": HAIKU,
        "fable": FABLE,
        "best": OPUS,
        "sonnet[1m]": SONNET + LONG_CONTEXT,
        "opus[1m]": OPUS + LONG_CONTEXT,
        "fable[1m]": FABLE + LONG_CONTEXT,
    }
)
"""Alias (lower case) -> the full model id the CLI 2.1.197 sends for it outside plan mode."""
MODE_DEPENDENT = {"opusplan": (OPUS, SONNET)}
"""Aliases whose model depends on the permission mode: (in plan mode, otherwise)."""


def alias_table(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The built-in table with the operator's overrides (CLAUDE_POOL_MODEL_ALIASES) on top."""
    table = dict(MODEL_ALIASES)
    table.update({alias.strip().lower(): model for alias, model in (overrides or {}).items()})
    return table


def resolve_model(
    name: str | None,
    mode: CliPermissionMode | None,
    aliases: Mapping[str, str] = MODEL_ALIASES,
) -> str | None:
    """The full model id for `name` (an alias or an id; ids pass unchanged)."""
    if name is None:
        return None
    key = name.strip().lower()
    if key in aliases:
        return aliases[key]
    if key in MODE_DEPENDENT:
        planning, otherwise = MODE_DEPENDENT[key]
        return planning if mode is CliPermissionMode.PLAN else otherwise
    return name


@dataclass(frozen=True)
class ModelCheck:
    """Whether the model that answered is the one requested: the ModelMismatch condition."""

    mismatch: bool
    reason: TaskReason
    message: str


def _base(model: str) -> str:
    return model.strip().lower().removesuffix(LONG_CONTEXT)


def check_model(requested: str | None, fallback: str | None, used: str | None) -> ModelCheck | None:
    """Compare the requested full id (and fallback) with `result.model`; None when either
    is unknown (no model requested: the CLI's default; no result model: the run failed
    before answering)."""
    if requested is None or used is None:
        return None
    if _base(used) == _base(requested):
        return ModelCheck(False, TaskReason.REQUESTED_MODEL_USED, f"{used} answered")
    if fallback is not None and _base(used) == _base(fallback):
        return ModelCheck(
            True,
            TaskReason.FALLBACK_MODEL_USED,
            f"{requested} was requested; the fallback model {used} answered (and was billed)",
        )
    return ModelCheck(
        True,
        TaskReason.OTHER_MODEL_USED,
        f"{requested} was requested but {used} answered (and was billed)",
    )
