"""The review gate of a task (the seed's submit_with_review / approve / reject, 6.1), pure.

The pool worker calls, at three points:

- when it records a run: `gate_result(task, patch, now)` passes the patch of
  `transitions.finished` through, except that a successful run of a task with
  `spec.review.required` is held (`hold_for_review`): the Succeeded patch becomes phase
  AwaitingReview (`Reviewed=False`, reason
  `AwaitingReview`); the run's cost is committed as for any run. A failed run fails as usual.
- for every ClaudeReview without an `Applied` condition, oldest first:
  `apply_reviews(task, reviews, four_eyes=pool.spec.review.fourEyes, now=now)` gives, per
  review, the ClaudeReview status to write and (for the one that decides) the task status
  patch: approve -> Succeeded; reject -> queued again (result cleared, rejected session kept
  for resuming), or at the max-th rejection Failed with the seed's message. A composite
  task (fan-out, chain, auto) rejected runs again as a new generation of children
  (`_rerun_composite`; `workflows.reruns` has the rest of its gate).
- when it dispatches a re-run: `run_prompt(spec.prompt, spec.review, status.review)` is the
  prompt (original + the seed's feedback block) and `resume_target(task)` the session to
  resume and the slot that holds it (a session can only be resumed on that slot).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from claude_pool.api.common import CREATED_BY_ANNOTATION, dump
from claude_pool.api.conditions import (
    Condition,
    ConditionStatus,
    TaskConditionType,
    set_condition,
)
from claude_pool.api.failures import FailureReason
from claude_pool.api.modes import Review
from claude_pool.api.phases import TaskPhase, derive_phase
from claude_pool.api.reasons import TaskReason
from claude_pool.api.reviews import (
    ClaudeReview,
    ClaudeReviewStatus,
    ReviewConditionType,
    ReviewDecision,
    ReviewReason,
)
from claude_pool.api.tasks import (
    ClaudeTask,
    ClaudeTaskSpec,
    ReviewEntry,
    ReviewState,
    ReviewStatus,
    TaskMode,
    task_mode,
)

T, F = ConditionStatus.TRUE, ConditionStatus.FALSE


class ReviewVerdict(StrEnum):
    """What a ClaudeReview did to its task."""

    APPROVED = "Approved"
    """The task succeeded."""
    RERUN = "Rerun"
    """Rejected: the task is queued again with the feedback."""
    FAILED = "Failed"
    """Rejected for the max-th time: the task failed with reason Rejected."""
    REFUSED = "Refused"
    """Not applied (the review's Applied condition says why)."""


@dataclass(frozen=True)
class ReviewOutcome:
    """One review's effect: its own status, and the task status merge patch (None: none)."""

    review: str
    verdict: ReviewVerdict
    review_status: ClaudeReviewStatus
    task_patch: dict[str, Any] | None


@dataclass(frozen=True)
class ResumeTarget:
    """The rejected run's session and the slot pod (name, uid) whose volume holds it."""

    session_id: str
    slot: str
    slot_uid: str | None


def requires_review(spec: ClaudeTaskSpec) -> bool:
    """Whether a finished run of the task waits for a reviewer."""
    return spec.review is not None and spec.review.required


def feedback_block(rejection: int, max_rejections: int, feedback: str) -> str:
    """The seed's text appended to the original prompt of a re-run."""
    return f"\n\n--- Rejection feedback (attempt {rejection}/{max_rejections}) ---\n{feedback}"


def rejected_message(rejections: int, max_rejections: int, feedback: str) -> str:
    """The seed's failure text after the max-th rejection."""
    return f"task rejected {rejections} times (max: {max_rejections}). Last feedback: {feedback}"


def run_prompt(original: str, gate: Review | None, status: ReviewStatus | None) -> str:
    """The prompt of the next run: the original, plus the latest rejection's feedback block
    when the task was rejected (only the latest feedback is kept, as in the seed)."""
    if gate is None or status is None or status.rejections == 0:
        return original
    last = next((e for e in reversed(status.history) if e.decision is ReviewDecision.REJECT), None)
    if last is None:
        return original
    return original + feedback_block(status.rejections, gate.max_rejections, last.feedback)


def resume_target(task: ClaudeTask) -> ResumeTarget | None:
    """The session a re-run resumes, or None (fresh session: option off, first run, or the
    rejected run reported no session)."""
    review = task.status.review
    gate = task.spec.review
    if gate is None or not gate.resume_session or review is None:
        return None
    if review.resume_session_id is None or review.resume_slot is None:
        return None
    return ResumeTarget(review.resume_session_id, review.resume_slot, review.resume_slot_uid)


def _seconds(now: datetime) -> datetime:
    return now.replace(microsecond=0)


def _conditions_patch(conditions: list[Condition]) -> dict[str, Any]:
    return {"conditions": [dump(c) for c in conditions], "phase": derive_phase(conditions).value}


def hold_for_review(
    patch: dict[str, Any], status: ReviewStatus | None, generation: int, now: datetime
) -> dict[str, Any]:
    """A finished-run patch that says Succeeded, turned into AwaitingReview.

    The result, cost and completion fields of `patch` stay (the result is visible to the
    reviewer); Succeeded is dropped, `Reviewed=False` (AwaitingReview) is set, and
    `status.review` records when the wait began (older reviews cannot decide this result)."""
    conditions = [Condition.model_validate(c) for c in patch.get("conditions", [])]
    conditions = [c for c in conditions if c.type != TaskConditionType.SUCCEEDED]
    set_condition(
        conditions,
        TaskConditionType.REVIEWED,
        F,
        TaskReason.AWAITING_REVIEW,
        "the result waits for a ClaudeReview (approve or reject)",
        generation,
        now,
    )
    review = (status or ReviewStatus()).model_copy(
        update={"state": ReviewState.PENDING, "awaiting_since": _seconds(now)}
    )
    return {**patch, **_conditions_patch(conditions), "review": dump(review)}


def gate_result(task: ClaudeTask, patch: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The finished-run patch to write: held for review when the task requires review and
    the patch says Succeeded; unchanged otherwise (failures and cancels end as usual)."""
    succeeded = any(
        c.get("type") == TaskConditionType.SUCCEEDED and c.get("status") == T
        for c in patch.get("conditions", [])
    )
    if not succeeded or not requires_review(task.spec):
        return patch
    return hold_for_review(patch, task.status.review, task.metadata.generation or 0, now)


def refusal(
    task: ClaudeTask | None, review: ClaudeReview, *, four_eyes: bool
) -> tuple[ReviewReason, str] | None:
    """Why `review` cannot decide `task` now, or None when it can."""
    name = review.spec.task_ref.name
    if task is None:
        return ReviewReason.TASK_NOT_FOUND, f"task {name} not found"
    phase = derive_phase(task.status.conditions)
    if phase is not TaskPhase.AWAITING_REVIEW or task.status.review is None:
        return (
            ReviewReason.NOT_AWAITING_REVIEW,
            f"task {name} is not awaiting review (phase: {phase.value})",
        )
    since, created = task.status.review.awaiting_since, review.metadata.creation_timestamp
    if since is not None and created is not None and created < since:
        return (
            ReviewReason.STALE,
            f"created at {created:%Y-%m-%dT%H:%M:%SZ}, before the result it would decide"
            f" (awaiting review since {since:%Y-%m-%dT%H:%M:%SZ})",
        )
    if four_eyes and review.spec.decision is ReviewDecision.APPROVE:
        creator = task.metadata.annotations.get(CREATED_BY_ANNOTATION)
        if creator is None:
            return (
                ReviewReason.CREATOR_UNKNOWN,
                f"the pool requires four eyes and task {name} has no {CREATED_BY_ANNOTATION}"
                " annotation, so its creator is unknown",
            )
        if creator == review.spec.reviewer:
            return (
                ReviewReason.SELF_APPROVAL,
                f"the pool requires four eyes: {creator} created task {name} and cannot approve it",
            )
    return None


def _review_status(
    reason: ReviewReason, message: str, task: ClaudeTask | None, now: datetime, **extra: Any
) -> ClaudeReviewStatus:
    uid = task.metadata.uid if task is not None else None
    return review_status(reason, message, uid, now, **extra)


def review_status(
    reason: ReviewReason, message: str, task_uid: str | None, now: datetime, **extra: Any
) -> ClaudeReviewStatus:
    """A ClaudeReview's status: Applied=True for Approved/Rejected, else False (refused)."""
    status = T if reason in (ReviewReason.APPROVED, ReviewReason.REJECTED) else F
    conditions: list[Condition] = []
    set_condition(conditions, ReviewConditionType.APPLIED, status, reason, message, None, now)
    return ClaudeReviewStatus(conditions=conditions, task_uid=task_uid, **extra)


_CLEARED = ("awaitingSince", "resumeSessionId", "resumeSlot", "resumeSlotUid")


def _review_patch(status: ReviewStatus) -> dict[str, Any]:
    """status.review as a merge patch: fields that are unset now are removed (explicit null)."""
    body: dict[str, Any] = dump(status)
    return {**dict.fromkeys(_CLEARED), **body}


def _entry(review: ClaudeReview, now: datetime) -> ReviewEntry:
    return ReviewEntry(
        decision=review.spec.decision,
        reviewer=review.spec.reviewer,
        time=_seconds(now),
        feedback=review.spec.feedback,
        review=review.metadata.name or None,
    )


def _approve(
    task: ClaudeTask, review: ClaudeReview, generation: int, now: datetime
) -> ReviewOutcome:
    current = task.status.review or ReviewStatus()
    message = f"approved by {review.spec.reviewer} ({review.metadata.name})"
    conditions = list(task.status.conditions)
    set_condition(
        conditions, TaskConditionType.REVIEWED, T, TaskReason.APPROVED, message, generation, now
    )
    set_condition(
        conditions, TaskConditionType.SUCCEEDED, T, TaskReason.COMPLETED, message, generation, now
    )
    status = current.model_copy(
        update={
            "state": ReviewState.APPROVED,
            "awaiting_since": None,
            "history": [*current.history, _entry(review, now)],
        }
    )
    patch = {
        **_conditions_patch(conditions),
        "review": _review_patch(status),
        "completionTime": f"{_seconds(now):%Y-%m-%dT%H:%M:%SZ}",
    }
    return ReviewOutcome(
        review.metadata.name,
        ReviewVerdict.APPROVED,
        _review_status(ReviewReason.APPROVED, message, task, now),
        patch,
    )


def _reject(
    task: ClaudeTask, review: ClaudeReview, generation: int, now: datetime
) -> ReviewOutcome:
    gate = task.spec.review or Review(required=True)
    current = task.status.review or ReviewStatus()
    n, m = current.rejections + 1, gate.max_rejections
    conditions = list(task.status.conditions)
    result = task.status.result
    update: dict[str, Any] = {
        "state": ReviewState.REJECTED,
        "rejections": n,
        "awaiting_since": None,
        "history": [*current.history, _entry(review, now)],
        "resume_session_id": None,
        "resume_slot": None,
        "resume_slot_uid": None,
    }
    if n >= m:
        message = rejected_message(n, m, review.spec.feedback)
        set_condition(
            conditions, TaskConditionType.REVIEWED, F, TaskReason.REJECTED, message, generation, now
        )
        set_condition(
            conditions,
            TaskConditionType.FAILED,
            T,
            FailureReason.REJECTED,
            message,
            generation,
            now,
        )
        failure = {"reason": FailureReason.REJECTED.value, "message": message[:4096]}
        patch = {
            **_conditions_patch(conditions),
            "review": _review_patch(current.model_copy(update=update)),
            "result": {"success": False, "failure": failure},
            "completionTime": f"{_seconds(now):%Y-%m-%dT%H:%M:%SZ}",
        }
        verdict = ReviewVerdict.FAILED
    elif task_mode(task.spec) is not TaskMode.SINGLE:
        message = f"rejected by {review.spec.reviewer} ({n}/{m}): the task runs again"
        patch = _rerun_composite(task, conditions, update, message, generation, now)
        verdict = ReviewVerdict.RERUN
    else:
        message = f"rejected by {review.spec.reviewer} ({n}/{m}): the task runs again"
        set_condition(
            conditions, TaskConditionType.REVIEWED, F, TaskReason.REJECTED, message, generation, now
        )
        if gate.resume_session and result is not None and result.session_id and task.status.slot:
            update["resume_session_id"] = result.session_id
            update["resume_slot"] = task.status.slot
            update["resume_slot_uid"] = task.status.slot_uid
        patch = {
            **_conditions_patch(conditions),
            "review": _review_patch(current.model_copy(update=update)),
            "result": None,
            "slot": None,
            "slotUid": None,
            "completionTime": None,
        }
        verdict = ReviewVerdict.RERUN
    outcome = _review_status(ReviewReason.REJECTED, message, task, now, rejection=n)
    return ReviewOutcome(review.metadata.name, verdict, outcome, patch)


def _rerun_composite(
    task: ClaudeTask,
    conditions: list[Condition],
    update: dict[str, Any],
    message: str,
    generation: int,
    now: datetime,
) -> dict[str, Any]:
    """The patch that re-runs a rejected composite as its next generation of children: the
    rejected generation's record (result, items, steps, routing) is cleared (its children
    keep it), its cost carried in `review.earlierCostMicrodollars`, and the timeout counts
    from now. Running at once: the next reconcile creates the new children."""
    set_condition(
        conditions, TaskConditionType.REVIEWED, F, TaskReason.REJECTED, message, generation, now
    )
    running = f"generation {update['rejections']}: re-running with the rejection feedback"
    set_condition(
        conditions,
        TaskConditionType.RUNNING,
        T,
        TaskReason.CHILDREN_RUNNING,
        running,
        generation,
        now,
    )
    update = {
        **update,
        "earlier_cost_microdollars": task.status.cost_microdollars,
        "rerun_start_time": _seconds(now),
    }
    review = task.status.review or ReviewStatus()
    return {
        **_conditions_patch(conditions),
        "review": _review_patch(review.model_copy(update=update)),
        "result": None,
        "completionTime": None,
        "items": [],
        "steps": [],
        "routing": None,
        "route": None,
        "children": None,
        "progress": None,
    }


def apply_review(
    task: ClaudeTask | None, review: ClaudeReview, *, four_eyes: bool, now: datetime
) -> ReviewOutcome:
    """One review's outcome against the task as it is now."""
    recorded = _recorded(task, review)
    if recorded is not None:
        return recorded
    refused = refusal(task, review, four_eyes=four_eyes)
    if refused is not None or task is None:
        reason, message = refused or (ReviewReason.TASK_NOT_FOUND, "task not found")
        status = _review_status(reason, message, task, now)
        return ReviewOutcome(review.metadata.name, ReviewVerdict.REFUSED, status, None)
    generation = task.metadata.generation or 0
    if review.spec.decision is ReviewDecision.APPROVE:
        return _approve(task, review, generation, now)
    return _reject(task, review, generation, now)


def _recorded(task: ClaudeTask | None, review: ClaudeReview) -> ReviewOutcome | None:
    """The outcome of a review the task's history already holds: the operator wrote the
    task's patch, then stopped before the review's status. Nothing is applied twice."""
    if task is None or task.status.review is None or not review.metadata.name:
        return None
    history = task.status.review.history
    index = next((i for i, e in enumerate(history) if e.review == review.metadata.name), None)
    if index is None:
        return None
    entry = history[index]
    approved = entry.decision is ReviewDecision.APPROVE
    reason = ReviewReason.APPROVED if approved else ReviewReason.REJECTED
    rejection = (
        None if approved else 1 + sum(e.decision is ReviewDecision.REJECT for e in history[:index])
    )
    message = f"{'approved' if approved else 'rejected'} by {entry.reviewer} (recorded in the task)"
    status = _review_status(reason, message, task, entry.time, rejection=rejection)
    verdict = ReviewVerdict.APPROVED if approved else ReviewVerdict.RERUN
    return ReviewOutcome(review.metadata.name, verdict, status, None)


def is_decided(review: ClaudeReview) -> bool:
    """Whether the operator already applied or refused this review (it is never redone)."""
    return any(c.type == ReviewConditionType.APPLIED for c in review.status.conditions)


def apply_reviews(
    task: ClaudeTask | None,
    reviews: Sequence[ClaudeReview],
    *,
    four_eyes: bool,
    now: datetime,
) -> list[ReviewOutcome]:
    """The outcomes of a task's undecided reviews, oldest first (creation time, then name).

    At most one decides a result: after it, the task is no longer awaiting review, so the
    later ones are refused with NotAwaitingReview. The worker writes each task patch before
    the review's status (a crash in between re-applies nothing: the task has moved on)."""
    pending = sorted(
        (r for r in reviews if not is_decided(r)),
        key=lambda r: (r.metadata.creation_timestamp or now, r.metadata.name),
    )
    outcomes: list[ReviewOutcome] = []
    for review in pending:
        outcome = apply_review(task, review, four_eyes=four_eyes, now=now)
        outcomes.append(outcome)
        if outcome.task_patch is not None and task is not None:
            task = _patched(task, outcome.task_patch)
    return outcomes


def _patched(task: ClaudeTask, patch: dict[str, Any]) -> ClaudeTask:
    status = {**dump(task.status), **patch}
    return task.model_copy(
        update={"status": type(task.status).model_validate(_without_nulls(status))}
    )


def _without_nulls(status: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in status.items() if v is not None}
