"""An in-memory stand-in for the pool worker, to drive composite tasks in unit tests.

`Sim` holds ClaudeTask models by name. Each `cycle()` reconciles every unfinished composite
task (creating the children it asks for, create-if-absent, and cancelling the ones it names)
and finishes leaf tasks with what the test's `leaf` function says (None: keep running).
`lose_writes` drops the composite's status write of a cycle, as an operator killed between
creating a child and recording it would; a correct workflow ends the same way regardless.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from claude_pool.api.common import dump
from claude_pool.api.conditions import ConditionStatus, TaskConditionType, set_condition
from claude_pool.api.phases import TaskPhase, derive_phase, is_finished
from claude_pool.api.results import TaskResult
from claude_pool.api.tasks import ClaudeTask, ClaudeTaskStatus
from claude_pool.workflows.children import ChildView, is_child_of
from claude_pool.workflows.rollup import reconcile
from tests.builders import task_manifest

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Finish:
    """How a leaf task ends."""

    success: bool = True
    output: str = ""
    cost: int = 100
    reason: str = "ServerError"
    structured: Any = None


Leaf = Callable[[ClaudeTask], Finish | None]


def answer_all(task: ClaudeTask) -> Finish:
    """Every leaf succeeds with `done: <prompt>`."""
    return Finish(output=f"done: {task.spec.prompt}")


def composite(name: str = "p", uid: str = "uid-p", **spec: Any) -> ClaudeTask:
    """A ClaudeTask model on pool `pool`; spec overrides as in task_manifest (prompt=None)."""
    manifest = task_manifest(name, "pool", prompt=None, **spec)
    manifest["metadata"].update({"namespace": "ns", "uid": uid, "generation": 1})
    return ClaudeTask.model_validate(manifest)


def finish_status(status: ClaudeTaskStatus, finish: Finish, now: datetime) -> ClaudeTaskStatus:
    conditions = list(status.conditions)
    kind = TaskConditionType.SUCCEEDED if finish.success else TaskConditionType.FAILED
    reason = "Completed" if finish.success else finish.reason
    message = "ok" if finish.success else f"boom: {finish.output}"
    set_condition(conditions, kind, ConditionStatus.TRUE, reason, message, 1, now)
    failure = None if finish.success else {"reason": finish.reason, "message": message}
    result = TaskResult.model_validate(
        {
            "output": finish.output,
            "success": finish.success,
            "costMicrodollars": finish.cost,
            "structuredOutput": finish.structured,
            "failure": failure,
        }
    )
    return status.model_copy(
        update={
            "conditions": conditions,
            "phase": derive_phase(conditions),
            "result": result,
            "cost_microdollars": status.cost_microdollars + finish.cost,
            "completion_time": now,
        }
    )


@dataclass
class Sim:
    leaf: Leaf = answer_all
    now: datetime = T0
    tasks: dict[str, ClaudeTask] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    runs: Counter[str] = field(default_factory=Counter)
    cancel_cost: int = 7
    pool_router_prompt: str | None = None
    max_unfinished: Counter[str] = field(default_factory=Counter)

    def add(self, task: ClaudeTask) -> None:
        self.tasks[task.metadata.name] = task

    def get(self, name: str) -> ClaudeTask:
        return self.tasks[name]

    def children(self, parent: ClaudeTask) -> dict[str, ChildView]:
        return {
            name: ChildView.from_task(task)
            for name, task in self.tasks.items()
            if is_child_of(task, parent)
        }

    def cycle(self, *, lose_writes: bool = False, step: timedelta = timedelta(seconds=1)) -> None:
        self.now += step
        for name in list(self.tasks):
            task = self.tasks[name]
            if task.status.phase is not None and is_finished(task.status.phase):
                continue
            if task.spec.prompt is None:
                self._reconcile(task, lose_writes)
            else:
                self._run_leaf(task)

    def run(self, name: str = "p", *, cycles: int = 200, **kw: Any) -> ClaudeTask:
        for _ in range(cycles):
            self.cycle(**kw)
            phase = self.tasks[name].status.phase
            if phase is not None and is_finished(phase):
                return self.tasks[name]
        raise AssertionError(f"{name} did not finish in {cycles} cycles: {self.tasks[name].status}")

    def _reconcile(self, task: ClaudeTask, lose_writes: bool) -> None:
        views = self.children(task)
        unfinished = sum(1 for v in views.values() if not v.finished)
        name = task.metadata.name
        self.max_unfinished[name] = max(self.max_unfinished[name], unfinished)
        result = reconcile(task, views, now=self.now, pool_router_prompt=self.pool_router_prompt)
        for manifest in result.create:
            child = manifest["metadata"]["name"]
            if child not in self.tasks:  # create-if-absent; the apiserver gives the uid
                manifest["metadata"]["uid"] = f"uid-{child}"
                self.tasks[child] = ClaudeTask.model_validate(manifest)
                self.created.append(child)
        for child in result.cancel:
            old = self.tasks[child]
            self.tasks[child] = old.model_copy(
                update={"spec": old.spec.model_copy(update={"cancel": True})}
            )
        if not lose_writes:
            # what the worker writes, read back through the wire form as the apiserver would
            status = ClaudeTaskStatus.model_validate(dump(result.status))
            self.tasks[name] = task.model_copy(update={"status": status})

    def _run_leaf(self, task: ClaudeTask) -> None:
        name = task.metadata.name
        status = task.status
        if status.phase is None:
            conditions = list(status.conditions)
            set_condition(
                conditions,
                TaskConditionType.RUNNING,
                ConditionStatus.TRUE,
                "Dispatched",
                "",
                1,
                self.now,
            )
            status = status.model_copy(
                update={
                    "conditions": conditions,
                    "phase": TaskPhase.RUNNING,
                    "start_time": self.now,
                }
            )
        if task.spec.cancel:
            conditions = list(status.conditions)
            set_condition(
                conditions,
                TaskConditionType.CANCELLED,
                ConditionStatus.TRUE,
                "CancelRequested",
                "cancelled",
                1,
                self.now,
            )
            status = status.model_copy(
                update={
                    "conditions": conditions,
                    "phase": derive_phase(conditions),
                    "cost_microdollars": status.cost_microdollars + self.cancel_cost,
                    "completion_time": self.now,
                }
            )
        else:
            finish = self.leaf(task)
            if finish is not None:
                status = finish_status(status, finish, self.now)
                self.runs[name] += 1
        self.tasks[name] = task.model_copy(update={"status": status})
