"""spec.promptFrom read at dispatch: the ConfigMap or Secret key that holds a task's prompt.

Used by the dispatch step (`runtime.assigning`). In queue order, the prompts of promptFrom
tasks are read (`Kube.read_config_key`, on the client's thread pool, never on the event
loop) until there are as many runnable tasks as idle slots, so a long queue costs no reads.
A task whose key is missing, empty, not UTF-8 or over 1 MiB gets Admitted=False with the
reason (`workflows.prompting`) and stays out of this cycle's scheduling; it is read again at
the next cycle with a free slot (at least every resync), so it starts once the key appears.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from claude_pool.controllers.state import TaskView
from claude_pool.kube.client import Kube
from claude_pool.runtime.statuswriting import StatusWriter
from claude_pool.scheduling.dispatching import QueuedTask, queue_order
from claude_pool.status import tasks as transitions
from claude_pool.workflows.prompting import PromptOutcome, prompt_from_value, source_key


@dataclass
class Prompts:
    """The prompts read this cycle (task uid -> text) and the tasks that must wait."""

    read: dict[str, str] = field(default_factory=dict)
    waiting: set[str] = field(default_factory=set)


async def read_prompt(task: TaskView, kube: Kube) -> PromptOutcome:
    """The prompt of a promptFrom task, or why there is none."""
    assert task.spec is not None
    assert task.spec.prompt_from is not None
    key = source_key(task.spec.prompt_from)
    value = await kube.read_config_key(str(key.kind), task.namespace, key.name, key.key)
    return prompt_from_value(key, value)


async def read_prompts(
    tasks: list[TaskView],
    room: int,
    now: dt.datetime,
    *,
    kube: Kube,
    writer: StatusWriter,
) -> Prompts:
    """Read the promptFrom prompts of the first `room` runnable tasks in queue order."""
    found = Prompts()
    by_order = queue_order_of(tasks)
    runnable = 0
    for task in by_order:
        if runnable >= room:
            break
        assert task.spec is not None
        if task.spec.prompt_from is None:
            runnable += 1
            continue
        outcome = await read_prompt(task, kube)
        if outcome.prompt is not None:
            found.read[task.uid] = outcome.prompt
            runnable += 1
            continue
        found.waiting.add(task.uid)
        assert task.status is not None
        assert outcome.reason is not None
        patch = transitions.waiting(
            task.status, outcome.reason, outcome.message, task.generation, now, mode=task.mode
        )
        if patch is not None:
            await writer.patch_task(task, patch)
    return found


def queue_order_of(tasks: list[TaskView]) -> list[TaskView]:
    """`tasks` in the dispatcher's order (priority, creation time, name)."""
    keyed = {t.uid: t for t in tasks}
    items = [QueuedTask(t.uid, t.name, t.priority, t.created, 0) for t in tasks]
    return [keyed[q.uid] for q in queue_order(items)]
