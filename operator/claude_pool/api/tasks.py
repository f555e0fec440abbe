"""The ClaudeTask resource: one unit of work for a pool, its spec rules and its status.

Users write `ClaudeTaskSpec` (exactly one mode: prompt, promptFrom, fanOut, chain or auto);
the task controller writes `ClaudeTaskStatus`. Composite tasks create child ClaudeTasks and
describe them in `status.children`, `items`, `steps` and `routing`
(`claude_pool.api.composites`). `status.mode` and `status.phase` exist for printer columns:
the operator sets them from `task_mode(spec)` and `derive_phase(conditions)`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, Field, model_validator

from claude_pool.api.claude import TaskOverrides
from claude_pool.api.common import (
    API_VERSION,
    CONFIG_KEY,
    MAX_CHAIN_STEPS,
    MAX_CHILDREN,
    MAX_FANOUT,
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
from claude_pool.api.composites import ChildrenSummary, ItemStatus, RoutingStatus, StepStatus
from claude_pool.api.conditions import Conditions
from claude_pool.api.modes import Auto, Chain, FanOut, Review, RoutePreference, StepName
from claude_pool.api.money import Microdollars
from claude_pool.api.phases import TaskPhase
from claude_pool.api.results import TaskResult
from claude_pool.api.reviews import MAX_FEEDBACK_LENGTH, ReviewDecision
from claude_pool.api.taskworkspaces import TaskWorkspace

MODE_FIELDS = ("prompt", "promptFrom", "fanOut", "chain", "auto")
_ONE_MODE = " + ".join(f"(has(self.{f}) ? 1 : 0)" for f in MODE_FIELDS) + " == 1"
ONE_MODE_MESSAGE = (
    "exactly one of spec.prompt, spec.promptFrom, spec.fanOut, spec.chain or spec.auto must be set"
)
_SAME_MODE = " && ".join(f"has(self.{f}) == has(oldSelf.{f})" for f in MODE_FIELDS)


def _immutable(field: str) -> dict[str, Any]:
    return validations(cel("self == oldSelf", f"spec.{field} is immutable"))


class KeyRef(SpecModel):
    """One key of a ConfigMap or Secret in the task's namespace."""

    name: Name
    """The ConfigMap or Secret."""
    key: Annotated[str, Field(min_length=1, max_length=253, pattern=CONFIG_KEY)]
    """The key whose value is the prompt."""


class PromptSource(SpecModel):
    """Where a prompt too large for spec.prompt is kept: exactly one key reference. The
    operator reads it when it dispatches the task (up to 1 MiB); while it is missing, the
    task waits with Admitted=False, reason PromptSourceMissing."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "has(self.configMapKeyRef) != has(self.secretKeyRef)",
                "spec.promptFrom: set exactly one of configMapKeyRef and secretKeyRef",
            )
        )
    )

    config_map_key_ref: KeyRef | None = None
    """A ConfigMap key (data or binaryData; binaryData must be UTF-8)."""
    secret_key_ref: KeyRef | None = None
    """A Secret key (for prompts that must not be readable by whoever can read ConfigMaps)."""

    @model_validator(mode="after")
    def _exactly_one(self) -> PromptSource:
        if (self.config_map_key_ref is None) == (self.secret_key_ref is None):
            raise ValueError("spec.promptFrom: set exactly one of configMapKeyRef and secretKeyRef")
        return self


class TaskMode(StrEnum):
    """Which mode a task uses (status.mode, for the printer column)."""

    SINGLE = "Single"
    """spec.prompt or spec.promptFrom: one prompt on one slot."""
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
                "the task mode is immutable: spec.prompt, spec.promptFrom, spec.fanOut,"
                " spec.chain and spec.auto cannot be added or removed",
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
    """Single mode: run this prompt on one slot. Up to 65536 characters (64 KiB); larger
    prompts (up to 1 MiB) go in a ConfigMap or Secret named by spec.promptFrom."""
    prompt_from: Annotated[
        PromptSource | None, Field(json_schema_extra=_immutable("promptFrom"))
    ] = None
    """Single mode with the prompt in a ConfigMap or Secret key of the task's namespace, read
    when the task is dispatched; up to 1048576 bytes (1 MiB)."""
    fan_out: Annotated[FanOut | None, Field(json_schema_extra=_immutable("fanOut"))] = None
    """Fan-out mode: run several prompts or chains in parallel (1 to 256 items)."""
    chain: Annotated[Chain | None, Field(json_schema_extra=_immutable("chain"))] = None
    """Chain mode: run steps in sequence (1 to 20)."""
    auto: Annotated[Auto | None, Field(json_schema_extra=_immutable("auto"))] = None
    """Auto mode: let a routing call choose single, fan-out or chain."""
    config: Annotated[TaskOverrides | None, Field(json_schema_extra=_immutable("config"))] = None
    """CLI settings that win over the pool's spec.claude."""
    review: Annotated[Review | None, Field(json_schema_extra=_immutable("review"))] = None
    """Review gate."""
    priority: Annotated[int, Field(ge=-MAX_PRIORITY, le=MAX_PRIORITY)] = 0
    """Higher runs first; equal priorities run in creation order. -1000 to 1000."""
    timeout_seconds: Annotated[int, Field(ge=1, le=MAX_TIMEOUT_SECONDS)] | None = None
    """Fail with Timeout when the task has run this long (queue time excluded); 1 to 604800
    s (7 days)."""
    cancel: bool = False
    """Stop the task gracefully; it is kept with Cancelled=True. Cannot be undone."""
    ttl_seconds_after_finished: Annotated[int, Field(ge=0, le=MAX_TTL_SECONDS)] | None = None
    """Delete the task this long after it finished (0 to 31536000 s, one year); the pool's
    spec.ttlSecondsAfterFinished when unset; kept forever when neither is set."""

    @model_validator(mode="after")
    def _exactly_one_mode(self) -> ClaudeTaskSpec:
        modes = (self.prompt, self.prompt_from, self.fan_out, self.chain, self.auto)
        if sum(mode is not None for mode in modes) != 1:
            raise ValueError(ONE_MODE_MESSAGE)
        return self


def task_mode(spec: ClaudeTaskSpec) -> TaskMode:
    """The mode a (schema-valid) spec selects: spec.prompt and spec.promptFrom are Single."""
    if spec.fan_out is not None:
        return TaskMode.FAN_OUT
    if spec.chain is not None:
        return TaskMode.CHAIN
    if spec.auto is not None:
        return TaskMode.AUTO
    return TaskMode.SINGLE


class Progress(StatusModel):
    """Live numbers while a task runs."""

    turns: Count = 0
    """Turns so far (leaf tasks)."""
    cost_microdollars: Microdollars = 0
    """Cost so far, children included."""
    completed_steps: Annotated[int, Field(ge=0, le=MAX_CHILDREN)] = 0
    """Finished fan-out items or chain steps (k of n)."""
    total_steps: Annotated[int, Field(ge=0, le=MAX_CHILDREN)] = 0
    """All fan-out items or chain steps (n)."""
    current_step: StepName | None = None
    """The chain step running now."""
    current_step_start_time: Timestamp | None = None
    """When the current chain step's first attempt was created."""


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
    earlier_cost_microdollars: Microdollars = 0
    """A composite task's rejected generations of children: their cost (final when they
    were rejected), included in costMicrodollars."""
    rerun_start_time: Timestamp | None = None
    """When a composite task's current generation of children began (its last rejection):
    spec.timeoutSeconds counts from it, not from startTime (awaiting review is not running)."""


class ClaudeTaskStatus(StatusModel):
    """The observed state of a ClaudeTask."""

    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The .metadata.generation this status reflects."""
    mode: TaskMode | None = None
    """Single, FanOut, Chain or Auto (printer column)."""
    phase: TaskPhase | None = None
    """Summary of the conditions (printer column)."""
    route: RoutePreference | None = None
    """The route an auto task took (details in routing)."""
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
    children: ChildrenSummary | None = None
    """Counts of a composite task's children by phase (`kubectl get ctask -l
    claudepool.io/parent=NAME` lists them)."""
    items: Annotated[list[ItemStatus], Field(max_length=MAX_FANOUT)] = Field(default_factory=list)
    """A fan-out's items, in order."""
    steps: Annotated[list[StepStatus], Field(max_length=MAX_CHAIN_STEPS)] = Field(
        default_factory=list
    )
    """A chain's steps, in order."""
    routing: RoutingStatus | None = None
    """An auto task's routing decision."""
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
    workspace: TaskWorkspace | None = None
    """The branch the run's work is on (pool spec.workspace): commits, diffstat, pushed or
    kept in a slot's clone. A chain shows its last step's."""


class ClaudeTask(StatusModel):
    """A ClaudeTask object as read from the API."""

    api_version: str = API_VERSION
    kind: str = "ClaudeTask"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ClaudeTaskSpec
    status: ClaudeTaskStatus = Field(default_factory=ClaudeTaskStatus)
