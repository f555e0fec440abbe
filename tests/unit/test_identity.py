"""A slot's identity line (the seed's build_system_prompt), the context revision and the
start plan that puts review feedback, messages and identity into a run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from claude_pool.agent.argv import system_prompt_addition
from claude_pool.api.common import MAX_CONTEXT_CHARS
from claude_pool.api.messages import ClaudeMessage
from claude_pool.api.pools import CONTEXT_SIZE_MESSAGE, ClaudePool, ClaudePoolSpec
from claude_pool.api.tasks import ClaudeTask
from claude_pool.workflows.identity import context_revision, identity_line, render_identity
from claude_pool.workflows.resolving import resolve_request
from claude_pool.workflows.starting import plan_start, with_start
from tests.builders import message_manifest, pool_manifest, task_manifest

NOW = datetime(2026, 12, 3, 9, 30, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "role", "description", "line"),
    [
        (None, None, None, None),
        ("Ada", None, None, "You are Ada"),
        ("Ada", "reviewer", None, "You are Ada, a reviewer."),
        ("Ada", "reviewer", "You check diffs.", "You are Ada, a reviewer. You check diffs."),
        (None, "tester", None, "You are a slot, a tester."),
        (None, None, "Be brief.", "You are a slot. Be brief."),
    ],
)
def test_the_identity_line_is_the_seeds_sentence_quirks_included(
    name: str | None, role: str | None, description: str | None, line: str | None
) -> None:
    assert render_identity(name, role, description) == line


def spec(**identity: Any) -> ClaudePoolSpec:
    return ClaudePoolSpec.model_validate({"identity": identity})


def test_a_slot_entry_overrides_the_pools_identity_field_by_field() -> None:
    pool = spec(
        name="Worker",
        role="backend engineer",
        slots=[{"index": 1, "role": "reviewer"}, {"index": 2, "name": "Lead"}],
    )
    assert identity_line(pool, 0) == "You are Worker, a backend engineer."
    assert identity_line(pool, 1) == "You are Worker, a reviewer."
    assert identity_line(pool, 2) == "You are Lead, a backend engineer."
    assert identity_line(ClaudePoolSpec(), 0) is None


def test_a_slot_index_may_appear_only_once() -> None:
    with pytest.raises(ValidationError, match="each index at most once"):
        spec(slots=[{"index": 1, "role": "a"}, {"index": 1, "role": "b"}])


def test_the_identity_opens_the_system_prompt_addition_before_the_context() -> None:
    pool = ClaudePool.model_validate(
        pool_manifest("p", context={"repo": "acme"}, identity={"name": "Ada", "role": "tester"})
    )
    task = ClaudeTask.model_validate(task_manifest("t", "p"))
    start = plan_start(pool, task, 0, [])
    request = with_start(resolve_request(pool, start.prompt, None, timeout_seconds=None), start)
    assert system_prompt_addition(request) == (
        "You are Ada, a tester.\n\n## Shared Context\n- **repo**: acme"
    )


def test_the_context_revision_ignores_key_order_and_changes_with_any_value() -> None:
    first = context_revision({"a": "1", "b": "2"})
    assert first == context_revision({"b": "2", "a": "1"})
    assert len(first) == 16
    assert first != context_revision({"a": "1", "b": "3"})
    assert first != context_revision({"a": "1"})
    assert context_revision(None) == context_revision({})


def test_the_context_is_capped_in_keys_plus_values_with_a_clear_message() -> None:
    half = "x" * 4000
    fits = {f"k{i}": half for i in range(8)}  # 8 * (2 + 4000) <= 32768
    assert ClaudePoolSpec.model_validate({"context": fits}).context == fits
    too_big = {f"k{i}": half for i in range(9)}
    assert sum(len(k) + len(v) for k, v in too_big.items()) > MAX_CONTEXT_CHARS
    with pytest.raises(ValidationError, match=r"spec\.context is too large"):
        ClaudePoolSpec.model_validate({"context": too_big})
    assert "32768" in CONTEXT_SIZE_MESSAGE
    with pytest.raises(ValidationError, match="keys must be 1 to 253"):
        ClaudePoolSpec.model_validate({"context": {"": "v"}})


def message(name: str, second: int, **fields: Any) -> ClaudeMessage:
    manifest = message_manifest(name, "p", **fields)
    manifest["metadata"]["creationTimestamp"] = NOW.replace(second=second).isoformat()
    manifest["status"] = {"recipients": [0, 1]}
    return ClaudeMessage.model_validate(manifest)


def test_a_start_carries_feedback_messages_identity_and_the_context_revision() -> None:
    pool = ClaudePool.model_validate(
        pool_manifest("p", slots=2, context={"k": "v"}, identity={"role": "helper"})
    )
    task = ClaudeTask.model_validate(
        {
            **task_manifest("t", "p", prompt="Fix it.", review={"required": True}),
            "status": {
                "review": {
                    "state": "Rejected",
                    "rejections": 1,
                    "history": [
                        {
                            "decision": "reject",
                            "reviewer": "bob",
                            "time": NOW.isoformat(),
                            "feedback": "tests fail",
                        }
                    ],
                }
            },
        }
    )
    inbox = [
        message("m2", 7, content="second", broadcast=True),
        message("m1", 3, content="first", broadcast=True),
    ]
    start = plan_start(pool, task, 1, inbox, claimed={"m2"})
    assert start.prompt == (
        "## Messages received while idle\n\n"
        "**From slot-0** (09:30:03): first\n\n"
        "---\n\n"
        "Fix it.\n\n--- Rejection feedback (attempt 1/3) ---\ntests fail"
    )
    assert start.messages == ("m1",)
    assert start.identity == "You are a slot, a helper."
    assert start.status_fields() == {
        "contextRevision": context_revision({"k": "v"}),
        "messages": ["m1"],
    }
    request = with_start(resolve_request(pool, "ignored", None, timeout_seconds=None), start)
    assert request.prompt == start.prompt
    assert request.identity == start.identity
