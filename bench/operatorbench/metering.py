"""Measuring processes: CPU seconds and memory from /proc, the operator's metrics.

Part of `bench/operatorbench` (see its package docstring); run through bench/bench_operator.py.
"""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.operatorbench.cluster import Cluster
    from bench.operatorbench.stack import Stack


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM (kB) of a process."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(rest.split()[0])
    return out


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, children: bool = False) -> float:
    """utime+stime of a process (plus its reaped children's with `children`)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / _TICK


_SAMPLE = re.compile(r"^(\w+)(?:\{([^}]*)\})?\s+([-+0-9.eEinfNa]+)$")


def parse_metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line.strip())
        if not match:
            continue
        name, labels, value = match.groups()
        pairs = tuple(sorted(re.findall(r'(\w+)="([^"]*)"', labels or "")))
        out[(name, pairs)] = float(value)
    return out


def api_writes(operator: Any) -> Counter[str]:
    counts: Counter[str] = Counter()
    for (name, labels), value in parse_metrics(operator.metrics()).items():
        if name == "claude_pool_api_writes_total":
            lab = dict(labels)
            counts[f"{lab.get('verb')} {lab.get('resource')}"] += int(value)
    return counts


class CpuMeter:
    """CPU seconds used by the components between start() and stop()."""

    def __init__(self, cluster: Cluster, stack: Stack) -> None:
        self.cluster, self.stack = cluster, stack
        self.before: dict[str, float] = {}
        self.wall = 0.0

    def _sample(self) -> dict[str, float]:
        out = {name: cpu_seconds(pid) for name, pid in self.cluster.pids().items()}
        assert self.stack.operator.proc is not None
        out["operator"] = cpu_seconds(self.stack.operator.proc.pid)
        out["slot agents+CLIs"] = sum(
            cpu_seconds(p, children=True) for p in self.stack.agent_pids()
        )
        out["bench (clients, node, fake API)"] = cpu_seconds(os.getpid())
        times = os.times()  # the direct CLI runs are the bench's own (reaped) children
        out["direct CLIs"] = times.children_user + times.children_system
        return out

    def start(self) -> None:
        self.before, self.wall = self._sample(), time.monotonic()

    def stop(self) -> dict[str, float]:
        after = self._sample()
        self.wall = time.monotonic() - self.wall
        return {k: max(0.0, after[k] - self.before.get(k, 0.0)) for k in after}


def describe_cpu(used: dict[str, float], wall: float, tasks: int) -> str:
    total = sum(used.values())
    parts = ", ".join(
        f"{k} {v:.1f}s ({1000 * v / max(tasks, 1):.0f} ms/task)"
        for k, v in sorted(used.items(), key=lambda kv: -kv[1])
    )
    return f"CPU over {wall:.1f}s wall: {total:.1f} CPU-s of 2 cores ({parts})"


def dispatch_histogram(stack: Stack) -> str:
    """The operator's own dispatch latency histogram: count, mean, share under 100 ms."""
    samples = parse_metrics(stack.operator.metrics())
    count = sum(
        v for (n, _), v in samples.items() if n == "claude_pool_dispatch_latency_seconds_count"
    )
    total = sum(
        v for (n, _), v in samples.items() if n == "claude_pool_dispatch_latency_seconds_sum"
    )
    under = sum(
        v
        for (n, lab), v in samples.items()
        if n == "claude_pool_dispatch_latency_seconds_bucket" and dict(lab).get("le") == "0.1"
    )
    if not count:
        return "no samples"
    return (
        f"{count:.0f} samples, mean {1000 * total / count:.0f} ms, "
        f"{100 * under / count:.0f}% <= 100 ms"
    )
