"""Cycle step 3b: the orphan sweep: results a slot holds for tasks nobody follows.

Called by `runtime.worker` every cycle after supervision. Once per slot pod (by uid) the
agent is asked which tasks it holds (`GET /v1/slot`). A task there that no live task claims
on that slot (deleted while running, or reassigned) is cancelled and followed to its result,
so its cost is still committed: pool spend equals the sum of its tasks' costs, including
tasks since deleted. The commit key (`<uid>/<attempt>`) is that of the run the slot holds:
for a finished task whose status names this slot pod, its last attempt (an operator killed
after writing the result, before the slot dropped it: the ring already holds that key, so
the cost is not counted again); for a task whose status names another slot, or none, the
key `<uid>/0` (an earlier attempt's run: never the key of its current attempt).
"""

from __future__ import annotations

from collections.abc import Mapping

from claude_pool.controllers.state import PodView, TaskView
from claude_pool.runtime.runs import RunTable, base_url
from claude_pool.runtime.taskrun import Target
from claude_pool.slots.client import SlotClient, SlotError, SlotUnreachable


class OrphanSweep:
    """Remembers which pods were probed; `sweep` probes the others."""

    def __init__(self) -> None:
        self._probed: set[str] = set()

    async def sweep(
        self,
        tasks: list[TaskView],
        pods: Mapping[str, PodView],
        *,
        token: str | None,
        runs: RunTable,
        slots: SlotClient,
    ) -> None:
        if token is None:
            return
        known = {t.uid: t for t in tasks}
        for pod in pods.values():
            if pod.uid in self._probed or not pod.ready or not pod.ip:
                continue
            try:
                slot = await slots.slot(base_url(pod), token)
            except (SlotUnreachable, SlotError):
                continue
            self._probed.add(pod.uid)
            for uid in slot.tasks:
                task = known.get(uid)
                if uid in runs or (
                    task is not None and not task.finished and task.slot in (pod.name, None)
                ):
                    continue  # followed by supervision (or about to be dispatched)
                ours = task is not None and (task.slot, task.slot_uid) == (pod.name, pod.uid)
                attempt = task.attempts if task is not None and ours else 0
                run = runs.add(uid, pod, attempt, reservation=0)
                target = Target(base_url(pod), token)
                runs.follow(run, target, None, attach=True, cancel_first=True)
