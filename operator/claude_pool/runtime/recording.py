"""Cycle step 2: recording finished runs, in two halves around the cost commit.

Called by `runtime.worker`. `collect` takes the outcomes that arrived since the last cycle
from the run table and adds their costs to the spend book (keys `<uid>/<attempt>`; a key
already in the ring adds nothing). The worker then writes the pool's status (forced: that
write is the commit), and only then `record` writes each task's result (long output whole
in an owned ConfigMap), posts an Event and tells the slot to drop the result; a successful
run's CLI session is remembered for its slot pod (sessionPolicy resumeSlot), and a successful
run of a task with a review gate is held in AwaitingReview (`workflows.review.gate_result`)
instead of Succeeded. A crash
between the two writes leaves the result on the slot: collected again, it counts nothing
twice. A run that ended because its slot went away is retried instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from claude_pool.api.agent import SESSION_ID_PATTERN, AgentResult
from claude_pool.api.failures import FailureReason
from claude_pool.api.pools import ClaudePool
from claude_pool.controllers.state import PodView, TaskView
from claude_pool.kube.client import Conflict, Kube
from claude_pool.runtime import metrics
from claude_pool.runtime.announcing import Announcer, EventReason
from claude_pool.runtime.clock import Clock
from claude_pool.runtime.retrying import retry_or_fail
from claude_pool.runtime.runs import Completion, RunTable, base_url
from claude_pool.runtime.slotbook import SlotBook
from claude_pool.runtime.spending import SpendBook
from claude_pool.runtime.statuswriting import StatusWriter
from claude_pool.runtime.taskrun import Finished, Lost, NotStarted
from claude_pool.slots import outputs
from claude_pool.status import tasks as transitions
from claude_pool.workflows.review import gate_result

log = logging.getLogger("claude_pool.worker")
SESSION = re.compile(SESSION_ID_PATTERN)


@dataclass(frozen=True)
class Collected:
    """The outcomes taken this cycle; `committed`: costs were collected, so the pool status
    must be written (the commit) before any result."""

    done: list[Completion]
    committed: bool


def collect(runs: RunTable, book: SpendBook) -> Collected:
    """Take the finished runs and commit their costs to the spend book (in memory)."""
    done = runs.take_completions()
    costs = {
        item.run.key: item.outcome.status.result.cost_microdollars
        for item in done
        if isinstance(item.outcome, Finished) and item.outcome.status.result is not None
    }
    if costs:
        book.commit(costs)
    return Collected(done, committed=bool(costs))


async def record(
    pool: ClaudePool,
    collected: Collected,
    tasks: list[TaskView],
    pods: Mapping[str, PodView],
    now: dt.datetime,
    *,
    token: str | None,
    runs: RunTable,
    slotbook: SlotBook,
    kube: Kube,
    writer: StatusWriter,
    announcer: Announcer,
    clock: Clock,
    output_limit: int,
) -> None:
    """Write the results of the collected runs (after their costs were committed)."""
    by_uid = {t.uid: t for t in tasks}
    key = (pool.metadata.namespace or "", pool.metadata.name)

    async def one(item: Completion) -> None:
        run, outcome = item.run, item.outcome
        task = by_uid.get(run.uid)
        pod = pods.get(run.slot)
        live = task is not None and not task.finished and task.status is not None
        if isinstance(outcome, Finished) and outcome.status.result is not None:
            result = outcome.status.result
            metrics.record_result(key, result, clock.monotonic() - run.started)
            if result.success and result.session_id and SESSION.fullmatch(result.session_id):
                slotbook.sessions[run.slot_uid] = result.session_id
            if task is not None and live:
                lost = _interrupted(result, pod)
                if lost and not task.cancel:
                    await retry_or_fail(
                        pool,
                        task,
                        lost,
                        now,
                        runs=runs,
                        writer=writer,
                        announcer=announcer,
                        extra_cost=result.cost_microdollars,
                    )
                else:
                    await _finish(task, result, now, kube, writer, announcer, output_limit)
            if pod is not None and pod.ip and token:
                announcer.acknowledge(base_url(pod), token, run.uid)
        elif isinstance(outcome, Lost | NotStarted) and task is not None and live:
            why = outcome.reason if isinstance(outcome, Lost) else "the slot lost the task"
            await retry_or_fail(pool, task, why, now, runs=runs, writer=writer, announcer=announcer)

    results = await asyncio.gather(*(one(i) for i in collected.done), return_exceptions=True)
    for error in (r for r in results if isinstance(r, BaseException)):
        log.warning("pool %s/%s: recording a result failed: %s", *key, error)


def _interrupted(result: AgentResult, pod: PodView | None) -> str | None:
    """Why a failed result means the slot was lost rather than the task failing."""
    if result.success:
        return None
    if result.failure is not None and result.failure.reason is FailureReason.INTERRUPTED:
        return "the slot agent restarted during the run"
    if pod is None or pod.terminating:
        return "the slot pod was deleted during the run"
    return None


async def _finish(
    task: TaskView,
    result: AgentResult,
    now: dt.datetime,
    kube: Kube,
    writer: StatusWriter,
    announcer: Announcer,
    output_limit: int,
) -> None:
    assert task.status is not None
    cm_name = outputs.output_config_map_name(task.name)
    output, whole = transitions.output_fields(result.output, output_limit, cm_name)
    if whole:
        body = outputs.output_config_map(task.name, task.namespace, task.owner(), result.output)
        with contextlib.suppress(Conflict):
            await kube.create(body)
    patch = transitions.finished(
        task.status,
        result,
        output=output,
        cancelled=task.cancel,
        generation=task.generation,
        now=now,
    )
    model = task.as_task()
    if model is not None:
        patch = gate_result(model, patch, now)  # a reviewed success waits: AwaitingReview
    await writer.patch_task(task, patch)
    phase = EventReason(patch["phase"])
    announcer.event(
        task.involved(), phase, _finish_message(phase, result), warning=phase is EventReason.FAILED
    )


def _finish_message(phase: EventReason, result: AgentResult) -> str:
    cost = f"cost {result.cost_microdollars} microdollars, {result.turns} turns"
    if phase is EventReason.AWAITING_REVIEW:
        return f"the result awaits review: create a ClaudeReview to approve or reject ({cost})"
    if phase is EventReason.FAILED and result.failure is not None:
        return f"{result.failure.reason}: {result.failure.message[:300]} ({cost})"
    return f"{phase.value.lower()} ({cost})"
