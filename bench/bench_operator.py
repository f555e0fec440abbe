"""Benchmarks of the operator: dispatch latency, throughput, API writes per task, memory, and
the pool against the bare CLI.

Runs standalone: `.venv/bin/python bench/bench_operator.py [--quick] [--only NAME[,NAME]]`
(NAME: latency, throughput, writes, rss, ratio). One shared setup: a real control plane on
loopback (etcd, kube-apiserver with a JSON audit log of every write, kube-controller-manager),
the CRDs, the fake Anthropic API on a thread; then, per group, a namespace, a local node
(slot agents as local processes) and `python -m claude_pool operator` as a subprocess:

- instant group (latency, writes, throughput): the slots run bench/instant_claude, a shell
  script that prints a valid result at once and logs `<time_ns> <HOME> <task name>` when
  it starts, so the operator's overhead is all that is measured.
  * latency: tasks created one at a time at a steady rate (slots are free), latency = the
    CLI's start stamp - the client's clock just before the create call; p50/p99.
  * writes: the apiserver's audit log, requests of the operator's user agent in the
    namespace during a phase, divided by its tasks, by verb/resource; cross-checked with the
    operator's claude_pool_api_writes_total.
  * throughput: 500 tasks created by 8 threads, first create -> last Succeeded (a watch),
    on 10 slots, then the pool scaled to 50 slots; 3 runs each, the median is the figure;
    per run the CPU of every component and the slot cycle (CLI start -> result patch ->
    next assignment patch -> next CLI start on the same slot, from the audit log).
- rss: 10,000 ClaudeTasks created and patched to Succeeded directly through the API (timed:
  that is setup), a pool of 200 slots with no node (the pods stay Pending), then a fresh
  operator; once it has created the pods, written the pool status and gone idle, VmRSS
  and VmHWM from /proc.
- ratio: the real CLI + the fake API, 4 slots; 4 rounds of (8 tasks through the pool,
  8 direct runs of the same CLI command 4 at a time), order alternating per round;
  ratio = pool throughput / direct throughput, with the CPU per task of both.

docs/performance.md has the method in detail, the figures and what limits them.

Every wait is bounded; a watchdog ends the run (exit 3) if it overruns. Prints a table of
figures with targets and PASS/MISS; `--strict` exits 1 on a miss.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime as dt
import itertools
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/bench_operator.py`: tests.* from the checkout
    sys.path.insert(0, str(ROOT))

from kubernetes import client, config, watch  # noqa: E402
from kubernetes.client.exceptions import ApiException  # noqa: E402

from claude_pool.agent.argv import build_argv  # noqa: E402
from claude_pool.agent.environment import cli_environment  # noqa: E402
from claude_pool.api.agent import AgentResult, Usage  # noqa: E402
from claude_pool.api.common import GROUP, VERSION  # noqa: E402
from claude_pool.api.pools import ClaudePool  # noqa: E402
from claude_pool.api.tasks import ClaudeTaskStatus  # noqa: E402
from claude_pool.devenv import clusterinit  # noqa: E402
from claude_pool.devenv.clibin import claude_binary  # noqa: E402
from claude_pool.devenv.controlplane import ControlPlane  # noqa: E402
from claude_pool.devenv.fakeapi import FakeAnthropicThread  # noqa: E402
from claude_pool.devenv.localnode import LocalNode  # noqa: E402
from claude_pool.devenv.operatorproc import OperatorProcess  # noqa: E402
from claude_pool.status import tasks as transitions  # noqa: E402
from claude_pool.workflows.resolving import resolve_request  # noqa: E402
from tests.builders import pool_manifest, task_manifest  # noqa: E402

INSTANT_CLI = ROOT / "bench" / "instant_claude"
START_LOG_ENV = "CLAUDE_CODE_BENCH_START_LOG"  # CLAUDE_CODE_* reaches the CLI's environment
FINISHED = ("Succeeded", "Failed", "Cancelled")
BENCH_AGENT = "claude-pool-bench"
NODE_AGENT = "claude-pool-localnode"
OPERATOR_AGENTS = ("OpenAPI-Generator", "kopf")  # the kubernetes client's, kopf's own
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
SECRET = "claude-credentials"
API_KEY = "sk-ant-bench-0123456789"
RATIO_PROMPT = "ratio benchmark task [[fake in=100 out=20]]"

LATENCY_P50_MS, LATENCY_P99_MS = 100.0, 500.0
THROUGHPUT_TARGET = 50.0
WRITES_TARGET = 6.0
RSS_TARGET_MB = 250.0
RATIO_TARGET = 0.9

T = TypeVar("T")
OPERATOR_PATH: Path | None = None
OPERATOR_SETTINGS: dict[str, str] = {}


class BenchError(RuntimeError):
    """A benchmark could not complete (a bound expired, an object is missing)."""


# figures
@dataclass
class Figure:
    group: str
    label: str
    value: str
    target: str = ""
    ok: bool | None = None


FIGURES: list[Figure] = []


def figure(group: str, label: str, value: str, target: str = "", ok: bool | None = None) -> None:
    FIGURES.append(Figure(group, label, value, target, ok))
    verdict = "" if ok is None else ("PASS" if ok else "MISS")
    print(f"  [{group}] {label}: {value}  {target}  {verdict}".rstrip(), flush=True)


def note(text: str) -> None:
    print(f"  {text}", flush=True)


def print_table() -> None:
    rows = [
        (f.group, f.label, f.value, f.target, "" if f.ok is None else ("PASS" if f.ok else "MISS"))
        for f in FIGURES
    ]
    heads = ("group", "figure", "value", "target", "")
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(heads)
    ]
    line = "  ".join("-" * w for w in widths)
    print("\n" + "  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True)))
    print(line)
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


# small helpers
def wait_for(fn: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


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


# the cluster
class Cluster:
    """The control plane with its audit log, and API clients with distinct user agents."""

    def __init__(self, workdir: Path, audited: bool = True) -> None:
        self.workdir = workdir
        self.audited = audited
        self.cp = ControlPlane.create(workdir / "cp", audit_log=audited)
        self.api: client.ApiClient | None = None

    def start(self) -> Cluster:
        started = time.monotonic()
        self.cp.start()
        self.api = self.client(BENCH_AGENT, pool=64)
        clusterinit.install_crds(self.api)
        note(f"control plane up with CRDs in {time.monotonic() - started:.1f}s ({self.cp.server})")
        return self

    def stop(self) -> None:
        self.cp.stop()

    def client(self, agent: str, pool: int = 16) -> client.ApiClient:
        cfg = client.Configuration()
        config.load_kube_config(config_file=str(self.cp.kubeconfig), client_configuration=cfg)
        cfg.connection_pool_maxsize = pool
        api = client.ApiClient(cfg)
        api.user_agent = agent
        return api

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def namespace(self, name: str) -> str:
        self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        secret = client.V1Secret(
            metadata=client.V1ObjectMeta(name=SECRET),
            string_data={"ANTHROPIC_API_KEY": API_KEY},
        )
        self.core.create_namespaced_secret(name, secret)
        return name

    def pids(self) -> dict[str, int]:
        return self.cp.pids()

    def audit(self) -> list[dict[str, Any]]:
        """The completed write requests in the audit log so far."""
        out = []
        with self.cp.audit_path.open() as handle:
            for line in handle:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("stage") == "ResponseComplete" and event.get("verb") in WRITE_VERBS:
                    out.append(event)
        return out


def operator_process(
    kubeconfig: Path, namespace: str, log: Path, **settings: str
) -> OperatorProcess:
    """`python -m claude_pool operator` watching `namespace`."""
    return OperatorProcess(kubeconfig, log, namespaces=[namespace], **settings)


def pool_body(name: str, slots: int, base_url: str) -> dict[str, Any]:
    return pool_manifest(
        name,
        slots=slots,
        credentials={"secretName": SECRET, "baseURL": base_url},
        claude={"model": "sonnet", "maxRetries": 0},
    )


class TaskWatch:
    """Watches a namespace's ClaudeTasks on a thread: when each was first seen finished."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        self.custom = client.CustomObjectsApi(api)
        self.namespace = namespace
        self.finished: dict[str, tuple[float, str]] = {}
        self.created: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="task-watch", daemon=True)

    def __enter__(self) -> TaskWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=40)

    def _see(self, obj: dict[str, Any]) -> None:
        meta = obj.get("metadata") or {}
        name = meta.get("name", "")
        self.created.setdefault(name, meta.get("creationTimestamp", ""))
        phase = (obj.get("status") or {}).get("phase")
        if phase in FINISHED and name not in self.finished:
            self.finished[name] = (time.time(), phase)

    def _loop(self) -> None:
        args = (GROUP, VERSION, self.namespace, "claudetasks")
        while not self._stop.is_set():
            try:
                listing = self.custom.list_namespaced_custom_object(*args)
                for obj in listing.get("items", []):
                    self._see(obj)
                version = listing["metadata"]["resourceVersion"]
                stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
                    self.custom.list_namespaced_custom_object,
                    *args,
                    resource_version=version,
                    timeout_seconds=10,
                )
                for event in stream:
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._see(event["object"])
                    if self._stop.is_set():
                        break
            except Exception as exc:
                if not self._stop.is_set():
                    print(f"  task watch: {exc!r}; relisting", flush=True)
                    time.sleep(0.2)

    def wait(self, names: list[str], timeout: float, what: str) -> None:
        wanted = set(names)
        wait_for(
            lambda: wanted <= self.finished.keys(),
            timeout,
            f"{what}: {len(wanted - self.finished.keys())} of {len(wanted)} not finished",
            interval=0.05,
        )


class Stack:
    """A namespace's local node, operator and pool, with helpers."""

    def __init__(
        self,
        cluster: Cluster,
        workdir: Path,
        namespace: str,
        fake: FakeAnthropicThread,
        *,
        claude_bin: str | None,
        node: bool = True,
        settings: dict[str, str] | None = None,
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.fake = fake
        self.start_log = workdir / f"{namespace}-cli-starts.log"
        self.node: LocalNode | None = None
        if node:
            overrides = {
                "CLAUDE_POOL_AGENT_CLAUDE_BIN": claude_bin or str(INSTANT_CLI),
                "CLAUDE_POOL_AGENT_KILL_GRACE_SECONDS": "1",
                START_LOG_ENV: str(self.start_log),
            }
            self.node = LocalNode(
                cluster.client(NODE_AGENT),
                workdir / f"node-{namespace}",
                name=f"node-{namespace}",
                namespaces={namespace},
                overrides=overrides,
            )
        self.operator = operator_process(
            cluster.cp.kubeconfig,
            namespace,
            workdir / f"operator-{namespace}.log",
            **{"resync_seconds": "10", **OPERATOR_SETTINGS, **(settings or {})},
        )
        if OPERATOR_PATH is not None:  # --operator-path: a modified copy of the package
            self.operator.env["PYTHONPATH"] = str(OPERATOR_PATH)

    def start(self, operator: bool = True) -> Stack:
        if self.node is not None:
            self.node.start()
        if operator:
            self.operator.start()
        return self

    def stop(self) -> None:
        self.operator.stop()
        if self.node is not None:
            self.node.stop()

    @property
    def custom(self) -> client.CustomObjectsApi:
        return self.cluster.custom

    def pool(self, name: str = "bench") -> dict[str, Any]:
        body: dict[str, Any] = self.custom.get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "claudepools", name
        )
        return body

    def create_pool(self, name: str, slots: int) -> None:
        self.custom.create_namespaced_custom_object(
            GROUP,
            VERSION,
            self.namespace,
            "claudepools",
            pool_body(name, slots, self.fake.base_url),
        )

    def scale(self, name: str, slots: int) -> None:
        self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "claudepools", name, {"spec": {"slots": slots}}
        )

    def wait_idle_slots(self, count: int, timeout: float, name: str = "bench") -> None:
        def ready() -> bool:
            status = self.pool(name).get("status") or {}
            return int(status.get("idleSlots", 0)) >= count

        try:
            wait_for(ready, timeout, f"{count} idle slots", interval=0.5)
        except BenchError as exc:
            raise BenchError(
                f"{exc}\npool status: {self.pool(name).get('status')}\n"
                f"operator log:\n{self.operator.tail(30)}"
            ) from None

    def create_task(self, name: str, prompt: str, pool: str = "bench") -> dict[str, Any]:
        body: dict[str, Any] = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "claudetasks", task_manifest(name, pool, prompt)
        )
        return body

    def create_tasks(self, names: list[str], threads: int, prompt: str) -> dict[str, float]:
        """Create tasks from `threads` threads; returns name -> wall time before its create."""
        stamps: dict[str, float] = {}

        def one(name: str) -> None:
            stamps[name] = time.time()
            self.create_task(name, prompt.format(name=name))

        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, names))
        return stamps

    def delete_tasks(self, timeout: float = 120) -> None:
        self.custom.delete_collection_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "claudetasks"
        )
        wait_for(
            lambda: (
                not self.custom.list_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, "claudetasks", limit=1
                )["items"]
            ),
            timeout,
            "tasks deleted",
            interval=0.5,
        )

    def tasks(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.custom.list_namespaced_custom_object(
            GROUP, VERSION, self.namespace, "claudetasks"
        )["items"]
        return items

    def cli_starts(self) -> dict[str, int]:
        """Task name -> time_ns its CLI started (the first start of each)."""
        return {name: stamp for name, (stamp, _) in self.cli_runs().items()}

    def cli_runs(self) -> dict[str, tuple[int, str]]:
        """Task name -> (time_ns its CLI started, the slot's HOME), first start of each.

        bench/instant_claude writes "<time_ns> <HOME> <prompt's first line>"; the prompt
        starts with the task's name.
        """
        out: dict[str, tuple[int, str]] = {}
        if not self.start_log.exists():
            return out
        for line in self.start_log.read_text().splitlines():
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[0].isdigit() and parts[2] not in out:
                out[parts[2]] = (int(parts[0]), parts[1])
        return out

    def settle_writes(self, quiet: float = 1.5, timeout: float = 20) -> Counter[str]:
        """The operator's write counters once they have not moved for `quiet` seconds."""
        last = api_writes(self.operator)
        since = time.monotonic()
        deadline = since + timeout
        while time.monotonic() < deadline:
            time.sleep(0.25)
            now = api_writes(self.operator)
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return now
        raise BenchError(f"the operator kept writing: no quiet period of {quiet}s")

    def agent_pids(self) -> list[int]:
        if self.node is None:
            return []
        with self.node._lock:  # the bench reads the node's process table
            return [r.proc.pid for r in self.node.runs.values() if r.proc is not None]


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


# audit log
@dataclass
class WriteCount:
    total: int = 0
    failed: int = 0
    by_kind: Counter[str] = field(default_factory=Counter)
    agents: Counter[str] = field(default_factory=Counter)


def _stamp(event: dict[str, Any]) -> float:
    return dt.datetime.fromisoformat(event["requestReceivedTimestamp"]).timestamp()


def operator_writes(
    events: list[dict[str, Any]], namespace: str, start: float, end: float
) -> WriteCount:
    out = WriteCount()
    for event in events:
        ref = event.get("objectRef") or {}
        if ref.get("namespace") != namespace or not start <= _stamp(event) <= end:
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
            assigned[name] = _stamp(event)
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
            patches.setdefault(ref["name"], []).append(_stamp(event))
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


# the instant group
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


class Profiler:
    """py-spy (if installed) sampling the operator, all threads, while a phase runs."""

    def __init__(self, stack: Stack, directory: Path, tag: str) -> None:
        assert stack.operator.proc is not None
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(spy).exists():
            raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy")
        directory.mkdir(parents=True, exist_ok=True)
        self.output = directory / f"operator-{tag}.txt"
        self.proc = subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(stack.operator.proc.pid),
                "--format",
                "raw",
                "--rate",
                "250",
                "--nonblocking",
                "--threads",
                "--output",
                str(self.output),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)  # attached

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        if not self.output.exists():
            note(f"    profile: py-spy wrote nothing (rc {self.proc.returncode})")
            return
        note(f"    profile: {self.output}")
        for line in summarize_profile(self.output):
            note(f"      {line}")


def summarize_profile(path: Path, top: int = 12) -> list[str]:
    """The functions most often on the stack (inclusive) and on top (self), from py-spy raw."""
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        threads[frames[0].split(" ")[0] if frames else "?"] += n
        seen = set()
        for frame in frames[1:]:
            name = frame.split(" (")[0]
            where = frame.split(" (")[1].split(":")[0] if " (" in frame else ""
            key = f"{name} ({where.rsplit('/', 2)[-2] if '/' in where else where})"
            if key not in seen:
                inclusive[key] += n
                seen.add(key)
        if len(frames) > 1:
            self_time[frames[-1].split(" (")[0]] += n
    if not total:
        return ["no samples"]
    out = [
        f"{total} samples; by thread: "
        + ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in threads.most_common(6))
    ]
    out.append(
        "self: " + ", ".join(f"{k} {100 * v / total:.1f}%" for k, v in self_time.most_common(top))
    )
    out.append(
        "inclusive: "
        + ", ".join(f"{k} {100 * v / total:.1f}%" for k, v in inclusive.most_common(top * 3))
    )
    return out


# operator memory
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
        wait_for(seen_all, 300, f"the pool status to report {slots} replicas", interval=0.5)
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


# the real CLI against the pool
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


# main
GROUPS = ("latency", "writes", "throughput", "rss", "ratio")


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
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
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
        args.deadline = 900.0
    else:
        args.latency_tasks, args.latency_rate = 200, 10.0
        args.throughput_tasks, args.throughput_slots, args.throughput_repeats = 500, [10, 50], 3
        args.rss_tasks, args.rss_slots, args.rss_window = 10_000, 200, 12.0
        args.ratio_batch, args.ratio_rounds = 8, 4
        args.deadline = 1800.0
    if args.slots_override:
        args.throughput_slots = [int(x) for x in args.slots_override.split(",")]
    for item in args.operator_setting:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--operator-setting {item!r}: expected NAME=VALUE")
        OPERATOR_SETTINGS[name.strip().lower()] = value
    return args


def main(argv: list[str] | None = None) -> int:
    global OPERATOR_PATH
    args = parse_args(argv)
    want: set[str] = args.want
    OPERATOR_PATH = args.operator_path
    workdir = Path(tempfile.mkdtemp(prefix="bench-operator-"))
    if OPERATOR_PATH is not None:
        print(f"operator from {OPERATOR_PATH} (--operator-path)")
    if OPERATOR_SETTINGS:
        print(f"operator settings: {OPERATOR_SETTINGS}")
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


if __name__ == "__main__":
    sys.exit(main())
