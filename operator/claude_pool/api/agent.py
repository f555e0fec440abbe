"""Wire models of the slot agent's HTTP API, shared by the operator (client) and the agent.

The operator resolves a task's configuration (pool < slot < task) into a `TaskRequest` and
sends it with `PUT /v1/tasks/{uid}`; the agent answers with `TaskStatus` (and an `AgentResult`
once the CLI has finished), `SlotStatus` for `GET /v1/slot`, and streams `ProgressEvent`s.
All JSON is camelCase. Requests reject unknown fields so that a typo is a 400, not a silently
ignored option. Money is integer microdollars; there are no floats on the wire.
slot-image/README.md documents the same contract for humans.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator

from claude_pool.api.failures import FailureReason
from claude_pool.api.wire import RequestModel as RequestModel  # re-exported: was defined here
from claude_pool.api.wire import WireModel as WireModel
from claude_pool.api.workspaces import WorkspaceRequest, WorkspaceResult, WorkspaceState

MAX_PROMPT_CHARS = 1_048_576
"""A prompt is passed to the CLI on stdin, so only this bound applies (not the argv limit)."""
MAX_ARG_BYTES = 65_536
"""Options passed on the CLI's argv (a JSON schema) stay well under Linux's 128 KiB per argument."""
MAX_TEXT_CHARS = 262_144
"""System prompt additions and context values are passed in a file; this is a sanity bound."""

TASK_UID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
"""Task uids name files on the slot volume: Kubernetes uids (UUIDs) match, paths cannot."""
SESSION_ID_PATTERN = (
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)

ShortStr = Annotated[str, StringConstraints(min_length=1, max_length=256)]
ToolSpec = Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=r"^[^-]")]
"""A tool name or rule (`Bash(git *)`); never starting with a dash, so never read as an option."""


def is_valid_task_uid(uid: str) -> bool:
    """Whether `uid` can name a task (and its result file)."""
    return re.fullmatch(TASK_UID_PATTERN, uid) is not None


class CliPermissionMode(StrEnum):
    """Every `--permission-mode` the CLI knows (the agent's contract). The CRDs accept fewer:
    `api.claude.PermissionMode` leaves `auto` out; the resolver maps one onto the other."""

    DEFAULT = "default"
    ACCEPT_EDITS = "acceptEdits"
    PLAN = "plan"
    BYPASS_PERMISSIONS = "bypassPermissions"
    DONT_ASK = "dontAsk"
    AUTO = "auto"


class CliEffort(StrEnum):
    """Every `--effort` level the CLI knows (the agent's contract). The CRDs accept fewer:
    `api.claude.Effort` leaves `xhigh` out; the resolver maps one onto the other."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    XHIGH = "xhigh"
    MAX = "max"


class ContextEntry(RequestModel):
    """One shared-context pair, rendered as `- **key**: value` in the system prompt."""

    key: Annotated[str, StringConstraints(min_length=1, max_length=253)]
    value: Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)]


class TaskRequest(RequestModel):
    """The resolved configuration of one task: everything the agent needs to run the CLI."""

    prompt: Annotated[str, StringConstraints(min_length=1, max_length=MAX_PROMPT_CHARS)]
    model: ShortStr | None = None
    fallback_model: ShortStr | None = None
    permission_mode: CliPermissionMode | None = None
    max_turns: Annotated[int, Field(ge=1, le=10_000)] | None = None
    allowed_tools: Annotated[list[ToolSpec], Field(max_length=256)] = Field(default_factory=list)
    disallowed_tools: Annotated[list[ToolSpec], Field(max_length=256)] = Field(default_factory=list)
    tools: Annotated[list[ToolSpec], Field(max_length=256)] | None = None
    """Built-in tools to offer; `[]` offers none, absent keeps the CLI's default set."""
    effort: CliEffort | None = None
    identity: Annotated[str, StringConstraints(min_length=1, max_length=8192)] | None = None
    """The slot's identity line ("You are NAME, a ROLE. ..."), first in the system prompt."""
    append_system_prompt: Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)] | None = None
    context: Annotated[list[ContextEntry], Field(max_length=256)] = Field(default_factory=list)
    json_schema: dict[str, Any] | None = None
    max_budget_microdollars: Annotated[int, Field(ge=1, le=10**15)] | None = None
    mcp_servers: Annotated[dict[ShortStr, dict[str, Any]], Field(max_length=64)] = Field(
        default_factory=dict
    )
    resume_session_id: Annotated[str, StringConstraints(pattern=SESSION_ID_PATTERN)] | None = None
    timeout_seconds: Annotated[int, Field(ge=1, le=7 * 24 * 3600)] | None = None
    workdir: Annotated[str, StringConstraints(max_length=1024)] | None = None
    """Subdirectory of the slot's work volume to run in; absent means the volume's root.
    On a workspace slot it is relative to the task's worktree (or the clone)."""
    workspace: WorkspaceRequest | None = None
    """The worktree and branch to work in; None on a workspace slot runs in the clone itself.
    Refused (409 WorkspaceNotReady) while the slot's clone is not Ready."""

    @field_validator("workdir")
    @classmethod
    def _relative_workdir(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if "\x00" in value:
            raise ValueError("must not contain NUL")
        path = PurePosixPath(value)
        if path.is_absolute():
            raise ValueError("must be a relative path under the slot's work directory")
        if ".." in path.parts:
            raise ValueError("must not contain '..'")
        return str(path)

    @field_validator("json_schema")
    @classmethod
    def _small_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(compact_json(value).encode()) > MAX_ARG_BYTES:
            raise ValueError(f"must be at most {MAX_ARG_BYTES} bytes as JSON")
        return value


def compact_json(value: Any) -> str:
    """JSON without spaces: the form passed on the CLI's argv."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class TaskState(StrEnum):
    """Where a task is on this slot."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Usage(WireModel):
    """Token counts of a run, summed over the models it used."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0


class Failure(WireModel):
    """Why a run failed, classified, with what the CLI left behind."""

    reason: FailureReason
    message: str
    exit_code: int | None = None
    stderr_tail: str = ""


class DeniedToolUse(WireModel):
    """One tool use the CLI refused (`permission_denials` of its result line)."""

    tool: str
    target: str = ""
    """What the tool was used on: the command, file path, URL or pattern (at most 256 chars)."""


class AgentResult(WireModel):
    """The outcome of one CLI run, as the agent reports it (the status keeps it as
    `api.results.TaskResult`)."""

    output: str = ""
    success: bool
    session_id: str | None = None
    cost_microdollars: int = 0
    """From the CLI's total_cost_usd; 0 when the CLI was stopped before it reported one."""
    usage: Usage = Usage()
    turns: int = 0
    duration_ms: int = 0
    """Wall time of the CLI process, measured by the agent."""
    model: str | None = None
    structured_output: Any | None = None
    """The object answered through --json-schema, when one was requested and produced."""
    permission_denials: list[str] = Field(default_factory=list)
    """Tools the CLI refused to run for lack of permission (the run may still succeed)."""
    denied_tool_uses: list[DeniedToolUse] = Field(default_factory=list)
    """The same denials with what each tool was used on, in order (at most 32)."""
    failure: Failure | None = None
    workspace: WorkspaceResult | None = None
    """What the run did to the workspace: absent without one; for a run in the clone itself
    (isolation none) the clone's branch and head, nothing committed or pushed by the agent."""


class TaskStatus(WireModel):
    """A task as the agent knows it: the answer to PUT and GET /v1/tasks/{uid}."""

    uid: str
    state: TaskState
    started_at: datetime
    finished_at: datetime | None = None
    result: AgentResult | None = None


class AgentSlotState(StrEnum):
    """Whether the slot is running a task."""

    IDLE = "idle"
    BUSY = "busy"


class SlotStatus(WireModel):
    """The answer to GET /v1/slot."""

    state: AgentSlotState
    current_task: str | None = None
    tasks: list[str] = Field(default_factory=list)
    """Uids of every task the agent still holds (running, or finished and not acknowledged)."""
    agent_version: str
    cli_version: str | None = None
    workspace: WorkspaceState | None = None
    """The slot's clone; absent when the slot has no workspace."""


class ProgressKind(StrEnum):
    """What a progress event reports."""

    STARTED = "started"
    TEXT = "text"
    TOOL_USE = "toolUse"
    RETRY = "retry"


class ProgressEvent(WireModel):
    """One step of a running task, streamed as server-sent events before the final result."""

    seq: int
    kind: ProgressKind
    turns: int = 0
    """Model turns (API responses) so far. The cost is known only from the final result."""
    session_id: str | None = None
    text: str | None = None
    """A snippet of the model's text (at most 500 characters)."""
    tool: str | None = None
    attempt: int | None = None
    error_status: int | None = None


class ErrorBody(WireModel):
    """The JSON body of every 4xx/5xx answer."""

    error: str
    message: str
