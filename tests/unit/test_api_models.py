"""The API models: conditions, phase derivation, money, aliases and the rules CEL also checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from claude_pool.api.claude import ClaudeSettings, PermissionMode, TaskOverrides
from claude_pool.api.common import dump
from claude_pool.api.conditions import (
    Condition,
    ConditionStatus,
    PoolConditionType,
    TaskConditionType,
    get_condition,
    remove_condition,
    set_condition,
)
from claude_pool.api.failures import FailureReason
from claude_pool.api.money import MoneyError, format_dollars, parse_dollars
from claude_pool.api.phases import TaskPhase, derive_phase, is_finished
from claude_pool.api.pools import Budget, ClaudePool, ClaudePoolSpec, Credentials
from claude_pool.api.reasons import PoolReason, TaskReason
from claude_pool.api.tasks import ClaudeTask, ClaudeTaskSpec, ClaudeTaskStatus, TaskMode, task_mode
from tests.builders import chain_steps, pool_manifest, task_manifest

T0 = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
T1 = T0 + timedelta(minutes=5)
TRUE, FALSE = ConditionStatus.TRUE, ConditionStatus.FALSE


# --- conditions ---------------------------------------------------------------------------


def test_setting_a_new_condition_adds_it_with_the_time_truncated_to_seconds() -> None:
    conditions: list[Condition] = []
    changed = set_condition(
        conditions, PoolConditionType.READY, TRUE, PoolReason.ALL_SLOTS_READY, "3/3", 4, T0
    )
    assert changed
    (ready,) = conditions
    assert (ready.type, ready.status, ready.reason, ready.message) == (
        "Ready",
        TRUE,
        "AllSlotsReady",
        "3/3",
    )
    assert ready.observed_generation == 4
    assert ready.last_transition_time == T0.replace(microsecond=0)


def test_setting_the_same_condition_again_reports_no_change() -> None:
    conditions: list[Condition] = []
    set_condition(conditions, "Ready", TRUE, "AllSlotsReady", "3/3", 4, T0)
    before = list(conditions)
    assert not set_condition(conditions, "Ready", TRUE, "AllSlotsReady", "3/3", 4, T1)
    assert conditions == before


def test_a_new_message_or_generation_keeps_the_transition_time() -> None:
    conditions: list[Condition] = []
    set_condition(conditions, "Ready", FALSE, "SlotsStarting", "1/3", 1, T0)
    assert set_condition(conditions, "Ready", FALSE, "SlotsStarting", "2/3", 2, T1)
    (ready,) = conditions
    assert (ready.message, ready.observed_generation) == ("2/3", 2)
    assert ready.last_transition_time == T0.replace(microsecond=0)


def test_a_status_change_moves_the_transition_time() -> None:
    conditions: list[Condition] = []
    set_condition(conditions, "Ready", FALSE, "SlotsStarting", "", 1, T0)
    assert set_condition(conditions, "Ready", TRUE, "AllSlotsReady", "", 1, T1)
    assert conditions[0].last_transition_time == T1.replace(microsecond=0)


def test_conditions_of_other_types_are_left_alone() -> None:
    conditions: list[Condition] = []
    set_condition(conditions, "Ready", TRUE, "AllSlotsReady", "", 1, T0)
    set_condition(conditions, "Degraded", FALSE, "AsExpected", "", 1, T0)
    set_condition(conditions, "Degraded", TRUE, "SlotRestartLimit", "slot-2", 1, T1)
    assert [c.type for c in conditions] == ["Ready", "Degraded"]
    ready = get_condition(conditions, "Ready")
    assert ready is not None and ready.last_transition_time == T0.replace(microsecond=0)
    assert get_condition(conditions, "Suspended") is None


def test_removing_a_condition_reports_whether_it_existed() -> None:
    conditions: list[Condition] = []
    set_condition(conditions, "Ready", TRUE, "AllSlotsReady", "", 1, T0)
    assert remove_condition(conditions, "Ready")
    assert not remove_condition(conditions, "Ready")
    assert conditions == []


def test_conditions_round_trip_through_the_wire_form() -> None:
    conditions: list[Condition] = []
    set_condition(conditions, "Failed", TRUE, FailureReason.RATE_LIMITED, "429", None, T0)
    wire = dump(conditions[0])
    assert wire == {
        "type": "Failed",
        "status": "True",
        "reason": "RateLimited",
        "message": "429",
        "lastTransitionTime": "2026-01-02T03:04:05Z",
    }
    assert Condition.model_validate(wire) == conditions[0]


# --- phases -------------------------------------------------------------------------------


def _conditions(**states: tuple[ConditionStatus, str]) -> list[Condition]:
    conditions: list[Condition] = []
    for type_, (status, reason) in states.items():
        set_condition(conditions, type_, status, reason, "", 1, T0)
    return conditions


@pytest.mark.parametrize(
    ("states", "phase"),
    [
        ({}, TaskPhase.PENDING),
        ({"Admitted": (TRUE, TaskReason.QUEUED)}, TaskPhase.PENDING),
        ({"Admitted": (FALSE, TaskReason.BUDGET_EXHAUSTED)}, TaskPhase.WAITING),
        ({"Admitted": (FALSE, TaskReason.WAITING_FOR_SLOT)}, TaskPhase.PENDING),
        ({"Admitted": (TRUE, "Queued"), "Running": (TRUE, "Dispatched")}, TaskPhase.RUNNING),
        ({"Admitted": (TRUE, "Queued"), "Running": (FALSE, "Retrying")}, TaskPhase.PENDING),
        (
            {"Running": (FALSE, "Finished"), "Reviewed": (FALSE, "AwaitingReview")},
            TaskPhase.AWAITING_REVIEW,
        ),
        (
            {"Running": (FALSE, "Finished"), "Reviewed": (FALSE, "Rejected")},
            TaskPhase.PENDING,
        ),
        (
            {"Running": (TRUE, "Dispatched"), "Reviewed": (FALSE, "Rejected")},
            TaskPhase.RUNNING,
        ),
        (
            {"Reviewed": (FALSE, "Rejected"), "Failed": (TRUE, "Rejected")},
            TaskPhase.FAILED,
        ),
        (
            {"Reviewed": (TRUE, "Approved"), "Succeeded": (TRUE, "Completed")},
            TaskPhase.SUCCEEDED,
        ),
        ({"Running": (TRUE, "Dispatched"), "Failed": (TRUE, "Timeout")}, TaskPhase.FAILED),
        (
            {"Failed": (TRUE, "ModelError"), "Cancelled": (TRUE, "CancelRequested")},
            TaskPhase.CANCELLED,
        ),
        ({"Succeeded": (FALSE, "Completed"), "Failed": (FALSE, "Timeout")}, TaskPhase.PENDING),
    ],
)
def test_the_phase_is_derived_from_the_conditions(
    states: dict[str, tuple[ConditionStatus, str]], phase: TaskPhase
) -> None:
    assert derive_phase(_conditions(**states)) == phase


def test_only_succeeded_failed_and_cancelled_are_finished() -> None:
    assert {p for p in TaskPhase if is_finished(p)} == {
        TaskPhase.SUCCEEDED,
        TaskPhase.FAILED,
        TaskPhase.CANCELLED,
    }


def test_task_condition_types_are_the_documented_set() -> None:
    assert [t.value for t in TaskConditionType] == [
        "Admitted",
        "Running",
        "Reviewed",
        "Succeeded",
        "Failed",
        "Cancelled",
        "ModelMismatch",
    ]


# --- money --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "micro"),
    [
        ("0", 0),
        ("12.50", 12_500_000),
        ("0.000001", 1),
        ("0.1", 100_000),
        ("$3", 3_000_000),
        (" 1.234567 ", 1_234_567),
        ("999999999.999999", 999_999_999_999_999),
    ],
)
def test_dollar_strings_convert_to_microdollars_exactly(text: str, micro: int) -> None:
    assert parse_dollars(text) == micro


@pytest.mark.parametrize(
    "value",
    [1.5, 2, "-1", "1e3", "abc", "", "1.0000001", "1,50", "0x10", "NaN", "1.", ".5", "1000000000"],
)
def test_anything_but_a_plain_non_negative_decimal_string_is_refused(value: Any) -> None:
    with pytest.raises(MoneyError):
        parse_dollars(value)


@pytest.mark.parametrize(
    ("micro", "text"),
    [
        (0, "0.00"),
        (1, "0.000001"),
        (500_000, "0.50"),
        (12_345_600, "12.3456"),
        (-1_000_000, "-1.00"),
    ],
)
def test_microdollars_format_as_exact_dollars(micro: int, text: str) -> None:
    assert format_dollars(micro) == text
    if micro >= 0:
        assert parse_dollars(text) == micro


@pytest.mark.parametrize("amount", [0.5, "500000", -1, True, 10**15 + 1])
def test_money_fields_refuse_floats_strings_booleans_negatives_and_huge_amounts(
    amount: Any,
) -> None:
    with pytest.raises(ValidationError):
        Budget.model_validate({"limitMicrodollars": amount})


# --- models and aliases -------------------------------------------------------------------


def test_a_pool_manifest_round_trips_through_camel_case_aliases() -> None:
    manifest = pool_manifest(
        "p",
        namespace="ns",
        slots=2,
        claude={"permissionMode": "acceptEdits", "mcpServers": {"fs": {"command": "x"}}},
        credentials={"secretName": "anthropic", "baseURL": "https://gw.example"},
        budget={"limitMicrodollars": 5_000_000},
    )
    pool = ClaudePool.model_validate(manifest)
    assert pool.metadata.namespace == "ns"
    assert pool.spec.claude.permission_mode is PermissionMode.ACCEPT_EDITS
    assert pool.spec.credentials is not None
    assert pool.spec.credentials.base_url == "https://gw.example"
    assert pool.spec.budget.limit_microdollars == 5_000_000
    wire = dump(pool.spec)
    assert wire["credentials"]["baseURL"] == "https://gw.example"
    assert wire["budget"] == {"limitMicrodollars": 5_000_000}
    assert ClaudePoolSpec.model_validate(wire) == pool.spec


def test_models_accept_python_names_too() -> None:
    spec = ClaudeTaskSpec.model_validate(
        {"pool_ref": {"name": "p"}, "fan_out": {"prompts": ["a"], "max_parallel": 1}}
    )
    assert dump(spec)["fanOut"] == {"prompts": ["a"], "maxParallel": 1, "failFast": False}
    assert dump(spec)["poolRef"] == {"name": "p"}


def test_credentials_default_to_an_api_key_named_like_the_variable() -> None:
    api_key = Credentials.model_validate({"secretName": "s"})
    assert (api_key.secret_key(), api_key.env_name()) == ("ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY")
    oauth = Credentials.model_validate({"secretName": "s", "oauthTokenKey": "tok"})
    assert (oauth.secret_key(), oauth.env_name()) == ("tok", "CLAUDE_CODE_OAUTH_TOKEN")


def test_a_task_status_round_trips_with_result_children_and_review() -> None:
    status = {
        "observedGeneration": 2,
        "mode": "Chain",
        "phase": "Failed",
        "conditions": [dump(c) for c in _conditions(Failed=(TRUE, "ChildFailed"))],
        "attempts": 1,
        "startTime": "2026-01-02T03:04:05Z",
        "result": {
            "output": "partial",
            "outputTruncated": True,
            "outputSize": 100_000,
            "outputRef": "t-output",
            "costMicrodollars": 1234,
            "usage": {
                "inputTokens": 10,
                "outputTokens": 5,
                "cacheReadInputTokens": 0,
                "cacheCreationInputTokens": 0,
            },
            "structuredOutput": [1, {"a": None}],
            "failure": {"reason": "MaxTurns", "message": "stopped", "exitCode": 1},
        },
        "children": {"total": 2, "succeeded": 1, "failed": 1},
        "steps": [
            {"name": "plan", "phase": "Succeeded", "child": "t-plan", "vars": {"files": "a.py"}},
            {"name": "build", "phase": "Failed", "attempts": 2, "costMicrodollars": 1234},
        ],
        "progress": {
            "completedSteps": 1,
            "totalSteps": 2,
            "currentStep": "build",
            "currentStepStartTime": "2026-01-02T03:04:06Z",
        },
        "review": {
            "state": "Rejected",
            "rejections": 1,
            "history": [
                {
                    "decision": "reject",
                    "feedback": "no",
                    "reviewer": "alice",
                    "time": "2026-01-02T03:04:05Z",
                }
            ],
        },
        "costMicrodollars": 1234,
        "cost": "0.001234",
    }
    parsed = ClaudeTaskStatus.model_validate(status)
    assert parsed.result is not None and parsed.result.failure is not None
    assert parsed.result.failure.reason is FailureReason.MAX_TURNS
    assert parsed.result.structured_output == [1, {"a": None}]
    assert ClaudeTaskStatus.model_validate(dump(parsed)) == parsed


def test_status_models_ignore_fields_they_do_not_know_but_spec_models_refuse_them() -> None:
    assert ClaudeTaskStatus.model_validate({"futureField": 1}).phase is None
    with pytest.raises(ValidationError, match="bogus"):
        ClaudeSettings.model_validate({"bogus": 1})


@pytest.mark.parametrize(
    ("overrides", "mode"),
    [
        ({}, TaskMode.SINGLE),
        ({"prompt": None, "fan_out": {"prompts": ["a"]}}, TaskMode.FAN_OUT),
        ({"prompt": None, "chain": {"steps": chain_steps("a", "b")}}, TaskMode.CHAIN),
        ({"prompt": None, "auto": {"prompt": "x"}}, TaskMode.AUTO),
    ],
)
def test_the_mode_is_read_from_whichever_mode_field_is_set(
    overrides: dict[str, Any], mode: TaskMode
) -> None:
    task = ClaudeTask.model_validate(task_manifest("t", "p", **overrides))
    assert task_mode(task.spec) is mode


# --- the CEL rules, mirrored in Python ----------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "overrides", "error"),
    [
        ("task", {"fan_out": {"prompts": ["a"]}}, "exactly one of"),
        ("task", {"prompt": None}, "exactly one of"),
        ("task", {"prompt": ""}, "at least 1 character"),
        ("task", {"prompt": None, "chain": {"steps": chain_steps("a", "a")}}, "must be unique"),
        ("task", {"prompt": None, "fan_out": {"prompts": []}}, "at least 1 item"),
        ("task", {"review": {"maxRejections": 0}}, "greater than or equal to 1"),
        ("task", {"config": {"permissionMode": "auto"}}, "permissionMode"),
        ("pool", {"slots": 201}, "less than or equal to 200"),
        (
            "pool",
            {"budget": {"limitMicrodollars": 1, "defaultTaskReservationMicrodollars": 2}},
            "must not exceed",
        ),
        (
            "pool",
            {"credentials": {"secretName": "s", "apiKeyKey": "a", "oauthTokenKey": "b"}},
            "at most one",
        ),
        ("pool", {"template": {"labels": {"claudepool.io/x": "y"}}}, "reserved prefix"),
        ("pool", {"template": {"env": [{"name": "A", "value": "1", "valueFrom": {}}]}}, "not both"),
    ],
)
def test_the_models_refuse_what_the_crd_refuses(
    kind: str, overrides: dict[str, Any], error: str
) -> None:
    model = ClaudePool if kind == "pool" else ClaudeTask
    body = (
        pool_manifest("p", **overrides) if kind == "pool" else task_manifest("t", "p", **overrides)
    )
    with pytest.raises(ValidationError, match=error):
        model.model_validate(body)


def test_task_overrides_carry_the_seed_fields() -> None:
    fields = set(TaskOverrides.model_fields)
    seed = {
        "model",
        "permission_mode",
        "max_turns",
        "system_prompt",
        "allowed_tools",
        "disallowed_tools",
        "tools",
        "mcp_servers",
        "effort",
        "fallback_model",
        "json_schema",
        "max_budget_microdollars",
    }
    assert seed <= fields


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (
            {"template": {"annotations": {"note": "x", "claudepool.io/draining": "true"}}},
            "spec.template.annotations must not use the reserved prefix claudepool.io/:"
            " claudepool.io/draining",
        ),
        (
            {"template": {"labels": {"claudepool.io/pool": "x"}}},
            "spec.template.labels must not use the reserved prefix",
        ),
        (
            {"workspace": {"repo": "https://u:p@example.com/r.git"}},
            "spec.workspace.repo must not carry credentials",
        ),
        (
            {"workspace": {"repo": "https://ghp_abc@example.com/r.git"}},
            "spec.workspace.repo must not carry credentials",
        ),
        (
            {"workspace": {"repo": "file:///r", "isolation": "none", "push": "branch"}},
            "push: branch needs a branch",
        ),
        (
            {"workspace": {"repo": "file:///r", "branchTemplate": "x/{task}/{who}"}},
            r"only use the placeholders .*: \{who\}",
        ),
        (
            {
                "workspace": {
                    "repo": "file:///r",
                    "volume": {"emptyDir": {}, "claimTemplate": {"size": "1Gi"}},
                }
            },
            "set emptyDir or claimTemplate, not both",
        ),
    ],
)
def test_the_pool_model_refuses_what_admission_refuses(spec: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        ClaudePoolSpec.model_validate(spec)


def test_the_task_model_takes_review_of_single_and_composite_tasks() -> None:
    chain = ClaudeTaskSpec.model_validate(
        {
            "poolRef": {"name": "p"},
            "chain": {"steps": [{"name": "a", "prompt": "x"}]},
            "review": {"required": True},
        }
    )
    assert chain.review is not None and chain.review.required
    spec = ClaudeTaskSpec.model_validate(
        {"poolRef": {"name": "p"}, "prompt": "x", "review": {"required": True}}
    )
    assert spec.review is not None and spec.review.required


def test_a_pool_ttl_default_is_bounded_like_the_task_ttl() -> None:
    assert (
        ClaudePoolSpec.model_validate({"ttlSecondsAfterFinished": 60}).ttl_seconds_after_finished
        == 60
    )
    with pytest.raises(ValidationError, match="ttlSecondsAfterFinished"):
        ClaudePoolSpec.model_validate({"ttlSecondsAfterFinished": -1})


def test_every_example_task_and_pool_parses_with_the_models() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    parsed = []
    for path in sorted(examples.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            model = ClaudeTask if doc["kind"] == "ClaudeTask" else ClaudePool
            parsed.append(model.model_validate(doc))
    modes = {task_mode(t.spec) for t in parsed if isinstance(t, ClaudeTask)}
    assert modes == set(TaskMode)
    chain = next(t for t in parsed if isinstance(t, ClaudeTask) and t.spec.chain is not None)
    assert chain.spec.chain is not None and chain.spec.chain.steps[0].output_vars
