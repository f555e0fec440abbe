"""The instant group: one namespace whose slots run bench/instant_claude, for the latency,
writes and throughput measurements.

Part of `bench/operatorbench` (see its package docstring); run through bench/bench_operator.py.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bench.operatorbench.cluster import Cluster
from bench.operatorbench.common import (
    BENCH_AGENT,
)
from bench.operatorbench.figures import note
from bench.operatorbench.latency import instant_latency
from bench.operatorbench.metering import (
    proc_status,
)
from bench.operatorbench.stack import Stack, TaskWatch
from bench.operatorbench.throughput import instant_throughput

from claude_pool.devenv.fakeapi import FakeAnthropicThread


def run_instant(
    cluster: Cluster,
    workdir: Path,
    fake: FakeAnthropicThread,
    args: argparse.Namespace,
    want: set[str],
) -> None:
    ns = cluster.namespace("bench-instant")
    stack = Stack(cluster, workdir, ns, fake, claude_bin=None).start()
    try:
        assert stack.operator.proc is not None
        base = proc_status(stack.operator.proc.pid)
        note(f"operator started; RSS {base['VmRSS'] / 1024:.0f} MB with an empty namespace")
        started = time.monotonic()
        stack.create_pool("bench", 10)
        stack.wait_idle_slots(10, timeout=180)
        note(f"pool of 10 slots idle in {time.monotonic() - started:.1f}s")
        with TaskWatch(cluster.client(BENCH_AGENT + "-watch"), ns) as watcher:
            if want & {"latency", "writes"}:
                instant_latency(cluster, stack, watcher, args, "writes" in want, "latency" in want)
            if "throughput" in want:
                for slots in args.throughput_slots:
                    stack.delete_tasks()
                    if slots != int(stack.pool()["spec"]["slots"]):
                        started = time.monotonic()
                        stack.scale("bench", slots)
                        stack.wait_idle_slots(slots, timeout=60 + 6 * slots)
                        note(
                            f"pool scaled to {slots} slots, all idle in "
                            f"{time.monotonic() - started:.1f}s"
                        )
                    instant_throughput(cluster, stack, watcher, args, slots, "writes" in want)
    finally:
        stack.stop()
