"""Cycle step 2a: the hand-off: a composite's next children created while results are written.

Called by `runtime.worker` right after `recording.collect`, concurrently with the cost commit
and the result writes. A collected run that `recording.record` will finish (`finishing`)
and that is a composite's child is seen as its result patch will make it
(`recording.ending`, applied to its status with `status.patches.merge_apply`, its whole
output from the run), and `Composer.anticipate` creates what its parent needs next: the
chain's next step, the fan-out's next item, the routed children. So the next step's child
exists when the step's result has been written, and the dispatch step of the same cycle
starts it (on the slot the step before just left, unless a task ahead of it in the
queue, by priority then age, is owed that slot: the hand-off never jumps the queue).
Without this, the next child was created only after the result write had landed: one more
round trip between two steps.

Safe across a crash: the child created is the one the composing step would create once the
result is written (the same reconcile over the same result, and names are deterministic:
a later create of it finds it). If the operator dies after the create and before the result
write, the result is still on its slot and is collected and written again after the
restart; the next child, already created, runs once. No step runs twice to completion, none
is skipped.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping

from claude_pool.api.common import dump
from claude_pool.api.pools import ClaudePool
from claude_pool.api.tasks import ClaudeTaskStatus
from claude_pool.controllers.state import PodView, TaskView
from claude_pool.runtime.announcing import Announcer
from claude_pool.runtime.composing import Composer
from claude_pool.runtime.recording import Collected, ending, finishing
from claude_pool.status.patches import merge_apply
from claude_pool.workflows.children import ChildView

log = logging.getLogger("claude_pool.worker")


def finished_children(
    pool: ClaudePool,
    collected: Collected,
    tasks: list[TaskView],
    pods: Mapping[str, PodView],
    now: dt.datetime,
    output_limit: int,
) -> dict[str, dict[str, ChildView]]:
    """Children whose result `record` is about to write, as that write makes them: by
    parent uid, then by child name."""
    found: dict[str, dict[str, ChildView]] = defaultdict(dict)
    for task, run, result in finishing(collected, tasks, pods):
        model = task.as_task()
        if task.parent_uid is None or model is None:
            continue
        patch = ending(pool, task, run, result, now, output_limit).patch
        status = ClaudeTaskStatus.model_validate(merge_apply(dump(model.status), patch))
        ended = model.model_copy(update={"status": status})
        found[task.parent_uid][task.name] = ChildView.from_task(ended, full_output=result.output)
    return found


async def hand_off(
    pool: ClaudePool,
    collected: Collected,
    tasks: list[TaskView],
    pods: Mapping[str, PodView],
    now: dt.datetime,
    *,
    composer: Composer,
    announcer: Announcer,
    output_limit: int,
    start: Callable[[set[str]], Awaitable[object]],
) -> None:
    """Create the next children of the composites whose children just ended, and `start`
    them (the dispatch step limited to their uids); see the module docstring. A failure is
    logged and left to the cycle's own composing and dispatch steps."""
    ahead = finished_children(pool, collected, tasks, pods, now, output_limit)
    by_uid = {t.uid: t for t in tasks}
    parents = [(by_uid[uid], views) for uid, views in ahead.items() if uid in by_uid]
    results = await asyncio.gather(
        *(
            composer.anticipate(pool, parent, views, now, announcer)
            for parent, views in parents
            if parent.composite and not parent.finished and parent.invalid is None
        ),
        return_exceptions=True,
    )
    for error in (r for r in results if isinstance(r, BaseException)):
        log.warning("pool %s: creating the next child task failed: %r", pool.metadata.name, error)
    created = {uid for r in results if isinstance(r, set) for uid in r}
    if created:
        try:
            await start(created)
        except Exception as exc:
            log.warning("pool %s: starting the next child task failed: %r", pool.metadata.name, exc)
