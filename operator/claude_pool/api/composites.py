"""What a composite ClaudeTask (fan-out, chain, auto) records about its child tasks.

A composite task never runs on a slot: it creates child ClaudeTasks (owned by it, labelled
with the constants below) and the pool's dispatcher runs only leaves. These models are the
parts of the parent's status that describe the children: counts by phase, one entry per
fan-out item or chain step, and the routing decision of an auto task. They are written by
`claude_pool.workflows.rollup` from the children's statuses; the entries of finished items and
steps are the parent's durable record (a finished child is never created again).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from claude_pool.api.common import (
    MAX_CHILDREN,
    MAX_FANOUT,
    MAX_ITEM_OUTPUT,
    MAX_MAP_ENTRIES,
    Count,
    Message,
    Name,
    StatusModel,
    Timestamp,
)
from claude_pool.api.modes import RoutePreference, StepName
from claude_pool.api.money import Microdollars

PARENT_LABEL = "claudepool.io/parent"
"""On every child task: its parent's name (hashed to fit when longer than a label value)."""
PARENT_UID_LABEL = "claudepool.io/parent-uid"
"""On every child task: its parent's uid (a re-created parent of the same name is another)."""
ROLE_LABEL = "claudepool.io/role"
"""On every child task: a `ChildRole`."""
ITEM_LABEL = "claudepool.io/item"
"""On fan-out items: the item's index (0-based)."""
STEP_LABEL = "claudepool.io/step"
"""On chain step attempts and recoveries: the step's name."""
ATTEMPT_LABEL = "claudepool.io/attempt"
"""On chain step attempts: the attempt's number (0 is the first run)."""
GENERATION_LABEL = "claudepool.io/generation"
"""On the children of a composite task with a review gate: the generation they belong to
(0 first; n after the n-th rejection re-ran the composite with the feedback)."""
RESUME_SESSION_ANNOTATION = "claudepool.io/resume-session"
"""On a chain step's child: the Claude session of the step before, to resume (continuity
inside a chain) when the child runs on PREFERRED_SLOT_ANNOTATION's slot."""
PREFERRED_SLOT_ANNOTATION = "claudepool.io/preferred-slot"
"""On a chain step's child: the slot that ran the step before; the dispatcher gives it that
slot when it is free. On another slot the child starts a fresh session (sessions live on
their slot's volume)."""


class ChildRole(StrEnum):
    """What a child task is to its parent (the value of ROLE_LABEL)."""

    ITEM = "item"
    """One item of a fan-out."""
    STEP = "step"
    """One attempt of a chain step."""
    RECOVERY = "recovery"
    """The recovery run of a chain step whose attempts all failed."""
    ROUTER = "router"
    """The routing call of an auto task."""
    ROUTE = "route"
    """The work an auto task's route chose (a single, fan-out or chain task)."""


class ItemPhase(StrEnum):
    """Where one fan-out item or chain step stands."""

    PENDING = "Pending"
    """Not started: its child does not exist yet."""
    RUNNING = "Running"
    """Its child exists and has not finished."""
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    """Its child was cancelled (the parent was cancelled, timed out or failed fast)."""
    SKIPPED = "Skipped"
    """Never started: the parent ended first (cancel, failFast, an earlier step failed)."""


FINISHED_ITEM_PHASES = frozenset(
    {ItemPhase.SUCCEEDED, ItemPhase.FAILED, ItemPhase.CANCELLED, ItemPhase.SKIPPED}
)


class ChildrenSummary(StatusModel):
    """How many child tasks exist, by phase."""

    total: Count = 0
    generation: Count = 0
    """Which generation of children the counts are of: 0 first, n after the n-th rejection
    of a reviewed composite (earlier generations are kept, not counted here)."""
    pending: Count = 0
    """Waiting for a slot (or admission)."""
    running: Count = 0
    succeeded: Count = 0
    failed: Count = 0
    cancelled: Count = 0


class ItemStatus(StatusModel):
    """One fan-out item: its child and result."""

    index: Annotated[int, Field(ge=0, le=MAX_CHILDREN)]
    """Position in spec.fanOut (0-based)."""
    phase: ItemPhase = ItemPhase.PENDING
    child: Name | None = None
    """The child task (set once it was created)."""
    cost_microdollars: Microdollars = 0
    """The child's cost (its retries included)."""
    output: Annotated[str, Field(max_length=MAX_ITEM_OUTPUT)] = ""
    """The beginning of the child's output (whole in the child and in status.result)."""
    output_truncated: bool = False
    """The child's output is longer than what is kept here."""
    reason: Annotated[str, Field(max_length=128)] | None = None
    """Why the item failed or was cancelled (the child's reason)."""
    message: Annotated[str, Field(max_length=MAX_ITEM_OUTPUT)] = ""
    """The beginning of the failure's details (kept short: a fan-out has up to 256 items)."""


class StepStatus(StatusModel):
    """One chain step: its attempts, variables and result."""

    name: StepName
    phase: ItemPhase = ItemPhase.PENDING
    attempts: Annotated[int, Field(ge=0, le=MAX_CHILDREN)] = 0
    """Attempts created so far (retries included, the recovery not)."""
    recovered: bool = False
    """The step's recovery prompt ran (its result is the step's result)."""
    child: Name | None = None
    """The child task of the latest attempt or of the recovery."""
    cost_microdollars: Microdollars = 0
    """All attempts and the recovery together."""
    start_time: Timestamp | None = None
    """When the step's first attempt was created."""
    completion_time: Timestamp | None = None
    """When the step finished."""
    output: Annotated[str, Field(max_length=MAX_ITEM_OUTPUT)] = ""
    """The beginning of the step's output (the last error text when it failed)."""
    output_truncated: bool = False
    vars: (
        Annotated[
            dict[str, Annotated[str, Field(max_length=MAX_ITEM_OUTPUT)]],
            Field(max_length=MAX_MAP_ENTRIES),
        ]
        | None
    ) = None
    """The step's outputVars as extracted (their beginning, when long)."""
    message: Message = ""
    """Why the step failed, was cancelled or skipped."""


class RoutingStatus(StatusModel):
    """How an auto task was routed."""

    router: Name | None = None
    """The child task that ran the routing call."""
    route: RoutePreference | None = None
    """The route taken (single when routing failed)."""
    fallback_reason: Message | None = None
    """Set when routing failed and the original prompt runs as a single task: why."""
    notes: Annotated[list[Message], Field(max_length=8)] = Field(default_factory=list)
    """Changes made to the router's answer (blank items dropped, routes cut to the hints)."""
    items: Annotated[int, Field(ge=0, le=MAX_FANOUT)] = 0
    """Prompts of a parallel route, or steps of a chain route (1 for single)."""
    child: Name | None = None
    """The child task that runs the route."""
