"""The pool against the bare CLI: the real CLI and the fake API, batches through the pool
and the same command run directly.

Part of `bench/operatorbench` (see its package docstring); run through bench/bench_operator.py.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.operatorbench.cluster import Cluster
from bench.operatorbench.common import (
    API_KEY,
    BENCH_AGENT,
    RATIO_PROMPT,
    RATIO_TARGET,
    BenchError,
)
from bench.operatorbench.figures import figure, note
from bench.operatorbench.metering import (
    CpuMeter,
    describe_cpu,
)
from bench.operatorbench.stack import Stack, TaskWatch

from claude_pool.agent.argv import build_argv
from claude_pool.agent.environment import cli_environment
from claude_pool.api.pools import ClaudePool
from claude_pool.devenv.clibin import claude_binary
from claude_pool.devenv.fakeapi import FakeAnthropicThread
from claude_pool.workflows.resolving import resolve_request


def run_ratio(
    cluster: Cluster, workdir: Path, fake: FakeAnthropicThread, args: argparse.Namespace
) -> None:
    slots, batch, rounds = 4, args.ratio_batch, args.ratio_rounds
    claude = str(claude_binary())
    print(
        f"\n== pool vs direct, real CLI + fake API: {rounds} rounds of {batch} tasks, "
        f"{slots} at a time",
        flush=True,
    )
    ns = cluster.namespace("bench-real")
    stack = Stack(cluster, workdir, ns, fake, claude_bin=claude).start()
    try:
        stack.create_pool("bench", slots)
        stack.wait_idle_slots(slots, timeout=180)
        with TaskWatch(cluster.client(BENCH_AGENT + "-watch"), ns) as watcher:
            direct = DirectRunner(
                claude, fake.base_url, stack.pool("bench"), workdir / "direct", slots
            )
            # warm-up: every slot's HOME and every direct lane's HOME get their first run
            pool_batch(stack, watcher, "warm", slots)
            direct.batch(slots)
            pool_times: list[float] = []
            direct_times: list[float] = []
            meter = CpuMeter(cluster, stack)
            pool_cpu: Counter[str] = Counter()
            direct_cpu: Counter[str] = Counter()
            for r in range(rounds):
                order = ("pool", "direct") if r % 2 == 0 else ("direct", "pool")
                for kind in order:
                    meter.start()
                    if kind == "pool":
                        pool_times.append(pool_batch(stack, watcher, f"r{r}", batch))
                        pool_cpu.update(meter.stop())
                    else:
                        direct_times.append(direct.batch(batch))
                        direct_cpu.update(meter.stop())
                note(
                    f"round {r + 1}: pool {pool_times[-1]:.2f}s, direct {direct_times[-1]:.2f}s "
                    f"for {batch} tasks"
                )
        ratio = sum(direct_times) / sum(pool_times)
        per_round = [d / p for d, p in zip(direct_times, pool_times, strict=True)]
        figure(
            "ratio",
            f"pool/direct throughput, real CLI, {slots} slots",
            f"{ratio:.3f}",
            f">= {RATIO_TARGET:g}",
            ratio >= RATIO_TARGET,
        )
        note(
            f"    pool {rounds * batch / sum(pool_times):.2f} tasks/s, direct "
            f"{rounds * batch / sum(direct_times):.2f} tasks/s; per round "
            f"{', '.join(f'{x:.3f}' for x in per_round)}"
        )
        tasks = rounds * batch
        note("    pool batches: " + describe_cpu(dict(pool_cpu), sum(pool_times), tasks))
        note("    direct batches: " + describe_cpu(dict(direct_cpu), sum(direct_times), tasks))
        pool_per, direct_per = sum(pool_cpu.values()) / tasks, sum(direct_cpu.values()) / tasks
        note(
            f"    CPU per task: pool {1000 * pool_per:.0f} ms, direct {1000 * direct_per:.0f} ms; "
            f"on 2 busy cores the ratio cannot exceed about {direct_per / pool_per:.3f}"
        )
        plane = ("kube-apiserver", "etcd", "kube-controller-manager")
        node_per = sum(v for k, v in pool_cpu.items() if k not in plane) / tasks
        note(
            f"    without the control plane's CPU (a cluster runs it on other machines): pool "
            f"{1000 * node_per:.0f} ms per task, ceiling about {direct_per / node_per:.3f}"
        )
    finally:
        stack.stop()


def pool_batch(stack: Stack, watcher: TaskWatch, tag: str, count: int) -> float:
    names = [f"{tag}-{i:02d}" for i in range(count)]
    created = stack.create_tasks(names, min(count, 8), RATIO_PROMPT)
    watcher.wait(names, timeout=60 + 10 * count, what=f"pool batch {tag}")
    failed = [n for n in names if watcher.finished[n][1] != "Succeeded"]
    if failed:
        task = next(t for t in stack.tasks() if t["metadata"]["name"] == failed[0])
        raise BenchError(f"{len(failed)} pool tasks failed: {task.get('status')}")
    return max(watcher.finished[n][0] for n in names) - min(created.values())


class DirectRunner:
    """The command a slot runs, run directly: same argv, environment kind, stdin file."""

    def __init__(
        self, claude: str, base_url: str, pool: dict[str, Any], root: Path, lanes: int
    ) -> None:
        model = ClaudePool.model_validate(pool)
        request = resolve_request(model, RATIO_PROMPT, None, timeout_seconds=None)
        self.argv = build_argv(claude, request)
        self.lanes = lanes
        self.root = root
        base = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "ANTHROPIC_BASE_URL": base_url,
            "ANTHROPIC_API_KEY": API_KEY,
        }
        self.envs = []
        for lane in range(lanes):
            (root / f"lane{lane}" / "work").mkdir(parents=True, exist_ok=True)
            self.envs.append(
                cli_environment(
                    base,
                    home=root / f"lane{lane}" / "home",
                    retries=0,
                    api_timeout_ms=600_000,
                    sandbox=False,
                )
            )
        self.prompt = root / "prompt.txt"
        self.prompt.write_text(RATIO_PROMPT)

    def _one(self, lane: int) -> None:
        with self.prompt.open("rb") as stdin:
            done = subprocess.run(
                self.argv,
                stdin=stdin,
                capture_output=True,
                cwd=self.root / f"lane{lane}" / "work",
                env=self.envs[lane],
                timeout=120,
                start_new_session=True,
                check=False,
            )
        last = done.stdout.splitlines()[-1:] or [b""]
        if done.returncode != 0 or b'"is_error":false' not in last[0]:
            raise BenchError(f"direct run failed: rc={done.returncode} {done.stderr[-300:]!r}")

    def batch(self, count: int) -> float:
        """`count` runs, `lanes` at a time; the wall time of the batch."""
        jobs = list(range(count))
        lock = threading.Lock()

        def lane(index: int) -> None:
            while True:
                with lock:
                    if not jobs:
                        return
                    jobs.pop()
                self._one(index)

        started = time.time()
        with concurrent.futures.ThreadPoolExecutor(self.lanes) as pool:
            for future in [pool.submit(lane, i) for i in range(self.lanes)]:
                future.result()
        return time.time() - started
