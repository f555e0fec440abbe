"""The pool worker alone: tasks/s and CPU per task of `PoolWorker`, against the test fakes.

Runs standalone: `.venv/bin/python bench/bench_worker.py [--tasks N] [--slots N]
[--api-latency-ms MS]`. The worker runs its real loop in-process; the Kubernetes API and the
slot agents are `tests/fakes.py` (`FakeKube`, `FakeSlots`): every agent answers at once, and
every status patch and Event waits `--api-latency-ms` first. Without a control plane, a node
or a CLI, the figures are the worker's own cost, so they barely move when other processes
share the machine (unlike bench/bench_operator.py's). Prints one line per run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # tests.* from the checkout
    sys.path.insert(0, str(ROOT))

from claude_pool.api.agent import AgentResult, ProgressEvent, TaskStatus  # noqa: E402
from claude_pool.controllers.state import ClusterState  # noqa: E402
from claude_pool.kube.client import POOLS, TASKS  # noqa: E402
from claude_pool.runtime.settings import Settings  # noqa: E402
from claude_pool.runtime.worker import PoolWorker  # noqa: E402
from claude_pool.slots.pods import POOL_LABEL  # noqa: E402
from tests.builders import pool_manifest, task_manifest  # noqa: E402
from tests.fakes import FakeKube, FakeSlots  # noqa: E402
from tests.helpers import eventually_async  # noqa: E402


class InstantSlots(FakeSlots):
    """Agents whose runs finish as soon as they start."""

    async def events(
        self, base: str, token: str, uid: str, *, idle_timeout: float = 60.0
    ) -> AsyncIterator[ProgressEvent | TaskStatus]:
        agent = self._reach(base)
        agent.finish(uid, AgentResult(output="done", success=True, cost_microdollars=5, turns=1))
        yield agent.tasks[uid]


class SlowKube(FakeKube):
    """The fake API, answering status patches and Events after `latency` seconds."""

    latency = 0.0

    async def patch_status(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        await asyncio.sleep(self.latency)
        return await super().patch_status(*args, **kwargs)

    async def event(self, *args: Any, **kwargs: Any) -> None:
        await asyncio.sleep(self.latency)
        await super().event(*args, **kwargs)


async def run(tasks: int, slots: int, latency: float) -> str:
    state = ClusterState()
    kube = SlowKube(state)
    kube.latency = latency
    kube.add(POOLS, pool_manifest("p", namespace="ns", slots=slots))
    for i in range(slots):
        pod = {
            "kind": "Pod",
            "metadata": {"name": f"p-slot-{i}", "namespace": "ns", "labels": {POOL_LABEL: "p"}},
            "status": {
                "phase": "Running",
                "podIP": f"127.0.1.{i + 2}",
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }
        kube.add("pods", pod)
    worker = PoolWorker(("ns", "p"), state, kube, InstantSlots(), Settings())  # type: ignore[arg-type]  # the fakes stand in for Kube and SlotClient
    state.listeners.append(lambda _: worker.wake.set())
    loop = asyncio.create_task(worker.run())
    await asyncio.sleep(0.2)
    cpu, wall = time.process_time(), time.monotonic()
    for i in range(tasks):
        kube.add(TASKS, task_manifest(f"t{i:05d}", "p", namespace="ns"))

    async def all_done() -> bool:
        done = [
            o
            for (plural, _, _), o in kube.objects.items()
            if plural == TASKS and (o.get("status") or {}).get("phase") == "Succeeded"
        ]
        return len(done) == tasks

    await eventually_async(all_done, timeout=60 + tasks / 10, interval=0.01, what="all tasks")
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    await worker.stop()
    loop.cancel()
    return (
        f"{tasks} tasks on {slots} slots, API latency {1000 * latency:g} ms: "
        f"{tasks / wall:.0f} tasks/s, {1000 * cpu / tasks:.2f} ms CPU per task, "
        f"{len(kube.writes) / tasks:.2f} writes per task"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=int, default=400)
    parser.add_argument("--slots", type=int, default=10)
    parser.add_argument("--api-latency-ms", type=float, default=None)
    args = parser.parse_args(argv)
    latencies = [0.0, 15.0] if args.api_latency_ms is None else [args.api_latency_ms]
    for latency in latencies:
        print(asyncio.run(run(args.tasks, args.slots, latency / 1000)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
