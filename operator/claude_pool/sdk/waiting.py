"""Wait for an object to reach a state by watching it, never by polling, within a bound.

Called by `claude_pool.sdk.client` (run, wait, drain, logs). One GET gives the object and
the resourceVersion to watch from; a watch on that one name (fieldSelector) reports every
change; when the server ends the watch (its timeoutSeconds, or 410 Gone) the object is read
again and watched anew. The whole wait is bounded by `timeout` (asyncio.timeout), and a
deleted object ends it with TaskNotFound / PoolNotFound.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any

from claude_pool.kube.streams import Gone, WatchEventType
from claude_pool.sdk.door import Door
from claude_pool.sdk.errors import PoolSdkError, WaitTimeout
from claude_pool.sdk.translating import translated

Body = dict[str, Any]
_WATCH_SECONDS = 300
"""Longest single watch request; the server closes it and the wait watches again."""


async def wait_for(
    door: Door,
    plural: str,
    namespace: str,
    name: str,
    done: Callable[[Body], bool],
    *,
    timeout: float,
    missing: PoolSdkError,
    on_change: Callable[[Body], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Body:
    """The object once `done(object)` holds; WaitTimeout after `timeout` seconds."""
    deadline = clock() + timeout
    try:
        async with asyncio.timeout(timeout):
            while True:
                with translated(missing):
                    body = await door.get(plural, namespace, name)
                if on_change is not None:
                    on_change(body)
                if done(body):
                    return body
                remaining = max(1, math.ceil(deadline - clock()))
                version = str(body.get("metadata", {}).get("resourceVersion", ""))
                found = await _watch_until(
                    door, plural, namespace, name, version, min(remaining, _WATCH_SECONDS),
                    done, missing, on_change,
                )  # fmt: skip
                if found is not None:
                    return found
    except TimeoutError:
        raise WaitTimeout(f"{plural[:-1]} {name} not done after {timeout:g} s") from None


async def _watch_until(
    door: Door,
    plural: str,
    namespace: str,
    name: str,
    version: str,
    seconds: int,
    done: Callable[[Body], bool],
    missing: PoolSdkError,
    on_change: Callable[[Body], None] | None,
) -> Body | None:
    """The object when done during this watch; None when the watch ended first."""
    events = door.watch(
        plural, namespace, name=name, resource_version=version, timeout_seconds=seconds
    )
    try:
        with translated(missing):
            try:
                async for event in events:
                    if event.type == WatchEventType.BOOKMARK:
                        continue
                    if event.type == WatchEventType.DELETED:
                        raise missing
                    if on_change is not None:
                        on_change(event.object)
                    if done(event.object):
                        return event.object
            except Gone:  # the version is too old: read the object again
                return None
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()
    return None
