"""Render a fake API reply plan as Anthropic wire JSON: a message, SSE events, an error body.

Called by the fake server (`claude_pool.devenv.fakeapi`) after
`claude_pool.devenv.fakeplanning.plan_reply`. Pure. The SSE sequence is the one the Claude
CLI expects (notes/claude-cli.md): message_start, content_block_start, content_block_delta
(text_delta or input_json_delta), content_block_stop, message_delta, message_stop.
"""

from __future__ import annotations

import json
from typing import Any

from claude_pool.devenv.fakeplanning import ErrorReply, MessageReply, TextBlock, ToolUseBlock

Event = tuple[str, dict[str, Any]]


def message_json(reply: MessageReply, message_id: str) -> dict[str, Any]:
    """The non-streaming answer: a complete message object."""
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": reply.model,
        "content": [_full_block(block) for block in reply.content],
        "stop_reason": reply.stop_reason,
        "stop_sequence": None,
        "usage": _usage(reply, output_tokens=reply.usage.output_tokens),
    }


def sse_events(reply: MessageReply, message_id: str) -> list[Event]:
    """The streaming answer, one (event name, data) pair per SSE event."""
    start: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": reply.model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": _usage(reply, output_tokens=0),
    }
    events: list[Event] = [("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(reply.content):
        if isinstance(block, TextBlock):
            empty: dict[str, Any] = {"type": "text", "text": ""}
            delta: dict[str, Any] = {"type": "text_delta", "text": block.text}
        else:
            empty = {"type": "tool_use", "id": block.id, "name": block.name, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block.input)}
        start_block = {"type": "content_block_start", "index": index, "content_block": empty}
        delta_block = {"type": "content_block_delta", "index": index, "delta": delta}
        events += [
            ("content_block_start", start_block),
            ("content_block_delta", delta_block),
            ("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": reply.usage.output_tokens},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def encode_sse(event: Event) -> bytes:
    """One SSE frame."""
    name, data = event
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


def error_json(reply: ErrorReply, request_id: str) -> dict[str, Any]:
    """The Anthropic error body."""
    return {
        "type": "error",
        "error": {"type": reply.error_type, "message": reply.message},
        "request_id": request_id,
    }


def _full_block(block: TextBlock | ToolUseBlock) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {"type": "text", "text": block.text}
    return {"type": "tool_use", "id": block.id, "name": block.name, "input": dict(block.input)}


def _usage(reply: MessageReply, *, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": reply.usage.input_tokens,
        "cache_creation_input_tokens": reply.usage.cache_write,
        "cache_read_input_tokens": reply.usage.cache_read,
        "output_tokens": output_tokens,
    }
