"""An in-memory fake of the SDK's door (`claude_pool.kube.access.ClusterDoor`) for unit tests.

Objects live in a dict keyed by (plural, namespace, name), each with a resourceVersion from
one counter; watches get every later change through a queue. `update()` plays the operator
(a status write that watchers see); `calls` records every method called, so a test can
assert that waiting watched instead of polling.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

from claude_pool.kube.client import ApiError, NotFound
from claude_pool.kube.streams import Gone, WatchEvent, WatchEventType

Key = tuple[str, str, str]


def merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 JSON merge patch."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


class FakeDoor:
    def __init__(self) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.configmaps: dict[tuple[str, str], dict[str, str]] = {}
        self.logs: dict[tuple[str, str], list[str]] = {}
        self.calls: Counter[str] = Counter()
        self.watchers: list[tuple[str, str, str | None, asyncio.Queue[WatchEvent | None]]] = []
        self.fail_next: dict[str, ApiError] = {}
        self.gone_once = False
        self._versions = itertools.count(1)
        self._names = itertools.count(1)
        self.closed = False
        self.log_hangs = False
        """pod_log keeps the stream open after its lines (a follow that never ends)."""
        self.user = "alice"
        """The authenticated user: stamped as a created ClaudeReview's spec.reviewer, as the
        admission policy of deploy/admission.yaml does."""

    # helpers for tests
    def put(self, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        body = copy.deepcopy(body)
        meta = body.setdefault("metadata", {})
        meta.setdefault("namespace", namespace)
        meta.setdefault("uid", f"uid-{meta['name']}")
        meta.setdefault("creationTimestamp", "2026-12-01T00:00:00Z")
        meta["resourceVersion"] = str(next(self._versions))
        self.objects[(plural, namespace, meta["name"])] = body
        self._notify(plural, namespace, WatchEventType.ADDED, body)
        return body

    def update(
        self, plural: str, namespace: str, name: str, change: Callable[[dict[str, Any]], None]
    ) -> None:
        body = self.objects[(plural, namespace, name)]
        change(body)
        body["metadata"]["resourceVersion"] = str(next(self._versions))
        self._notify(plural, namespace, WatchEventType.MODIFIED, body)

    def remove(self, plural: str, namespace: str, name: str) -> None:
        body = self.objects.pop((plural, namespace, name))
        self._notify(plural, namespace, WatchEventType.DELETED, body)

    def _notify(self, plural: str, namespace: str, kind: WatchEventType, body: dict[str, Any]):
        for w_plural, w_ns, w_name, queue in self.watchers:
            if (w_plural, w_ns) == (plural, namespace) and w_name in (
                None,
                body["metadata"]["name"],
            ):
                queue.put_nowait(WatchEvent(kind, copy.deepcopy(body)))

    def _fail(self, method: str) -> None:
        self.calls[method] += 1
        error = self.fail_next.pop(method, None)
        if error is not None:
            raise error

    def _find(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        try:
            return self.objects[(plural, namespace, name)]
        except KeyError:
            raise NotFound(404, f'{plural} "{name}" not found') from None

    # the door
    async def get(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        self._fail("get")
        return copy.deepcopy(self._find(plural, namespace, name))

    async def list(
        self, plural: str, namespace: str, *, label_selector: str | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        self._fail("list")
        wanted = dict(p.split("=", 1) for p in label_selector.split(",")) if label_selector else {}
        items = [
            copy.deepcopy(body)
            for (p, ns, _), body in self.objects.items()
            if p == plural and ns == namespace
            and all(body["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())
        ]  # fmt: skip
        return items, str(next(self._versions))

    async def create(self, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self._fail("create")
        body = copy.deepcopy(body)
        meta = body["metadata"]
        if "name" not in meta:
            meta["name"] = f"{meta.pop('generateName')}{next(self._names):05d}"
        if plural == "claudereviews":
            body["spec"].setdefault("reviewer", self.user)
        if (plural, namespace, meta["name"]) in self.objects:
            raise ApiError(409, f'{plural} "{meta["name"]}" already exists')
        return copy.deepcopy(self.put(plural, namespace, body))

    async def patch(
        self, plural: str, namespace: str, name: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        self._fail("patch")
        self._find(plural, namespace, name)
        self.update(plural, namespace, name, lambda obj: merge(obj, body))
        return copy.deepcopy(self.objects[(plural, namespace, name)])

    async def delete(self, plural: str, namespace: str, name: str) -> None:
        self._fail("delete")
        self._find(plural, namespace, name)
        self.remove(plural, namespace, name)

    async def scale(self, plural: str, namespace: str, name: str, replicas: int) -> dict[str, Any]:
        self._fail("scale")
        self._find(plural, namespace, name)
        self.update(plural, namespace, name, lambda obj: obj["spec"].update(slots=replicas))
        return {"spec": {"replicas": replicas}}

    async def configmap_data(self, namespace: str, name: str) -> dict[str, str] | None:
        self._fail("configmap_data")
        return self.configmaps.get((namespace, name))

    def watch(
        self,
        plural: str,
        namespace: str,
        *,
        resource_version: str,
        timeout_seconds: int,
        name: str | None = None,
        label_selector: str | None = None,
    ) -> AsyncIterator[WatchEvent]:
        self._fail("watch")
        queue: asyncio.Queue[WatchEvent | None] = asyncio.Queue()
        entry = (plural, namespace, name, queue)
        self.watchers.append(entry)
        gone = self.gone_once
        self.gone_once = False

        async def events() -> AsyncIterator[WatchEvent]:
            try:
                if gone:
                    raise Gone(410, "too old resource version")
                while True:
                    event = await queue.get()
                    if event is None:
                        return
                    yield event
            finally:
                self.watchers.remove(entry)

        return events()

    def end_watches(self) -> None:
        """The server closes every open watch (its timeoutSeconds passed)."""
        for *_, queue in self.watchers:
            queue.put_nowait(None)

    def pod_log(
        self, namespace: str, pod: str, *, container: str, follow: bool, since_seconds: int | None
    ) -> AsyncIterator[str]:
        self._fail("pod_log")
        lines = list(self.logs.get((namespace, pod), []))
        hangs = self.log_hangs

        async def stream() -> AsyncIterator[str]:
            for line in lines:
                yield line
            if hangs:
                await asyncio.Event().wait()

        return stream()

    def close(self) -> None:
        self.closed = True
