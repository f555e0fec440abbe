"""Parsing the CLI's stream-json output and classifying failures (lines from the CLI notes)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from claude_pool.agent.events import (
    RunEnd,
    StreamObservation,
    build_result,
    classify,
    usd_to_microdollars,
)
from claude_pool.api.agent import ProgressKind
from claude_pool.api.failures import FailureReason

SESSION = "bf167bbb-6ca2-4ed6-bd3d-22f056a3cbe3"
INIT = {
    "type": "system",
    "subtype": "init",
    "cwd": "/slot/work",
    "session_id": SESSION,
    "tools": ["Bash", "Write"],
    "mcp_servers": [],
    "model": "claude-sonnet-5",
    "permissionMode": "default",
    "apiKeySource": "ANTHROPIC_API_KEY",
    "claude_code_version": "2.1.197",
}
SUCCESS = json.loads(
    """{"type":"result","subtype":"success","is_error":false,"api_error_status":null,
 "duration_ms":384,"duration_api_ms":54,"ttft_ms":375,"num_turns":1,
 "result":"stub answer: hello","stop_reason":"end_turn",
 "session_id":"bf167bbb-6ca2-4ed6-bd3d-22f056a3cbe3","total_cost_usd":0.0006000000000000001,
 "usage":{"input_tokens":100,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,
   "output_tokens":20,"service_tier":"standard"},
 "modelUsage":{"claude-sonnet-5":{"inputTokens":100,"outputTokens":20,"cacheReadInputTokens":0,
   "cacheCreationInputTokens":0,"webSearchRequests":0,"costUSD":0.0006000000000000001,
   "contextWindow":200000,"maxOutputTokens":64000}},
 "permission_denials":[],"terminal_reason":"completed","fast_mode_state":"off",
 "uuid":"b1928e66-8722-4df0-b432-fe07c0828ff9"}"""
)
BUDGET = {
    "type": "result",
    "subtype": "error_max_budget_usd",
    "is_error": True,
    "num_turns": 3,
    "stop_reason": "end_turn",
    "total_cost_usd": 2.7009,
    "session_id": SESSION,
    "usage": {"input_tokens": 0, "output_tokens": 0},
    "modelUsage": {
        "claude-sonnet-5": {"inputTokens": 300, "outputTokens": 180000, "costUSD": 2.7009}
    },
    "errors": ["Reached maximum budget ($2)"],
}
MAX_TURNS = {
    "type": "result",
    "subtype": "error_max_turns",
    "is_error": True,
    "num_turns": 3,
    "stop_reason": "tool_use",
    "terminal_reason": "max_turns",
    "total_cost_usd": 0.0012,
    "errors": ["Reached maximum number of turns (2)"],
}


def api_error(status: int | None, text: str) -> dict[str, Any]:
    return {
        "type": "result",
        "subtype": "success",
        "is_error": True,
        "api_error_status": status,
        "num_turns": 1,
        "result": text,
        "total_cost_usd": 0,
        "modelUsage": {},
        "session_id": SESSION,
    }


def assistant(message_id: str, *content: dict[str, Any], model: str = "claude-sonnet-5") -> str:
    line = {
        "type": "assistant",
        "message": {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": list(content),
            "usage": {"input_tokens": 100, "output_tokens": 20},
        },
        "parent_tool_use_id": None,
        "session_id": SESSION,
    }
    return json.dumps(line)


def finished(exit_code: int | None = 0, stderr: str = "") -> RunEnd:
    return RunEnd(exit_code=exit_code, stderr_tail=stderr, duration_ms=1234)


def observe(*lines: str | dict[str, Any]) -> StreamObservation:
    seen = StreamObservation()
    for line in lines:
        seen.feed(line if isinstance(line, str) else json.dumps(line))
    return seen


@pytest.mark.parametrize(
    ("usd", "micro"),
    [
        (0.0006000000000000001, 600),
        (0.0024, 2400),
        (2.7009, 2_700_900),
        (3.0003, 3_000_300),
        (0.0000005, 1),
        (0.0000004999, 0),
        (0, 0),
        (1e-7, 0),
        ("0.25", 250_000),
        (None, 0),
        (float("nan"), 0),
    ],
)
def test_costs_become_exact_microdollars_rounded_half_up(usd: object, micro: int) -> None:
    assert usd_to_microdollars(usd) == micro


def test_a_successful_run_reports_output_cost_usage_and_session() -> None:
    seen = observe(INIT, assistant("msg_1", {"type": "text", "text": "stub answer"}), SUCCESS)
    result = build_result(seen, finished(), requested_model="sonnet", schema=False)
    assert result.success
    assert result.failure is None
    assert result.output == "stub answer: hello"
    assert result.cost_microdollars == 600
    assert result.session_id == SESSION
    assert result.turns == 1
    assert result.duration_ms == 1234
    assert result.model == "claude-sonnet-5"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (100, 20)


def test_progress_reports_text_snippets_tool_names_and_turns() -> None:
    seen = StreamObservation()
    assert seen.feed(json.dumps(INIT)) == []
    tool = {"type": "tool_use", "id": "toolu_1", "name": "Write", "input": {}}
    events = seen.feed(assistant("msg_1", tool))
    assert [(e.kind, e.tool, e.turns) for e in events] == [(ProgressKind.TOOL_USE, "Write", 1)]
    # the CLI emits one assistant line per content block of the same message: one turn
    events = seen.feed(assistant("msg_1", {"type": "text", "text": "x" * 2000}))
    assert events[0].kind is ProgressKind.TEXT
    assert events[0].text == "x" * 500
    assert events[0].turns == 1
    events = seen.feed(assistant("msg_2", {"type": "text", "text": "done"}))
    assert events[0].turns == 2
    assert events[0].session_id == SESSION


def test_retries_are_reported_as_progress() -> None:
    retry = {
        "type": "system",
        "subtype": "api_retry",
        "attempt": 1,
        "max_retries": 2,
        "retry_delay_ms": 581.0,
        "error_status": 500,
        "error": "server_error",
    }
    (event,) = StreamObservation().feed(json.dumps(retry))
    assert (event.kind, event.attempt, event.error_status) == (ProgressKind.RETRY, 1, 500)


def test_lines_that_are_not_json_objects_are_ignored() -> None:
    seen = StreamObservation()
    for junk in ("", "not json", "[1, 2]", '"text"', "{broken"):
        assert seen.feed(junk) == []
    assert seen.result_line is None


@pytest.mark.parametrize(
    ("status", "text", "reason"),
    [
        (400, "API Error: 400 stub 400 invalid_request_error", FailureReason.INVALID_REQUEST),
        (
            401,
            "Failed to authenticate. API Error: 401 stub 401 authentication_error",
            FailureReason.AUTHENTICATION,
        ),
        (
            403,
            "Failed to authenticate. API Error: 403 stub 403 permission_error",
            FailureReason.AUTHENTICATION,
        ),
        (404, "There's an issue with the selected model (x).", FailureReason.MODEL_NOT_FOUND),
        (
            413,
            "Request too large (max 32MB). Try with a smaller file.",
            FailureReason.INVALID_REQUEST,
        ),
        (
            429,
            "API Error: Request rejected (429) · stub 429 rate_limit_error",
            FailureReason.RATE_LIMITED,
        ),
        (
            500,
            "API Error: 500 stub 500 api_error. This is a server-side issue",
            FailureReason.SERVER_ERROR,
        ),
        (503, "API Error: 503", FailureReason.SERVER_ERROR),
        (529, "API Error: 529 stub 529 overloaded_error.", FailureReason.OVERLOADED),
        (
            None,
            "API Error: Repeated 529 Overloaded errors. The API is at capacity (127.0.0.1:19100).",
            FailureReason.OVERLOADED,
        ),
        (
            None,
            "API Error: Unable to connect to API (ConnectionRefused)",
            FailureReason.CONNECTION_ERROR,
        ),
        (None, "Request timed out", FailureReason.CONNECTION_ERROR),
        (None, "Prompt is too long", FailureReason.INVALID_REQUEST),
        (None, "something unexpected", FailureReason.MODEL_ERROR),
    ],
)
def test_api_errors_are_classified(status: int | None, text: str, reason: FailureReason) -> None:
    result = build_result(
        observe(INIT, api_error(status, text)), finished(1), requested_model=None, schema=False
    )
    assert not result.success
    assert result.failure is not None
    assert result.failure.reason is reason
    assert result.failure.message == text
    assert result.failure.exit_code == 1


def test_the_synthetic_error_kind_classifies_a_status_less_error() -> None:
    synthetic = json.loads(assistant("m", {"type": "text", "text": "x"}, model="<synthetic>"))
    synthetic["error"] = "rate_limit"
    seen = observe(INIT, synthetic)
    assert seen.turns == 0  # an error message is not a model turn
    assert classify(api_error(None, "odd"), seen.error_kind) is FailureReason.RATE_LIMITED


def test_budget_exceeded_keeps_the_cost_the_cli_reports() -> None:
    result = build_result(observe(INIT, BUDGET), finished(1), requested_model=None, schema=False)
    assert result.failure is not None
    assert result.failure.reason is FailureReason.BUDGET_EXCEEDED
    assert result.failure.message == "Reached maximum budget ($2)"
    assert result.cost_microdollars == 2_700_900
    assert result.output == ""
    # result.usage lags one call behind modelUsage, so modelUsage is used
    assert result.usage.output_tokens == 180_000


def test_max_turns_is_classified() -> None:
    result = build_result(observe(MAX_TURNS), finished(1), requested_model=None, schema=False)
    assert result.failure is not None
    assert result.failure.reason is FailureReason.MAX_TURNS
    assert result.turns == 3


def test_a_run_without_a_result_line_crashed_even_with_exit_code_zero() -> None:
    # SIGINT: rc 0 and only the init line
    result = build_result(observe(INIT), finished(0), requested_model="sonnet", schema=False)
    assert result.failure is not None
    assert result.failure.reason is FailureReason.CLI_CRASHED
    assert result.session_id == SESSION


def test_a_crash_reports_the_exit_code_and_the_last_stderr_line() -> None:
    stderr = "Error: When using --print, --output-format=stream-json requires --verbose\n"
    result = build_result(observe(), finished(1, stderr), requested_model=None, schema=False)
    assert result.failure is not None
    assert result.failure.reason is FailureReason.CLI_CRASHED
    assert result.failure.exit_code == 1
    assert result.failure.stderr_tail == stderr
    assert "requires --verbose" in result.failure.message


def test_a_stop_by_the_agent_gives_its_own_reason() -> None:
    end = RunEnd(143, "", 10, stopped=FailureReason.TIMEOUT, stop_message="timeout of 5 s")
    result = build_result(observe(INIT), end, requested_model=None, schema=False)
    assert result.failure is not None
    assert (result.failure.reason, result.failure.message) == (
        FailureReason.TIMEOUT,
        "timeout of 5 s",
    )


def test_a_result_that_arrived_before_the_stop_wins() -> None:
    end = RunEnd(0, "", 10, stopped=FailureReason.CANCELLED, stop_message="cancelled")
    assert build_result(observe(SUCCESS), end, requested_model=None, schema=False).success


def test_success_with_a_failing_exit_code_is_not_trusted() -> None:
    result = build_result(observe(SUCCESS), finished(3), requested_model=None, schema=False)
    assert result.failure is not None
    assert result.failure.reason is FailureReason.CLI_CRASHED
    assert result.cost_microdollars == 600


def test_structured_output_is_returned_when_a_schema_was_given() -> None:
    line = dict(SUCCESS, structured_output={"answer": "forty-two", "n": 42})
    result = build_result(observe(line), finished(), requested_model=None, schema=True)
    assert result.success
    assert result.structured_output == {"answer": "forty-two", "n": 42}


def test_a_schema_without_structured_output_is_a_model_error() -> None:
    result = build_result(observe(SUCCESS), finished(), requested_model=None, schema=True)
    assert result.failure is not None
    assert result.failure.reason is FailureReason.MODEL_ERROR
    assert result.output == "stub answer: hello"


def test_the_fallback_model_that_did_the_work_is_reported() -> None:
    line = dict(
        SUCCESS,
        modelUsage={
            "claude-sonnet-5": {"inputTokens": 0, "outputTokens": 0, "costUSD": 0},
            "claude-haiku-4-5-20251001": {
                "inputTokens": 100,
                "outputTokens": 20,
                "costUSD": 0.0002,
            },
        },
    )
    result = build_result(observe(INIT, line), finished(), requested_model="sonnet", schema=False)
    assert result.model == "claude-haiku-4-5-20251001"


def test_permission_denials_are_listed_by_tool() -> None:
    line = dict(
        SUCCESS,
        permission_denials=[{"tool_name": "Write", "tool_use_id": "t", "tool_input": {}}],
    )
    result = build_result(observe(line), finished(), requested_model=None, schema=False)
    assert result.permission_denials == ["Write"]


def test_denied_tool_uses_say_what_each_tool_was_used_on() -> None:
    line = dict(
        SUCCESS,
        permission_denials=[
            {"tool_name": "Write", "tool_use_id": "a", "tool_input": {"file_path": "/w/a.py"}},
            {"tool_name": "Bash", "tool_use_id": "b", "tool_input": {"command": "rm -rf\n/x"}},
            {"tool_name": "mcp__x__y", "tool_use_id": "c", "tool_input": {"n": 1}},
            {"tool_use_id": "d", "tool_input": {}},
            "not an object",
        ],
    )
    result = build_result(observe(line), finished(), requested_model=None, schema=False)
    assert [(u.tool, u.target) for u in result.denied_tool_uses] == [
        ("Write", "/w/a.py"),
        ("Bash", "rm -rf /x"),
        ("mcp__x__y", ""),
    ]
    assert result.permission_denials == ["Write", "Bash", "mcp__x__y"]
    assert result.to_wire()["deniedToolUses"][0] == {"tool": "Write", "target": "/w/a.py"}


def test_denied_tool_uses_are_bounded_in_number_and_length() -> None:
    many = [
        {"tool_name": "Bash", "tool_use_id": str(i), "tool_input": {"command": "x" * 1000}}
        for i in range(40)
    ]
    line = dict(SUCCESS, permission_denials=many)
    result = build_result(observe(line), finished(), requested_model=None, schema=False)
    assert len(result.denied_tool_uses) == 32
    assert all(len(use.target) == 256 for use in result.denied_tool_uses)
