"""Test helpers shared by all tiers: bounded waiting.

`eventually(fn, timeout)` polls until `fn()` is truthy and returns its value, or fails the
test with a message saying what was awaited. Every wait in the suite goes through a bound.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    fn: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.1, what: str = "condition"
) -> T:
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = fn()
            if value:
                return value
        except AssertionError as exc:
            last_exc = exc
        if time.monotonic() >= deadline:
            detail = f": {last_exc}" if last_exc else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{detail}")
        time.sleep(interval)


async def eventually_async(
    fn: Callable[[], Awaitable[T]],
    *,
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str = "condition",
) -> T:
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = await fn()
            if value:
                return value
        except AssertionError as exc:
            last_exc = exc
        if time.monotonic() >= deadline:
            detail = f": {last_exc}" if last_exc else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{detail}")
        await asyncio.sleep(interval)
