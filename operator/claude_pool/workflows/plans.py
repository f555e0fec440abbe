"""The value types the workflow planners return (pure): what to create, cancel, and the end.

`claude_pool.workflows.fanout`, `chains` and `autorouting` each turn a composite task and its
observed children into a `Plan`; `claude_pool.workflows.rollup` renders the plan into the
parent's status. A plan is level-based: computed again from scratch every cycle, it asks for
the same children until they exist, so an operator crash at any moment loses nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from claude_pool.api.composites import ItemPhase
from claude_pool.api.phases import TaskPhase
from claude_pool.api.tasks import ClaudeTaskSpec
from claude_pool.workflows.children import ChildRef, ChildView


class Stop(StrEnum):
    """Why a composite task stops starting children and cancels the unfinished ones."""

    CANCEL = "cancel"
    """spec.cancel was set."""
    TIMEOUT = "timeout"
    """spec.timeoutSeconds passed since the task started."""


class Verdict(StrEnum):
    """How a composite task ended."""

    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


@dataclass(frozen=True)
class Outcome:
    """The end of a composite task: verdict, condition reason and message, combined output."""

    verdict: Verdict
    reason: str
    message: str
    output: str


@dataclass(frozen=True)
class NewChild:
    """A child the parent needs: create it if absent (its name is `ref.name(parent)`)."""

    ref: ChildRef
    spec: ClaudeTaskSpec
    annotations: Mapping[str, str] = field(default_factory=dict)
    """Hints for the dispatcher (a chain step's session and slot to resume)."""


@dataclass(frozen=True)
class Progress:
    """k of n, and for chains the step running now and since when."""

    completed: int
    total: int
    current_step: str | None = None
    current_step_start: datetime | None = None


@dataclass(frozen=True)
class Plan:
    """What one planning pass decided."""

    create: tuple[NewChild, ...] = ()
    cancel: tuple[str, ...] = ()
    outcome: Outcome | None = None
    progress: Progress = field(default_factory=lambda: Progress(0, 0))
    message: str = ""
    """What the task is doing, for its Running condition."""
    routing: bool = False
    """An auto task's router is running (Running=True with reason Routing)."""


def item_phase(view: ChildView) -> ItemPhase:
    """A child's phase as the phase of the item or step it runs."""
    if view.phase is TaskPhase.SUCCEEDED:
        return ItemPhase.SUCCEEDED
    if view.phase is TaskPhase.FAILED:
        return ItemPhase.FAILED
    if view.phase is TaskPhase.CANCELLED:
        return ItemPhase.CANCELLED
    return ItemPhase.RUNNING


def preview(text: str, limit: int) -> tuple[str, bool]:
    """The beginning of `text` that status keeps, and whether it was cut."""
    return (text, False) if len(text) <= limit else (text[:limit], True)
