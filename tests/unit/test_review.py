"""The review gate (seed 6.1): AwaitingReview after a run, approve, reject with feedback and
session resume, the max-th rejection, refusals (wrong phase, stale, four-eyes) and
idempotence after a crash between the task's and the review's writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from claude_pool.api.common import CREATED_BY_ANNOTATION
from claude_pool.api.conditions import ConditionStatus, get_condition
from claude_pool.api.phases import TaskPhase, derive_phase
from claude_pool.api.reviews import ClaudeReview, ReviewConditionType, ReviewReason
from claude_pool.api.tasks import ClaudeTask, ClaudeTaskStatus
from claude_pool.workflows.review import (
    ReviewVerdict,
    apply_review,
    apply_reviews,
    feedback_block,
    gate_result,
    hold_for_review,
    rejected_message,
    requires_review,
    resume_target,
    run_prompt,
)
from tests.builders import review_manifest, task_manifest

NOW = datetime(2026, 12, 3, 10, 0, 0, tzinfo=UTC)
SESSION = "0b5c9d57-7a1c-4b8e-9d0b-2c1f5f6a7e11"
FINISHED_PATCH: dict[str, Any] = {
    "conditions": [
        {
            "type": "Admitted",
            "status": "True",
            "reason": "Dispatched",
            "lastTransitionTime": "2026-12-03T09:59:00Z",
        },
        {
            "type": "Running",
            "status": "False",
            "reason": "Finished",
            "lastTransitionTime": "2026-12-03T09:59:50Z",
        },
        {
            "type": "Succeeded",
            "status": "True",
            "reason": "Completed",
            "lastTransitionTime": "2026-12-03T09:59:50Z",
        },
    ],
    "phase": "Succeeded",
    "result": {"output": "done", "success": True, "sessionId": SESSION},
    "costMicrodollars": 600,
    "completionTime": "2026-12-03T09:59:50Z",
}


def awaiting_task(
    rejections: int = 0, history: list[dict[str, Any]] | None = None, **spec: Any
) -> ClaudeTask:
    """A task whose run just finished and now waits for review, on slot p-slot-1."""
    review = {"rejections": rejections, "history": history or []}
    patch = hold_for_review(
        FINISHED_PATCH,
        ClaudeTaskStatus.model_validate({"review": review}).review,
        generation=1,
        now=NOW,
    )
    manifest = task_manifest("t", "p", prompt="Write a haiku.", review={"required": True}, **spec)
    manifest["metadata"].update(
        uid="uid-t", generation=1, annotations={CREATED_BY_ANNOTATION: "alice"}
    )
    manifest["status"] = {**patch, "slot": "p-slot-1", "slotUid": "pod-uid-1"}
    return ClaudeTask.model_validate(manifest)


def review(
    name: str,
    decision: str = "approve",
    reviewer: str = "bob",
    feedback: str = "",
    created: datetime = NOW + timedelta(seconds=5),
) -> ClaudeReview:
    manifest = review_manifest(name, "t", decision, reviewer=reviewer, feedback=feedback)
    manifest["metadata"]["creationTimestamp"] = created.isoformat()
    return ClaudeReview.model_validate(manifest)


def applied(outcome_status: Any) -> tuple[ConditionStatus, str]:
    condition = get_condition(outcome_status.conditions, ReviewConditionType.APPLIED)
    assert condition is not None
    return condition.status, condition.reason


def test_a_successful_run_of_a_reviewed_task_waits_with_its_result_visible() -> None:
    task = awaiting_task()
    assert requires_review(task.spec)
    assert derive_phase(task.status.conditions) is TaskPhase.AWAITING_REVIEW
    assert task.status.phase is TaskPhase.AWAITING_REVIEW
    reviewed = get_condition(task.status.conditions, "Reviewed")
    assert reviewed is not None
    assert (reviewed.status, reviewed.reason) == (ConditionStatus.FALSE, "AwaitingReview")
    assert get_condition(task.status.conditions, "Succeeded") is None
    assert task.status.result is not None and task.status.result.output == "done"
    assert task.status.cost_microdollars == 600
    assert task.status.review is not None and task.status.review.awaiting_since == NOW


def test_approve_succeeds_and_records_the_authenticated_reviewer() -> None:
    outcome = apply_review(awaiting_task(), review("r1"), four_eyes=False, now=NOW)
    assert outcome.verdict is ReviewVerdict.APPROVED
    assert applied(outcome.review_status) == (ConditionStatus.TRUE, ReviewReason.APPROVED)
    assert outcome.review_status.task_uid == "uid-t"
    assert outcome.task_patch is not None
    assert outcome.task_patch["phase"] == "Succeeded"
    history = outcome.task_patch["review"]["history"]
    assert history == [
        {
            "decision": "approve",
            "reviewer": "bob",
            "time": "2026-12-03T10:00:00Z",
            "feedback": "",
            "review": "r1",
        }
    ]
    assert outcome.task_patch["review"]["state"] == "Approved"


def test_reject_queues_a_rerun_that_resumes_the_rejected_session_with_the_feedback() -> None:
    task = awaiting_task()
    outcome = apply_review(
        task, review("r1", "reject", feedback="too long"), four_eyes=False, now=NOW
    )
    assert outcome.verdict is ReviewVerdict.RERUN
    assert outcome.review_status.rejection == 1
    patch = outcome.task_patch
    assert patch is not None
    assert patch["phase"] == "Pending"
    assert (patch["result"], patch["slot"], patch["slotUid"], patch["completionTime"]) == (
        None,
        None,
        None,
        None,
    )
    rerun = task.model_copy(
        update={"status": ClaudeTaskStatus.model_validate({**patch, "result": None, "slot": None})}
    )
    assert run_prompt("Write a haiku.", rerun.spec.review, rerun.status.review) == (
        "Write a haiku.\n\n--- Rejection feedback (attempt 1/3) ---\ntoo long"
    )
    target = resume_target(rerun)
    assert target is not None
    assert (target.session_id, target.slot, target.slot_uid) == (SESSION, "p-slot-1", "pod-uid-1")


def test_the_resume_option_off_starts_a_fresh_session() -> None:
    task = awaiting_task()
    task = task.model_copy(
        update={
            "spec": task.spec.model_copy(
                update={"review": task.spec.review.model_copy(update={"resume_session": False})}
            )
        }  # type: ignore[union-attr]
    )
    patch = apply_review(
        task, review("r1", "reject", feedback="no"), four_eyes=False, now=NOW
    ).task_patch
    assert patch is not None
    rerun = task.model_copy(update={"status": ClaudeTaskStatus.model_validate(patch)})
    assert resume_target(rerun) is None


def test_the_max_th_rejection_fails_with_the_seeds_message() -> None:
    history = [
        {"decision": "reject", "reviewer": "bob", "time": NOW.isoformat(), "feedback": f"no {i}"}
        for i in (1, 2)
    ]
    task = awaiting_task(rejections=2, history=history)
    outcome = apply_review(
        task, review("r3", "reject", feedback="still no"), four_eyes=False, now=NOW
    )
    assert outcome.verdict is ReviewVerdict.FAILED
    message = "task rejected 3 times (max: 3). Last feedback: still no"
    assert rejected_message(3, 3, "still no") == message
    patch = outcome.task_patch
    assert patch is not None
    assert patch["phase"] == "Failed"
    failed = next(c for c in patch["conditions"] if c["type"] == "Failed")
    assert (failed["reason"], failed["message"]) == ("Rejected", message)
    assert patch["result"] == {
        "success": False,
        "failure": {"reason": "Rejected", "message": message},
    }
    assert patch["review"]["rejections"] == 3 and len(patch["review"]["history"]) == 3


def test_feedback_block_is_the_seeds_text() -> None:
    assert feedback_block(2, 5, "fix x") == "\n\n--- Rejection feedback (attempt 2/5) ---\nfix x"
    assert run_prompt("p", None, None) == "p"


def running_task() -> ClaudeTask:
    manifest = task_manifest("t", "p", review={"required": True})
    manifest["status"] = {
        "conditions": [
            {
                "type": "Running",
                "status": "True",
                "reason": "Dispatched",
                "lastTransitionTime": "2026-12-03T09:59:00Z",
            }
        ]
    }
    return ClaudeTask.model_validate(manifest)


@pytest.mark.parametrize(
    ("task", "reason", "message"),
    [
        (None, ReviewReason.TASK_NOT_FOUND, "task t not found"),
        (
            running_task(),
            ReviewReason.NOT_AWAITING_REVIEW,
            "task t is not awaiting review (phase: Running)",
        ),
    ],
)
def test_a_review_outside_awaiting_review_is_refused_with_a_message(
    task: ClaudeTask | None, reason: ReviewReason, message: str
) -> None:
    outcome = apply_review(task, review("r1"), four_eyes=False, now=NOW)
    assert outcome.verdict is ReviewVerdict.REFUSED and outcome.task_patch is None
    assert applied(outcome.review_status) == (ConditionStatus.FALSE, reason)
    assert outcome.review_status.conditions[0].message == message


def test_a_review_created_before_the_result_was_ready_is_stale() -> None:
    early = review("r0", created=NOW - timedelta(seconds=30))
    outcome = apply_review(awaiting_task(), early, four_eyes=False, now=NOW)
    assert applied(outcome.review_status) == (ConditionStatus.FALSE, ReviewReason.STALE)


def test_four_eyes_bars_the_creator_from_approving_but_not_from_rejecting() -> None:
    task = awaiting_task()
    own = apply_review(task, review("r1", reviewer="alice"), four_eyes=True, now=NOW)
    assert applied(own.review_status) == (ConditionStatus.FALSE, ReviewReason.SELF_APPROVAL)
    assert "alice created task t and cannot approve it" in own.review_status.conditions[0].message
    assert apply_review(task, review("r1", reviewer="alice"), four_eyes=False, now=NOW).task_patch
    reject = apply_review(task, review("r2", "reject", "alice", "redo"), four_eyes=True, now=NOW)
    assert reject.verdict is ReviewVerdict.RERUN
    other = apply_review(task, review("r3", reviewer="bob"), four_eyes=True, now=NOW)
    assert other.verdict is ReviewVerdict.APPROVED


def test_four_eyes_refuses_when_the_creator_is_unknown() -> None:
    task = awaiting_task()
    task.metadata.annotations.clear()
    outcome = apply_review(task, review("r1"), four_eyes=True, now=NOW)
    assert applied(outcome.review_status) == (ConditionStatus.FALSE, ReviewReason.CREATOR_UNKNOWN)


def test_of_two_reviews_the_older_decides_and_the_newer_is_refused() -> None:
    later = review("a-later", "reject", feedback="no", created=NOW + timedelta(seconds=9))
    first = review("z-first", created=NOW + timedelta(seconds=2))
    outcomes = apply_reviews(awaiting_task(), [later, first], four_eyes=False, now=NOW)
    assert [(o.review, o.verdict) for o in outcomes] == [
        ("z-first", ReviewVerdict.APPROVED),
        ("a-later", ReviewVerdict.REFUSED),
    ]
    assert "phase: Succeeded" in outcomes[1].review_status.conditions[0].message


def test_a_review_applied_before_a_crash_is_recognised_from_the_tasks_history() -> None:
    task = awaiting_task()
    rejection = review("r1", "reject", feedback="again")
    first = apply_review(task, rejection, four_eyes=False, now=NOW)
    assert first.task_patch is not None
    after = task.model_copy(
        update={"status": ClaudeTaskStatus.model_validate({**first.task_patch, "result": None})}
    )
    again = apply_reviews(after, [rejection], four_eyes=False, now=NOW + timedelta(minutes=1))
    assert [(o.verdict, o.task_patch) for o in again] == [(ReviewVerdict.RERUN, None)]
    assert applied(again[0].review_status) == (ConditionStatus.TRUE, ReviewReason.REJECTED)
    assert again[0].review_status.rejection == 1


def test_decided_reviews_are_never_applied_again() -> None:
    done = review("r1")
    done = done.model_copy(
        update={"status": apply_review(None, done, four_eyes=False, now=NOW).review_status}
    )
    assert apply_reviews(awaiting_task(), [done], four_eyes=False, now=NOW) == []


def test_only_a_successful_run_of_a_gated_task_is_held_for_review() -> None:
    gated = ClaudeTask.model_validate(task_manifest("t", "p", review={"required": True}))
    plain = ClaudeTask.model_validate(task_manifest("t", "p"))
    held = gate_result(gated, FINISHED_PATCH, NOW)
    assert held["phase"] == "AwaitingReview" and held["result"] == FINISHED_PATCH["result"]
    assert gate_result(plain, FINISHED_PATCH, NOW) is FINISHED_PATCH
    failed = {
        **FINISHED_PATCH,
        "conditions": [
            {
                "type": "Failed",
                "status": "True",
                "reason": "MaxTurns",
                "lastTransitionTime": "2026-12-03T09:59:50Z",
            }
        ],
    }
    assert gate_result(gated, failed, NOW) is failed
