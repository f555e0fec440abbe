"""A composite task's reconciliation: its children's states -> its status and next actions.

`reconcile` is the one call the pool worker makes for a fan-out, chain or auto task, every
cycle while it is unfinished: give it the parent and the children it observes (by name,
selected by the `claudepool.io/parent-uid` label, as `ChildView`s with whole outputs) and
`now`. It returns the parent's whole new status (typed), the child manifests to create
(create-if-absent), the children to cancel (`spec.cancel: true`), and, when the combined
output is longer than status holds, the whole text for the ConfigMap named in
`status.result.outputRef`. Pure and level-based: the same inputs give the same answer.

A chain's status.workspace is its last finished step's (the chain's branch so far).
Conditions: Admitted=True (Composite); Running=True with Routing, ChildrenRunning or
Cancelling; at the end Running=False (Finished) and Succeeded, Failed or Cancelled; with a
review gate, a success is held in AwaitingReview instead (`Reviewed=False`, see
`workflows.reruns`: a rejection re-runs it as a new generation of children, which is all
this reconcile looks at). The parent's cost is the sum of its children's, every generation's
(each child is counted in the pool's spend once, as a leaf); the parent adds nothing. It
finishes only when no child is unfinished, so its cost is final when it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from claude_pool.api.common import MAX_OUTPUT_LENGTH
from claude_pool.api.composites import ChildrenSummary
from claude_pool.api.conditions import ConditionStatus, TaskConditionType, set_condition
from claude_pool.api.money import format_dollars
from claude_pool.api.phases import TaskPhase, derive_phase, is_finished
from claude_pool.api.reasons import TaskReason
from claude_pool.api.results import TaskResult
from claude_pool.api.tasks import ClaudeTask, ClaudeTaskStatus, Progress, TaskMode, task_mode
from claude_pool.api.taskworkspaces import TaskWorkspace
from claude_pool.workflows.autorouting import plan_auto
from claude_pool.workflows.chains import plan_chain
from claude_pool.workflows.children import ChildView, child_manifest
from claude_pool.workflows.fanout import plan_fan_out
from claude_pool.workflows.plans import Outcome, Plan, Stop, Verdict
from claude_pool.workflows.reruns import current, generation_of, hold, with_feedback
from claude_pool.workflows.review import requires_review

T, F = ConditionStatus.TRUE, ConditionStatus.FALSE
_VERDICT_CONDITION = {
    Verdict.SUCCEEDED: TaskConditionType.SUCCEEDED,
    Verdict.FAILED: TaskConditionType.FAILED,
    Verdict.CANCELLED: TaskConditionType.CANCELLED,
}


@dataclass(frozen=True)
class Reconciliation:
    """What the worker does for a composite task this cycle."""

    status: ClaudeTaskStatus
    """The parent's new status; write it when it differs from the current one."""
    create: tuple[dict[str, Any], ...] = ()
    """Child ClaudeTask manifests to create if absent (a 409 means it exists)."""
    cancel: tuple[str, ...] = ()
    """Children to cancel (patch spec.cancel: true)."""
    long_output: str | None = None
    """The whole combined output, when status.result keeps only its beginning."""


def stop_reason(parent: ClaudeTask, now: datetime) -> Stop | None:
    """Whether the parent must stop: cancelled, or running longer than its timeout."""
    if parent.spec.cancel:
        return Stop.CANCEL
    limit, started = parent.spec.timeout_seconds, parent.status.start_time
    review = parent.status.review
    if review is not None and review.rerun_start_time is not None:
        started = review.rerun_start_time  # a re-run after a rejection: its own time
    if limit is not None and started is not None and now - started >= timedelta(seconds=limit):
        return Stop.TIMEOUT
    return None


def reconcile(
    parent: ClaudeTask,
    children: Mapping[str, ChildView],
    *,
    now: datetime,
    pool_router_prompt: str | None = None,
) -> Reconciliation:
    """The parent's status and the actions its children need (see the module docstring)."""
    status = parent.status.model_copy(deep=True)
    if status.phase is not None and (
        is_finished(status.phase) or status.phase is TaskPhase.AWAITING_REVIEW
    ):
        return Reconciliation(status)
    stop = stop_reason(parent, now)
    mode = task_mode(parent.spec)
    children = current(children, parent)
    parent, invalid = with_feedback(parent)
    if invalid is not None:
        outcome = Outcome(Verdict.FAILED, TaskReason.INVALID_SPEC, invalid, "")
        plan, cost = Plan(outcome=outcome, message=invalid), 0
    elif mode is TaskMode.FAN_OUT:
        plan, items = plan_fan_out(parent, children, stop)
        status.items = items
        cost = sum(i.cost_microdollars for i in items)
    elif mode is TaskMode.CHAIN:
        plan, steps = plan_chain(parent, children, stop, now)
        status.steps = steps
        status.workspace = last_workspace(children) or status.workspace
        cost = sum(s.cost_microdollars for s in steps)
    elif mode is TaskMode.AUTO:
        plan, routing = plan_auto(parent, children, stop, pool_router_prompt)
        status.routing, status.route = routing, routing.route
        cost = sum(v.cost_microdollars for v in children.values())
    else:
        raise ValueError(f"{parent.metadata.name} is a single task, not a composite")
    earlier = parent.status.review.earlier_cost_microdollars if parent.status.review else 0
    cost = max(cost + earlier, parent.status.cost_microdollars)
    manifests = tuple(
        child_manifest(parent, new.ref, new.spec, new.annotations) for new in plan.create
    )
    long_output = _apply(parent, status, plan, mode, cost, children, stop, now)
    return Reconciliation(status, manifests, plan.cancel, long_output)


def last_workspace(children: Mapping[str, ChildView]) -> TaskWorkspace | None:
    """The workspace of the child that finished last with one (a chain's branch so far)."""
    done = [v for v in children.values() if v.workspace is not None and v.completion_time]
    latest = max(done, key=lambda v: (v.completion_time, v.name), default=None)
    return None if latest is None else latest.workspace


def summarise(children: Mapping[str, ChildView], generation: int = 0) -> ChildrenSummary:
    """The children (of one generation) counted by phase."""
    phases = [v.phase for v in children.values()]

    def count(*wanted: TaskPhase) -> int:
        return sum(1 for p in phases if p in wanted)

    return ChildrenSummary(
        total=len(phases),
        generation=generation,
        pending=count(TaskPhase.PENDING, TaskPhase.WAITING),
        running=count(TaskPhase.RUNNING, TaskPhase.AWAITING_REVIEW),
        succeeded=count(TaskPhase.SUCCEEDED),
        failed=count(TaskPhase.FAILED),
        cancelled=count(TaskPhase.CANCELLED),
    )


def _output_ref(parent: str, rerun: int) -> str:
    """The ConfigMap of a long combined output: one per review generation (the earlier
    one stays as the record of the rejected result; create-if-absent never overwrites)."""
    return f"{parent}-output" + (f".g{rerun}" if rerun else "")


def _apply(
    parent: ClaudeTask,
    status: ClaudeTaskStatus,
    plan: Plan,
    mode: TaskMode,
    cost: int,
    children: Mapping[str, ChildView],
    stop: Stop | None,
    now: datetime,
) -> str | None:
    """Write the plan into `status` (in place); return the long output, if any."""
    generation = parent.metadata.generation
    conditions = status.conditions
    pool = parent.spec.pool_ref.name
    message = f"its children run on pool {pool}"
    set_condition(
        conditions, TaskConditionType.ADMITTED, T, TaskReason.COMPOSITE, message, generation, now
    )
    status.mode, status.observed_generation = mode, generation
    rerun = generation_of(parent)
    status.children = summarise(children, rerun)
    status.cost_microdollars, status.cost = cost, format_dollars(cost)
    if status.start_time is None and (plan.create or children):
        status.start_time = now.replace(microsecond=0)
    progress = plan.progress
    status.progress = Progress(
        cost_microdollars=cost,
        completed_steps=progress.completed,
        total_steps=progress.total,
        current_step=progress.current_step if plan.outcome is None else None,
        current_step_start_time=progress.current_step_start if plan.outcome is None else None,
    )
    outcome = plan.outcome
    if outcome is None:
        reason = TaskReason.CHILDREN_RUNNING
        if plan.routing:
            reason = TaskReason.ROUTING
        if stop is not None or plan.cancel:
            reason = TaskReason.CANCELLING
        message = plan.message if rerun == 0 else f"generation {rerun}: {plan.message}"
        set_condition(conditions, TaskConditionType.RUNNING, T, reason, message, generation, now)
        status.phase = derive_phase(conditions)
        return None
    set_condition(
        conditions,
        TaskConditionType.RUNNING,
        F,
        TaskReason.FINISHED,
        outcome.message,
        generation,
        now,
    )
    if outcome.verdict is Verdict.SUCCEEDED and requires_review(parent.spec):
        hold(status, generation, now)
    else:
        set_condition(
            conditions,
            _VERDICT_CONDITION[outcome.verdict],
            T,
            outcome.reason,
            outcome.message,
            generation,
            now,
        )
        status.phase = derive_phase(conditions)
    status.completion_time = status.completion_time or now.replace(microsecond=0)
    text = outcome.output
    long = len(text) > MAX_OUTPUT_LENGTH
    status.result = TaskResult(
        output=text[:MAX_OUTPUT_LENGTH],
        output_truncated=long,
        output_size=len(text.encode()),
        output_ref=_output_ref(parent.metadata.name, rerun) if long else None,
        success=outcome.verdict is Verdict.SUCCEEDED,
        cost_microdollars=cost,
    )
    return text if long else None
