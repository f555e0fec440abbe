"""Composite tasks with the instant CLI: a wide fan-out against the same work created as
single tasks, the API writes per child, and a chain's overhead between steps.

- fan-out: one ClaudeTask with N prompts (200 on 50 slots) from its create to the parent
  seen Succeeded, against N single tasks created directly by 8 threads from the first
  create to the last seen Succeeded (the ratio: target within 1.2x); API writes per child
  (audit log of the operator's writes in the namespace, parent's included; target <= 6).
- chain: one chain of N steps (20); per step, from the CLI start of step k to the CLI start
  of step k+1 (the instant CLI runs for a few ms, so this is the overhead from one step's end
  to the next one's start plus that run: an upper bound); p50 (target <= 150 ms).

Part of `bench/operatorbench` (see its package docstring); run through bench/bench_operator.py.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from pathlib import Path
from typing import Any

from bench.operatorbench.auditing import operator_writes, stamp_of
from bench.operatorbench.cluster import Cluster
from bench.operatorbench.common import BENCH_AGENT, OPERATOR_AGENTS, BenchError
from bench.operatorbench.figures import figure, note
from bench.operatorbench.stack import Stack, TaskWatch

from claude_pool.api.common import GROUP, VERSION
from claude_pool.devenv.fakeapi import FakeAnthropicThread
from tests.builders import task_manifest

FAN_OUT_RATIO_TARGET = 1.2
WRITES_PER_CHILD_TARGET = 6.0
STEP_OVERHEAD_TARGET_MS = 150.0


def run_composites(
    cluster: Cluster, workdir: Path, fake: FakeAnthropicThread, args: argparse.Namespace
) -> None:
    items, slots, steps = args.fan_out_items, args.fan_out_slots, args.chain_steps
    ns = cluster.namespace("bench-composite")
    stack = Stack(cluster, workdir, ns, fake, claude_bin=None).start()
    try:
        stack.create_pool("bench", slots)
        stack.wait_idle_slots(slots, timeout=60 + 6 * slots)
        with TaskWatch(cluster.client(BENCH_AGENT + "-watch"), ns) as watcher:
            print(f"\n== composites: fan-out of {items} on {slots} slots (instant CLI)", flush=True)
            direct = singles(stack, watcher, items)
            stack.delete_tasks()
            fanned = fan_out(cluster, stack, watcher, items)
            ratio = fanned / direct
            figure(
                "composites",
                f"fan-out of {items} on {slots} slots vs {items} single tasks",
                f"{ratio:.2f}x ({fanned:.2f}s vs {direct:.2f}s)",
                f"<= {FAN_OUT_RATIO_TARGET:g}x",
                ratio <= FAN_OUT_RATIO_TARGET,
            )
            stack.delete_tasks()
            print(f"\n== composites: chain of {steps} steps (instant CLI)", flush=True)
            chain(cluster, stack, watcher, steps)
    finally:
        stack.stop()


def singles(stack: Stack, watcher: TaskWatch, count: int) -> float:
    names = [f"single-{i:04d}" for i in range(count)]
    stack.settle_writes()
    created = stack.create_tasks(names, 8, "{name} instant single task")
    watcher.wait(names, timeout=60 + count, what="single tasks")
    elapsed = max(watcher.finished[n][0] for n in names) - min(created.values())
    note(f"{count} single tasks: first create -> last Succeeded {elapsed:.2f}s")
    return elapsed


def create(stack: Stack, name: str, **mode: Any) -> float:
    started = time.time()
    stack.custom.create_namespaced_custom_object(
        GROUP, VERSION, stack.namespace, "claudetasks", task_manifest(name, "bench", None, **mode)
    )
    return started


def fan_out(cluster: Cluster, stack: Stack, watcher: TaskWatch, count: int) -> float:
    stack.settle_writes()
    prompts = [f"fan-{i:04d} instant fan-out item" for i in range(count)]
    started = create(stack, "fan", fan_out={"prompts": prompts})
    watcher.wait(["fan"], timeout=60 + count, what="fan-out parent")
    finished, phase = watcher.finished["fan"]
    stack.settle_writes()
    ended = time.time()
    if phase != "Succeeded":
        raise BenchError(f"the fan-out ended {phase}")
    elapsed = finished - started
    note(f"fan-out of {count}: create -> parent Succeeded {elapsed:.2f}s")
    if cluster.audited:
        counted = operator_writes(cluster.audit(), stack.namespace, started, ended)
        per_child = counted.total / count
        figure(
            "composites",
            f"API writes per fan-out child ({count} children, the parent's included)",
            f"{per_child:.2f}",
            f"<= {WRITES_PER_CHILD_TARGET:g}",
            per_child <= WRITES_PER_CHILD_TARGET,
        )
        detail = ", ".join(f"{k} {v / count:.2f}" for k, v in counted.by_kind.most_common())
        note(f"    audit: {counted.total} operator writes: {detail}")
    return elapsed


def chain(cluster: Cluster, stack: Stack, watcher: TaskWatch, count: int) -> None:
    steps = [
        {"name": f"s{i:02d}", "prompt": f"step-{i:02d} instant chain step"} for i in range(count)
    ]
    create(stack, "chain", chain={"steps": steps})
    watcher.wait(["chain"], timeout=60 + 5 * count, what="chain")
    if watcher.finished["chain"][1] != "Succeeded":
        raise BenchError(f"the chain ended {watcher.finished['chain'][1]}")
    starts = stack.cli_starts()
    missing = [i for i in range(count) if f"step-{i:02d}" not in starts]
    if missing:
        raise BenchError(f"chain steps {missing} have no CLI start in the start log")
    stamps = [starts[f"step-{i:02d}"] for i in range(count)]
    gaps = [(b - a) / 1e6 for a, b in itertools.pairwise(stamps)]
    p50 = statistics.median(gaps)
    figure(
        "composites",
        f"chain of {count} steps: step k CLI start -> step k+1 CLI start, p50",
        f"{p50:.0f} ms (max {max(gaps):.0f})",
        f"<= {STEP_OVERHEAD_TARGET_MS:g} ms",
        p50 <= STEP_OVERHEAD_TARGET_MS,
    )
    note(f"    gaps: {', '.join(f'{g:.0f}' for g in gaps)} ms")
    if cluster.audited:
        step_breakdown(cluster, stack, [f"chain-s{i:02d}" for i in range(count)], stamps)


def step_breakdown(cluster: Cluster, stack: Stack, children: list[str], starts: list[int]) -> None:
    """Where the time between two steps goes, from the audit log: from step k's CLI start to
    its result patch, and (the hand-off runs beside that write) to step k+1's create, then
    -> its assignment patch -> its CLI start (medians)."""
    patches: dict[str, list[float]] = {}
    creates: dict[str, float] = {}
    for event in cluster.audit():
        ref = event.get("objectRef") or {}
        name = ref.get("name")
        if (
            ref.get("namespace") != stack.namespace
            or ref.get("resource") != "claudetasks"
            or name not in children
            or not str(event.get("userAgent", "")).startswith(OPERATOR_AGENTS)
        ):
            continue
        stamp = stamp_of(event)
        if event["verb"] == "create" and not ref.get("subresource"):
            creates[name] = stamp
        elif event["verb"] == "patch" and ref.get("subresource") == "status":
            patches.setdefault(name, []).append(stamp)
    parts: list[tuple[float, float, float, float]] = []
    for k, (a, b) in enumerate(itertools.pairwise(children)):
        pa, pb = sorted(patches.get(a, [])), sorted(patches.get(b, []))
        if not pa or not pb or b not in creates:
            continue
        start_a, start_b = starts[k] / 1e9, starts[k + 1] / 1e9
        parts.append((pa[-1] - start_a, creates[b] - start_a, pb[0] - creates[b], start_b - pb[0]))
    if not parts:
        return
    run, create, assign, start = (statistics.median(1000 * p[i] for p in parts) for i in range(4))
    note(
        f"    between steps (medians over {len(parts)}): CLI start -> its result patch {run:.0f} "
        f"ms; CLI start -> next step created {create:.0f} ms, -> assigned {assign:.0f} ms, "
        f"-> its CLI start {start:.0f} ms"
    )
