"""Dispatch latency: tasks created one at a time at a steady rate on free slots, from the
client's create call to the CLI's start stamp (bench/instant_claude).

Part of `bench/operatorbench` (see its package docstring); run through bench/bench_operator.py.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time

from bench.operatorbench.auditing import (
    latency_breakdown,
    report_writes,
)
from bench.operatorbench.cluster import Cluster
from bench.operatorbench.common import (
    LATENCY_P50_MS,
    LATENCY_P99_MS,
    BenchError,
    percentile,
)
from bench.operatorbench.figures import figure, note
from bench.operatorbench.metering import (
    CpuMeter,
    describe_cpu,
    dispatch_histogram,
)
from bench.operatorbench.stack import Stack, TaskWatch


def instant_latency(
    cluster: Cluster,
    stack: Stack,
    watcher: TaskWatch,
    args: argparse.Namespace,
    writes: bool,
    latency: bool,
) -> None:
    count, rate = args.latency_tasks, args.latency_rate
    print(
        f"\n== dispatch latency: {count} tasks at {rate:g}/s on 10 slots (instant CLI)", flush=True
    )
    names = [f"lat-{i:04d}" for i in range(count)]
    writes_before = stack.settle_writes()
    meter = CpuMeter(cluster, stack)
    meter.start()
    t_start = time.time()
    created: dict[str, float] = {}
    server_created: dict[str, str] = {}
    next_at = time.monotonic()
    for name in names:
        delay = next_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        next_at += 1.0 / rate
        created[name] = time.time()
        body = stack.create_task(name, f"{name} instant latency benchmark")
        server_created[name] = body["metadata"]["creationTimestamp"]
    watcher.wait(names, timeout=60 + 2 * count, what="latency tasks")
    used = meter.stop()
    writes_after = stack.settle_writes()
    t_end = time.time()
    starts = stack.cli_starts()
    missing = [n for n in names if n not in starts]
    if missing:
        raise BenchError(f"{len(missing)} tasks have no CLI start stamp, e.g. {missing[:3]}")
    failed = [n for n in names if watcher.finished[n][1] != "Succeeded"]
    lat = [(starts[n] / 1e9 - created[n]) * 1000 for n in names]
    p50, p99 = statistics.median(lat), percentile(lat, 99)
    if latency:
        figure(
            "latency",
            "dispatch latency p50 (create -> CLI started)",
            f"{p50:.1f} ms",
            f"<= {LATENCY_P50_MS:g} ms",
            p50 <= LATENCY_P50_MS,
        )
        figure(
            "latency",
            "dispatch latency p99",
            f"{p99:.1f} ms",
            f"<= {LATENCY_P99_MS:g} ms",
            p99 <= LATENCY_P99_MS,
        )
        note(
            f"    min {min(lat):.1f} ms, mean {statistics.mean(lat):.1f} ms, max "
            f"{max(lat):.1f} ms; {len(failed)} not Succeeded"
        )
        coarse = [
            starts[n] / 1e9 - dt.datetime.fromisoformat(server_created[n]).timestamp()
            for n in names
        ]
        bad = sum(
            1
            for c, n in zip(coarse, names, strict=True)
            if c < (starts[n] / 1e9 - created[n]) - 0.01
        )
        note(
            f"    cross-check: CLI start - creationTimestamp (1 s resolution) median "
            f"{statistics.median(coarse):.2f} s; {bad} tasks where it is below the client-side "
            f"figure (clock disagreement)"
        )
        note(f"    operator's claude_pool_dispatch_latency_seconds: {dispatch_histogram(stack)}")
        if cluster.audited:
            latency_breakdown(cluster, stack.namespace, created, starts)
        done = [1000 * (watcher.finished[n][0] - starts[n] / 1e9) for n in names]
        note(
            f"    CLI started -> Succeeded seen by the bench's watch: p50 "
            f"{statistics.median(done):.1f} ms, p99 {percentile(done, 99):.1f} ms"
        )
        note("    " + describe_cpu(used, meter.wall, count))
    if failed:
        raise BenchError(f"{len(failed)} latency tasks did not succeed, e.g. {failed[:3]}")
    if writes:
        report_writes(
            f"paced ({count} tasks, free slots)",
            cluster,
            stack,
            t_start,
            t_end,
            count,
            writes_after - writes_before,
        )
