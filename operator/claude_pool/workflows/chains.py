"""Chains: the step state machine, as a pure function of the chain's children (resumable).

Called by `claude_pool.workflows.rollup.reconcile` for a task with spec.chain. Each attempt
of a step is its own child task (`<parent>-<step>`, then `<parent>-<step>.1`, ...), the
recovery another (`<parent>-<step>.recovery`). `plan_chain` walks the steps in order and
reads each attempt's child: a step succeeds with its first successful attempt; after
1 + retries failed attempts its recovery prompt (if any) runs once with `{error}` and its
result, good or bad, is the step's; a step that ends unsuccessful stops the chain (Failed,
its output the error text, the later steps Skipped). A stop (cancel, timeout) cancels the
running child, skips the remaining steps, and the output is the last finished step's.

Nothing but the children (and, for a child that was deleted, the step recorded in status)
decides where the chain is, so after an operator crash the same walk finds the same next
child: no step runs twice to completion, none is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError

from claude_pool.api.common import MAX_ITEM_OUTPUT, MAX_MESSAGE_LENGTH
from claude_pool.api.composites import ItemPhase, StepStatus
from claude_pool.api.failures import FailureReason
from claude_pool.api.modes import Chain, ChainStep
from claude_pool.api.reasons import TaskReason
from claude_pool.api.tasks import ClaudeTask
from claude_pool.workflows.children import ChildRef, ChildView, budget_share, inherited_spec
from claude_pool.workflows.plans import (
    NewChild,
    Outcome,
    Plan,
    Progress,
    Stop,
    Verdict,
    item_phase,
    preview,
)
from claude_pool.workflows.templating import extract_vars, render


@dataclass
class _Walk:
    """What the walk has learnt so far (mutable, local to one plan_chain call)."""

    previous_output: str = ""
    previous_known: bool = True
    step_vars: dict[str, dict[str, str]] = field(default_factory=dict)
    committed: int = 0
    steps: list[StepStatus] = field(default_factory=list)


def plan_chain(
    parent: ClaudeTask, children: Mapping[str, ChildView], stop: Stop | None, now: datetime
) -> tuple[Plan, list[StepStatus]]:
    """The next step of a chain, and its steps' statuses to record."""
    chain = parent.spec.chain
    assert chain is not None
    return plan_steps(parent, chain, children, stop, now)


def plan_steps(
    parent: ClaudeTask,
    chain: Chain,
    children: Mapping[str, ChildView],
    stop: Stop | None,
    now: datetime,
) -> tuple[Plan, list[StepStatus]]:
    recorded = {s.name: s for s in parent.status.steps}
    walk = _Walk()
    total = len(chain.steps)
    for index, step in enumerate(chain.steps):
        state = _StepWalk(parent, index, step, children, recorded.get(step.name), now)
        status, action = state.run(walk, stop)
        walk.steps.append(status)
        walk.committed += status.cost_microdollars
        if isinstance(action, Outcome):
            return _finish(walk, chain, index, action)
        if action is not None:  # the chain waits here: a child to create or to finish
            rest = [StepStatus(name=s.name) for s in chain.steps[index + 1 :]]
            done = sum(1 for s in walk.steps if s.phase is ItemPhase.SUCCEEDED)
            progress = Progress(done, total, step.name, status.start_time)
            return action_plan(action, progress, step.name, stop), [*walk.steps, *rest]
        if status.phase is ItemPhase.SUCCEEDED:
            continue
        return _finish(walk, chain, index, _step_outcome(status, stop, walk))
    outcome = Outcome(
        Verdict.SUCCEEDED,
        TaskReason.COMPLETED,
        f"all {total} steps succeeded",
        walk.previous_output,
    )
    return Plan(
        outcome=outcome, progress=Progress(total, total), message=outcome.message
    ), walk.steps


def action_plan(action: NewChild | str, progress: Progress, step: str, stop: Stop | None) -> Plan:
    if isinstance(action, NewChild):
        return Plan(
            (action,),
            (),
            None,
            progress,
            f"step {step} ({progress.completed + 1} of {progress.total})",
        )
    if stop is not None:
        return Plan((), (action,), None, progress, f"stopping: cancelling step {step}")
    return Plan(
        (), (), None, progress, f"step {step} ({progress.completed + 1} of {progress.total})"
    )


def _finish(
    walk: _Walk, chain: Chain, index: int, outcome: Outcome
) -> tuple[Plan, list[StepStatus]]:
    skipped = [StepStatus(name=s.name, phase=ItemPhase.SKIPPED) for s in chain.steps[index + 1 :]]
    done = sum(1 for s in walk.steps if s.phase is ItemPhase.SUCCEEDED)
    plan = Plan(outcome=outcome, progress=Progress(done, len(chain.steps)), message=outcome.message)
    return plan, [*walk.steps, *skipped]


def _step_outcome(status: StepStatus, stop: Stop | None, walk: _Walk) -> Outcome:
    """The chain's end at a step that did not succeed; a stop wins over a failure."""
    if stop is Stop.CANCEL:
        message = f"cancelled at step {status.name}"
        return Outcome(
            Verdict.CANCELLED, TaskReason.CANCEL_REQUESTED, message, walk.previous_output
        )
    if stop is Stop.TIMEOUT:
        message = f"spec.timeoutSeconds passed at step {status.name}"
        return Outcome(Verdict.FAILED, FailureReason.TIMEOUT, message, walk.previous_output)
    message = f"step {status.name} failed: {status.message}"[:MAX_MESSAGE_LENGTH]
    return Outcome(Verdict.FAILED, TaskReason.CHILD_FAILED, message, status.message)


class _StepWalk:
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

    def run(
        self, walk: _Walk, stop: Stop | None
    ) -> tuple[StepStatus, NewChild | str | Outcome | None]:
        """The step's status, and what the chain waits for (None: the step is over)."""
        step, name = self.step, self.parent.metadata.name
        old = self.recorded
        if (
            old is not None
            and old.phase in (ItemPhase.SUCCEEDED, ItemPhase.FAILED)
            and not self._seen_any()
        ):
            return self._from_record(old, walk), None
        status = StepStatus(name=step.name, start_time=old.start_time if old else None)
        cost, error = 0, ""
        refs = [ChildRef.step_attempt(self.index, step.name, k) for k in range(step.retries + 1)]
        if step.recovery_prompt is not None:
            refs.append(ChildRef.recovery(self.index, step.name))
        for ref in refs:
            view = self.children.get(ref.name(name))
            recovery = ref.role.value == "recovery"
            if view is None:
                if stop is not None:
                    phase = ItemPhase.SKIPPED if status.attempts == 0 else ItemPhase.CANCELLED
                    return status.model_copy(
                        update={"phase": phase, "cost_microdollars": cost, "message": "stopped"}
                    ), None
                new = self._new_child(ref, walk, cost, error if recovery else None)
                if isinstance(new, Outcome):
                    return status, new
                start = status.start_time or self.now
                return status.model_copy(
                    update={
                        "phase": ItemPhase.RUNNING,
                        "child": ref.name(name),
                        "attempts": status.attempts + (0 if recovery else 1),
                        "recovered": recovery,
                        "cost_microdollars": cost,
                        "start_time": start,
                    }
                ), new
            cost += view.cost_microdollars
            status = status.model_copy(
                update={
                    "child": view.name,
                    "attempts": status.attempts + (0 if recovery else 1),
                    "recovered": recovery,
                    "cost_microdollars": cost,
                    "start_time": status.start_time or view.start_time or self.now,
                }
            )
            if not view.finished:
                return status.model_copy(update={"phase": ItemPhase.RUNNING}), view.name
            if item_phase(view) is ItemPhase.SUCCEEDED:
                return self._succeeded(status, view, walk), None
            error = view.error_text
            if stop is not None and item_phase(view) is ItemPhase.CANCELLED:
                return self._ended(status, ItemPhase.CANCELLED, error), None
        return self._ended(status, ItemPhase.FAILED, error), None

    def _seen_any(self) -> bool:
        name = self.parent.metadata.name
        keys = [
            ChildRef.step_attempt(self.index, self.step.name, k)
            for k in range(self.step.retries + 1)
        ]
        keys.append(ChildRef.recovery(self.index, self.step.name))
        return any(ref.name(name) in self.children for ref in keys)

    def _new_child(
        self, ref: ChildRef, walk: _Walk, cost: int, error: str | None
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
        return NewChild(ref, spec)

    def _succeeded(self, status: StepStatus, view: ChildView, walk: _Walk) -> StepStatus:
        found = extract_vars(self.step.output_vars or {}, view.output, view.structured_output)
        walk.previous_output, walk.previous_known = view.output, True
        walk.step_vars[self.step.name] = found
        text, cut = preview(view.output, MAX_ITEM_OUTPUT)
        return status.model_copy(
            update={
                "phase": ItemPhase.SUCCEEDED,
                "output": text,
                "output_truncated": cut,
                "vars": {k: v[:MAX_ITEM_OUTPUT] for k, v in found.items()} or None,
                "completion_time": view.completion_time or self.now,
            }
        )

    def _ended(self, status: StepStatus, phase: ItemPhase, error: str) -> StepStatus:
        text, cut = preview(error, MAX_ITEM_OUTPUT)
        return status.model_copy(
            update={
                "phase": phase,
                "output": text,
                "output_truncated": cut,
                "message": error[:MAX_MESSAGE_LENGTH],
                "completion_time": self.now,
            }
        )

    def _from_record(self, old: StepStatus, walk: _Walk) -> StepStatus:
        """A finished step whose children are gone: trust what status recorded."""
        if old.phase is ItemPhase.SUCCEEDED:
            walk.previous_output, walk.previous_known = old.output, not old.output_truncated
            walk.step_vars[old.name] = dict(old.vars or {})
        return old
