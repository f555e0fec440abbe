"""The review gate of a composite task (fan-out, chain, auto): generations of children (pure).

A composite task with `spec.review.required` is reviewed as a whole, on its aggregated
result. `claude_pool.workflows.rollup.reconcile` holds a rollup that would make it Succeeded
in AwaitingReview (`hold`); a rollup that makes it Failed or Cancelled ends it as usual,
unreviewed, as a single task whose run failed. A rejection (`review._reject`) re-runs the
whole composite as a new generation of children: generation n (n rejections so far) names
its children with the suffix `.g<n>` (`workflows.children.ChildRef`), so a crash re-creates
the same objects, and the rejected generations' children stay as the record (their cost,
final when rejected, is kept in `status.review.earlierCostMicrodollars` and counted once in
the parent's cost; each leaf was committed to the pool's spend once, as any leaf).

The new generation's prompts carry the seed's feedback block (`review.feedback_block`) after
the original text: every fan-out item prompt (for items that are chains: every step and
recovery prompt of the chain), every chain step and recovery prompt (appended after the
template is rendered, `chainsteps`), and an auto task's prompt before routing (so the router
and a fallback see it).

Called by `rollup` (generation, feedback, `current`, `with_feedback`, `hold`) and by the
planners (`fanout`, `chainsteps`, `autorouting`) for their children's names.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TypeVar

from pydantic import ValidationError

from claude_pool.api.common import dump
from claude_pool.api.conditions import ConditionStatus, TaskConditionType, set_condition
from claude_pool.api.modes import Chain
from claude_pool.api.phases import derive_phase
from claude_pool.api.reasons import TaskReason
from claude_pool.api.tasks import (
    ClaudeTask,
    ClaudeTaskSpec,
    ClaudeTaskStatus,
    ReviewState,
    ReviewStatus,
)
from claude_pool.workflows.children import child_generation
from claude_pool.workflows.review import requires_review, run_prompt

AWAITING_MESSAGE = "the aggregated result waits for a ClaudeReview (approve or reject)"
V = TypeVar("V")


def generation_of(parent: ClaudeTask) -> int:
    """The generation of children the parent runs now: its rejections so far (0 without a
    review gate)."""
    review = parent.status.review
    if not requires_review(parent.spec) or review is None:
        return 0
    return review.rejections


def feedback(parent: ClaudeTask) -> str:
    """The block appended to the current generation's prompts ("" for the first)."""
    if generation_of(parent) == 0:
        return ""
    return run_prompt("", parent.spec.review, parent.status.review)


def current(children: Mapping[str, V], parent: ClaudeTask) -> dict[str, V]:
    """The children of the generation the parent runs now (earlier ones are the record)."""
    wanted = generation_of(parent)
    return {name: view for name, view in children.items() if child_generation(name) == wanted}


def with_feedback(parent: ClaudeTask) -> tuple[ClaudeTask, str | None]:
    """The parent whose spec the planners read: the feedback block appended to its fan-out
    prompts (or the prompts of its fan-out chains) or its auto prompt. A chain's steps get it
    after rendering (`chainsteps`), so their spec is unchanged. The second value says why
    the result is no valid spec (a prompt over the length limit with the block), else None."""
    block = feedback(parent)
    spec = parent.spec
    if not block or spec.chain is not None:
        return parent, None
    update: dict[str, object] = {}
    if spec.fan_out is not None and spec.fan_out.prompts is not None:
        prompts = [prompt + block for prompt in spec.fan_out.prompts]
        update["fan_out"] = spec.fan_out.model_copy(update={"prompts": prompts})
    elif spec.fan_out is not None and spec.fan_out.chains is not None:
        chains = [_chain_with(chain, block) for chain in spec.fan_out.chains]
        update["fan_out"] = spec.fan_out.model_copy(update={"chains": chains})
    elif spec.auto is not None:
        update["auto"] = spec.auto.model_copy(update={"prompt": spec.auto.prompt + block})
    try:
        checked = ClaudeTaskSpec.model_validate(dump(spec.model_copy(update=update)))
    except ValidationError as exc:
        return parent, f"the prompts with the rejection feedback: {exc.errors()[0]['msg']}"
    return parent.model_copy(update={"spec": checked}), None


def _chain_with(chain: Chain, block: str) -> Chain:
    """Every step and recovery prompt of a fan-out's chain item with the feedback block."""
    steps = [
        step.model_copy(
            update={
                "prompt": step.prompt + block,
                "recovery_prompt": None
                if step.recovery_prompt is None
                else step.recovery_prompt + block,
            }
        )
        for step in chain.steps
    ]
    return chain.model_copy(update={"steps": steps})


def hold(status: ClaudeTaskStatus, observed: int | None, now: datetime) -> None:
    """Turn a composite status that finished its children successfully into AwaitingReview
    (in place): `Reviewed=False` (AwaitingReview) instead of Succeeded, the review pending
    since `now`; the aggregated result, cost and completion time stay visible."""
    set_condition(
        status.conditions,
        TaskConditionType.REVIEWED,
        ConditionStatus.FALSE,
        TaskReason.AWAITING_REVIEW,
        AWAITING_MESSAGE,
        observed,
        now,
    )
    status.review = (status.review or ReviewStatus()).model_copy(
        update={"state": ReviewState.PENDING, "awaiting_since": now.replace(microsecond=0)}
    )
    status.phase = derive_phase(status.conditions)
