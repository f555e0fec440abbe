"""Pure: the CLI's stream-json lines -> progress events, and the final line -> a `AgentResult`.

Called by `runner.Runner` for every stdout line and once when the CLI has exited. The line
shapes and error texts are those recorded in shared/notes/claude-cli.md (CLI 2.1.197).
A run without a final `result` line is a failure whatever the exit code: the CLI exits 0 on
SIGINT without one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from claude_pool.api.agent import (
    AgentResult,
    DeniedToolUse,
    Failure,
    ProgressEvent,
    ProgressKind,
    Usage,
)
from claude_pool.api.failures import FailureReason

TEXT_SNIPPET_CHARS = 500
MAX_DENIALS = 32
DENIAL_TARGET_CHARS = 256
_TARGET_KEYS = ("command", "file_path", "notebook_path", "path", "url", "pattern", "query")
"""Input fields that say what a tool was used on, in the order they are looked for."""
SYNTHETIC_MODEL = "<synthetic>"

_CONNECTION_MARKERS = (
    "unable to connect",
    "timed out",
    "connection",
    "econnrefused",
    "econnreset",
    "fetch failed",
    "socket",
)
_ERROR_KINDS = {
    "authentication_failed": FailureReason.AUTHENTICATION,
    "rate_limit": FailureReason.RATE_LIMITED,
    "model_not_found": FailureReason.MODEL_NOT_FOUND,
    "invalid_request": FailureReason.INVALID_REQUEST,
    "server_error": FailureReason.SERVER_ERROR,
}


def usd_to_microdollars(value: object) -> int:
    """Exact integer microdollars from the CLI's float dollars, rounded half up.

    `Decimal(str(x))` keeps the shortest repr, so 0.0006000000000000001 gives 600.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return 0
    try:
        micro = Decimal(str(value)).scaleb(6).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return 0
    return int(micro) if micro.is_finite() else 0


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass
class StreamObservation:
    """What the CLI has said so far in one run."""

    session_id: str | None = None
    model: str | None = None
    turns: int = 0
    result_line: dict[str, Any] | None = None
    error_kind: str | None = None
    """The `error` field of the last synthetic assistant message (an API error's class)."""
    message_ids: set[str] = field(default_factory=set)

    def feed(self, line: str | bytes) -> list[ProgressEvent]:
        """Take one stdout line; return the progress it reports (seq left at 0)."""
        try:
            data = json.loads(line)
        except ValueError:
            return []
        if not isinstance(data, dict):
            return []
        if isinstance(data.get("session_id"), str):
            self.session_id = data["session_id"]
        kind = data.get("type")
        if kind == "result":
            self.result_line = data
            return []
        if kind == "system":
            return self._system(data)
        if kind == "assistant":
            return self._assistant(data)
        return []

    def _event(self, kind: ProgressKind, **fields: Any) -> ProgressEvent:
        return ProgressEvent(
            seq=0,
            kind=kind,
            turns=self.turns,
            session_id=self.session_id,
            **fields,
        )

    def _system(self, data: dict[str, Any]) -> list[ProgressEvent]:
        subtype = data.get("subtype")
        if subtype == "init":
            if isinstance(data.get("model"), str):
                self.model = data["model"]
            return []
        if subtype == "api_retry":
            status = data.get("error_status")
            return [
                self._event(
                    ProgressKind.RETRY,
                    attempt=_int(data.get("attempt")),
                    error_status=status if isinstance(status, int) else None,
                    text=str(data.get("error") or "") or None,
                )
            ]
        return []

    def _assistant(self, data: dict[str, Any]) -> list[ProgressEvent]:
        message = _dict(data.get("message"))
        if message.get("model") == SYNTHETIC_MODEL:
            if isinstance(data.get("error"), str):
                self.error_kind = data["error"]
            return []
        message_id = message.get("id")
        if isinstance(message_id, str) and message_id not in self.message_ids:
            self.message_ids.add(message_id)
            self.turns += 1
        events: list[ProgressEvent] = []
        content = message.get("content")
        for block in content if isinstance(content, list) else []:
            block = _dict(block)
            if block.get("type") == "text" and str(block.get("text", "")).strip():
                text = str(block["text"]).strip()
                events.append(self._event(ProgressKind.TEXT, text=text[:TEXT_SNIPPET_CHARS]))
            elif block.get("type") == "tool_use":
                events.append(self._event(ProgressKind.TOOL_USE, tool=str(block.get("name"))))
        return events


def classify(result_line: dict[str, Any], error_kind: str | None = None) -> FailureReason | None:
    """The failure reason of a final result line, or None when it reports success."""
    subtype = result_line.get("subtype")
    if subtype == "error_max_budget_usd":
        return FailureReason.BUDGET_EXCEEDED
    if subtype == "error_max_turns":
        return FailureReason.MAX_TURNS
    if not result_line.get("is_error") and subtype == "success":
        return None
    status = result_line.get("api_error_status")
    if isinstance(status, int) and not isinstance(status, bool):
        return _classify_status(status)
    text = str(result_line.get("result") or "").lower()
    if "repeated 529" in text or "overloaded" in text:
        return FailureReason.OVERLOADED
    if any(marker in text for marker in _CONNECTION_MARKERS):
        return FailureReason.CONNECTION_ERROR
    if "prompt is too long" in text or "request too large" in text:
        return FailureReason.INVALID_REQUEST
    if error_kind in _ERROR_KINDS:
        return _ERROR_KINDS[error_kind]
    return FailureReason.MODEL_ERROR


def _classify_status(status: int) -> FailureReason:
    if status in (401, 403):
        return FailureReason.AUTHENTICATION
    if status == 429:
        return FailureReason.RATE_LIMITED
    if status == 529:
        return FailureReason.OVERLOADED
    if status == 404:
        return FailureReason.MODEL_NOT_FOUND
    if 500 <= status <= 599:
        return FailureReason.SERVER_ERROR
    if 400 <= status <= 499:
        return FailureReason.INVALID_REQUEST
    return FailureReason.MODEL_ERROR


def _usage(result_line: dict[str, Any]) -> Usage:
    """Token totals; modelUsage is preferred because `usage` lags one call behind it."""
    per_model = [_dict(v) for v in _dict(result_line.get("modelUsage")).values()]
    if per_model:
        return Usage(
            input_tokens=sum(_int(m.get("inputTokens")) for m in per_model),
            output_tokens=sum(_int(m.get("outputTokens")) for m in per_model),
            cache_read_input_tokens=sum(_int(m.get("cacheReadInputTokens")) for m in per_model),
            cache_creation_input_tokens=sum(
                _int(m.get("cacheCreationInputTokens")) for m in per_model
            ),
        )
    usage = _dict(result_line.get("usage"))
    return Usage(
        input_tokens=_int(usage.get("input_tokens")),
        output_tokens=_int(usage.get("output_tokens")),
        cache_read_input_tokens=_int(usage.get("cache_read_input_tokens")),
        cache_creation_input_tokens=_int(usage.get("cache_creation_input_tokens")),
    )


def _model(result_line: dict[str, Any], fallback: str | None) -> str | None:
    """The model that cost the most in this run (a fallback model shows up here), else init's."""
    per_model = _dict(result_line.get("modelUsage"))
    if per_model:
        return max(per_model, key=lambda name: float(_dict(per_model[name]).get("costUSD") or 0))
    return fallback


def _denials(result_line: dict[str, Any]) -> list[str]:
    """The names of the tools the CLI denied, in order (from `permission_denials`)."""
    denials = result_line.get("permission_denials")
    items = denials if isinstance(denials, list) else []
    return [str(_dict(d).get("tool_name")) for d in items if _dict(d).get("tool_name")]


def denied_tool_uses(result_line: dict[str, Any]) -> list[DeniedToolUse]:
    """The tool uses the CLI denied, with what each was used on (the first MAX_DENIALS)."""
    denials = result_line.get("permission_denials")
    found: list[DeniedToolUse] = []
    for item in denials if isinstance(denials, list) else []:
        entry = _dict(item)
        tool = entry.get("tool_name")
        if not isinstance(tool, str) or not tool:
            continue
        tool_input = _dict(entry.get("tool_input"))
        target = next(
            (tool_input[k] for k in _TARGET_KEYS if isinstance(tool_input.get(k), str)), ""
        )
        found.append(DeniedToolUse(tool=tool[:256], target=" ".join(target.split())[:256]))
    return found[:MAX_DENIALS]


def _error_text(result_line: dict[str, Any]) -> str:
    errors = result_line.get("errors")
    if isinstance(errors, list) and errors:
        return "; ".join(str(e) for e in errors)
    result = result_line.get("result")
    if isinstance(result, str) and result:
        return result
    return f"the CLI reported {result_line.get('subtype')!r} with is_error set"


@dataclass(frozen=True)
class RunEnd:
    """How the CLI process ended, as seen by the runner."""

    exit_code: int | None
    stderr_tail: str
    duration_ms: int
    stopped: FailureReason | None = None
    """Set when the agent stopped the CLI (Timeout, Cancelled, Interrupted)."""
    stop_message: str = ""


def build_result(
    seen: StreamObservation, end: RunEnd, *, requested_model: str | None, schema: bool
) -> AgentResult:
    """The task's result from everything the run showed. Pure."""
    line = seen.result_line
    model = seen.model or requested_model
    if line is None:
        cause: FailureReason
        if end.stopped is not None:
            cause, message = end.stopped, end.stop_message
        else:
            cause = FailureReason.CLI_CRASHED
            message = f"the CLI exited with code {end.exit_code} without a result line"
            last = end.stderr_tail.strip().splitlines()[-1:] if end.stderr_tail.strip() else []
            message += f": {last[0]}" if last else ""
        return AgentResult(
            success=False,
            session_id=seen.session_id,
            turns=seen.turns,
            duration_ms=end.duration_ms,
            model=model,
            failure=Failure(
                reason=cause, message=message, exit_code=end.exit_code, stderr_tail=end.stderr_tail
            ),
        )
    reason = classify(line, seen.error_kind)
    message = _error_text(line) if reason is not None else ""
    structured = line.get("structured_output")
    if reason is None and end.exit_code != 0:
        reason = FailureReason.CLI_CRASHED
        message = f"the CLI reported success but exited with code {end.exit_code}"
    elif reason is None and schema and structured is None:
        reason = FailureReason.MODEL_ERROR
        message = "the model did not answer with the structured output the JSON schema asks for"
    output = line.get("result")
    session_id = line.get("session_id")
    return AgentResult(
        output=output if isinstance(output, str) else "",
        success=reason is None,
        session_id=session_id if isinstance(session_id, str) else seen.session_id,
        cost_microdollars=usd_to_microdollars(line.get("total_cost_usd")),
        usage=_usage(line),
        turns=_int(line.get("num_turns")) or seen.turns,
        duration_ms=end.duration_ms,
        model=_model(line, model),
        structured_output=structured,
        permission_denials=_denials(line),
        denied_tool_uses=denied_tool_uses(line),
        failure=None
        if reason is None
        else Failure(
            reason=reason, message=message, exit_code=end.exit_code, stderr_tail=end.stderr_tail
        ),
    )
