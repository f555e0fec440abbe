"""The slot agent's CLI invocation: argv, appended system prompt, MCP config, money format."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from claude_pool.agent.argv import (
    budget_usd,
    build_argv,
    mcp_config_document,
    system_prompt_addition,
)
from claude_pool.api.agent import CliEffort, CliPermissionMode, ContextEntry, TaskRequest

CLAUDE = "/opt/claude"
BASE = [CLAUDE, "-p", "--output-format=stream-json", "--verbose", "--strict-mcp-config"]


def request(**fields: object) -> TaskRequest:
    return TaskRequest.model_validate({"prompt": "do it", **fields})


def test_a_minimal_task_streams_json_and_keeps_mcp_strict() -> None:
    assert build_argv(CLAUDE, request()) == BASE


def test_every_option_is_passed_in_its_equals_form() -> None:
    task = request(
        model="sonnet",
        fallbackModel="haiku",
        permissionMode="acceptEdits",
        maxTurns=7,
        effort="high",
        tools=["Bash", "Read"],
        allowedTools=["Bash(git *)", "Edit"],
        disallowedTools=["WebFetch"],
        jsonSchema={"type": "object", "properties": {"n": {"type": "integer"}}},
        maxBudgetMicrodollars=500_000,
        resumeSessionId="0de6635e-ba12-4d86-862a-7e1da2388e38",
    )
    argv = build_argv(
        CLAUDE, task, system_prompt_file=Path("/s/sp.md"), mcp_config_file=Path("/s/mcp.json")
    )
    assert argv == [
        *BASE,
        "--model=sonnet",
        "--fallback-model=haiku",
        "--permission-mode=acceptEdits",
        "--max-turns=7",
        "--effort=high",
        "--tools=Bash,Read",
        "--allowedTools",
        "Bash(git *)",
        "Edit",
        "--disallowedTools",
        "WebFetch",
        "--append-system-prompt-file=/s/sp.md",
        '--json-schema={"type":"object","properties":{"n":{"type":"integer"}}}',
        "--max-budget-usd=0.5",
        "--mcp-config=/s/mcp.json",
        "--resume=0de6635e-ba12-4d86-862a-7e1da2388e38",
    ]


def test_an_empty_tool_list_offers_no_tools() -> None:
    assert "--tools=" in build_argv(CLAUDE, request(tools=[]))


def test_the_prompt_never_appears_on_argv_whatever_it_holds() -> None:
    for prompt in ("--help", "-p\nsecond line", "mcp list", "x" * 200_000, "update"):
        argv = build_argv(CLAUDE, request(prompt=prompt))
        assert prompt not in argv
        assert argv == BASE


def test_a_200_kb_prompt_with_leading_dashes_and_newlines_is_accepted() -> None:
    prompt = "--not-an-option\n" + "line\n" * 40_000
    assert request(prompt=prompt).prompt == prompt


@pytest.mark.parametrize(
    ("micro", "usd"),
    [
        (1, "0.000001"),
        (10, "0.00001"),
        (600, "0.0006"),
        (500_000, "0.5"),
        (1_000_000, "1"),
        (2_000_000, "2"),
        (1_234_567, "1.234567"),
        (100_000_000_000, "100000"),
        (10**15, "1000000000"),
    ],
)
def test_budgets_are_formatted_as_exact_decimals(micro: int, usd: str) -> None:
    assert budget_usd(micro) == usd


def test_shared_context_is_a_section_after_the_appended_prompt() -> None:
    task = request(
        appendSystemPrompt="Be terse.",
        context=[{"key": "repo", "value": "acme/api"}, {"key": "branch", "value": "main"}],
    )
    assert system_prompt_addition(task) == (
        "Be terse.\n\n## Shared Context\n- **repo**: acme/api\n- **branch**: main"
    )


def test_the_identity_line_comes_first_then_the_addition_then_the_context() -> None:
    task = request(
        identity="You are Ada, a tester.",
        appendSystemPrompt="Be terse.",
        context=[{"key": "repo", "value": "acme/api"}],
    )
    assert system_prompt_addition(task) == (
        "You are Ada, a tester.\n\nBe terse.\n\n## Shared Context\n- **repo**: acme/api"
    )


def test_shared_context_alone_is_just_the_section() -> None:
    task = request(context=[ContextEntry(key="k", value="v")])
    assert system_prompt_addition(task) == "## Shared Context\n- **k**: v"


def test_no_addition_and_no_context_adds_nothing_to_the_system_prompt() -> None:
    assert system_prompt_addition(request()) is None


def test_mcp_servers_become_an_mcp_config_document() -> None:
    servers = {"files": {"command": "mcp-files", "args": ["--root", "/w"]}}
    assert mcp_config_document(request(mcpServers=servers)) == {"mcpServers": servers}
    assert mcp_config_document(request()) is None


def test_enums_hold_the_cli_choices() -> None:
    assert {m.value for m in CliPermissionMode} == {
        "default",
        "acceptEdits",
        "plan",
        "bypassPermissions",
        "dontAsk",
        "auto",
    }
    assert {e.value for e in CliEffort} == {"low", "medium", "high", "xhigh", "max"}


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"workdir": "../escape"}, "workdir"),
        ({"workdir": "a/../../b"}, "workdir"),
        ({"workdir": "/abs"}, "workdir"),
        ({"maxTurns": 0}, "maxTurns"),
        ({"maxBudgetMicrodollars": 0}, "maxBudgetMicrodollars"),
        ({"allowedTools": ["--dangerously-skip-permissions"]}, "allowedTools.0"),
        ({"resumeSessionId": "not-a-uuid"}, "resumeSessionId"),
        ({"permissionMode": "yolo"}, "permissionMode"),
        ({"unknownOption": 1}, "unknownOption"),
        ({"prompt": ""}, "prompt"),
        ({"jsonSchema": {"description": "x" * 70_000}}, "jsonSchema"),
    ],
)
def test_invalid_requests_are_refused_naming_the_field(
    fields: dict[str, object], where: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        request(**fields)
    locations = {".".join(str(p) for p in e["loc"]) for e in caught.value.errors()}
    assert where in locations


def test_a_relative_workdir_is_normalised() -> None:
    assert request(workdir="repo//sub/./dir").workdir == "repo/sub/dir"
