"""Resolving a run's CLI settings: task over pool, tool lists joined, budget caps."""

from __future__ import annotations

from typing import Any

from claude_pool.api.agent import CliPermissionMode
from claude_pool.api.claude import TaskOverrides
from claude_pool.api.pools import ClaudePool
from claude_pool.workflows.resolving import resolve_request


def pool(**claude: Any) -> ClaudePool:
    return ClaudePool.model_validate(
        {
            "metadata": {"name": "p", "namespace": "n"},
            "spec": {"claude": claude, "context": {"repo": "acme/api", "lang": "go"}},
        }
    )


def test_task_settings_win_over_the_pools_and_tool_lists_are_joined() -> None:
    p = pool(
        model="sonnet",
        maxTurns=5,
        allowedTools=["Read"],
        effort="low",
        mcpServers={"a": {"command": "x"}, "b": {"command": "y"}},
    )
    task = TaskOverrides.model_validate(
        {"model": "haiku", "allowedTools": ["Bash"], "mcpServers": {"b": {"command": "z"}}}
    )
    req = resolve_request(p, "do it", task, timeout_seconds=30)
    assert req.model == "claude-haiku-4-5-20251001"  # the alias, resolved
    assert req.max_turns == 5
    assert req.allowed_tools == ["Read", "Bash"]
    assert req.effort is not None
    assert req.effort.value == "low"
    assert req.mcp_servers == {"a": {"command": "x"}, "b": {"command": "z"}}
    assert req.timeout_seconds == 30


def test_the_permission_mode_falls_back_to_plan_as_in_the_seed() -> None:
    assert resolve_request(pool(), "x", None, timeout_seconds=None).permission_mode is (
        CliPermissionMode.PLAN
    )


def test_the_pools_shared_context_travels_with_every_run() -> None:
    req = resolve_request(pool(), "x", None, timeout_seconds=None)
    assert [(c.key, c.value) for c in req.context] == [("repo", "acme/api"), ("lang", "go")]


def test_the_reservation_caps_the_cli_when_the_task_sets_no_cap() -> None:
    capped = TaskOverrides.model_validate({"maxBudgetMicrodollars": 500})
    assert (
        resolve_request(
            pool(), "x", capped, timeout_seconds=None, budget_cap=900
        ).max_budget_microdollars
        == 500
    )
    assert (
        resolve_request(
            pool(), "x", None, timeout_seconds=None, budget_cap=900
        ).max_budget_microdollars
        == 900
    )
    assert resolve_request(pool(), "x", None, timeout_seconds=None).max_budget_microdollars is None


SESSION = "0b7c5f4e-1111-4222-8333-444455556666"


def test_a_fresh_session_is_the_default_even_when_the_slot_has_one() -> None:
    assert (
        resolve_request(
            pool(), "x", None, timeout_seconds=None, slot_session=SESSION
        ).resume_session_id
        is None
    )


def test_resume_slot_resumes_the_slots_last_session_and_a_task_may_opt_out() -> None:
    p = pool(sessionPolicy="resumeSlot")
    req = resolve_request(p, "x", None, timeout_seconds=None, slot_session=SESSION)
    assert req.resume_session_id == SESSION
    fresh = TaskOverrides.model_validate({"sessionPolicy": "fresh"})
    again = resolve_request(p, "x", fresh, timeout_seconds=None, slot_session=SESSION)
    assert again.resume_session_id is None
    unknown = resolve_request(p, "x", None, timeout_seconds=None, slot_session=None)
    assert unknown.resume_session_id is None
