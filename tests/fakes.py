"""Fakes at the project's own doors, for unit tests of the pool worker.

`FakeKube` stands in for `claude_pool.kube.client.Kube` (not for the kubernetes library): it
keeps custom objects and pods in memory, applies status patches as JSON merge patches with
resourceVersion preconditions, records every write, and mirrors pod changes into the
`ClusterState` as the watch would. `FakeSlots` stands in for `claude_pool.slots.client
.SlotClient`: one `FakeAgent` per slot base URL that holds tasks until a test finishes
them. `ManualClock` is a `runtime.clock.Clock` that moves only when told.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from claude_pool.api.agent import (
    AgentResult,
    AgentSlotState,
    ProgressEvent,
    SlotStatus,
    TaskRequest,
    TaskState,
    TaskStatus,
)
from claude_pool.api.workspaces import PushResponse, WorkspaceState
from claude_pool.controllers.state import ClusterState, PodView
from claude_pool.kube.client import MESSAGES, POOLS, REVIEWS, TASKS, Conflict, NotFound
from claude_pool.slots.client import PushRefused, SlotBusy, SlotUnreachable

EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


class ManualClock:
    """A clock that moves only by `advance`."""

    def __init__(self) -> None:
        self.t = 1000.0

    def monotonic(self) -> float:
        return self.t

    def now(self) -> dt.datetime:
        return EPOCH + dt.timedelta(seconds=self.t)

    def advance(self, seconds: float) -> None:
        self.t += seconds


def merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 JSON merge patch, as the apiserver applies it."""
    out = dict(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclass
class Write:
    verb: str
    resource: str
    name: str
    body: dict[str, Any] = field(default_factory=dict)


class FakeKube:
    """The `Kube` facade in memory (see the module docstring)."""

    def __init__(self, state: ClusterState, token: str = "tok") -> None:  # noqa: S107 - a fake agent token
        self.state = state
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.secrets: dict[tuple[str, str], dict[str, str]] = {}
        self.config: dict[tuple[str, str, str, str], str] = {}
        """(kind, namespace, name, key) -> value: what read_config_key finds (promptFrom)."""
        self.writes: list[Write] = []
        self.events: list[dict[str, Any]] = []
        self.fail: Callable[[Write], Exception | None] = lambda _: None
        """Called before each write: an exception returned is raised (a crash, a refusal)."""
        self._version = 100
        self.token = token

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def _write(self, write: Write) -> None:
        error = self.fail(write)
        if error is not None:
            raise error
        self.writes.append(write)

    def add(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        """Store an object as created by a user, and feed it to the state like the watch."""
        body = copy.deepcopy(body)
        meta = body.setdefault("metadata", {})
        meta.setdefault("namespace", "ns")
        meta.setdefault("uid", f"uid-{meta['name']}")
        meta.setdefault("generation", 1)
        meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        meta["resourceVersion"] = self._next_version()
        self.objects[(plural, meta["namespace"], meta["name"])] = body
        self._feed(plural, body)
        return body

    def _feed(self, plural: str, body: dict[str, Any]) -> None:
        if plural == POOLS:
            self.state.upsert_pool(body)
        elif plural == TASKS:
            self.state.upsert_task(body)
        elif plural == "pods":
            self.state.upsert_pod(body)
        elif plural == REVIEWS:
            self.state.upsert_review(body)
        elif plural == MESSAGES:
            self.state.upsert_message(body)

    def get(self, plural: str, name: str, namespace: str = "ns") -> dict[str, Any]:
        return self.objects[(plural, namespace, name)]

    def writes_of(self, verb: str, resource: str) -> list[Write]:
        return [w for w in self.writes if (w.verb, w.resource) == (verb, resource)]

    # --- the Kube interface ---------------------------------------------------------------
    async def patch_status(
        self,
        plural: str,
        namespace: str,
        name: str,
        patch: dict[str, Any],
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        await asyncio.sleep(0)
        obj = self.objects.get((plural, namespace, name))
        if obj is None:
            raise NotFound(404, f"{plural} {name} not found")
        if resource_version is not None and obj["metadata"]["resourceVersion"] != resource_version:
            raise Conflict(409, f"{plural} {name}: the object has been modified")
        self._write(Write("patch", f"{plural}/status", name, patch))
        obj["status"] = merge(obj.get("status") or {}, patch)
        obj["metadata"]["resourceVersion"] = self._next_version()
        return copy.deepcopy(obj)

    async def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        obj = self.objects.get((plural, namespace, name))
        if obj is None:
            raise NotFound(404, f"{plural} {name} not found")
        return copy.deepcopy(obj)

    async def delete_custom(
        self, plural: str, namespace: str, name: str, *, uid: str | None = None
    ) -> None:
        obj = self.objects.get((plural, namespace, name))
        if obj is None:
            raise NotFound(404, f"{plural} {name} not found")
        if uid is not None and obj["metadata"]["uid"] != uid:
            raise Conflict(409, f"{plural} {name}: uid precondition failed")
        self._write(Write("delete", plural, name))
        del self.objects[(plural, namespace, name)]
        if plural == TASKS:
            self.state.delete_task(obj["metadata"]["uid"])

    async def read_config_key(self, kind: str, namespace: str, name: str, key: str) -> bytes | None:
        value = self.config.get((kind, namespace, name, key))
        return None if value is None else value.encode()

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        kind = body["kind"]
        meta = body["metadata"]
        plural = {"Pod": "pods"}.get(kind, kind.lower() + "s")
        key = (plural, meta.get("namespace", "ns"), meta["name"])
        if key in self.objects:
            raise Conflict(409, f"{kind} {meta['name']} exists")
        self._write(Write("create", plural, meta["name"], body))
        if kind == "Pod":  # each incarnation of a pod name has its own uid, as in a cluster
            body = {**body, "metadata": {"uid": f"uid-{meta['name']}-{self._version}", **meta}}
        stored = self.add(plural, body)
        if kind == "Secret":
            self.secrets[(key[1], key[2])] = dict(body.get("data") or {})
        return stored

    async def create_custom(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        meta = body["metadata"]
        key = (plural, meta.get("namespace", "ns"), meta["name"])
        if key in self.objects:
            raise Conflict(409, f"{plural} {meta['name']} exists")
        self._write(Write("create", plural, meta["name"], body))
        return copy.deepcopy(self.add(plural, body))

    async def patch_custom(
        self, plural: str, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        await asyncio.sleep(0)
        obj = self.objects.get((plural, namespace, name))
        if obj is None:
            raise NotFound(404, f"{plural} {name} not found")
        self._write(Write("patch", plural, name, patch))
        merged = merge(obj, patch)
        merged["metadata"]["resourceVersion"] = self._next_version()
        self.objects[(plural, namespace, name)] = merged
        self._feed(plural, merged)
        return copy.deepcopy(merged)

    def delete(self, plural: str, name: str, namespace: str = "ns") -> None:
        """Delete an object as a user would (fed to the state like the watch)."""
        body = self.objects.pop((plural, namespace, name))
        if plural == TASKS:
            self.state.delete_task(body["metadata"]["uid"])

    async def delete_pod(self, namespace: str, name: str, uid: str | None = None) -> None:
        key = ("pods", namespace, name)
        if key not in self.objects:
            raise NotFound(404, f"pod {name} not found")
        self._write(Write("delete", "pods", name))
        body = self.objects.pop(key)
        self.state.delete_pod(body)

    async def patch_pod_metadata(self, namespace: str, name: str, meta: dict[str, Any]) -> None:
        key = ("pods", namespace, name)
        self._write(Write("patch", "pods", name, meta))
        body = self.objects[key]
        body["metadata"] = merge(body["metadata"], meta)
        self.state.upsert_pod(body)

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        if name.endswith("-agent-token"):
            return {"token": base64.b64encode(self.token.encode()).decode()}
        return self.secrets.get((namespace, name))

    async def event(
        self,
        involved: dict[str, Any],
        *,
        reason: str,
        message: str,
        warning: bool = False,
        now: dt.datetime,
    ) -> None:
        self._write(Write("create", "events", involved["name"]))
        self.events.append(
            {"involved": involved, "reason": reason, "message": message, "warning": warning}
        )


class FakeAgent:
    """One slot agent: tasks are held until `finish`; results until acknowledged."""

    def __init__(self) -> None:
        self.tasks: dict[str, TaskStatus] = {}
        self.done: dict[str, asyncio.Event] = {}
        self.requests: dict[str, TaskRequest] = {}
        self.cancelled: list[str] = []
        self.acknowledged: list[str] = []
        self.reachable = True
        self.workspace: WorkspaceState | None = None
        """What GET /v1/slot says of the clone (None: no workspace)."""
        self.pushes: list[str] = []
        self.push_error: str | None = None
        """POST /v1/workspace/push answers PushRefused with this, when set."""

    def hold(self, uid: str, result: AgentResult | None = None) -> None:
        """The agent holds `uid` (running, or finished with `result`)."""
        state = TaskState.RUNNING if result is None else TaskState.SUCCEEDED
        self.tasks[uid] = TaskStatus(uid=uid, state=state, started_at=EPOCH, result=result)
        self.done[uid] = asyncio.Event()
        if result is not None:
            self.done[uid].set()

    def finish(self, uid: str, result: AgentResult) -> None:
        state = TaskState.SUCCEEDED if result.success else TaskState.FAILED
        self.tasks[uid] = TaskStatus(
            uid=uid, state=state, started_at=EPOCH, finished_at=EPOCH, result=result
        )
        self.done[uid].set()

    @property
    def running(self) -> list[str]:
        return [u for u, t in self.tasks.items() if t.state is TaskState.RUNNING]


class FakeSlots:
    """The `SlotClient` in memory: one `FakeAgent` per base URL (see the module docstring)."""

    def __init__(self) -> None:
        self.agents: dict[str, FakeAgent] = {}

    def agent(self, ip: str) -> FakeAgent:
        return self.agents.setdefault(f"http://{ip}:8080", FakeAgent())

    def _reach(self, base: str) -> FakeAgent:
        agent = self.agents.setdefault(base, FakeAgent())
        if not agent.reachable:
            raise SlotUnreachable(f"{base}: connection refused")
        return agent

    async def slot(self, base: str, token: str) -> SlotStatus:
        agent = self._reach(base)
        running = agent.running
        return SlotStatus(
            state=AgentSlotState.BUSY if running else AgentSlotState.IDLE,
            current_task=running[0] if running else None,
            tasks=list(agent.tasks),
            agent_version="fake",
            workspace=agent.workspace,
        )

    async def push(self, base: str, token: str, branch: str) -> PushResponse:
        agent = self._reach(base)
        if agent.push_error is not None:
            raise PushRefused(agent.push_error)
        agent.pushes.append(branch)
        return PushResponse(branch=branch, commit="c" * 40, repository="r")

    async def start(self, base: str, token: str, uid: str, request: TaskRequest) -> TaskStatus:
        agent = self._reach(base)
        if uid not in agent.tasks:
            if agent.running:
                raise SlotBusy(409, f"busy with {agent.running[0]}")
            agent.hold(uid)
            agent.requests[uid] = request
        return agent.tasks[uid]

    async def task(self, base: str, token: str, uid: str) -> TaskStatus | None:
        return self._reach(base).tasks.get(uid)

    async def cancel(self, base: str, token: str, uid: str) -> None:
        self._reach(base).cancelled.append(uid)

    async def acknowledge(self, base: str, token: str, uid: str) -> None:
        agent = self._reach(base)
        agent.acknowledged.append(uid)
        agent.tasks.pop(uid, None)

    async def events(
        self, base: str, token: str, uid: str, *, idle_timeout: float = 60.0
    ) -> AsyncIterator[ProgressEvent | TaskStatus]:
        agent = self._reach(base)
        await agent.done[uid].wait()
        yield agent.tasks[uid]


def slot_pod(name: str, uid: str) -> PodView:
    """A ready, idle slot pod view of pool n/p (the name ends in its index)."""
    return PodView(
        name=name,
        namespace="n",
        pool="p",
        index=int(name[-1]),
        uid=uid,
        ip="127.1.0.2",
        phase="Running",
        ready=True,
        restarts=0,
        draining=False,
        terminating=False,
    )
