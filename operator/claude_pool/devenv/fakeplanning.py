"""Decide what the fake Anthropic API answers to one request: the reply plan.

Called by the fake server (`claude_pool.devenv.fakeapi`) with the merged Scenario (server
scenario overlaid with the request's directives), the parsed Conversation and the attempt
number of this conversation; the server renders the plan (`claude_pool.devenv.fakemessages`)
and does the waiting. Pure: no I/O, no clock; ids come from the caller.

Order of decisions: fail (status, fail_on) -> routing error -> tool step k of `tools` ->
routing answer (routing calls only: the router marker is in the system prompt) -> structured
output (asked for, or by default when the StructuredOutput tool is sent and no answer
directive is given) -> text (`json` > `echo` > `reply` > "fake answer: <prompt>").
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from claude_pool.devenv.fakeconversations import STRUCTURED_TOOL, Conversation
from claude_pool.devenv.scripting import (
    AUTO,
    Echo,
    Route,
    Scenario,
    ToolStep,
    strip_keys,
    without_directives,
)

ROUTER_MARKER = "claude-pool auto-router"
DEFAULT_INPUT_TOKENS = 100
DEFAULT_OUTPUT_TOKENS = 20
DEFAULT_FAIL_STATUS = 500
DEFAULT_ROUTE_COUNT = 2
DEFAULT_FILE = "fake_written.txt"
BASH_FILE = "fake_bash.txt"
WRITE_CONTENT = "written by fake via Write tool\nline2\n"
EDIT_OLD, EDIT_NEW = "line2", "line2 EDITED"
REPLY_PREFIX = "fake answer: "
GARBAGE_ROUTE = "I would split this into a few parts, but I am not sure which ones."
ROUTING_ERROR_STATUS = 400
_TASK_TAGS = re.compile(r"^\s*<task>\s*(.*?)\s*</task>\s*$", re.S)

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass(frozen=True)
class Usage:
    input_tokens: int = DEFAULT_INPUT_TOKENS
    output_tokens: int = DEFAULT_OUTPUT_TOKENS
    cache_read: int = 0
    cache_write: int = 0


@dataclass(frozen=True)
class TextBlock:
    text: str


@dataclass(frozen=True)
class ToolUseBlock:
    id: str
    name: str
    input: Mapping[str, Any]


ContentBlock = TextBlock | ToolUseBlock


@dataclass(frozen=True)
class MessageReply:
    """A successful answer: one content block."""

    model: str
    content: tuple[ContentBlock, ...]
    stop_reason: str
    usage: Usage
    stall: float = 0.0


@dataclass(frozen=True)
class ErrorReply:
    """An Anthropic error answer."""

    status: int
    error_type: str
    message: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Plan:
    """Wait `delay` seconds, then answer `reply`."""

    delay: float
    reply: MessageReply | ErrorReply

    @property
    def summary(self) -> str:
        """A short label for records and logs: `text`, `tool_use Write`, `error 529`."""
        if isinstance(self.reply, ErrorReply):
            return f"error {self.reply.status}"
        block = self.reply.content[0]
        return f"tool_use {block.name}" if isinstance(block, ToolUseBlock) else "text"


def error_reply(
    status: int,
    message: str | None = None,
    *,
    retry_after: float | None = None,
    should_retry: bool | None = None,
) -> ErrorReply:
    """The error answer for `status`, with its Anthropic error type and headers."""
    kind = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    headers: list[tuple[str, str]] = []
    if retry_after is not None:
        headers.append(("retry-after", f"{retry_after:g}"))
    if should_retry is not None:
        headers.append(("x-should-retry", "true" if should_retry else "false"))
    return ErrorReply(status, kind, message or f"fake {status} {kind}", tuple(headers))


def failing(scenario: Scenario, attempt: int, prompt: str = "") -> bool:
    """Whether attempt number `attempt` (1-based, per conversation) of `prompt` gets an error."""
    if scenario.fail_on is not None and scenario.fail_on not in without_directives(prompt):
        return False
    if scenario.fail is not None:
        return attempt <= scenario.fail
    return scenario.status is not None or scenario.fail_on is not None


def is_routing_call(convo: Conversation, router_marker: str) -> bool:
    """Whether the request is an auto task's routing call (its system prompt has the marker)."""
    return bool(router_marker) and router_marker in convo.system_text


def plan_reply(
    scenario: Scenario,
    convo: Conversation,
    *,
    attempt: int = 1,
    tool_id: str = "toolu_fake",
    router_marker: str = ROUTER_MARKER,
) -> Plan:
    """What to answer to `convo` under `scenario`."""
    delay = scenario.delay or 0.0
    if failing(scenario, attempt, convo.prompt):
        status = scenario.status or DEFAULT_FAIL_STATUS
        error = error_reply(
            status, retry_after=scenario.retry_after, should_retry=scenario.should_retry
        )
        return Plan(delay, error)
    if scenario.route is Route.ERROR and is_routing_call(convo, router_marker):
        return Plan(delay, error_reply(ROUTING_ERROR_STATUS, "fake routing error"))
    block = _tool_step(scenario, convo, tool_id) or _final_block(
        scenario, convo, tool_id, router_marker
    )
    usage = Usage(
        input_tokens=_or(scenario.input_tokens, DEFAULT_INPUT_TOKENS),
        output_tokens=_or(scenario.output_tokens, DEFAULT_OUTPUT_TOKENS),
        cache_read=_or(scenario.cache_read, 0),
        cache_write=_or(scenario.cache_write, 0),
    )
    stop = "tool_use" if isinstance(block, ToolUseBlock) else "end_turn"
    reply = MessageReply(
        model=scenario.model or convo.model,
        content=(block,),
        stop_reason=stop,
        usage=usage,
        stall=scenario.stall or 0.0,
    )
    return Plan(delay, reply)


def tool_input(step: ToolStep, cwd: str | None, file: str | None) -> tuple[str, dict[str, Any]]:
    """(tool name, input) for one scripted tool step.

    Paths are absolute when the cwd is known; otherwise relative, which the CLI (2.1.197)
    resolves against its own working directory (`--system-prompt` drops the cwd line).
    """
    path = posixpath.join(cwd or "", file or DEFAULT_FILE)
    if step is ToolStep.WRITE:
        return "Write", {"file_path": path, "content": WRITE_CONTENT}
    if step is ToolStep.EDIT:
        return "Edit", {"file_path": path, "old_string": EDIT_OLD, "new_string": EDIT_NEW}
    if step is ToolStep.READ:
        return "Read", {"file_path": path}
    if step is ToolStep.BASH:
        target = shlex.quote(posixpath.join(cwd or "", BASH_FILE))
        command = f"echo bash-ran > {target} && pwd"
        return "Bash", {"command": command, "description": "fake bash step"}
    return "Bash", {"command": "true", "description": "fake loop step"}


def route_answer(route: Route, n: int | None, task: str) -> dict[str, Any]:
    """A routing decision in the router's JSON shape, built from the task text (without the
    `<task>` tags the operator's router prompt wraps it in)."""
    task = task.strip()
    wrapped = _TASK_TAGS.match(task)
    if wrapped:
        task = wrapped.group(1)
    count = DEFAULT_ROUTE_COUNT if n is None else n
    if route is Route.SINGLE:
        return {"route": "single", "prompt": task}
    if route is Route.PARALLEL:
        prompts = [f"{task} (part {i} of {count})" for i in range(1, count + 1)]
        return {"route": "parallel", "prompts": prompts}
    steps = [
        {
            "name": f"step-{i}",
            "prompt": f"{task} (step {i} of {count})"
            if i == 1
            else f"{task} (step {i} of {count}; previous output: {{previous_output}})",
        }
        for i in range(1, count + 1)
    ]
    return {"route": "chain", "steps": steps}


def minimal_instance(schema: object, depth: int = 0) -> Any:
    """A small value that satisfies a simple JSON schema (const, enum, types, bounds)."""
    if not isinstance(schema, dict) or depth > 20:
        return {}
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return minimal_instance(options[0], depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None and "properties" in schema:
        kind = "object"
    if kind == "object":
        props = schema.get("properties")
        if not isinstance(props, dict):
            return {}
        return {name: minimal_instance(sub, depth + 1) for name, sub in props.items()}
    if kind == "array":
        count = schema.get("minItems", 0)
        item = minimal_instance(schema.get("items"), depth + 1)
        return [item] * count if isinstance(count, int) else []
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        value = low if isinstance(low, int | float) else 0
        if "exclusiveMinimum" in schema and "minimum" not in schema:
            value += 1
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    size = schema.get("minLength", 0)
    text = "fake"
    return text + "x" * (size - len(text)) if isinstance(size, int) else text


def _tool_step(scenario: Scenario, convo: Conversation, tool_id: str) -> ToolUseBlock | None:
    tools = scenario.tools or ()
    k = convo.assistant_turns
    if tools == (ToolStep.LOOP,):
        step = ToolStep.LOOP
    elif k < len(tools):
        step = tools[k]
    else:
        return None
    name, args = tool_input(step, scenario.cwd or convo.cwd, scenario.file)
    return ToolUseBlock(tool_id, name, args)


def _final_block(
    scenario: Scenario, convo: Conversation, tool_id: str, router_marker: str
) -> ContentBlock:
    structured_ok = STRUCTURED_TOOL in convo.tool_names
    if is_routing_call(convo, router_marker):
        route = scenario.route or Route.SINGLE
        if route is Route.GARBAGE:
            return TextBlock(GARBAGE_ROUTE)
        answer = route_answer(route, scenario.n, strip_keys(convo.prompt, ("route", "n")))
        if structured_ok:
            return ToolUseBlock(tool_id, STRUCTURED_TOOL, answer)
        return TextBlock(json.dumps(answer))
    answer_given = any(v is not None for v in (scenario.reply, scenario.echo, scenario.json_reply))
    structured = scenario.structured or (None if answer_given else AUTO)
    if structured is not None and structured_ok:
        if structured == AUTO:
            value = minimal_instance(convo.structured_schema)
        else:
            value = json.loads(structured)
        return ToolUseBlock(tool_id, STRUCTURED_TOOL, value)
    if scenario.json_reply is not None:
        value = json.loads(scenario.json_reply)
        value.setdefault("prompt", without_directives(convo.prompt))
        return TextBlock(json.dumps(value))
    if scenario.echo is Echo.SYSTEM:
        return TextBlock(convo.system_tail)
    if scenario.reply is not None and scenario.echo is None:
        return TextBlock(scenario.reply)
    return TextBlock(REPLY_PREFIX + convo.prompt)


def _or(value: int | None, default: int) -> int:
    return default if value is None else value
