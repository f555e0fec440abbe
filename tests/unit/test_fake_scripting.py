"""Unit tests of the fake Anthropic API's pure parts: directives, conversations, reply plans,
wire rendering, prices and the CLI binary lookup."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from claude_pool.devenv.clibin import BIN_ENV, ClaudeBinaryNotFound, claude_binary
from claude_pool.devenv.fakeconversations import (
    BadRequest,
    conversation_from_body,
    system_tail,
)
from claude_pool.devenv.fakemessages import encode_sse, error_json, message_json, sse_events
from claude_pool.devenv.fakeplanning import (
    ErrorReply,
    MessageReply,
    TextBlock,
    ToolUseBlock,
    Usage,
    minimal_instance,
    plan_reply,
)
from claude_pool.devenv.fakepricing import cost_microdollars, cost_usd
from claude_pool.devenv.scripting import (
    DirectiveError,
    Echo,
    Route,
    Scenario,
    ToolStep,
    find_blocks,
    parse_directives,
    read_directives,
    render_block,
    strip_keys,
    without_directives,
)

REMINDER = "<system-reminder>\nAs you answer ... currentDate\n</system-reminder>\n\n"
DEFAULT_SYSTEM = (
    "\nYou are an interactive agent...\n# Environment\n"
    " - Primary working directory: /work/dir\n - Platform: linux\n\n# Context management\n"
    "If you are weighing a choice, give a recommendation, not an exhaustive survey"
)


def cli_body(
    prompt: str,
    *,
    system: str = DEFAULT_SYSTEM,
    history: list[dict[str, Any]] | None = None,
    tools: list[dict[str, Any]] | None = None,
    stream: bool = True,
) -> dict[str, Any]:
    """A request body shaped like the Claude CLI's (notes/claude-cli.md)."""
    first = {
        "role": "user",
        "content": [{"type": "text", "text": REMINDER}, {"type": "text", "text": prompt}],
    }
    agents = {"role": "system", "content": "Available agent types for the Agent tool: ..."}
    return {
        "model": "claude-sonnet-5",
        "stream": stream,
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197.e10;"},
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude."},
            {"type": "text", "text": system},
        ],
        "messages": [first, agents, *(history or [])],
        "tools": tools if tools is not None else [{"name": "Bash"}, {"name": "Write"}],
    }


def tool_turn(name: str, n: int) -> list[dict[str, Any]]:
    """One assistant tool_use and the user's tool_result."""
    tool_id = f"toolu_{n}"
    return [
        {"role": "assistant", "content": [{"type": "tool_use", "id": tool_id, "name": name}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_id}]},
    ]


def plan_for(body: dict[str, Any], scenario: Scenario | None = None, **kw: Any) -> MessageReply:
    convo = conversation_from_body(body)
    merged = (scenario or Scenario()).overlay(read_directives(convo.directive_texts)[0])
    plan = plan_reply(merged, convo, **kw)
    assert isinstance(plan.reply, MessageReply)
    return plan.reply


def only_block(reply: MessageReply) -> TextBlock | ToolUseBlock:
    assert len(reply.content) == 1
    return reply.content[0]


# -- directives ----------------------------------------------------------------------------


def test_directive_values_may_be_bare_or_quoted_with_escapes() -> None:
    text = 'do it [[fake reply="two words \\"q\\"" in=7 delay=0.5 model=claude-x]] now'
    assert parse_directives(text) == Scenario(
        reply='two words "q"', input_tokens=7, delay=0.5, model="claude-x"
    )


def test_later_directive_blocks_win_and_dashes_equal_underscores() -> None:
    text = "[[fake status=429 retry-after=3]] and [[fake status=529 should_retry=false]]"
    assert parse_directives(text) == Scenario(status=529, retry_after=3.0, should_retry=False)


def test_text_without_a_directive_block_gives_an_empty_scenario() -> None:
    assert parse_directives("plain [[fakery]] [[ fake x=1]]") == Scenario()
    assert parse_directives("[[fake]]") == Scenario()


def test_a_quoted_value_may_hold_closing_brackets() -> None:
    assert parse_directives('[[fake reply="a ]] b"]]').reply == "a ]] b"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[fake colour=red]]", "unknown key 'colour'"),
        ("[[fake status=200]]", "status: 200 is outside 400..599"),
        ("[[fake delay=soon]]", "delay: expected seconds"),
        ("[[fake in=-1]]", "in: -1 is outside"),
        ("[[fake tools=write:fly]]", "tools: expected write|edit|bash|read|loop"),
        ("[[fake tools=loop:write]]", "'loop' cannot be combined"),
        ("[[fake structured=[1,2] ]]", "expected 'auto' or a JSON object"),
        ("[[fake should_retry=maybe]]", "expected true or false"),
        ("[[fake cwd=relative/dir]]", "must be an absolute path"),
        ("[[fake reply=x", "unterminated [[fake"),
        ('[[fake reply="x]]', "unterminated quoted value"),
        ("[[fake justakey]]", "expected key=value"),
    ],
)
def test_bad_directives_raise_a_directive_error_that_says_what_is_wrong(
    text: str, message: str
) -> None:
    with pytest.raises(DirectiveError, match=message.replace("[", r"\[").replace("|", r"\|")):
        parse_directives(text)


def test_tools_and_structured_values_are_parsed_into_typed_fields() -> None:
    scenario = parse_directives('[[fake tools=write:edit:bash:read structured={"a":1}]]')
    assert scenario.tools == (ToolStep.WRITE, ToolStep.EDIT, ToolStep.BASH, ToolStep.READ)
    assert scenario.structured == '{"a":1}'
    assert parse_directives("[[fake structured=AUTO echo=system route=chain]]") == Scenario(
        structured="auto", echo=Echo.SYSTEM, route=Route.CHAIN
    )


def test_a_scenario_round_trips_through_its_json_mapping() -> None:
    mapping: dict[str, object] = {
        "reply": "hi there",
        "status": 529,
        "retry_after": 2,
        "should_retry": True,
        "fail": 2,
        "in": 10,
        "tools": ["write", "bash"],
        "structured": {"answer": "x"},
    }
    scenario = Scenario.from_mapping(mapping)
    assert scenario.tools == (ToolStep.WRITE, ToolStep.BASH)
    again = Scenario.from_mapping(scenario.to_dict())
    assert again == scenario
    assert scenario.to_dict()["structured"] == {"answer": "x"}


def test_overlay_replaces_only_the_fields_the_top_layer_sets() -> None:
    base = Scenario(reply="base", delay=1.0, input_tokens=5)
    top = Scenario(reply="top", output_tokens=9)
    assert base.overlay(top) == Scenario(reply="top", delay=1.0, input_tokens=5, output_tokens=9)


def test_strip_keys_removes_keys_and_drops_blocks_left_empty() -> None:
    text = "[[fake route=parallel n=3]] fix [[fake route=chain reply=ok]] it"
    assert strip_keys(text, ["route", "n"]) == "fix [[fake reply=ok]] it"


def test_render_block_quotes_values_that_need_it_and_parses_back() -> None:
    block = render_block([("reply", 'a "b" ]]'), ("in", "3")])
    assert find_blocks(block)[0].pairs == (("reply", 'a "b" ]]'), ("in", "3"))


# -- conversations -------------------------------------------------------------------------


def test_the_prompt_is_the_last_non_reminder_text_of_the_first_user_message() -> None:
    convo = conversation_from_body(cli_body("hello there"))
    assert convo.prompt == "hello there"
    assert convo.assistant_turns == 0
    assert convo.cwd == "/work/dir"
    assert convo.stream is True


def test_assistant_turns_count_the_tool_calls_already_made() -> None:
    body = cli_body("go", history=tool_turn("Write", 1) + tool_turn("Edit", 2))
    convo = conversation_from_body(body)
    assert (convo.prompt, convo.assistant_turns) == ("go", 2)


def test_after_resume_the_newest_prompt_starts_a_new_turn() -> None:
    history: list[dict[str, Any]] = [
        {"role": "assistant", "content": [{"type": "text", "text": "first answer"}]},
        {"role": "user", "content": "second prompt"},
    ]
    convo = conversation_from_body(cli_body("[[fake tools=write]] first", history=history))
    assert (convo.prompt, convo.assistant_turns, convo.turn_start) == ("second prompt", 0, 3)
    assert read_directives(convo.directive_texts) == (Scenario(), "")


def test_the_structured_output_nudge_is_not_taken_as_the_prompt() -> None:
    history = [
        {"role": "assistant", "content": [{"type": "text", "text": "plain"}]},
        {"role": "user", "content": [{"type": "text", "text": "[structured-output-enforce] Call"}]},
    ]
    convo = conversation_from_body(cli_body("real prompt", history=history))
    assert (convo.prompt, convo.assistant_turns) == ("real prompt", 1)


def test_directives_are_read_from_the_system_prompt_and_user_text_blocks() -> None:
    body = cli_body("[[fake out=5]] task", system=DEFAULT_SYSTEM + "\n\n[[fake in=7 out=1]]")
    body["messages"][0]["content"][0]["text"] += "[[fake model=from-reminder]]"
    scenario, raw = read_directives(conversation_from_body(body).directive_texts)
    assert scenario == Scenario(input_tokens=7, output_tokens=5, model="from-reminder")
    assert raw == "[[fake in=7 out=1]]\x00[[fake model=from-reminder]]\x00[[fake out=5]]"


def test_the_structured_output_schema_is_taken_from_the_tools() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    body = cli_body("x", tools=[{"name": "StructuredOutput", "input_schema": schema}])
    assert conversation_from_body(body).structured_schema == schema


@pytest.mark.parametrize(
    "body",
    [[], {"model": "m"}, {"model": "m", "messages": []}, {"messages": [{"role": "user"}]}],
)
def test_bodies_that_are_not_messages_requests_are_rejected(body: object) -> None:
    with pytest.raises(BadRequest):
        conversation_from_body(body)


def test_system_tail_is_the_appended_text_or_the_whole_custom_prompt() -> None:
    shared = "## Shared Context\n- **repo**: x\n\nmore"
    assert system_tail(["billing", "id", DEFAULT_SYSTEM + "\n\n" + shared]) == shared
    assert system_tail(["billing", "id", shared]) == shared
    assert system_tail(["billing", "id", DEFAULT_SYSTEM]) == ""
    assert system_tail([]) == ""


# -- reply plans ---------------------------------------------------------------------------


def test_the_default_reply_echoes_the_prompt_with_default_usage() -> None:
    reply = plan_for(cli_body("what is 2+2?"))
    assert only_block(reply) == TextBlock("fake answer: what is 2+2?")
    assert (reply.stop_reason, reply.usage, reply.model) == ("end_turn", Usage(), "claude-sonnet-5")


def test_reply_usage_model_and_stall_come_from_directives() -> None:
    text = '[[fake reply="all done" in=1 out=2 cache_read=3 cache_write=4 model=m1 stall=2]]'
    reply = plan_for(cli_body(text))
    assert only_block(reply) == TextBlock("all done")
    assert reply.usage == Usage(1, 2, 3, 4)
    assert (reply.model, reply.stall) == ("m1", 2.0)


def test_echo_system_answers_the_appended_system_prompt() -> None:
    body = cli_body("[[fake echo=system]]", system=DEFAULT_SYSTEM + "\n\n## Shared Context\n- a")
    assert only_block(plan_for(body)) == TextBlock("## Shared Context\n- a")


def test_a_status_directive_gives_an_anthropic_error_with_retry_headers() -> None:
    convo = conversation_from_body(cli_body("x"))
    scenario = Scenario(status=529, retry_after=5, should_retry=False, delay=0.25)
    plan = plan_reply(scenario, convo)
    assert plan.delay == 0.25
    assert plan.reply == ErrorReply(
        529,
        "overloaded_error",
        "fake 529 overloaded_error",
        (("retry-after", "5"), ("x-should-retry", "false")),
    )
    assert plan.summary == "error 529"


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (529, "overloaded_error"),
        (503, "api_error"),
    ],
)
def test_each_status_maps_to_its_anthropic_error_type(status: int, kind: str) -> None:
    plan = plan_reply(Scenario(status=status), conversation_from_body(cli_body("x")))
    assert isinstance(plan.reply, ErrorReply)
    assert (plan.reply.status, plan.reply.error_type) == (status, kind)


def test_fail_n_fails_the_first_n_attempts_with_500_by_default() -> None:
    convo = conversation_from_body(cli_body("x"))
    statuses = [
        plan_reply(Scenario(fail=2), convo, attempt=attempt).summary for attempt in (1, 2, 3)
    ]
    assert statuses == ["error 500", "error 500", "text"]


def test_a_tool_sequence_answers_call_k_with_the_kth_tool_then_text() -> None:
    prompt = "[[fake tools=write:edit:bash:read file=notes.md]] go"
    names = []
    history: list[dict[str, Any]] = []
    for k in range(5):
        block = only_block(plan_for(cli_body(prompt, history=history), tool_id=f"t{k}"))
        names.append(block.name if isinstance(block, ToolUseBlock) else "text")
        history += tool_turn(names[-1], k)
    assert names == ["Write", "Edit", "Bash", "Read", "text"]


def test_tool_inputs_use_absolute_paths_in_the_working_directory() -> None:
    body = cli_body("[[fake tools=write:edit:bash]]")
    write = only_block(plan_for(body, tool_id="toolu_1"))
    assert write == ToolUseBlock(
        "toolu_1",
        "Write",
        {
            "file_path": "/work/dir/fake_written.txt",
            "content": "written by fake via Write tool\nline2\n",
        },
    )
    edit = only_block(plan_for(cli_body("[[fake tools=write:edit]]", history=tool_turn("W", 1))))
    assert isinstance(edit, ToolUseBlock)
    assert edit.input["old_string"] == "line2"
    assert edit.input["new_string"] == "line2 EDITED"
    bash = only_block(plan_for(cli_body("[[fake tools=bash cwd=/other]]")))
    assert isinstance(bash, ToolUseBlock)
    assert bash.input["command"] == "echo bash-ran > /other/fake_bash.txt && pwd"


def test_a_tool_loop_always_answers_with_a_tool_use() -> None:
    history = tool_turn("Bash", 1) * 5
    reply = plan_for(cli_body("[[fake tools=loop]]", history=history))
    block = only_block(reply)
    assert isinstance(block, ToolUseBlock)
    assert (block.name, block.input["command"], reply.stop_reason) == ("Bash", "true", "tool_use")


def test_structured_answers_need_the_structured_output_tool() -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}, "n": {"type": "integer", "minimum": 3}},
    }
    tools = [{"name": "StructuredOutput", "input_schema": schema}]
    auto = only_block(plan_for(cli_body("[[fake structured=auto]]", tools=tools)))
    assert auto == ToolUseBlock("toolu_fake", "StructuredOutput", {"answer": "fake", "n": 3})
    given = only_block(plan_for(cli_body('[[fake structured={"n":42}]]', tools=tools)))
    assert isinstance(given, ToolUseBlock)
    assert given.input == {"n": 42}
    plain = only_block(plan_for(cli_body("[[fake structured=auto]] hi", tools=[])))
    assert plain == TextBlock("fake answer: [[fake structured=auto]] hi")


ROUTER_SYSTEM = "You are the claude-pool auto-router. JSON only."


def test_route_directives_answer_routing_json_without_the_route_keys() -> None:
    body = cli_body(
        "<task>\n[[fake route=parallel n=3 reply=ok]] fix bugs\n</task>", system=ROUTER_SYSTEM
    )
    parallel = only_block(plan_for(body))
    assert isinstance(parallel, TextBlock)
    assert json.loads(parallel.text) == {
        "route": "parallel",
        "prompts": [f"[[fake reply=ok]] fix bugs (part {i} of 3)" for i in (1, 2, 3)],
    }
    chain = only_block(plan_for(cli_body("[[fake route=chain]] refactor", system=ROUTER_SYSTEM)))
    assert isinstance(chain, TextBlock)
    assert json.loads(chain.text)["steps"] == [
        {"name": "step-1", "prompt": "refactor (step 1 of 2)"},
        {"name": "step-2", "prompt": "refactor (step 2 of 2; previous output: {previous_output})"},
    ]


def test_route_directives_only_act_on_routing_calls() -> None:
    plain = only_block(plan_for(cli_body("[[fake route=parallel]] fix")))
    assert plain == TextBlock("fake answer: [[fake route=parallel]] fix")
    plan = plan_reply(Scenario(route=Route.ERROR), conversation_from_body(cli_body("x")))
    assert plan.summary == "text"


def test_a_garbage_route_is_text_without_a_decision_even_with_the_schema_tool() -> None:
    tools = [{"name": "StructuredOutput", "input_schema": {"type": "object"}}]
    body = cli_body("[[fake route=garbage]] fix", system=ROUTER_SYSTEM, tools=tools)
    block = only_block(plan_for(body))
    assert isinstance(block, TextBlock)
    assert "route" not in block.text and "{" not in block.text


def test_an_error_route_fails_the_routing_call_with_a_400() -> None:
    convo = conversation_from_body(cli_body("[[fake route=error]] fix", system=ROUTER_SYSTEM))
    plan = plan_reply(read_directives(convo.directive_texts)[0], convo)
    assert isinstance(plan.reply, ErrorReply)
    assert (plan.reply.status, plan.reply.message) == (400, "fake routing error")


def test_fail_on_fails_only_prompts_containing_the_text_outside_directives() -> None:
    directive = '[[fake fail_on="part 2" status=400]]'
    router = conversation_from_body(cli_body(f"fix {directive}", system=ROUTER_SYSTEM))
    assert plan_reply(read_directives(router.directive_texts)[0], router).summary == "text"
    for part, expected in ((1, "text"), (2, "error 400"), (3, "text")):
        convo = conversation_from_body(cli_body(f"fix {directive} (part {part} of 3)"))
        scenario = read_directives(convo.directive_texts)[0]
        assert plan_reply(scenario, convo).summary == expected, part
    counted = Scenario(fail_on="part 2", fail=1)
    convo = conversation_from_body(cli_body("fix (part 2 of 3)"))
    summaries = [plan_reply(counted, convo, attempt=a).summary for a in (1, 2)]
    assert summaries == ["error 500", "text"]


def test_a_json_directive_answers_the_object_with_the_prompt() -> None:
    body = cli_body('plan it [[fake json={"files":["a.py"],"n":2}]]')
    block = only_block(plan_for(body))
    assert isinstance(block, TextBlock)
    assert json.loads(block.text) == {"files": ["a.py"], "n": 2, "prompt": "plan it"}
    with pytest.raises(DirectiveError, match="json: expected a JSON object"):
        parse_directives("[[fake json=[1]]]")


def test_the_schema_tool_gets_a_structured_answer_unless_another_answer_is_asked_for() -> None:
    schema = {"type": "object", "properties": {"summary": {"type": "string"}}}
    tools = [{"name": "StructuredOutput", "input_schema": schema}]
    block = only_block(plan_for(cli_body("summarise", tools=tools)))
    assert block == ToolUseBlock("toolu_fake", "StructuredOutput", {"summary": "fake"})
    replied = only_block(plan_for(cli_body("[[fake reply=plain]]", tools=tools)))
    assert replied == TextBlock("plain")


def test_without_directives_removes_every_block() -> None:
    assert without_directives('a [[fake reply="x y"]] b [[fake n=2]]') == "a b"


def test_a_routing_call_without_a_route_directive_answers_single() -> None:
    body = cli_body("add a feature", system=ROUTER_SYSTEM)
    text = only_block(plan_for(body))
    assert isinstance(text, TextBlock)
    assert json.loads(text.text) == {"route": "single", "prompt": "add a feature"}
    tools = [{"name": "StructuredOutput", "input_schema": {"type": "object"}}]
    body = cli_body("task", system="my-router", tools=tools)
    block = only_block(plan_for(body, router_marker="my-router"))
    assert block == ToolUseBlock(
        "toolu_fake", "StructuredOutput", {"route": "single", "prompt": "task"}
    )


def test_a_scenario_is_overridden_key_by_key_by_directives() -> None:
    reply = plan_for(cli_body("[[fake out=9]] x"), Scenario(reply="from scenario", output_tokens=1))
    assert only_block(reply) == TextBlock("from scenario")
    assert reply.usage.output_tokens == 9


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ({"type": "string", "minLength": 6}, "fakexx"),
        ({"type": "number", "exclusiveMinimum": 1}, 2),
        ({"type": ["null", "boolean"]}, False),
        ({"enum": ["b", "a"]}, "b"),
        ({"const": 7}, 7),
        ({"type": "array", "items": {"type": "integer"}, "minItems": 2}, [0, 0]),
        ({"anyOf": [{"type": "null"}, {"type": "string"}]}, None),
        ({"properties": {"o": {"type": "object", "properties": {"s": {}}}}}, {"o": {"s": "fake"}}),
    ],
)
def test_minimal_instance_satisfies_simple_schemas(schema: dict[str, Any], value: Any) -> None:
    assert minimal_instance(schema) == value


# -- wire format, prices, binary lookup ----------------------------------------------------


def test_sse_events_follow_the_messages_streaming_sequence() -> None:
    reply = MessageReply(
        "m", (ToolUseBlock("t1", "Bash", {"command": "true"}),), "tool_use", Usage()
    )
    events = sse_events(reply, "msg_1")
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[0][1]["message"]["usage"]["input_tokens"] == 100
    assert events[1][1]["content_block"] == {
        "type": "tool_use",
        "id": "t1",
        "name": "Bash",
        "input": {},
    }
    assert events[2][1]["delta"] == {
        "type": "input_json_delta",
        "partial_json": '{"command": "true"}',
    }
    assert events[4][1]["delta"]["stop_reason"] == "tool_use"
    assert events[4][1]["usage"] == {"output_tokens": 20}
    assert encode_sse(events[5]) == b'event: message_stop\ndata: {"type": "message_stop"}\n\n'


def test_a_non_streaming_message_carries_the_whole_answer() -> None:
    reply = MessageReply("m", (TextBlock("hi"),), "end_turn", Usage(5, 6, 7, 8))
    assert message_json(reply, "msg_2") == {
        "id": "msg_2",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 5,
            "cache_creation_input_tokens": 8,
            "cache_read_input_tokens": 7,
            "output_tokens": 6,
        },
    }
    error = ErrorReply(429, "rate_limit_error", "slow down")
    assert error_json(error, "req_1")["error"] == {
        "type": "rate_limit_error",
        "message": "slow down",
    }


def test_prices_match_the_cli_figures() -> None:
    assert cost_usd("sonnet", 100, 20) == pytest.approx(0.0006)
    assert cost_usd("claude-haiku-4-5-20251001", 1_000_000, 0, cache_read=1_000_000) == 1.1
    assert cost_usd("my-custom-model", 1_000_000, 1_000_000) == 30
    assert cost_microdollars("sonnet", 100, 20) == 600


def test_claude_binary_honours_the_env_override_and_names_make_setup(tmp_path: Path) -> None:
    binary = tmp_path / "claude"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    assert claude_binary({BIN_ENV: str(binary)}) == binary
    with pytest.raises(ClaudeBinaryNotFound, match="not an executable"):
        claude_binary({BIN_ENV: str(tmp_path / "missing")})


def test_claude_binary_missing_everywhere_says_run_make_setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("claude_pool.devenv.clibin.PINNED_BIN", tmp_path / "none")
    with pytest.raises(ClaudeBinaryNotFound, match="make setup"):
        claude_binary({"PATH": str(tmp_path)})
