"""The operator's Prometheus metrics: the one home for every `claude_pool_*` series.

Updated by the pool workers; served as Prometheus text on `Settings.metrics_port` by
`runtime.main`. Labels: `namespace`, `pool`; plus `state`, `outcome`, `reason`, `kind`,
`verb`/`resource` where named. docs/operations.md lists them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from claude_pool.api.agent import AgentResult
from claude_pool.slots.planning import SlotState

if TYPE_CHECKING:
    from claude_pool.controllers.state import PoolKey, TaskView
    from claude_pool.slots.planning import SlotView

POOL = ("namespace", "pool")

QUEUE_DEPTH = Gauge("claude_pool_queue_depth", "Tasks not finished, by state", [*POOL, "state"])
SLOTS = Gauge("claude_pool_slots", "Slots by state", [*POOL, "state"])
RUNS = Gauge("claude_pool_runs_followed", "Runs the operator follows", POOL)
DISPATCHED = Counter("claude_pool_tasks_dispatched", "Tasks assigned to a slot", POOL)
DISPATCH_LATENCY = Histogram(
    "claude_pool_dispatch_latency_seconds",
    "Task first seen by the operator to CLI started on a slot",
    POOL,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
TASK_DURATION = Histogram(
    "claude_pool_task_duration_seconds",
    "Run duration as the operator saw it",
    [*POOL, "outcome"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
TASKS_FINISHED = Counter("claude_pool_runs_finished", "Runs finished", [*POOL, "outcome", "reason"])
COST = Counter("claude_pool_cost_microdollars", "Cost of finished runs", POOL)
TOKENS = Counter("claude_pool_tokens", "Tokens used by finished runs", [*POOL, "kind"])
CYCLE_ERRORS = Counter("claude_pool_cycle_errors", "Pool cycles that raised", POOL)


def observe_pool(
    key: PoolKey, views: Iterable[SlotView], tasks: Iterable[TaskView], runs: int
) -> None:
    states = [v.state for v in views]
    for state in SlotState:
        SLOTS.labels(*key, state.value).set(states.count(state))
    live = [t for t in tasks if not t.finished and not t.composite]  # leaves: what slots run
    running = sum(1 for t in live if t.slot is not None)
    QUEUE_DEPTH.labels(*key, "running").set(running)
    QUEUE_DEPTH.labels(*key, "queued").set(len(live) - running)
    RUNS.labels(*key).set(runs)


def observe_dispatch_latency(key: PoolKey, first_seen: float | None) -> None:
    """From when this operator first saw the task (watch delivery excluded) to CLI start."""
    if first_seen is not None:
        DISPATCH_LATENCY.labels(*key).observe(max(0.0, time.monotonic() - first_seen))


def record_result(key: PoolKey, result: AgentResult, seconds: float) -> None:
    outcome = "succeeded" if result.success else "failed"
    reason = result.failure.reason.value if result.failure else ""
    TASKS_FINISHED.labels(*key, outcome, reason).inc()
    TASK_DURATION.labels(*key, outcome).observe(seconds)
    COST.labels(*key).inc(result.cost_microdollars)
    usage = result.usage
    for kind, value in (
        ("input", usage.input_tokens),
        ("output", usage.output_tokens),
        ("cache_read", usage.cache_read_input_tokens),
        ("cache_creation", usage.cache_creation_input_tokens),
    ):
        TOKENS.labels(*key, kind).inc(value)


class ApiWritesCollector(Collector):
    """Exposes the kube facade's counters: claude_pool_api_writes_total and
    claude_pool_api_errors_total."""

    def __init__(self, counts: Any, errors: Any) -> None:
        self.counts = counts
        self.errors = errors

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "claude_pool_api_writes", "Writes to the Kubernetes API", labels=["verb", "resource"]
        )
        for key, value in dict(self.counts).items():
            verb, resource = key.split(" ", 1)
            family.add_metric([verb, resource], value)
        yield family
        errors = CounterMetricFamily(
            "claude_pool_api_errors",
            "Error answers of the Kubernetes API",
            labels=["method", "code"],
        )
        for key, value in dict(self.errors).items():
            method, code = key.split(" ", 1)
            errors.add_metric([method, code], value)
        yield errors


_collector: ApiWritesCollector | None = None


def register_api_writes(counts: Any, errors: Any) -> None:
    """Export `counts` (the latest operator's; tests start several in one process)."""
    global _collector
    if _collector is not None:
        REGISTRY.unregister(_collector)
    _collector = ApiWritesCollector(counts, errors)
    REGISTRY.register(_collector)
