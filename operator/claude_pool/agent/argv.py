"""Pure builders of a CLI run: the argv, the appended system prompt, the MCP config document.

Called by `runner.Runner` (which writes the files these name) and by the unit tests.
The prompt is never on argv: the runner passes it on stdin from a regular file, which the
CLI reads to EOF. That form has no size limit (Linux refuses a single argument over 128 KiB,
so `-- <200 KB prompt>` fails with E2BIG) and no parsing at all: leading dashes, newlines or
a subcommand name (`mcp`, `update`) are just text. Option values use the `--opt=value`
form so that a value starting with a dash cannot be read as another option.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from claude_pool.api.agent import TaskRequest, compact_json

SHARED_CONTEXT_HEADING = "## Shared Context"


def budget_usd(microdollars: int) -> str:
    """Exact decimal dollars for --max-budget-usd: 500000 -> "0.5", 1 -> "0.000001"."""
    return format(Decimal(microdollars).scaleb(-6).normalize(), "f")


def system_prompt_addition(request: TaskRequest) -> str | None:
    """The text for --append-system-prompt-file: the slot's identity line, the task's
    addition, then the shared context (the seed's order, notes/seed-claude-pool.md 6.7)."""
    parts: list[str] = []
    if request.identity:
        parts.append(request.identity)
    if request.append_system_prompt:
        parts.append(request.append_system_prompt)
    if request.context:
        lines = [f"- **{entry.key}**: {entry.value}" for entry in request.context]
        parts.append("\n".join([SHARED_CONTEXT_HEADING, *lines]))
    return "\n\n".join(parts) if parts else None


def mcp_config_document(request: TaskRequest) -> dict[str, Any] | None:
    """The --mcp-config file's content, or None when the task has no MCP servers."""
    if not request.mcp_servers:
        return None
    return {"mcpServers": dict(request.mcp_servers)}


def build_argv(
    claude_bin: str,
    request: TaskRequest,
    *,
    system_prompt_file: Path | None = None,
    mcp_config_file: Path | None = None,
) -> list[str]:
    """The CLI's argv for `request` (the prompt goes on stdin, see the module docstring).

    `--strict-mcp-config` is always passed, so a `.mcp.json` left in a working directory by
    an earlier task (or by the model) is never loaded.
    """
    argv = [claude_bin, "-p", "--output-format=stream-json", "--verbose", "--strict-mcp-config"]
    if request.model:
        argv.append(f"--model={request.model}")
    if request.fallback_model:
        argv.append(f"--fallback-model={request.fallback_model}")
    if request.permission_mode:
        argv.append(f"--permission-mode={request.permission_mode.value}")
    if request.max_turns is not None:
        argv.append(f"--max-turns={request.max_turns}")
    if request.effort:
        argv.append(f"--effort={request.effort.value}")
    if request.tools is not None:
        argv.append(f"--tools={','.join(request.tools)}")
    if request.allowed_tools:
        argv += ["--allowedTools", *request.allowed_tools]
    if request.disallowed_tools:
        argv += ["--disallowedTools", *request.disallowed_tools]
    if system_prompt_file is not None:
        argv.append(f"--append-system-prompt-file={system_prompt_file}")
    if request.json_schema is not None:
        argv.append(f"--json-schema={compact_json(request.json_schema)}")
    if request.max_budget_microdollars is not None:
        argv.append(f"--max-budget-usd={budget_usd(request.max_budget_microdollars)}")
    if mcp_config_file is not None:
        argv.append(f"--mcp-config={mcp_config_file}")
    if request.resume_session_id:
        argv.append(f"--resume={request.resume_session_id}")
    return argv
