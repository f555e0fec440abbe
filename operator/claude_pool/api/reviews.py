"""The ClaudeReview resource: one person's approve or reject of a task awaiting review.

A reviewer creates a ClaudeReview naming a task (same namespace); the operator applies it
to the task (`claude_pool.workflows.review`) and records the outcome in the review's status.
Who may decide is RBAC's answer (create on claudereviews: the `claude-pool-reviewer`
ClusterRole in deploy/); `spec.reviewer` is the authenticated user, stamped from
`request.userInfo.username` by the MutatingAdmissionPolicy in deploy/admission.yaml and
checked by its ValidatingAdmissionPolicy, so it is never a name someone typed. The spec is
immutable: a review is an audit record, like an Event that cannot be forged.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field

from claude_pool.api.common import (
    API_VERSION,
    MAX_MESSAGE_LENGTH,
    LocalObjectRef,
    ObjectMeta,
    SpecModel,
    StatusModel,
    UserName,
    cel,
    validations,
)
from claude_pool.api.conditions import Conditions

MAX_FEEDBACK_LENGTH = MAX_MESSAGE_LENGTH
"""Longest review feedback (it is appended to the re-run's prompt and kept in history)."""
REJECT_NEEDS_FEEDBACK = "spec.feedback is required to reject: it tells the next run what to fix"
IMMUTABLE = "spec.* is immutable: a ClaudeReview cannot be changed; create a new one"


class ReviewDecision(StrEnum):
    """A reviewer's decision."""

    APPROVE = "approve"
    REJECT = "reject"


class ReviewConditionType(StrEnum):
    """Condition types of a ClaudeReview."""

    APPLIED = "Applied"
    """True: the decision was applied to the task. False: refused (the reason says why)."""


class ReviewReason(StrEnum):
    """Reasons of a ClaudeReview's Applied condition."""

    APPROVED = "Approved"
    """Applied=True: the task succeeded."""
    REJECTED = "Rejected"
    """Applied=True: the task runs again with the feedback, or failed at maxRejections."""
    TASK_NOT_FOUND = "TaskNotFound"
    """Applied=False: spec.taskRef names no ClaudeTask in this namespace."""
    NOT_AWAITING_REVIEW = "NotAwaitingReview"
    """Applied=False: the task is not in phase AwaitingReview (running, finished, no gate)."""
    STALE = "Stale"
    """Applied=False: created before the result it would decide on was ready."""
    SELF_APPROVAL = "SelfApproval"
    """Applied=False: four-eyes pool; the task's creator cannot approve it."""
    CREATOR_UNKNOWN = "CreatorUnknown"
    """Applied=False: four-eyes pool, but the task has no created-by annotation (created
    before the admission policies were installed), so self-approval cannot be ruled out."""


class ClaudeReviewSpec(SpecModel):
    """The decision. Immutable once created."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel("self == oldSelf", IMMUTABLE),
            cel(
                "self.decision != 'reject' || (has(self.feedback) && size(self.feedback) > 0)",
                REJECT_NEEDS_FEEDBACK,
            ),
        )
    )

    task_ref: LocalObjectRef
    """The ClaudeTask (same namespace) whose result is decided."""
    decision: ReviewDecision
    """approve or reject."""
    feedback: Annotated[str, Field(max_length=MAX_FEEDBACK_LENGTH)] = ""
    """Why; required to reject (the re-run's prompt gets it, as the seed does)."""
    reviewer: UserName
    """The deciding user. Filled in from the request's authenticated user by the admission
    policy (leave it out); a value naming anyone else is refused."""


class ClaudeReviewStatus(StatusModel):
    """What became of the decision (written by the operator)."""

    conditions: Conditions = Field(default_factory=list)
    """Applied."""
    task_uid: Annotated[str, Field(max_length=128)] | None = None
    """The uid of the task it was applied to (or refused for)."""
    rejection: Annotated[int, Field(ge=0, le=1000)] | None = None
    """For an applied rejection: its number n (of the task's maxRejections)."""


class ClaudeReview(StatusModel):
    """A ClaudeReview object as read from the API."""

    api_version: str = API_VERSION
    kind: str = "ClaudeReview"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ClaudeReviewSpec
    status: ClaudeReviewStatus = Field(default_factory=ClaudeReviewStatus)
