"""Helpers shared by every test tier and the benchmarks: bounded waiting, the operator process.

`eventually(fn, timeout)` polls until `fn()` is truthy and returns its value, or fails with
an AssertionError saying what was awaited. Every wait in the suite and in bench/ goes
through a bound. `operator_process` is `python -m claude_pool operator` watching one
namespace (the integration tests pass `TEST_TIMINGS`, the benchmarks the defaults).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from claude_pool.devenv.operatorproc import OperatorProcess

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


TEST_TIMINGS = {
    "resync_seconds": "2",
    "agent_unreachable_seconds": "10",
    "slot_backoff_seconds": "0.5",
    "slot_termination_grace_seconds": "3",
}
"""Operator settings shortened for the integration tests."""


def operator_process(
    kubeconfig: Path, namespace: str, log: Path, *, start_timeout: float = 60.0, **settings: str
) -> OperatorProcess:
    """The operator watching `namespace`; `settings` are Settings fields (`resync_seconds="2"`)."""
    return OperatorProcess(
        kubeconfig, log, namespaces=[namespace], start_timeout=start_timeout, **settings
    )
