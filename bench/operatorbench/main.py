"""The benchmark run: arguments, the shared cluster, the groups, the watchdog, the table.

Part of `bench/operatorbench` (see its package docstring); run through bench/bench_operator.py.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path

import bench.operatorbench as operatorbench
from bench.operatorbench.cluster import Cluster
from bench.operatorbench.composites import run_composites
from bench.operatorbench.figures import FIGURES, print_table
from bench.operatorbench.instant import run_instant
from bench.operatorbench.memory import run_rss
from bench.operatorbench.ratio import run_ratio
from bench.operatorbench.stack import OPTIONS

from claude_pool.devenv.fakeapi import FakeAnthropicThread

GROUPS = ("latency", "writes", "throughput", "rss", "ratio", "composites")


@contextlib.contextmanager
def watchdog(seconds: float) -> Iterator[None]:
    """End the whole run (exit 3) if it overruns its bound: nothing may hang forever."""
    done = threading.Event()

    def guard() -> None:
        if not done.wait(seconds):
            print(
                f"\nbench_operator: watchdog: still running after {seconds:.0f}s; aborting",
                file=sys.stderr,
                flush=True,
            )
            os._exit(3)

    threading.Thread(target=guard, name="watchdog", daemon=True).start()
    try:
        yield
    finally:
        done.set()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench_operator.py", description=(operatorbench.__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="smaller runs (a few minutes)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of {GROUPS}")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument(
        "--no-audit",
        action="store_true",
        help="run the apiserver without its audit log (writes then counted by the metric only)",
    )
    parser.add_argument(
        "--operator-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an operator setting (CLAUDE_POOL_<NAME>), e.g. kube_workers=4; repeatable",
    )
    parser.add_argument(
        "--throughput-slots",
        dest="slots_override",
        default="",
        metavar="N,N",
        help="comma-separated slot counts for the throughput runs (default 10,50; quick 10,20)",
    )
    parser.add_argument(
        "--operator-path",
        type=Path,
        default=None,
        help="run the operator from this directory's claude_pool (A/B runs of a modified copy)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="record the operator with py-spy during the throughput runs "
        "into this directory (pip install py-spy)",
    )
    args = parser.parse_args(argv)
    want = {w.strip() for w in args.only.split(",") if w.strip()} or set(GROUPS)
    if want - set(GROUPS):
        parser.error(f"--only: unknown {sorted(want - set(GROUPS))}; choose from {GROUPS}")
    args.want = want
    if args.quick:
        args.latency_tasks, args.latency_rate = 60, 10.0
        args.throughput_tasks, args.throughput_slots, args.throughput_repeats = 200, [10, 20], 1
        args.rss_tasks, args.rss_slots, args.rss_window = 2000, 200, 6.0
        args.ratio_batch, args.ratio_rounds = 4, 2
        args.fan_out_items, args.fan_out_slots, args.chain_steps = 100, 20, 10
        args.deadline = 900.0
    else:
        args.latency_tasks, args.latency_rate = 200, 10.0
        args.throughput_tasks, args.throughput_slots, args.throughput_repeats = 500, [10, 50], 3
        args.rss_tasks, args.rss_slots, args.rss_window = 10_000, 200, 12.0
        args.ratio_batch, args.ratio_rounds = 8, 4
        args.fan_out_items, args.fan_out_slots, args.chain_steps = 200, 50, 20
        args.deadline = 1800.0
    if args.slots_override:
        args.throughput_slots = [int(x) for x in args.slots_override.split(",")]
    for item in args.operator_setting:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--operator-setting {item!r}: expected NAME=VALUE")
        OPTIONS.settings[name.strip().lower()] = value
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    want: set[str] = args.want
    OPTIONS.path = args.operator_path
    workdir = Path(tempfile.mkdtemp(prefix="bench-operator-"))
    if OPTIONS.path is not None:
        print(f"operator from {OPTIONS.path} (--operator-path)")
    if OPTIONS.settings:
        print(f"operator settings: {OPTIONS.settings}")
    print(
        f"operator benchmark ({'quick' if args.quick else 'full'}): {sorted(want)}; "
        f"{os.cpu_count()} CPUs; work directory {workdir}",
        flush=True,
    )
    ok = True
    with watchdog(args.deadline):
        cluster = Cluster(workdir, audited=not args.no_audit)
        try:
            cluster.start()
            with FakeAnthropicThread() as fake:
                if want & {"latency", "writes", "throughput"}:
                    run_instant(cluster, workdir, fake, args, want)
                if "composites" in want:
                    run_composites(cluster, workdir, fake, args)
                if "ratio" in want:
                    run_ratio(cluster, workdir, fake, args)
                if "rss" in want:
                    run_rss(cluster, workdir, fake, args)
        except Exception:
            traceback.print_exc()
            print(f"bench_operator: failed; logs under {workdir}", file=sys.stderr)
            ok = False
            args.keep = True
        finally:
            cluster.stop()
    print_table()
    missed = [f for f in FIGURES if f.ok is False]
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    if not ok:
        return 2
    return 1 if missed and args.strict else 0
