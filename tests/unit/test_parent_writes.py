"""`runtime.parentwrites.ParentWrites`: one background status write per composite parent."""

from __future__ import annotations

import asyncio

import pytest

from claude_pool.api.tasks import ClaudeTaskStatus
from claude_pool.runtime.parentwrites import ParentWrites


async def test_a_write_runs_in_the_background_and_its_status_is_known_until_it_lands() -> None:
    woken: list[bool] = []
    writes = ParentWrites(lambda: woken.append(True))
    gate = asyncio.Event()
    landed: list[str] = []

    async def write() -> None:
        await gate.wait()
        landed.append("p")

    status = ClaudeTaskStatus(attempts=0)
    writes.start("uid-p", write(), status)
    assert writes.intended("uid-p") is status
    assert writes.intended("uid-q") is None
    settling = asyncio.create_task(writes.settle("uid-p"))
    await asyncio.sleep(0)
    assert not settling.done()  # settle waits for the write in flight
    gate.set()
    await asyncio.wait_for(settling, 1)
    assert landed == ["p"]
    await asyncio.sleep(0)
    assert writes.intended("uid-p") is None
    assert woken == [True]  # the parent may be reconciled again
    await asyncio.wait_for(writes.settle("uid-p"), 1)  # nothing in flight: returns at once


async def test_a_failed_write_is_logged_and_settles_and_stop_cancels_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    writes = ParentWrites()

    async def fails() -> None:
        raise RuntimeError("refused")

    async def hangs() -> None:
        await asyncio.Event().wait()

    writes.start("uid-p", fails(), ClaudeTaskStatus())
    await asyncio.wait_for(writes.settle("uid-p"), 1)
    await asyncio.sleep(0)
    assert writes.intended("uid-p") is None
    writes.start("uid-q", hangs(), ClaudeTaskStatus())
    writes.stop()
    await asyncio.wait_for(writes.settle("uid-q"), 1)
    assert "refused" in caplog.text
