"""One namespace of a benchmark: its local node, the operator process, a pool, and a watch
that sees when each task finished.

Part of `bench/operatorbench` (see its package docstring); run through bench/bench_operator.py.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.operatorbench.cluster import Cluster
from bench.operatorbench.common import (
    FINISHED,
    INSTANT_CLI,
    NODE_AGENT,
    SECRET,
    START_LOG_ENV,
    BenchError,
)
from bench.operatorbench.metering import (
    api_writes,
)
from kubernetes import client, watch

from claude_pool.api.common import GROUP, VERSION
from claude_pool.devenv.fakeapi import FakeAnthropicThread
from claude_pool.devenv.localnode import LocalNode
from tests.builders import pool_manifest, task_manifest
from tests.helpers import eventually, operator_process


@dataclass
class Options:
    """How every stack runs its operator (set once from the command line)."""

    path: Path | None = None
    """--operator-path: run the operator from this directory's claude_pool."""
    settings: dict[str, str] = field(default_factory=dict)
    """--operator-setting NAME=VALUE pairs."""


OPTIONS = Options()


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
        eventually(
            lambda: wanted <= self.finished.keys(),
            timeout=timeout,
            what=f"{what}: {len(wanted)} tasks finished",
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
        # the CLI runs as the slot pods' runAsUser (10001 under a root local node): it must
        # reach the (mkdtemp, 0700) work directory and append to the log
        workdir.chmod(0o711)
        self.start_log.touch()
        self.start_log.chmod(0o666)
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
            **{"resync_seconds": "10", **OPTIONS.settings, **(settings or {})},
        )
        if OPTIONS.path is not None:  # --operator-path: another copy of the package
            self.operator.env["PYTHONPATH"] = str(OPTIONS.path)

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
            eventually(ready, timeout=timeout, what=f"{count} idle slots", interval=0.5)
        except AssertionError as exc:
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
        eventually(
            lambda: (
                not self.custom.list_namespaced_custom_object(
                    GROUP, VERSION, self.namespace, "claudetasks", limit=1
                )["items"]
            ),
            timeout=timeout,
            what="tasks deleted",
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
