"""How the Claude CLI runs: pool defaults (`spec.claude`) and per-task overrides (`spec.config`).

These mirror the seed's PoolConfig and TaskOverrides (notes/seed-claude-pool.md 2.1-2.4).
Resolution is task > pool for scalars; tool lists are concatenated pool then task; MCP
servers are merged by name with the task winning. The resolver lives in pure logic; this
module only defines the shapes. Unset fields are None so "not given" and "empty" differ.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from claude_pool.api.common import (
    MAX_MCP_SERVERS,
    MAX_TOOLS,
    MAX_TURNS,
    FreeForm,
    Identifier,
    LongText,
    SpecModel,
)
from claude_pool.api.money import Microdollars


class PermissionMode(StrEnum):
    """The CLI's --permission-mode. `auto` is left out on purpose: it adds classifier calls
    to the model API that a gateway or fake API does not expect (notes/claude-cli.md)."""

    DEFAULT = "default"
    ACCEPT_EDITS = "acceptEdits"
    PLAN = "plan"
    BYPASS_PERMISSIONS = "bypassPermissions"
    DONT_ASK = "dontAsk"


class Effort(StrEnum):
    """The CLI's --effort."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    MAX = "max"


class SessionPolicy(StrEnum):
    """Whether a task starts a fresh CLI session or resumes its slot's last one (the seed's
    behaviour, which carries context across unrelated tasks on the same slot)."""

    FRESH = "fresh"
    RESUME_SLOT = "resumeSlot"


ToolList = Annotated[list[Identifier], Field(max_length=MAX_TOOLS)]
McpServers = Annotated[dict[str, FreeForm], Field(max_length=MAX_MCP_SERVERS)]


class ClaudeOptions(SpecModel):
    """Options that both a pool (as defaults) and a task (as overrides) may set."""

    model: Identifier | None = None
    """Model id or alias (e.g. haiku, sonnet, opus, claude-sonnet-4-5). The operator resolves
    aliases to full ids (the pinned CLI's own table), so the model asked for runs in every
    permission mode; status.result.model names the model that answered."""
    fallback_model: Identifier | None = None
    """--fallback-model: used when the model is overloaded."""
    permission_mode: PermissionMode | None = None
    """--permission-mode; plan when neither pool nor task sets it (as in the seed)."""
    max_turns: Annotated[int, Field(ge=1, le=MAX_TURNS)] | None = None
    """--max-turns: most agentic turns per run (1 to 10000)."""
    effort: Effort | None = None
    """--effort."""
    allowed_tools: ToolList | None = None
    """--allowed-tools entries, e.g. Read or Bash(git log:*), at most 128. Pool and task lists
    are joined."""
    disallowed_tools: ToolList | None = None
    """--disallowed-tools entries."""
    tools: ToolList | None = None
    """--tools: the built-in tools available at all (e.g. Bash, Edit, Read)."""
    system_prompt: LongText | None = None
    """--system-prompt: replaces the CLI's default system prompt (the seed's behaviour).
    Prefer appendSystemPrompt, which keeps the CLI's own instructions."""
    append_system_prompt: LongText | None = None
    """--append-system-prompt: added to the CLI's default system prompt."""
    mcp_servers: McpServers | None = None
    """MCP servers by name (at most 32), each as in the CLI's --mcp-config `mcpServers`
    object."""
    session_policy: SessionPolicy | None = None
    """fresh (the default) or resumeSlot."""


class ClaudeSettings(ClaudeOptions):
    """Pool-wide defaults for every task's CLI run (spec.claude)."""

    strict_mcp_config: bool = True
    """Pass --strict-mcp-config so slots ignore any .mcp.json in their working directory."""
    max_retries: Annotated[int, Field(ge=0, le=20)] | None = None
    """How often the CLI itself retries a failed API call (CLAUDE_CODE_MAX_RETRIES)."""
    api_timeout_seconds: Annotated[int, Field(ge=1, le=3600)] | None = None
    """Timeout of one API request inside the CLI (API_TIMEOUT_MS)."""


class TaskOverrides(ClaudeOptions):
    """Per-task settings that win over the pool's (spec.config; the seed's TaskOverrides)."""

    json_schema: FreeForm | None = None
    """--json-schema: a JSON Schema the final answer must match (structured output)."""
    max_budget_microdollars: Microdollars | None = None
    """Most this task may spend (passed as --max-budget-usd); also its budget reservation."""
