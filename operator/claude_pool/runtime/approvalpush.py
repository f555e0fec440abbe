"""Push on approval: the slot pushes an approved task's branch before the approval is written.

Called by `runtime.reviewing` for an approving review of a task whose pool has
`spec.workspace.pushOnApproval` (`workflows.pushing`, pure, decides and builds the patch).
The branch is in the clone of the slot pod that ran the task (`status.workspace.slot`): that
same pod, or with a claimTemplate any pod of that name (the claim holds the clone). While
the pod is starting or its clone is not ready, the approval waits for a later cycle (None);
when the clone is gone with its pod, or git refuses the push, the task fails PushFailed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from claude_pool.api.pools import ClaudePool
from claude_pool.controllers.state import PodView, TaskView
from claude_pool.runtime.runs import base_url
from claude_pool.slots.client import PushRefused, SlotClient, SlotError, SlotUnreachable
from claude_pool.slots.workspaces import uses_claims
from claude_pool.workflows.pushing import pending_push, push_failed, pushed

log = logging.getLogger("claude_pool.worker")


async def push_on_approval(
    pool: ClaudePool,
    view: TaskView,
    patch: dict[str, Any],
    pods: Mapping[str, PodView],
    now: dt.datetime,
    *,
    token: str | None,
    slots: SlotClient,
) -> dict[str, Any] | None:
    """The approval's patch after the push (unchanged when nothing waits for it); None
    when the push cannot be tried now (retried at the next cycle)."""
    task = view.as_task()
    workspace = pending_push(pool.spec.workspace, task) if task is not None else None
    if workspace is None:
        return patch
    pod = pods.get(workspace.slot or "")
    same_clone = pod is not None and (pod.uid == view.slot_uid or uses_claims(pool.spec.workspace))
    if pod is None or not same_clone:
        message = f"the clone holding branch {workspace.branch} went with pod {workspace.slot}"
        return push_failed(patch, message, view.generation, now)
    if token is None or not pod.ip or pod.terminating:
        return None
    try:
        answer = await slots.push(base_url(pod), token, workspace.branch)
    except PushRefused as refused:
        log.info("push on approval of %s refused: %s", view.name, refused)
        return push_failed(patch, str(refused), view.generation, now)
    except (SlotUnreachable, SlotError):
        return None
    return pushed(patch, workspace, answer.commit)
