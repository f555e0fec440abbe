"""The operator end to end: a pool's slots come up, a task runs with its output and cost."""

from __future__ import annotations

from tests.integration.harness import Env


def test_a_task_runs_end_to_end_with_output_and_exact_cost(env: Env) -> None:
    env.create_pool(slots=1)
    env.wait_ready_slots(1)
    env.create_task("t1", prompt="hello [[fake in=100 out=20]]")
    task = env.wait_phase("t1")
    status = task["status"]
    assert status["phase"] == "Succeeded", status
    assert status["result"]["output"].startswith("fake answer: hello")
    assert status["result"]["costMicrodollars"] == 600
    assert status["costMicrodollars"] == 600
    assert status["slot"] == "pool-slot-0"
    assert status["attempts"] == 1
    pool = env.pool()
    assert pool["status"]["budget"]["spentMicrodollars"] == 600
