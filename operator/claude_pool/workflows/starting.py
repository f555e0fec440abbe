"""What a task start adds to the resolved request: review feedback, messages, identity (pure).

The pool worker calls `plan_start(...)` when it dispatches a task to slot N, after
`resolving.resolve_request` and before the assignment write:

    start = plan_start(pool, task, slot_index, pool_messages, claimed)
    request = with_start(resolve_request(pool, start.prompt, ...), start)
    patch = {**transitions.assigned(...), **start.status_fields()}

`start.prompt` is the task's prompt with the latest rejection feedback appended (review
re-runs) and the slot's messages prepended; `start.identity` is the slot's identity line;
`start.context_revision` and `start.messages` go into the task's status with the
assignment, in the same write (so a delivery is recorded exactly once).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from claude_pool.api.agent import TaskRequest
from claude_pool.api.messages import ClaudeMessage
from claude_pool.api.pools import ClaudePool
from claude_pool.api.tasks import ClaudeTask
from claude_pool.workflows.identity import context_revision, identity_line
from claude_pool.workflows.messages import inbox, prepend_messages
from claude_pool.workflows.review import run_prompt


@dataclass(frozen=True)
class StartPlan:
    """The parts of one task start that do not come from the task's config."""

    prompt: str
    identity: str | None
    context_revision: str
    messages: tuple[str, ...]
    """Names of the ClaudeMessages the prompt carries."""

    def status_fields(self) -> dict[str, Any]:
        """Fields for the task's assignment patch (merge patch of .status)."""
        return {"contextRevision": self.context_revision, "messages": list(self.messages)}


def plan_start(
    pool: ClaudePool,
    task: ClaudeTask,
    slot_index: int,
    messages: Sequence[ClaudeMessage],
    claimed: Collection[str] = (),
    *,
    base_prompt: str | None = None,
) -> StartPlan:
    """The start of `task` on slot `slot_index` of `pool`.

    `messages` are the pool's ClaudeMessages; `claimed` the names live tasks on this slot
    already carry (see `messages.inbox`). `base_prompt` is the prompt for composite
    children (default: the task's spec.prompt)."""
    original = base_prompt if base_prompt is not None else task.spec.prompt or ""
    prompt = run_prompt(original, task.spec.review, task.status.review)
    chosen = inbox(
        [m for m in messages if m.spec.pool_ref.name == pool.metadata.name], slot_index, claimed
    )
    return StartPlan(
        prompt=prepend_messages(prompt, chosen),
        identity=identity_line(pool.spec, slot_index),
        context_revision=context_revision(pool.spec.context),
        messages=tuple(m.metadata.name for m in chosen),
    )


def with_start(request: TaskRequest, start: StartPlan) -> TaskRequest:
    """The request with the start's prompt and identity (validated again)."""
    wire = {**request.to_wire(), "prompt": start.prompt}
    if start.identity is not None:
        wire["identity"] = start.identity
    return TaskRequest.model_validate(wire)
