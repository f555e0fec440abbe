"""Task status transitions: writes only when something changes, outputs never cut silently."""

from __future__ import annotations

import datetime as dt

from claude_pool.api.agent import AgentResult, Failure
from claude_pool.api.failures import FailureReason
from claude_pool.api.tasks import ClaudeTaskStatus
from claude_pool.status import tasks as transitions

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_waiting_writes_once_for_the_same_reason() -> None:
    status = ClaudeTaskStatus()
    patch = transitions.waiting(status, "BudgetExhausted", "spent 5 of 5", 1, NOW)
    assert patch is not None
    assert patch["phase"] == "Waiting"
    after = ClaudeTaskStatus.model_validate(patch)
    assert transitions.waiting(after, "BudgetExhausted", "spent 5 of 5", 1, NOW) is None


def test_a_task_that_only_waits_for_a_slot_gets_no_write() -> None:
    assert transitions.queued(ClaudeTaskStatus(), "waiting for a slot", 1, NOW) is None
    waited = ClaudeTaskStatus.model_validate(
        transitions.waiting(ClaudeTaskStatus(), "PoolSuspended", "suspended", 1, NOW)
    )
    patch = transitions.queued(waited, "waiting for a slot", 1, NOW)
    assert patch is not None
    assert patch["phase"] == "Pending"


def test_assignment_counts_the_attempt_and_records_the_slot_pod() -> None:
    patch = transitions.assigned(
        ClaudeTaskStatus(attempts=1),
        slot="p-slot-0",
        slot_uid="u",
        message="m",
        generation=1,
        now=NOW,
    )
    assert patch["attempts"] == 2
    assert patch["slotUid"] == "u"
    assert patch["phase"] == "Running"


def test_a_failed_run_carries_its_classified_reason() -> None:
    result = AgentResult(
        success=False,
        cost_microdollars=7,
        failure=Failure(reason=FailureReason.OVERLOADED, message="529"),
    )
    patch = transitions.finished(
        ClaudeTaskStatus(cost_microdollars=3),
        result,
        output={"output": ""},
        cancelled=False,
        generation=1,
        now=NOW,
    )
    assert patch["phase"] == "Failed"
    assert patch["result"]["failure"]["reason"] == "Overloaded"
    assert patch["costMicrodollars"] == 10


def test_long_output_goes_to_a_config_map_and_is_marked() -> None:
    fields, whole = transitions.output_fields("é" * 50, 10, "t-output")
    assert fields == {
        "output": "é" * 10,
        "output_truncated": True,
        "output_size": 100,
        "output_ref": "t-output",
    }
    assert whole
    short, needed = transitions.output_fields("ok", 10, "t-output")
    assert short == {"output": "ok", "output_size": 2}
    assert not needed


def test_the_inline_output_never_exceeds_what_the_crd_allows() -> None:
    fields, whole = transitions.output_fields("x" * 40_000, 10**6, "t-output")
    assert len(fields["output"]) == 32768
    assert whole
