"""A task's lines in its slot pod's log: the SDK's `logs` verb without the lookup.

The agent prefixes every line about a task with `task <uid>:` (agent/slot.py `describe`); its
last line about a task is the result (`: succeeded: ` or `: failed: `), where a followed stream
ends. Reading is bounded by a deadline on the caller's clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass

from claude_pool.sdk.errors import PoolSdkError, WaitTimeout
from claude_pool.sdk.translating import translated


@dataclass(frozen=True)
class Bound:
    """When to give up reading: a deadline on `clock`, and the message of the WaitTimeout."""

    deadline: float
    clock: Callable[[], float]
    message: str


def final_line(line: str) -> bool:
    """The agent's last line about a task: its result."""
    return ": succeeded: " in line or ": failed: " in line


async def task_lines(
    lines: AsyncIterator[str], marker: str, *, follow: bool, bound: Bound, gone: PoolSdkError
) -> AsyncGenerator[str, None]:
    """The lines containing `marker`, until the stream ends (or the result line when
    following); `gone` is raised when the pod disappears, WaitTimeout past the bound."""
    try:
        while True:
            try:
                with translated(gone):
                    line = await asyncio.wait_for(anext(lines), bound.deadline - bound.clock())
            except StopAsyncIteration:
                return
            except TimeoutError:
                raise WaitTimeout(bound.message) from None
            if marker in line:
                yield line
                if follow and final_line(line):
                    return
    finally:
        close = getattr(lines, "aclose", None)
        if close is not None:
            await close()
