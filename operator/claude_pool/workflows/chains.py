"""Chains: the step state machine, as a pure function of the chain's children (resumable).

Called by `claude_pool.workflows.rollup.reconcile` for a task with spec.chain. Each attempt
of a step is its own child task (`<parent>-<step>`, then `<parent>-<step>.1`, ...), the
recovery another (`<parent>-<step>.recovery`). `plan_chain` walks the steps in order and
reads each attempt's child: a step succeeds with its first successful attempt; after
1 + retries failed attempts its recovery prompt (if any) runs once with `{error}` and its
result, good or bad, is the step's; a step that ends unsuccessful stops the chain (Failed,
its output the error text, the later steps Skipped). A stop (cancel, timeout) cancels the
running child, skips the remaining steps, and the output is the last finished step's.

One step is read by `claude_pool.workflows.chainsteps`. Nothing but the children (and,
for a child that was deleted, the step recorded in status) decides where the chain is, so
after an operator crash the same walk finds the same next child: no step runs twice to
completion, none is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from claude_pool.api.common import MAX_MESSAGE_LENGTH
from claude_pool.api.composites import ItemPhase, StepStatus
from claude_pool.api.failures import FailureReason
from claude_pool.api.modes import Chain
from claude_pool.api.reasons import TaskReason
from claude_pool.api.tasks import ClaudeTask
from claude_pool.workflows.chainsteps import ChainWalk, StepWalk
from claude_pool.workflows.children import ChildView
from claude_pool.workflows.plans import NewChild, Outcome, Plan, Progress, Stop, Verdict


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
    """Walk `chain`'s steps over their children (see the module docstring)."""
    recorded = {s.name: s for s in parent.status.steps}
    walk = ChainWalk()
    total = len(chain.steps)
    for index, step in enumerate(chain.steps):
        state = StepWalk(parent, index, step, children, recorded.get(step.name), now)
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
    """The plan while the chain waits at `step`: create its child, or wait for (or, when
    stopping, cancel) the child that runs it."""
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
    walk: ChainWalk, chain: Chain, index: int, outcome: Outcome
) -> tuple[Plan, list[StepStatus]]:
    skipped = [StepStatus(name=s.name, phase=ItemPhase.SKIPPED) for s in chain.steps[index + 1 :]]
    done = sum(1 for s in walk.steps if s.phase is ItemPhase.SUCCEEDED)
    plan = Plan(outcome=outcome, progress=Progress(done, len(chain.steps)), message=outcome.message)
    return plan, [*walk.steps, *skipped]


def _step_outcome(status: StepStatus, stop: Stop | None, walk: ChainWalk) -> Outcome:
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
