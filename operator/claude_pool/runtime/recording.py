"""Cycle step 2: recording finished runs, in two halves around the cost commit.

Called by `runtime.worker`. `collect` takes the outcomes that arrived since the last cycle
from the run table and adds their costs to the spend book (keys `<uid>/<attempt>`; a key
already in the ring adds nothing), and remembers each successful run's CLI session for its
slot pod (sessionPolicy resumeSlot). The worker then writes the pool's status (forced: that
write is the commit), and only then `record` writes each task's result (long output whole
in an owned ConfigMap) with the requested and resolved model and the tool uses the CLI denied
(`workflows.reporting.run_report`: a Warning Event and the ModelMismatch condition when
another model answered, a Warning Event PermissionDenied for denials), logs the end at info,
posts an Event and tells the slot to drop the result; a successful run of a task with
a review gate is held in AwaitingReview (`workflows.review.gate_result`) instead of
Succeeded. A crash
between the two writes leaves the result on the slot: collected again, it counts nothing
twice. A run that ended because its slot went away is retried instead. `finishing` and
`ending` (pure) say which results `record` will write and with what patch: the hand-off
(`runtime.handoff`) sees composite children as finished by them before the writes land.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from claude_pool.api.agent import SESSION_ID_PATTERN, AgentResult
from claude_pool.api.common import plural
from claude_pool.api.failures import FailureReason
from claude_pool.api.money import format_dollars
from claude_pool.api.pools import ClaudePool
from claude_pool.api.reasons import TaskReason
from claude_pool.controllers.state import PodView, TaskView
from claude_pool.kube.client import Conflict, Kube
from claude_pool.runtime import metrics
from claude_pool.runtime.announcing import Announcer, EventReason
from claude_pool.runtime.clock import Clock
from claude_pool.runtime.logs import task_fields
from claude_pool.runtime.retrying import retry_or_fail
from claude_pool.runtime.runs import Completion, Run, RunTable, base_url
from claude_pool.runtime.spending import SpendBook
from claude_pool.runtime.statuswriting import StatusWriter
from claude_pool.runtime.taskrun import Finished, Lost, NotStarted
from claude_pool.slots import outputs
from claude_pool.status import tasks as transitions
from claude_pool.workflows.reporting import RunReport, run_report
from claude_pool.workflows.review import gate_result

log = logging.getLogger("claude_pool.worker")
SESSION = re.compile(SESSION_ID_PATTERN)


@dataclass(frozen=True)
class Collected:
    """The outcomes taken this cycle; `committed`: costs were collected, so the pool status
    must be written (the commit) before any result."""

    done: list[Completion]
    committed: bool


def collect(runs: RunTable, book: SpendBook, sessions: dict[str, str]) -> Collected:
    """Take the finished runs and commit their costs to the spend book (in memory); a
    successful run's CLI session is remembered for its slot pod in `sessions` (by pod uid)."""
    done = runs.take_completions()
    for item in done:
        result = item.outcome.status.result if isinstance(item.outcome, Finished) else None
        session = result.session_id if result is not None and result.success else None
        if session and SESSION.fullmatch(session):
            sessions[item.run.slot_uid] = session
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
                    await _finish(
                        pool, task, run, result, now, kube, writer, announcer, output_limit
                    )
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


def finishing(
    collected: Collected, tasks: list[TaskView], pods: Mapping[str, PodView]
) -> list[tuple[TaskView, Run, AgentResult]]:
    """The collected runs whose result `record` will write as their task's end (not those
    it retries), with their live tasks: what the result writes will finish."""
    by_uid = {t.uid: t for t in tasks}
    found = []
    for item in collected.done:
        task, outcome = by_uid.get(item.run.uid), item.outcome
        if task is None or task.finished or task.status is None:
            continue
        if not isinstance(outcome, Finished) or outcome.status.result is None:
            continue
        result = outcome.status.result
        if _interrupted(result, pods.get(item.run.slot)) and not task.cancel:
            continue
        found.append((task, item.run, result))
    return found


@dataclass(frozen=True)
class Ending:
    """The status patch that records a run's result, and what goes with it."""

    patch: dict[str, Any]
    report: RunReport | None
    whole: bool
    """The output is longer than status holds: its ConfigMap is written first."""


def output_name(task: TaskView) -> str:
    """The ConfigMap of the task's long output; a re-run after a rejection writes its own
    (the rejected output's ConfigMap stays as it is)."""
    name = outputs.output_config_map_name(task.name)
    rejections = task.status.review.rejections if task.status and task.status.review else 0
    return f"{name}.r{rejections}" if rejections else name


def ending(
    pool: ClaudePool,
    task: TaskView,
    run: Run,
    result: AgentResult,
    now: dt.datetime,
    output_limit: int,
) -> Ending:
    """The result patch of `task` (pure: the same inputs give the same patch)."""
    assert task.status is not None
    report = None
    if run.request is not None and task.spec is not None:
        config = task.spec.config
        requested = (config.model if config else None) or pool.spec.claude.model
        report = run_report(requested, run.request, result)
    cm_name = output_name(task)
    output, whole = transitions.output_fields(result.output, output_limit, cm_name)
    patch = transitions.finished(
        task.status,
        result,
        output=output,
        cancelled=task.cancel,
        generation=task.generation,
        now=now,
        extra=report.result_fields if report else None,
        model_check=_check(report),
    )
    model = task.as_task()
    if model is not None:
        patch = gate_result(model, patch, now)  # a reviewed success waits: AwaitingReview
    return Ending(patch, report, whole)


async def _finish(
    pool: ClaudePool,
    task: TaskView,
    run: Run,
    result: AgentResult,
    now: dt.datetime,
    kube: Kube,
    writer: StatusWriter,
    announcer: Announcer,
    output_limit: int,
) -> None:
    end = ending(pool, task, run, result, now, output_limit)
    patch, report = end.patch, end.report
    if end.whole:
        body = outputs.output_config_map(
            task.name, task.namespace, task.owner(), result.output, name=output_name(task)
        )
        with contextlib.suppress(Conflict):
            await kube.create(body)
    await writer.patch_task(task, patch)
    phase = EventReason(patch["phase"])
    log.info(
        "task finished",
        extra=task_fields(
            task.namespace,
            task.pool,
            task.name,
            task.uid,
            run.slot,
            reason=_reason(patch),
            cost=format_dollars(result.cost_microdollars),
            attempt=run.attempt,
        ),
    )
    announcer.event(
        task.involved(), phase, _finish_message(phase, result), warning=phase is EventReason.FAILED
    )
    if report is not None and report.mismatch_event:
        announcer.event(
            task.involved(), EventReason.MODEL_MISMATCH, report.mismatch_event, warning=True
        )
    if report is not None and report.denial_event:
        announcer.event(
            task.involved(), EventReason.PERMISSION_DENIED, report.denial_event, warning=True
        )


def _check(report: RunReport | None) -> tuple[bool, TaskReason, str] | None:
    check = None if report is None else report.model_check
    return None if check is None else (check.mismatch, check.reason, check.message)


def _reason(patch: dict[str, Any]) -> str:
    """The reason of the terminal condition just set (for the log line)."""
    kinds = ("Succeeded", "Failed", "Cancelled")
    found = (c for c in patch.get("conditions") or [] if c["type"] in kinds)
    return next((str(c["reason"]) for c in found if c["status"] == "True"), "")


def _finish_message(phase: EventReason, result: AgentResult) -> str:
    cost = f"cost {result.cost_microdollars} microdollars, {plural(result.turns, 'turn')}"
    if phase is EventReason.AWAITING_REVIEW:
        return f"the result awaits review: create a ClaudeReview to approve or reject ({cost})"
    if phase is EventReason.FAILED and result.failure is not None:
        return f"{result.failure.reason}: {result.failure.message[:300]} ({cost})"
    return f"{phase.value.lower()} ({cost})"
