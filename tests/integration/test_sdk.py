"""The SDK against the suite's control plane with the operator running: run waits by watch,
a long output is read whole from its ConfigMap, scale and drain act on the real pool."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_pool.sdk import AsyncClient, Client, PoolNotFound, WaitTimeout
from tests.integration.harness import Env


async def test_async_client_runs_tasks_and_reads_long_output(env: Env, kubeconfig: Path) -> None:
    env.create_pool(slots=1)
    env.wait_ready_slots(1)
    phases: list[str] = []
    async with AsyncClient.connect(kubeconfig=str(kubeconfig), namespace=env.namespace) as pool:
        task = await pool.run("pool", "hi [[fake in=100 out=20]]", timeout=60,
                              on_update=lambda t: phases.append(str(t.status.phase)))  # fmt: skip
        assert task.status.phase == "Succeeded"
        assert task.status.result is not None
        assert task.status.result.output.startswith("fake answer: hi")
        assert task.status.cost_microdollars == 600
        assert phases[-1] == "Succeeded" and len(phases) >= 2

        long_prompt = "[[fake echo=prompt]] " + "x" * 40_000
        long = await pool.run("pool", long_prompt, timeout=60, name="long")
        result = long.status.result
        assert result is not None and result.output_truncated and result.output_ref
        whole = await pool.output("long")
        assert whole is not None and len(whole) > len(result.output)
        assert "x" * 40_000 in whole

        summary = (await pool.status("pool"))[0]
        assert summary.tasks == {"Succeeded": 2}
        assert summary.spent_microdollars >= 600

        with pytest.raises(PoolNotFound):
            await pool.submit("absent", "x")


def test_sync_client_scales_and_drains(env: Env, kubeconfig: Path) -> None:
    env.create_pool(slots=1)
    env.wait_ready_slots(1)
    with Client.connect(kubeconfig=str(kubeconfig), namespace=env.namespace) as pool:
        pool.scale("pool", 2)
        env.wait_ready_slots(2)
        slow = pool.submit("pool", "x [[fake delay=3]]")
        with pytest.raises(WaitTimeout):
            pool.wait(slow.metadata.name, timeout=0.5)
        env.wait_phase(slow.metadata.name, ("Running",))
        drained = pool.drain("pool", timeout=60)
        assert drained.spec.suspend is True
        finished = pool.wait(slow.metadata.name, timeout=30)
        assert finished.status.phase == "Succeeded"  # a drain lets running tasks finish
        pool.resume("pool")
