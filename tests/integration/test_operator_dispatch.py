"""Dispatch and money: many tasks on few slots, exact spend, budget waits and admission."""

from __future__ import annotations

import pytest

from tests.helpers import eventually
from tests.integration.harness import Env


def costs_and_spend(env: Env, names: list[str]) -> tuple[int, int]:
    total = sum(env.task(n)["status"]["costMicrodollars"] for n in names)
    return total, env.pool()["status"]["budget"]["spentMicrodollars"]


@pytest.mark.timeout(300)
def test_three_slots_run_thirty_tasks_and_pool_spend_is_the_sum_of_task_costs(env: Env) -> None:
    env.create_pool(slots=3)
    env.wait_ready_slots(3)
    names = [f"t{i:02d}" for i in range(30)]
    for i, name in enumerate(names):
        env.create_task(name, prompt=f"task {i} [[fake in={100 + i} out=20]]")
    for name in names:
        task = env.wait_phase(name, timeout=240)
        assert task["status"]["phase"] == "Succeeded", task["status"]
    slots = {env.task(n)["status"]["slot"] for n in names}
    assert slots == {"pool-slot-0", "pool-slot-1", "pool-slot-2"}
    total, spent = eventually(
        lambda: (lambda t, s: (t, s) if t == s else None)(*costs_and_spend(env, names)),
        timeout=20,
        what="pool spend equal to the sum of task costs",
    )
    # sonnet: $3/M input, $15/M output; task i: (100+i)*3 + 20*15 microdollars
    assert total == sum((100 + i) * 3 + 300 for i in range(30))
    assert spent == total


@pytest.mark.timeout(240)
def test_an_exhausted_budget_holds_the_queue_until_it_is_raised(env: Env) -> None:
    # each task costs 600 microdollars; the limit admits two
    env.create_pool(slots=1, budget={"limitMicrodollars": 1200})
    env.wait_ready_slots(1)
    for name in ("a", "b", "c"):
        env.create_task(name, prompt=f"{name} [[fake in=100 out=20]]")
    env.wait_phase("a")
    env.wait_phase("b")
    waiting = env.wait_phase("c", phases=("Waiting",), timeout=30)
    admitted = next(c for c in waiting["status"]["conditions"] if c["type"] == "Admitted")
    assert admitted["reason"] == "BudgetExhausted"
    assert "1200 of 1200" in admitted["message"]
    pool = env.pool()
    exhausted = next(c for c in pool["status"]["conditions"] if c["type"] == "BudgetExhausted")
    assert exhausted["status"] == "True"
    env.patch("claudepools", "pool", {"spec": {"budget": {"limitMicrodollars": 5000}}})
    done = env.wait_phase("c")
    assert done["status"]["phase"] == "Succeeded"
    assert env.pool()["status"]["budget"]["spentMicrodollars"] == 1800


@pytest.mark.timeout(300)
def test_concurrent_tasks_never_overshoot_the_budget_beyond_admitted_reservations(
    env: Env,
) -> None:
    # 20 tasks, each capped (and reserving) 1000 microdollars, each costing 600;
    # the limit is 5000: at most 5 reservations fit at once.
    limit, cap = 5000, 1000
    env.create_pool(slots=4, budget={"limitMicrodollars": limit})
    env.wait_ready_slots(4)
    names = [f"c{i:02d}" for i in range(20)]
    for name in names:
        env.create_task(
            name,
            prompt=f"{name} [[fake in=100 out=20 delay=0.5]]",
            config={"maxBudgetMicrodollars": cap},
        )

    def settled() -> bool:
        phases = [(env.task(n).get("status") or {}).get("phase") for n in names]
        return (
            all(p in ("Succeeded", "Waiting") for p in phases)
            and phases.count("Succeeded") >= 1
            and env.pool()["status"]["budget"]["reservedMicrodollars"] == 0
        )

    eventually(settled, timeout=240, interval=0.5, what="every task succeeded or waiting")
    succeeded = [n for n in names if env.task(n)["status"]["phase"] == "Succeeded"]
    spent = env.pool()["status"]["budget"]["spentMicrodollars"]
    assert spent == 600 * len(succeeded)
    # spent + reserved never passes the limit and no run costs more than its cap,
    # so the spend cannot pass the limit either; 7 * 600 = 4200 and 4200 + 1000 > 5000
    assert spent <= limit
    assert len(succeeded) == 7
    waiting = env.task(next(n for n in names if n not in succeeded))["status"]
    admitted = next(c for c in waiting["conditions"] if c["type"] == "Admitted")
    assert admitted["reason"] == "InsufficientBudget"
    assert "800 remain" in admitted["message"]


@pytest.mark.timeout(120)
def test_a_task_without_its_own_cap_is_stopped_at_the_pools_default_reservation(
    env: Env,
) -> None:
    # 100,000 input tokens on sonnet cost 300,000 microdollars; the reservation is 1,000
    env.create_pool(
        slots=1,
        budget={"limitMicrodollars": 10_000_000, "defaultTaskReservationMicrodollars": 1000},
    )
    env.wait_ready_slots(1)
    env.create_task("greedy", prompt="g [[fake in=100000 out=0 tools=loop]]")
    task = env.wait_phase("greedy", timeout=90)
    status = task["status"]
    assert status["phase"] == "Failed", status
    assert status["result"]["failure"]["reason"] == "BudgetExceeded"
    # the CLI checks after each response: one call's cost at most, never the loop's
    assert status["costMicrodollars"] == 300_000
