"""Recording finished runs: exactly-once cost commits, then results, Events, acknowledgements.

Part of the pool worker (`runtime.worker`). Costs of all runs that finished since the
last cycle are committed to the pool's spend in one status write (the ledger's ring of
recent commits makes a retried commit count nothing), then each task's result is written
(long output kept whole in an owned ConfigMap), an Event posted and the slot told to drop
the result. A run that ended because its slot went away is retried instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time

from claude_pool.api.agent import TaskResult as AgentResult
from claude_pool.api.failures import FailureReason
from claude_pool.api.pools import ClaudePool
from claude_pool.budget.ledger import commit
from claude_pool.controllers.state import PodView, TaskView
from claude_pool.kube.client import Conflict
from claude_pool.runtime import metrics
from claude_pool.runtime.taskrun import Finished, Lost, NotStarted
from claude_pool.runtime.workerbase import (
    Completion,
    WorkerBase,
    _finish_message,
    _owner,
)
from claude_pool.scheduling import transitions

log = logging.getLogger("claude_pool.worker")


class RecordingMixin(WorkerBase):
    """Recording finished runs: cost commits, then results, Events, acknowledgements."""

    async def _record_completions(
        self, pool: ClaudePool, tasks: list[TaskView], pods: dict[str, PodView], now: dt.datetime
    ) -> None:
        if not self.completions:
            return
        done, self.completions = self.completions, []
        by_uid = {t.uid: t for t in tasks}
        costs: dict[str, int] = {}
        for item in done:
            if isinstance(item.outcome, Finished) and item.outcome.status.result is not None:
                key = f"{item.run.uid}/{item.run.attempt}"
                costs[key] = item.outcome.status.result.cost_microdollars
        for item in done:
            self.runs.pop(item.run.uid, None)
        if costs:
            result = commit(self.spent or 0, self.recent, costs)
            self.spent, self.recent = result.spent, result.recent
            await self._write_status(pool, self._slot_views(pool, pods), tasks, now, force=True)
        results = await asyncio.gather(
            *(self._record_one(pool, item, by_uid.get(item.run.uid), pods, now) for item in done),
            return_exceptions=True,
        )
        for error in (r for r in results if isinstance(r, BaseException)):
            log.warning("pool %s/%s: recording a result failed: %s", *self.key, error)

    async def _record_one(
        self,
        pool: ClaudePool,
        item: Completion,
        task: TaskView | None,
        pods: dict[str, PodView],
        now: dt.datetime,
    ) -> None:
        run, outcome = item.run, item.outcome
        pod = pods.get(run.slot)
        if isinstance(outcome, Finished) and outcome.status.result is not None:
            result = outcome.status.result
            metrics.record_result(self.key, result, time.monotonic() - run.started)
            if task is not None and not task.finished and task.status is not None:
                lost = self._interrupted(result, pod)
                if lost and not task.cancel:
                    await self._retry_or_fail(
                        pool, task, lost, now, extra_cost=result.cost_microdollars
                    )
                else:
                    await self._finish(pool, task, result, now)
            if pod is not None and pod.ip and self.token:
                self._spawn(self._acknowledge(self._base(pod), self.token, run.uid))
        elif isinstance(outcome, Lost | NotStarted) and task is not None and not task.finished:
            reason = outcome.reason if isinstance(outcome, Lost) else "the slot lost the task"
            await self._retry_or_fail(pool, task, reason, now)

    def _interrupted(self, result: AgentResult, pod: PodView | None) -> str | None:
        """Why a failed result means the slot was lost rather than the task failing."""
        if result.success:
            return None
        if result.failure is not None and result.failure.reason is FailureReason.INTERRUPTED:
            return "the slot agent restarted during the run"
        if pod is None or pod.terminating:
            return "the slot pod was deleted during the run"
        return None

    async def _finish(
        self, pool: ClaudePool, task: TaskView, result: AgentResult, now: dt.datetime
    ) -> None:
        assert task.status is not None
        cm_name = f"{task.name}-output"
        output, keep = transitions.output_fields(
            result.output, self.settings.output_status_limit, cm_name
        )
        if keep is not None:
            body = transitions.output_config_map(
                cm_name, task.namespace, _owner(task), keep, len(result.output.encode())
            )
            with contextlib.suppress(Conflict):
                await self.kube.create(body)
        patch = transitions.finished(
            task.status,
            result,
            output=output,
            cancelled=task.cancel,
            generation=task.generation,
            now=now,
        )
        await self._patch_task(task, patch)
        phase = patch["phase"]
        self._event(
            task.involved(), phase, _finish_message(phase, result), warning=phase == "Failed"
        )
