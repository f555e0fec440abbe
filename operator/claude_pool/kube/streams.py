"""Long-lived GET streams of the Kubernetes API as async iterators: watches and pod logs.

Called by `access.ClusterDoor`. The official client is synchronous, so each stream reads on
its own daemon thread (never on the event loop, never on `Kube`'s bounded pool, which a
long watch would starve) and hands lines to the loop through a queue. Closing the iterator
shuts the HTTP response down, which ends the thread's blocking read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import urllib3
from kubernetes.watch.watch import iter_resp_lines

from claude_pool.kube.client import ApiError, Conflict, Kube, NotFound

_CONNECT_TIMEOUT = 10.0


class WatchEventType(StrEnum):
    """The `type` of a watch event."""

    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    BOOKMARK = "BOOKMARK"
    ERROR = "ERROR"


@dataclass(frozen=True)
class WatchEvent:
    """One event of a watch: its type and the object (a Status for ERROR)."""

    type: WatchEventType
    object: dict[str, Any]


class Unreachable(ApiError):
    """The API server could not be reached (connection refused, TLS, DNS, timeout)."""

    def __init__(self, message: str) -> None:
        super().__init__(0, message)


class Gone(ApiError):
    """The resourceVersion to watch from is too old (HTTP 410): list again, then watch."""


def api_error(status: int, data: bytes | str | None, reason: str = "") -> ApiError:
    """The error class and message of an error answer (the same mapping as `Kube`)."""
    text = data.decode(errors="replace") if isinstance(data, bytes) else (data or "")
    message = text[:500] or reason
    with contextlib.suppress(ValueError, AttributeError):
        message = json.loads(text).get("message", message)
    kind = {404: NotFound, 409: Conflict, 410: Gone}.get(status, ApiError)
    return kind(status, message)


async def stream_lines(kube: Kube, path: str) -> AsyncGenerator[str, None]:
    """The non-empty lines of a streamed GET, as they arrive."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | BaseException | None] = asyncio.Queue()
    opened: list[Any] = []
    stop = threading.Event()

    def hand(item: str | BaseException | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody listens
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def read() -> None:
        try:
            serialized = kube.api.param_serialize(
                "GET", path, header_params={"Accept": "application/json, */*"},
                auth_settings=["BearerToken"],
            )  # fmt: skip
            response = kube.api.call_api(*serialized[:4], _request_timeout=(_CONNECT_TIMEOUT, None))
            raw = response.response
            opened.append(raw)
            if response.status >= 400:
                hand(api_error(response.status, raw.read(), str(response.reason)))
                return
            for line in iter_resp_lines(raw):  # type: ignore[no-untyped-call]  # untyped
                if stop.is_set():
                    return
                hand(line)
            hand(None)
        except urllib3.exceptions.HTTPError as error:
            if not stop.is_set():
                hand(Unreachable(f"the API server is not reachable: {error}"))
        except Exception as error:  # handed to the reader, who re-raises it
            if not stop.is_set():
                hand(error)

    threading.Thread(target=read, name="kube-stream", daemon=True).start()
    try:
        while True:
            item = await queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        for raw in opened:
            with contextlib.suppress(Exception):
                getattr(raw, "shutdown", raw.close)()
            with contextlib.suppress(Exception):
                raw.release_conn()


async def watch_events(kube: Kube, path: str) -> AsyncIterator[WatchEvent]:
    """The events of a watch request (`path` carries watch=true and its parameters)."""
    lines = stream_lines(kube, path)
    try:
        async for line in lines:
            event = json.loads(line)
            kind = WatchEventType(event.get("type", "ERROR"))
            body: dict[str, Any] = event.get("object") or {}
            if kind == WatchEventType.ERROR:
                raise api_error(int(body.get("code", 500)), json.dumps(body))
            yield WatchEvent(kind, body)
    finally:
        await lines.aclose()
