"""The ClaudeTask resource: one unit of work for a pool, its spec rules and its status.

Users write `ClaudeTaskSpec` (exactly one mode: prompt, fanOut, chain or auto); the task
controller writes `ClaudeTaskStatus`. Composite tasks create child ClaudeTasks and list
them in `status.children`. `status.mode` and `status.phase` exist for printer columns: the
operator sets them from `task_mode(spec)` and `derive_phase(conditions)`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field, model_validator

from claude_pool.api.claude import TaskOverrides
from claude_pool.api.common import (
    API_VERSION,
    MAX_CHILDREN,
    MAX_MESSAGES_PER_START,
    MAX_PRIORITY,
    MAX_REJECTIONS,
    MAX_TIMEOUT_SECONDS,
    MAX_TTL_SECONDS,
    Count,
    Identifier,
    LocalObjectRef,
    Name,
    ObjectMeta,
    Prompt,
    SpecModel,
    StatusModel,
    Timestamp,
    UserName,
    cel,
    validations,
)
from claude_pool.api.conditions import Conditions
from claude_pool.api.modes import Auto, Chain, FanOut, Review, RoutePreference, StepName
from claude_pool.api.money import Microdollars
from claude_pool.api.phases import TaskPhase
from claude_pool.api.results import TaskResult
from claude_pool.api.reviews import MAX_FEEDBACK_LENGTH, ReviewDecision

MODE_FIELDS = ("prompt", "fanOut", "chain", "auto")
_ONE_MODE = " + ".join(f"(has(self.{f}) ? 1 : 0)" for f in MODE_FIELDS) + " == 1"
ONE_MODE_MESSAGE = "exactly one of spec.prompt, spec.fanOut, spec.chain or spec.auto must be set"
_SAME_MODE = " && ".join(f"has(self.{f}) == has(oldSelf.{f})" for f in MODE_FIELDS)


def _immutable(field: str) -> dict[str, Any]:
    return validations(cel("self == oldSelf", f"spec.{field} is immutable"))


class TaskMode(StrEnum):
    """Which mode a task uses (status.mode, for the printer column)."""

    SINGLE = "Single"
    FAN_OUT = "FanOut"
    CHAIN = "Chain"
    AUTO = "Auto"


class ClaudeTaskSpec(SpecModel):
    """The desired work. Mode, pool and config are fixed at creation."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(_ONE_MODE, ONE_MODE_MESSAGE),
            cel(
                _SAME_MODE,
                "the task mode is immutable: spec.prompt, spec.fanOut, spec.chain and spec.auto"
                " cannot be added or removed",
            ),
            cel(
                "has(self.config) == has(oldSelf.config)"
                " && has(self.review) == has(oldSelf.review)",
                "spec.config and spec.review cannot be added or removed after creation",
            ),
            cel(
                "!has(oldSelf.cancel) || !oldSelf.cancel || (has(self.cancel) && self.cancel)",
                "spec.cancel cannot be set back to false",
            ),
        )
    )

    pool_ref: Annotated[LocalObjectRef, Field(json_schema_extra=_immutable("poolRef"))]
    """The ClaudePool (same namespace) that runs the task."""
    prompt: Annotated[Prompt | None, Field(json_schema_extra=_immutable("prompt"))] = None
    """Single mode: run this prompt on one slot."""
    fan_out: Annotated[FanOut | None, Field(json_schema_extra=_immutable("fanOut"))] = None
    """Fan-out mode: run several prompts in parallel."""
    chain: Annotated[Chain | None, Field(json_schema_extra=_immutable("chain"))] = None
    """Chain mode: run steps in sequence."""
    auto: Annotated[Auto | None, Field(json_schema_extra=_immutable("auto"))] = None
    """Auto mode: let a routing call choose single, fan-out or chain."""
    config: Annotated[TaskOverrides | None, Field(json_schema_extra=_immutable("config"))] = None
    """CLI settings that win over the pool's spec.claude."""
    review: Annotated[Review | None, Field(json_schema_extra=_immutable("review"))] = None
    """Review gate."""
    priority: Annotated[int, Field(ge=-MAX_PRIORITY, le=MAX_PRIORITY)] = 0
    """Higher runs first; equal priorities run in creation order."""
    timeout_seconds: Annotated[int, Field(ge=1, le=MAX_TIMEOUT_SECONDS)] | None = None
    """Fail with Timeout when the task has run this long (queue time excluded)."""
    cancel: bool = False
    """Stop the task gracefully; it is kept with Cancelled=True. Cannot be undone."""
    ttl_seconds_after_finished: Annotated[int, Field(ge=0, le=MAX_TTL_SECONDS)] | None = None
    """Delete the task this long after it finished; kept forever when unset."""

    @model_validator(mode="after")
    def _exactly_one_mode(self) -> ClaudeTaskSpec:
        modes = (self.prompt, self.fan_out, self.chain, self.auto)
        if sum(mode is not None for mode in modes) != 1:
            raise ValueError(ONE_MODE_MESSAGE)
        return self


def task_mode(spec: ClaudeTaskSpec) -> TaskMode:
    """The mode a (schema-valid) spec selects."""
    if spec.fan_out is not None:
        return TaskMode.FAN_OUT
    if spec.chain is not None:
        return TaskMode.CHAIN
    if spec.auto is not None:
        return TaskMode.AUTO
    return TaskMode.SINGLE


class ChildStatus(StatusModel):
    """One child task of a composite."""

    name: Name
    """The child ClaudeTask."""
    index: Annotated[int, Field(ge=0, le=MAX_CHILDREN)]
    """Position: fan-out prompt index or chain step index."""
    step: StepName | None = None
    """Chain step name."""
    phase: TaskPhase | None = None
    """The child's phase when last seen."""
    cost_microdollars: Microdollars = 0
    """The child's cost."""


class Progress(StatusModel):
    """Live numbers while a task runs."""

    turns: Count = 0
    """Turns so far (leaf tasks)."""
    cost_microdollars: Microdollars = 0
    """Cost so far, children included."""
    completed_steps: Annotated[int, Field(ge=0, le=MAX_CHILDREN)] = 0
    """Finished children or chain steps."""
    total_steps: Annotated[int, Field(ge=0, le=MAX_CHILDREN)] = 0
    """All children or chain steps."""
    current_step: StepName | None = None
    """The chain step running now."""


class ReviewState(StrEnum):
    """Where a task's review stands."""

    PENDING = "Pending"
    """A result waits for a decision."""
    APPROVED = "Approved"
    REJECTED = "Rejected"
    """The last result was rejected (the task re-runs, or failed after maxRejections)."""


class ReviewEntry(StatusModel):
    """One review decision, copied from the ClaudeReview that made it."""

    decision: ReviewDecision
    """approve or reject."""
    reviewer: UserName
    """Who decided: the user the API server authenticated when the ClaudeReview was created."""
    time: Timestamp
    """When the operator applied the decision."""
    feedback: Annotated[str, Field(max_length=MAX_FEEDBACK_LENGTH)] = ""
    """Why (for rejections: added to the prompt of the next run)."""
    review: Name | None = None
    """The ClaudeReview object."""


class ReviewStatus(StatusModel):
    """The review gate's state."""

    state: ReviewState | None = None
    rejections: Annotated[int, Field(ge=0, le=MAX_REJECTIONS)] = 0
    """Rejections so far."""
    awaiting_since: Timestamp | None = None
    """When the current result started waiting: older ClaudeReviews do not decide it."""
    resume_session_id: Identifier | None = None
    """The rejected run's Claude session, resumed by the re-run (spec.review.resumeSession)."""
    resume_slot: Name | None = None
    """The slot pod that holds that session (a session can be resumed only there)."""
    resume_slot_uid: Annotated[str, Field(max_length=128)] | None = None
    """The uid of that pod: a replaced pod no longer has the session."""
    history: Annotated[list[ReviewEntry], Field(max_length=MAX_REJECTIONS + 1)] = Field(
        default_factory=list
    )
    """Every decision, oldest first."""


class ClaudeTaskStatus(StatusModel):
    """The observed state of a ClaudeTask."""

    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The .metadata.generation this status reflects."""
    mode: TaskMode | None = None
    """Single, FanOut, Chain or Auto (printer column)."""
    phase: TaskPhase | None = None
    """Summary of the conditions (printer column)."""
    route: RoutePreference | None = None
    """The route an auto task took."""
    conditions: Conditions = Field(default_factory=list)
    """Admitted, Running, Reviewed, Succeeded, Failed, Cancelled."""
    slot: Name | None = None
    """The slot pod running (or that last ran) the task."""
    slot_uid: Annotated[str, Field(max_length=128)] | None = None
    """The uid of that pod: a re-created pod with the same name is another slot."""
    attempts: Annotated[int, Field(ge=0, le=1000)] = 0
    """Runs started, retries and review re-runs included."""
    start_time: Timestamp | None = None
    """When the first run started."""
    completion_time: Timestamp | None = None
    """When the task finished."""
    result: TaskResult | None = None
    """The outcome."""
    children: Annotated[list[ChildStatus], Field(max_length=MAX_CHILDREN)] = Field(
        default_factory=list
    )
    """Child tasks of a fan-out, chain or auto task."""
    progress: Progress | None = None
    """Live numbers while running."""
    review: ReviewStatus | None = None
    """Review gate state."""
    context_revision: Annotated[str, Field(max_length=64)] | None = None
    """The revision of the pool's spec.context the last run started with."""
    messages: Annotated[list[Name], Field(max_length=MAX_MESSAGES_PER_START)] = Field(
        default_factory=list
    )
    """ClaudeMessages prepended to the last run's prompt (recorded with its assignment)."""
    cost_microdollars: Microdollars = 0
    """Total cost, children and retries included."""
    cost: Annotated[str, Field(max_length=32)] | None = None
    """costMicrodollars as dollars (e.g. 0.0123), for the printer column."""


class ClaudeTask(StatusModel):
    """A ClaudeTask object as read from the API."""

    api_version: str = API_VERSION
    kind: str = "ClaudeTask"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ClaudeTaskSpec
    status: ClaudeTaskStatus = Field(default_factory=ClaudeTaskStatus)
