"""Counting the operator's writes from the apiserver's audit log: per task, by verb and
resource, and where a slot's time goes between two tasks.

Part of `bench/operatorbench` (see its package docstring); run through bench/bench_operator.py.
"""

from __future__ import annotations

import datetime as dt
import itertools
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.operatorbench.cluster import Cluster
from bench.operatorbench.common import (
    BENCH_AGENT,
    OPERATOR_AGENTS,
    WRITES_TARGET,
    percentile,
)
from bench.operatorbench.figures import figure, note
from bench.operatorbench.stack import Stack


@dataclass
class WriteCount:
    total: int = 0
    failed: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    agents: Counter[str] = field(default_factory=Counter)


def stamp_of(event: dict[str, Any]) -> float:
    return dt.datetime.fromisoformat(event["requestReceivedTimestamp"]).timestamp()


def operator_writes(
    events: list[dict[str, Any]], namespace: str, start: float, end: float
) -> WriteCount:
    out = WriteCount()
    for event in events:
        ref = event.get("objectRef") or {}
        if ref.get("namespace") != namespace or not start <= stamp_of(event) <= end:
            continue
        agent = str(event.get("userAgent", ""))
        out.agents[agent.split(" ")[0]] += 1
        if not agent.startswith(OPERATOR_AGENTS):
            continue
        resource = ref.get("resource", "?") + (
            f"/{ref['subresource']}" if ref.get("subresource") else ""
        )
        out.total += 1
        out.by_kind[f"{event['verb']} {resource}"] += 1
        if int((event.get("responseStatus") or {}).get("code", 200)) >= 400:
            out.failed += 1
    return out


def report_writes(
    label: str,
    cluster: Cluster,
    stack: Stack,
    start: float,
    end: float,
    tasks: int,
    metric_delta: Counter[str],
) -> None:
    if cluster.audited:
        counted = operator_writes(cluster.audit(), stack.namespace, start, end)
        per_task = counted.total / tasks
        figure(
            "writes",
            f"API writes per task, {label}",
            f"{per_task:.2f}",
            f"<= {WRITES_TARGET:g}",
            per_task <= WRITES_TARGET,
        )
        detail = ", ".join(f"{k} {v / tasks:.2f}" for k, v in counted.by_kind.most_common())
        note(
            f"    audit: {counted.total} operator writes for {tasks} tasks ({counted.failed} "
            f"answered >= 400): {detail}"
        )
        note(f"    user agents writing in the namespace: {dict(counted.agents)}")
    metric_total = sum(metric_delta.values())
    mdetail = ", ".join(f"{k} {v / tasks:.2f}" for k, v in metric_delta.most_common() if v)
    figure(
        "writes",
        f"claude_pool_api_writes_total per task, {label}",
        f"{metric_total / tasks:.2f}",
        "(cross-check)" if cluster.audited else f"<= {WRITES_TARGET:g} (no audit log)",
        None if cluster.audited else metric_total / tasks <= WRITES_TARGET,
    )
    note(f"    metric: {mdetail}")


def latency_breakdown(
    cluster: Cluster, namespace: str, created: dict[str, float], starts: dict[str, int]
) -> None:
    """Split create -> CLI start at the operator's assignment patch (from the audit log)."""
    events = cluster.audit()
    created_done: dict[str, float] = {}
    assigned: dict[str, float] = {}
    for event in events:
        ref = event.get("objectRef") or {}
        if ref.get("namespace") != namespace or ref.get("resource") != "claudetasks":
            continue
        name = ref.get("name") or ""
        agent = str(event.get("userAgent", ""))
        if event["verb"] == "create" and agent.startswith(BENCH_AGENT):
            # a create's objectRef may lack the name: match on the request URI's body later
            continue
        if (
            event["verb"] == "patch"
            and ref.get("subresource") == "status"
            and agent.startswith(OPERATOR_AGENTS)
            and name in created
            and name not in assigned
        ):
            assigned[name] = stamp_of(event)
            created_done.setdefault(name, created[name])
    a = [1000 * (assigned[n] - created[n]) for n in assigned if n in starts]
    b = [1000 * (starts[n] / 1e9 - assigned[n]) for n in assigned if n in starts]
    if a and b:
        note(
            f"    breakdown (p50/p99 ms): create call -> operator's first status patch "
            f"received {statistics.median(a):.1f}/{percentile(a, 99):.1f}; that patch -> "
            f"CLI started {statistics.median(b):.1f}/{percentile(b, 99):.1f}"
        )


def slot_cycle(cluster: Cluster, stack: Stack, names: list[str]) -> None:
    """Where a slot's time goes between two tasks, from the CLI start log and the audit log.

    For consecutive tasks A, B on one slot: A's CLI start -> the operator's last status
    patch of A (the result) -> its assignment patch of B -> B's CLI start.
    """
    runs = stack.cli_runs()
    wanted = set(names)
    patches: dict[str, list[float]] = {}
    for event in cluster.audit():
        ref = event.get("objectRef") or {}
        if (
            ref.get("namespace") == stack.namespace
            and ref.get("resource") == "claudetasks"
            and ref.get("subresource") == "status"
            and event["verb"] == "patch"
            and str(event.get("userAgent", "")).startswith(OPERATOR_AGENTS)
            and ref.get("name") in wanted
        ):
            patches.setdefault(ref["name"], []).append(stamp_of(event))
    by_slot: dict[str, list[tuple[float, str]]] = {}
    for name in names:
        if name in runs:
            stamp, home = runs[name]
            by_slot.setdefault(home, []).append((stamp / 1e9, name))
    run_to_result, result_to_assign, assign_to_start = [], [], []
    for starts in by_slot.values():
        starts.sort()
        for (a_start, a), (b_start, b) in itertools.pairwise(starts):
            pa, pb = sorted(patches.get(a, [])), sorted(patches.get(b, []))
            if len(pa) < 2 or len(pb) < 2:
                continue
            run_to_result.append(1000 * (pa[-1] - a_start))
            result_to_assign.append(1000 * (pb[-2] - pa[-1]))
            assign_to_start.append(1000 * (b_start - pb[-2]))
    if not run_to_result:
        return
    parts = zip(run_to_result, result_to_assign, assign_to_start, strict=True)
    cycle = [x + y + z for x, y, z in parts]

    def fig(values: list[float]) -> str:
        return f"{statistics.median(values):.0f}/{statistics.mean(values):.0f}"

    note(
        f"    slot cycle (median/mean ms over {len(cycle)} consecutive pairs on {len(by_slot)} "
        f"slots): {fig(cycle)} = CLI start -> result patch {fig(run_to_result)} + result "
        f"patch -> next assignment patch {fig(result_to_assign)} + assignment -> CLI start "
        f"{fig(assign_to_start)}"
    )
