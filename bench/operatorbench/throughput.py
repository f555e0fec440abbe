"""Throughput: a burst of tasks created by 8 threads, first create to last Succeeded.

Part of `bench/operatorbench` (see its package docstring); run through bench/bench_operator.py.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.operatorbench.auditing import (
    report_writes,
    slot_cycle,
)
from bench.operatorbench.cluster import Cluster
from bench.operatorbench.common import (
    THROUGHPUT_TARGET,
    BenchError,
)
from bench.operatorbench.figures import figure, note
from bench.operatorbench.metering import (
    CpuMeter,
    describe_cpu,
)
from bench.operatorbench.profiling import Profiler
from bench.operatorbench.stack import Stack, TaskWatch


def instant_throughput(
    cluster: Cluster,
    stack: Stack,
    watcher: TaskWatch,
    args: argparse.Namespace,
    slots: int,
    writes: bool,
) -> None:
    count, repeats = args.throughput_tasks, args.throughput_repeats
    print(
        f"\n== throughput: {count} tasks on {slots} slots, {repeats} run(s) (instant CLI, "
        "created by 8 threads)",
        flush=True,
    )
    rates: list[float] = []
    for run in range(repeats):
        if run:
            stack.delete_tasks()
        rates.append(throughput_run(cluster, stack, watcher, args, slots, run, writes and not run))
    rate = statistics.median(rates)
    figure(
        "throughput",
        f"{count} tasks on {slots} slots" + (f", median of {repeats}" if repeats > 1 else ""),
        f"{rate:.1f} tasks/s",
        f">= {THROUGHPUT_TARGET:g} tasks/s",
        rate >= THROUGHPUT_TARGET,
    )
    if repeats > 1:
        note(f"    runs: {', '.join(f'{r:.1f}' for r in rates)} tasks/s")


def throughput_run(
    cluster: Cluster,
    stack: Stack,
    watcher: TaskWatch,
    args: argparse.Namespace,
    slots: int,
    run: int,
    writes: bool,
) -> float:
    count = args.throughput_tasks
    names = [f"tp{slots}r{run}-{i:04d}" for i in range(count)]
    writes_before = stack.settle_writes()
    meter = CpuMeter(cluster, stack)
    tag = f"throughput-{slots}-run{run}"
    profiler = Profiler(stack, args.profile, tag) if args.profile and not run else None
    meter.start()
    t_start = time.time()
    created = stack.create_tasks(names, 8, "{name} instant throughput benchmark")
    t_created = time.time()
    watcher.wait(names, timeout=60 + count, what=f"throughput tasks on {slots} slots")
    used = meter.stop()
    if profiler is not None:
        profiler.stop()
    t_last = max(watcher.finished[n][0] for n in names)
    writes_after = stack.settle_writes()
    t_end = time.time()
    failed = [n for n in names if watcher.finished[n][1] != "Succeeded"]
    if failed:
        raise BenchError(f"{len(failed)} throughput tasks did not succeed, e.g. {failed[:3]}")
    first = min(created.values())
    rate = count / (t_last - first)
    starts = stack.cli_starts()
    begun = sorted(starts[n] / 1e9 for n in names if n in starts)
    note(
        f"run {run + 1}: {rate:.1f} tasks/s: first create -> last Succeeded "
        f"{t_last - first:.2f}s; creating took {t_created - t_start:.2f}s "
        f"({count / (t_created - t_start):.0f}/s); CLI starts span {begun[-1] - begun[0]:.2f}s"
    )
    note("    " + describe_cpu(used, meter.wall, count))
    if cluster.audited:
        slot_cycle(cluster, stack, names)
    if writes:
        report_writes(
            f"burst ({count} tasks, {slots} slots)",
            cluster,
            stack,
            t_start,
            t_end,
            count,
            writes_after - writes_before,
        )
    return rate
