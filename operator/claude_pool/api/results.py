"""What one finished Claude CLI run produced, as kept in a ClaudeTask's status.

The operator fills `TaskResult` from the slot agent's report. Output longer than
MAX_OUTPUT_LENGTH is never cut silently: the whole text goes to an owned ConfigMap named in
`outputRef`, and `outputTruncated` / `outputSize` say what the inline copy lacks.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from claude_pool.api.common import (
    MAX_OUTPUT_LENGTH,
    MAX_TURNS,
    Count,
    Identifier,
    Message,
    Name,
    StatusModel,
)
from claude_pool.api.failures import FailureReason
from claude_pool.api.money import Microdollars

MAX_DENIALS = 32
"""Most permission denials kept in a result (the first ones)."""
MAX_DENIAL_TARGET = 256


class TokenUsage(StatusModel):
    """Tokens used by a run, as reported by the API."""

    input_tokens: Count = 0
    output_tokens: Count = 0
    cache_read_input_tokens: Count = 0
    cache_creation_input_tokens: Count = 0


class FailureDetails(StatusModel):
    """Why a run failed."""

    reason: FailureReason
    """The classified cause (also the Failed condition's reason)."""
    message: Message = ""
    """Human-readable details."""
    exit_code: Annotated[int, Field(ge=-255, le=255)] | None = None
    """The CLI's exit code (negative: killed by that signal)."""
    stderr_tail: Message | None = None
    """The last lines of the CLI's stderr, secrets redacted."""


class PermissionDenial(StatusModel):
    """A tool use the CLI refused for lack of permission (e.g. Write in plan mode)."""

    tool: Identifier
    """The tool's name."""
    target: Annotated[str, Field(max_length=MAX_DENIAL_TARGET)] = ""
    """What it was used on: the command, file path or URL (cut to 256 characters)."""


class TaskResult(StatusModel):
    """The outcome of a task's run (for composites: the combined output)."""

    output: Annotated[str, Field(max_length=MAX_OUTPUT_LENGTH)] = ""
    """The final text, whole or (see outputTruncated) its beginning."""
    output_truncated: bool = False
    """The inline output is cut; the whole text is in outputRef."""
    output_size: Count | None = None
    """Size of the whole output in bytes (UTF-8)."""
    output_ref: Name | None = None
    """ConfigMap (owned by the task) whose data.output holds the whole output."""
    success: bool = False
    """The CLI reported success (is_error false)."""
    session_id: Identifier | None = None
    """CLI session id, for resuming."""
    cost_microdollars: Microdollars = 0
    """Cost of this run (all attempts of a leaf task are summed in status.costMicrodollars)."""
    usage: TokenUsage | None = None
    """Token counts."""
    turns: Annotated[int, Field(ge=0, le=MAX_TURNS)] | None = None
    """Agentic turns used."""
    duration_ms: Count | None = None
    """Wall time of the run."""
    model: Identifier | None = None
    """The model that answered (and was billed)."""
    requested_model: Identifier | None = None
    """The model the task asked for, as written in spec (an alias such as haiku, or an id)."""
    resolved_model: Identifier | None = None
    """The full model id the CLI was given for requestedModel."""
    permission_denials: Annotated[list[PermissionDenial], Field(max_length=MAX_DENIALS)] = Field(
        default_factory=list
    )
    """Tool uses the CLI refused (the run may still succeed, having done nothing)."""
    structured_output: Any = None
    """The answer parsed as JSON when config.jsonSchema was set."""
    failure: FailureDetails | None = None
    """Set when the run failed."""
