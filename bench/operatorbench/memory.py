"""Operator memory: thousands of finished tasks and a large pool, VmRSS once idle.

Part of `bench/operatorbench` (see its package docstring); run through bench/bench_operator.py.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import time
from pathlib import Path
from typing import Any

from bench.operatorbench.cluster import Cluster
from bench.operatorbench.common import (
    BENCH_AGENT,
    RSS_TARGET_MB,
    BenchError,
)
from bench.operatorbench.figures import figure, note
from bench.operatorbench.metering import (
    cpu_seconds,
    proc_status,
)
from bench.operatorbench.stack import Stack
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from claude_pool.api.agent import AgentResult, Usage
from claude_pool.api.common import GROUP, VERSION
from claude_pool.api.tasks import ClaudeTaskStatus
from claude_pool.devenv.fakeapi import FakeAnthropicThread
from claude_pool.status import tasks as transitions
from tests.builders import task_manifest
from tests.helpers import eventually


def finished_status(slot: str, now: dt.datetime) -> dict[str, Any]:
    """A realistic Succeeded status, as the operator writes it (small output)."""
    assigned = transitions.assigned(
        ClaudeTaskStatus(),
        slot=slot,
        slot_uid="0" * 8,
        message="dispatched",
        generation=1,
        now=now,
    )
    status = ClaudeTaskStatus.model_validate(assigned)
    result = AgentResult(
        output="instant result of a finished benchmark task",
        success=True,
        session_id="00000000-0000-4000-8000-000000000000",
        cost_microdollars=600,
        usage=Usage(input_tokens=100, output_tokens=20),
        turns=1,
        duration_ms=900,
        model="claude-sonnet-5",
    )
    output, _ = transitions.output_fields(result.output, 32768, "unused")
    done = transitions.finished(
        status, result, output=output, cancelled=False, generation=1, now=now
    )
    return {**assigned, **{k: v for k, v in done.items() if v is not None}}


def run_rss(
    cluster: Cluster, workdir: Path, fake: FakeAnthropicThread, args: argparse.Namespace
) -> None:
    count, slots = args.rss_tasks, args.rss_slots
    print(
        f"\n== operator memory: {count} finished tasks and a pool of {slots} slots (no node)",
        flush=True,
    )
    ns = cluster.namespace("bench-rss")
    stack = Stack(cluster, workdir, ns, fake, claude_bin=None, node=False)
    stack.create_pool("big", slots)
    now = dt.datetime.now(dt.UTC)
    api = cluster.client(BENCH_AGENT + "-setup", pool=32)
    custom = client.CustomObjectsApi(api)

    def one(i: int) -> None:
        name = f"done-{i:05d}"
        body = task_manifest(name, "big", f"{name}: a finished task of the memory benchmark")
        for attempt in range(5):
            try:
                custom.create_namespaced_custom_object(GROUP, VERSION, ns, "claudetasks", body)
                break
            except ApiException as exc:
                if exc.status == 409:
                    break
                if attempt == 4:
                    raise
                time.sleep(0.5)
        status = finished_status(f"big-slot-{i % slots}", now)
        custom.patch_namespaced_custom_object_status(
            GROUP, VERSION, ns, "claudetasks", name, {"status": status}
        )

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        for future in concurrent.futures.as_completed([pool.submit(one, i) for i in range(count)]):
            future.result()
    setup = time.monotonic() - started
    note(
        f"setup: {count} tasks created and patched to Succeeded in {setup:.1f}s "
        f"({2 * count / setup:.0f} writes/s, 24 threads)"
    )
    sample = stack.tasks()[:1]
    if not sample or (sample[0].get("status") or {}).get("phase") != "Succeeded":
        raise BenchError(f"setup did not produce Succeeded tasks: {sample[:1]}")
    started = time.monotonic()
    stack.start()
    assert stack.operator.proc is not None
    pid = stack.operator.proc.pid

    def seen_all() -> bool:
        status = stack.pool("big").get("status") or {}
        return int(status.get("replicas", 0)) >= slots

    try:
        eventually(
            seen_all, timeout=300, what=f"the pool status to report {slots} replicas", interval=0.5
        )
        seen = time.monotonic() - started
        # then idle: CPU time stops growing (it has handled every listed object)
        last, quiet_since = cpu_seconds(pid), time.monotonic()
        deadline = time.monotonic() + 300
        while time.monotonic() - quiet_since < 5.0:
            if time.monotonic() > deadline:
                raise BenchError("the operator did not go idle within 300s")
            time.sleep(0.5)
            now_cpu = cpu_seconds(pid)
            if now_cpu - last > 0.05:  # > 10% of a core over the half second
                quiet_since = time.monotonic()
            last = now_cpu
        idle = time.monotonic() - started
        # the figure: the highest VmRSS over a window of idle time (a resync cycle included)
        samples = []
        window_end = time.monotonic() + args.rss_window
        while time.monotonic() < window_end:
            samples.append(proc_status(pid)["VmRSS"] / 1024)
            time.sleep(0.5)
        mem = proc_status(pid)
        cpu = cpu_seconds(pid)
        pods = len(cluster.core.list_namespaced_pod(ns).items)
        rss, hwm = max(samples), mem["VmHWM"] / 1024
        figure(
            "rss",
            f"operator VmRSS, {count} finished tasks + {slots} slots",
            f"{rss:.0f} MB",
            f"<= {RSS_TARGET_MB:g} MB",
            rss <= RSS_TARGET_MB,
        )
        figure(
            "rss",
            "operator VmHWM (peak)",
            f"{hwm:.0f} MB",
            f"<= {RSS_TARGET_MB:g} MB",
            hwm <= RSS_TARGET_MB,
        )
        note(
            f"    pool status showed {slots} replicas {seen:.1f}s after start; idle after "
            f"{idle:.1f}s; operator CPU {cpu:.1f}s; {pods} pods in the namespace; VmRSS over "
            f"{args.rss_window:g}s of idle: {min(samples):.0f}..{max(samples):.0f} MB"
        )
    finally:
        stack.stop()
