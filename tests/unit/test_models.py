"""Model aliases -> full ids (the pinned CLI's table), and the requested-versus-used check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claude_pool.api.agent import CliPermissionMode
from claude_pool.api.pools import ClaudePool
from claude_pool.api.reasons import TaskReason
from claude_pool.devenv import fakepricing
from claude_pool.runtime.settings import Settings
from claude_pool.workflows.models import (
    CLI_VERSION,
    MODEL_ALIASES,
    alias_table,
    check_model,
    resolve_model,
)
from claude_pool.workflows.resolving import resolve_request

REPO = Path(__file__).resolve().parents[2]
HAIKU = "claude-haiku-4-5-20251001"


def test_the_alias_table_belongs_to_the_pinned_cli_version() -> None:
    package = json.loads((REPO / "slot-image" / "cli" / "package.json").read_text())
    assert package["dependencies"]["@anthropic-ai/claude-code"] == CLI_VERSION, (
        "the CLI pin changed: re-check workflows/models.py MODEL_ALIASES against the new CLI"
    )


@pytest.mark.parametrize("mode", list(CliPermissionMode))
@pytest.mark.parametrize(
    ("name", "full"),
    [
        ("haiku", HAIKU),
        ("Haiku", HAIKU),
        ("sonnet", "claude-sonnet-5"),
        ("opus", "claude-opus-4-8"),
        ("best", "claude-opus-4-8"),
        ("fable", "claude-fable-5"),
        ("sonnet[1m]", "claude-sonnet-5[1m]"),
        ("claude-haiku-4-5", "claude-haiku-4-5"),
        ("my-gateway-model", "my-gateway-model"),
    ],
)
def test_aliases_become_full_ids_in_every_permission_mode(
    name: str, full: str, mode: CliPermissionMode
) -> None:
    assert resolve_model(name, mode) == full


def test_opusplan_is_opus_while_planning_and_sonnet_otherwise_as_in_the_cli() -> None:
    assert resolve_model("opusplan", CliPermissionMode.PLAN) == "claude-opus-4-8"
    assert resolve_model("opusplan", CliPermissionMode.ACCEPT_EDITS) == "claude-sonnet-5"
    assert resolve_model(None, CliPermissionMode.PLAN) is None


def test_the_fake_api_prices_by_the_same_table() -> None:
    assert dict(MODEL_ALIASES) == fakepricing.ALIASES


def test_a_setting_overrides_and_extends_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "CLAUDE_POOL_MODEL_ALIASES", '{"Haiku": "claude-haiku-4-5", "fast": "gw-fast-1"}'
    )
    table = alias_table(Settings().model_aliases)
    assert resolve_model("haiku", CliPermissionMode.PLAN, table) == "claude-haiku-4-5"
    assert resolve_model("fast", CliPermissionMode.PLAN, table) == "gw-fast-1"
    assert resolve_model("sonnet", CliPermissionMode.PLAN, table) == "claude-sonnet-5"


def test_a_haiku_pool_in_plan_mode_sends_the_cli_the_full_haiku_id() -> None:
    pool = ClaudePool.model_validate(
        {"metadata": {"name": "p"}, "spec": {"claude": {"model": "haiku", "fallbackModel": "opus"}}}
    )
    request = resolve_request(pool, "x", None, timeout_seconds=None)
    assert request.permission_mode is CliPermissionMode.PLAN
    assert (request.model, request.fallback_model) == (HAIKU, "claude-opus-4-8")


def test_the_requested_model_answering_is_no_mismatch() -> None:
    check = check_model(HAIKU, None, HAIKU)
    assert check is not None and not check.mismatch
    assert check.reason is TaskReason.REQUESTED_MODEL_USED
    one_m = check_model("claude-opus-4-8[1m]", None, "claude-opus-4-8")
    assert one_m is not None and not one_m.mismatch


def test_another_model_answering_is_a_mismatch_naming_both() -> None:
    check = check_model(HAIKU, None, "claude-sonnet-5")
    assert check is not None and check.mismatch
    assert check.reason is TaskReason.OTHER_MODEL_USED
    assert check.message == f"{HAIKU} was requested but claude-sonnet-5 answered (and was billed)"


def test_the_fallback_model_answering_is_a_mismatch_of_its_own_reason() -> None:
    check = check_model("claude-sonnet-5", HAIKU, HAIKU)
    assert check is not None and check.mismatch
    assert check.reason is TaskReason.FALLBACK_MODEL_USED


def test_nothing_to_compare_without_a_requested_or_a_used_model() -> None:
    assert check_model(None, None, HAIKU) is None
    assert check_model(HAIKU, None, None) is None
