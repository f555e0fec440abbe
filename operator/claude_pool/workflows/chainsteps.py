"""One chain step read from its children: attempts, retries, recovery (pure).

Called by `claude_pool.workflows.chains.plan_chain` for each step in order, with a
`ChainWalk` holding what the earlier steps produced. `StepWalk.run` reads the step's attempt
children (`<parent>-<step>`, `<parent>-<step>.1`, ...) and its recovery
(`<parent>-<step>.recovery`) in that order and returns the step's status and what the chain
waits for: a child to create (its prompt rendered from the walk), a child to finish (its
name), the chain's end (an `Outcome`), or nothing when the step is over.

The next step of a chain resumes the Claude session of the step before when it runs on the
same slot: its child carries the annotations RESUME_SESSION_ANNOTATION and
PREFERRED_SLOT_ANNOTATION for the dispatcher (a session lives on its slot's volume, so
another slot must start fresh).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError

from claude_pool.api.common import MAX_ITEM_OUTPUT, MAX_MESSAGE_LENGTH
from claude_pool.api.composites import (
    PREFERRED_SLOT_ANNOTATION,
    RESUME_SESSION_ANNOTATION,
    ChildRole,
    ItemPhase,
    StepStatus,
)
from claude_pool.api.failures import FailureReason
from claude_pool.api.modes import ChainStep
from claude_pool.api.reasons import TaskReason
from claude_pool.api.tasks import ClaudeTask
from claude_pool.workflows.children import ChildRef, ChildView, budget_share, inherited_spec
from claude_pool.workflows.plans import NewChild, Outcome, Stop, Verdict, item_phase, preview
from claude_pool.workflows.reruns import feedback, generation_of
from claude_pool.workflows.templating import extract_vars, render

Waiting = NewChild | str | Outcome | None
"""What a step makes the chain wait for (see the module docstring)."""


@dataclass
class ChainWalk:
    """What the walk over a chain's steps has learnt so far (local to one planning pass)."""

    previous_output: str = ""
    previous_known: bool = True
    """False when the step before was taken from a record that holds only its beginning."""
    step_vars: dict[str, dict[str, str]] = field(default_factory=dict)
    committed: int = 0
    """Cost of the steps walked so far."""
    resume: dict[str, str] = field(default_factory=dict)
    """Annotations for the next step: the session and slot of the step before."""
    steps: list[StepStatus] = field(default_factory=list)


class StepWalk:
    """One step's attempts and recovery, read from its children."""

    def __init__(
        self,
        parent: ClaudeTask,
        index: int,
        step: ChainStep,
        children: Mapping[str, ChildView],
        recorded: StepStatus | None,
        now: datetime,
    ) -> None:
        self.parent, self.index, self.step = parent, index, step
        self.children, self.recorded, self.now = children, recorded, now
        rerun = generation_of(parent)
        refs = [ChildRef.step_attempt(index, step.name, k, rerun) for k in range(step.retries + 1)]
        if step.recovery_prompt is not None:
            refs.append(ChildRef.recovery(index, step.name, rerun))
        self.refs = refs

    def run(self, walk: ChainWalk, stop: Stop | None) -> tuple[StepStatus, Waiting]:
        """The step's status, and what the chain waits for (None: the step is over)."""
        parent = self.parent.metadata.name
        views = [self.children.get(ref.name(parent)) for ref in self.refs]
        old = self.recorded
        finished = old is not None and old.phase in (ItemPhase.SUCCEEDED, ItemPhase.FAILED)
        if old is not None and finished and all(v is None for v in views):
            return self._from_record(old, walk), None  # its children were deleted
        last_seen = max((i for i, v in enumerate(views) if v is not None), default=-1)
        status = StepStatus(name=self.step.name, start_time=old.start_time if old else None)
        cost, error, ended = 0, "", None
        for position, (ref, view) in enumerate(zip(self.refs, views, strict=True)):
            recovery = ref.role is ChildRole.RECOVERY
            attempts = status.attempts + (0 if recovery else 1)
            if view is None and position < last_seen:
                # a later attempt exists, so this one failed before its child was deleted
                status = status.model_copy(update={"attempts": attempts})
                error = error or "an earlier attempt's child task was deleted"
                continue
            if view is None:
                if stop is not None:
                    phase = ItemPhase.SKIPPED if status.attempts == 0 else ItemPhase.CANCELLED
                    update = {"phase": phase, "cost_microdollars": cost, "message": "stopped"}
                    return status.model_copy(update=update), None
                new = self._new_child(ref, walk, cost, error if recovery else None)
                if isinstance(new, Outcome):
                    return status, new
                update = {
                    "phase": ItemPhase.RUNNING,
                    "child": ref.name(parent),
                    "attempts": attempts,
                    "recovered": recovery,
                    "cost_microdollars": cost,
                    "start_time": status.start_time or self.now,
                }
                return status.model_copy(update=update), new
            cost += view.cost_microdollars
            update = {
                "child": view.name,
                "attempts": attempts,
                "recovered": recovery,
                "cost_microdollars": cost,
                "start_time": status.start_time or view.start_time or self.now,
            }
            status = status.model_copy(update=update)
            if not view.finished:
                return status.model_copy(update={"phase": ItemPhase.RUNNING}), view.name
            if item_phase(view) is ItemPhase.SUCCEEDED:
                return self._succeeded(status, view, walk), None
            error, ended = view.error_text, view.completion_time
            if stop is not None and item_phase(view) is ItemPhase.CANCELLED:
                return self._ended(status, ItemPhase.CANCELLED, error, ended), None
        return self._ended(status, ItemPhase.FAILED, error, ended), None

    def _new_child(
        self, ref: ChildRef, walk: ChainWalk, cost: int, error: str | None
    ) -> NewChild | Outcome:
        if not walk.previous_known:
            message = (
                f"the output of the step before {self.step.name} is gone"
                " (its child task was deleted)"
            )
            return Outcome(Verdict.FAILED, TaskReason.CHILD_LOST, message, "")
        template = self.step.recovery_prompt if error is not None else self.step.prompt
        assert template is not None
        prompt = render(
            template, previous_output=walk.previous_output, step_vars=walk.step_vars, error=error
        )
        prompt += feedback(self.parent)  # after a rejection; never rendered as a template
        config = self.parent.spec.config
        cap = config.max_budget_microdollars if config else None
        share = budget_share(cap, committed=walk.committed + cost, reserved=0, unstarted=1)
        if share == 0:
            message = f"spec.config.maxBudgetMicrodollars is spent before step {self.step.name}"
            return Outcome(
                Verdict.FAILED, FailureReason.BUDGET_EXCEEDED, message, walk.previous_output
            )
        try:
            spec = inherited_spec(self.parent.spec, share, config=self.step.config, prompt=prompt)
        except ValidationError as exc:
            message = f"step {self.step.name} cannot be created: {exc.errors()[0]['msg']}"
            return Outcome(Verdict.FAILED, TaskReason.INVALID_SPEC, message, walk.previous_output)
        return NewChild(ref, spec, dict(walk.resume))

    def _succeeded(self, status: StepStatus, view: ChildView, walk: ChainWalk) -> StepStatus:
        found = extract_vars(self.step.output_vars or {}, view.output, view.structured_output)
        walk.previous_output, walk.previous_known = view.output, True
        walk.step_vars[self.step.name] = found
        walk.resume = {}
        if view.session_id and view.slot:
            walk.resume = {
                RESUME_SESSION_ANNOTATION: view.session_id,
                PREFERRED_SLOT_ANNOTATION: view.slot,
            }
        text, cut = preview(view.output, MAX_ITEM_OUTPUT)
        update = {
            "phase": ItemPhase.SUCCEEDED,
            "output": text,
            "output_truncated": cut,
            "vars": {k: v[:MAX_ITEM_OUTPUT] for k, v in found.items()} or None,
            "completion_time": view.completion_time or self.now,
        }
        return status.model_copy(update=update)

    def _ended(
        self, status: StepStatus, phase: ItemPhase, error: str, ended: datetime | None
    ) -> StepStatus:
        text, cut = preview(error, MAX_ITEM_OUTPUT)
        update = {
            "phase": phase,
            "output": text,
            "output_truncated": cut,
            "message": error[:MAX_MESSAGE_LENGTH],
            "completion_time": ended or self.now,
        }
        return status.model_copy(update=update)

    def _from_record(self, old: StepStatus, walk: ChainWalk) -> StepStatus:
        """A finished step whose children are gone: trust what status recorded."""
        if old.phase is ItemPhase.SUCCEEDED:
            walk.previous_output, walk.previous_known = old.output, not old.output_truncated
            walk.step_vars[old.name] = dict(old.vars or {})
            walk.resume = {}
        return old
