"""A read-only view of one Messages API request body, as the fake API's planner needs it.

Called by the fake server (`claude_pool.devenv.fakeapi`) for every `POST /v1/messages`; its
result feeds `claude_pool.devenv.fakeplanning.plan_reply`. Pure.

What the Claude CLI sends (notes/claude-cli.md): `system` is a list of text blocks (billing
header, identity line, main prompt); the first user message starts with a
`<system-reminder>` text block before the prompt; `messages` may hold `role: "system"`
entries; tool results come back as user messages of `tool_result` blocks. The "current
prompt" is the last user message that has a real text block (not a reminder, not a tool
result, not the CLI's `[structured-output-enforce]` nudge); the "current turn" runs from
just after the assistant message before it. On a fresh conversation that is the first user
message and the whole history; after `--resume` it is the newest prompt.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

REMINDER_PREFIX = "<system-reminder>"
ENFORCE_PREFIX = "[structured-output-enforce]"
STRUCTURED_TOOL = "StructuredOutput"
ENV_MARKER = "Primary working directory:"
# The CLI's default system prompt (2.1.197) ends with this sentence; text appended with
# --append-system-prompt follows it after a blank line.
DEFAULT_PROMPT_ENDINGS = ("give a recommendation, not an exhaustive survey",)

_CWD_LINE = re.compile(r"^[ \t]*-?[ \t]*Primary working directory:[ \t]*(/.*?)[ \t]*$", re.M)


class BadRequest(ValueError):
    """A request body that is not a Messages API request."""


@dataclass(frozen=True)
class Conversation:
    """The parts of a Messages request that decide the fake's answer."""

    model: str
    stream: bool
    system_blocks: tuple[str, ...]
    prompt: str
    turn_texts: tuple[str, ...]
    turn_start: int
    assistant_turns: int
    tool_names: frozenset[str]
    structured_schema: Mapping[str, object] | None

    @property
    def system_text(self) -> str:
        return "\n".join(self.system_blocks)

    @property
    def directive_texts(self) -> tuple[str, ...]:
        """Where directives are read, lowest precedence first."""
        return (*self.system_blocks, *self.turn_texts)

    @property
    def cwd(self) -> str | None:
        """The working directory from the system prompt's environment section."""
        match = _CWD_LINE.search(self.system_text)
        return match.group(1) if match else None

    @property
    def system_tail(self) -> str:
        """The caller's own system prompt text (see `system_tail`)."""
        return system_tail(self.system_blocks)


def system_tail(blocks: Sequence[str]) -> str:
    """The system prompt text that is not the CLI's default.

    `--system-prompt Y` makes the last block exactly `Y`: return it whole. With
    `--append-system-prompt X` the last block is the default prompt + "\\n\\nX": return `X`.
    A default prompt with an unknown ending yields its last paragraph.
    """
    if not blocks:
        return ""
    main = blocks[-1]
    if ENV_MARKER not in main:
        return main.strip()
    for ending in DEFAULT_PROMPT_ENDINGS:
        index = main.rfind(ending)
        if index >= 0:
            return main[index + len(ending) :].strip()
    return main.rsplit("\n\n", 1)[-1].strip()


def conversation_from_body(body: object) -> Conversation:
    """Parse a Messages request body; raise BadRequest when it is not one."""
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages: must be a non-empty list")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model: must be a non-empty string")
    prompt_at, prompt = _current_prompt(messages)
    turn_start = 0
    for i in range(prompt_at - 1, -1, -1):
        if _role(messages[i]) == "assistant":
            turn_start = i + 1
            break
    turn_texts = tuple(
        text
        for message in messages[turn_start:]
        if _role(message) == "user"
        for kind, text in _blocks(message)
        if kind == "text"
    )
    tools = body.get("tools")
    tool_list = [t for t in tools if isinstance(t, dict)] if isinstance(tools, list) else []
    schema = next(
        (t.get("input_schema") for t in tool_list if t.get("name") == STRUCTURED_TOOL), None
    )
    return Conversation(
        model=model,
        stream=body.get("stream") is True,
        system_blocks=_system_blocks(body.get("system")),
        prompt=prompt,
        turn_texts=turn_texts,
        turn_start=turn_start,
        assistant_turns=sum(1 for m in messages[prompt_at:] if _role(m) == "assistant"),
        tool_names=frozenset(str(t.get("name")) for t in tool_list),
        structured_schema=schema if isinstance(schema, dict) else None,
    )


def _current_prompt(messages: list[object]) -> tuple[int, str]:
    for i in range(len(messages) - 1, -1, -1):
        if _role(messages[i]) != "user":
            continue
        blocks = _blocks(messages[i])
        if any(kind == "tool_result" for kind, _ in blocks):
            continue
        texts = [t for kind, t in blocks if kind == "text" and _is_prompt_text(t)]
        if texts:
            return i, texts[-1]
    return 0, ""


def _is_prompt_text(text: str) -> bool:
    stripped = text.lstrip()
    return not stripped.startswith((REMINDER_PREFIX, ENFORCE_PREFIX))


def _role(message: object) -> str | None:
    if isinstance(message, dict):
        role = message.get("role")
        return role if isinstance(role, str) else None
    return None


def _blocks(message: object) -> list[tuple[str, str]]:
    """(type, text) of each content block; text is "" for non-text blocks."""
    if not isinstance(message, dict):
        return []
    content = message.get("content")
    if isinstance(content, str):
        return [("text", content)]
    if not isinstance(content, list):
        return []
    out: list[tuple[str, str]] = []
    for block in content:
        if isinstance(block, dict):
            kind = str(block.get("type", ""))
            text = block.get("text")
            out.append((kind, text if kind == "text" and isinstance(text, str) else ""))
    return out


def _system_blocks(system: object) -> tuple[str, ...]:
    if isinstance(system, str):
        return (system,) if system else ()
    if not isinstance(system, list):
        return ()
    texts = (b.get("text") for b in system if isinstance(b, dict))
    return tuple(t for t in texts if isinstance(t, str))
