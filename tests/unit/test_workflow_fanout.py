"""Fan-out as child tasks: maxParallel, failFast, every result kept, cost = sum of children."""

from __future__ import annotations

import random

from claude_pool.api.composites import ItemPhase
from claude_pool.api.conditions import get_condition
from claude_pool.api.phases import TaskPhase
from claude_pool.api.tasks import ClaudeTask
from claude_pool.workflows.children import ChildView
from claude_pool.workflows.fanout import combined_output
from claude_pool.workflows.plans import Stop
from claude_pool.workflows.rollup import reconcile
from tests.workflow_sim import T0, Finish, Sim, composite


def fan(n: int, **fan_out: object) -> ClaudeTask:
    return composite(fan_out={"prompts": [f"item {i}" for i in range(n)], **fan_out})


def fail_item(*bad: int) -> object:
    def leaf(task: ClaudeTask) -> Finish:
        prompt = task.spec.prompt or ""
        index = int(prompt.rsplit(" ", 1)[1])
        if index in bad:
            return Finish(success=False, output=f"oops {index}", cost=50, reason="Overloaded")
        return Finish(output=f"answer {index}", cost=100 + index)

    return leaf


def test_a_fan_out_of_three_with_one_failure_keeps_both_results_and_names_the_failure() -> None:
    sim = Sim(leaf=fail_item(1))  # type: ignore[arg-type]
    sim.add(fan(3))
    parent = sim.run()
    status = parent.status
    assert status.phase is TaskPhase.FAILED
    failed = get_condition(status.conditions, "Failed")
    assert failed is not None and failed.reason == "PartialFailure"
    assert failed.message == "1 of 3 items failed: [1] Overloaded"
    assert [i.phase for i in status.items] == [
        ItemPhase.SUCCEEDED,
        ItemPhase.FAILED,
        ItemPhase.SUCCEEDED,
    ]
    assert [i.output for i in status.items] == ["answer 0", "oops 1", "answer 2"]
    assert status.result is not None and status.result.success is False
    assert status.result.output == (
        "[0] answer 0\n[1] failed (Overloaded): boom: oops 1\n[2] answer 2"
    )
    assert status.cost_microdollars == 100 + 50 + 102 == status.result.cost_microdollars
    assert status.children is not None
    assert (status.children.total, status.children.succeeded, status.children.failed) == (3, 2, 1)
    assert sorted(sim.created) == ["p-0", "p-1", "p-2"]


def test_all_items_succeeding_gives_the_seeds_numbered_output() -> None:
    sim = Sim(leaf=lambda t: Finish(output=f"  {t.spec.prompt} \n"))
    sim.add(fan(2))
    status = sim.run().status
    assert status.phase is TaskPhase.SUCCEEDED
    assert status.result is not None and status.result.output == "[0] item 0\n[1] item 1"
    assert status.progress is not None
    assert (status.progress.completed_steps, status.progress.total_steps) == (2, 2)


def test_max_parallel_bounds_the_unfinished_children_and_starts_lowest_first() -> None:
    sim = Sim()
    sim.add(fan(7, maxParallel=2))
    status = sim.run().status
    assert status.phase is TaskPhase.SUCCEEDED
    assert sim.max_unfinished["p"] == 2
    assert sim.created == [f"p-{i}" for i in range(7)]


def test_without_max_parallel_every_item_is_created_at_once() -> None:
    parent = fan(256)
    result = reconcile(parent, {}, now=T0)
    assert len(result.create) == 256
    assert result.status.phase is TaskPhase.RUNNING
    assert result.status.progress is not None and result.status.progress.total_steps == 256
    running = get_condition(result.status.conditions, "Running")
    assert running is not None and running.reason == "ChildrenRunning"


def test_fail_fast_cancels_the_running_items_and_skips_the_rest() -> None:
    def leaf(task: ClaudeTask) -> Finish | None:
        if task.spec.prompt == "item 0":
            return Finish(success=False, output="bad", reason="ModelError")
        return None  # the others run until cancelled

    sim = Sim(leaf=leaf)
    sim.add(fan(5, maxParallel=3, failFast=True))
    status = sim.run().status
    assert [i.phase for i in status.items] == [
        ItemPhase.FAILED,
        ItemPhase.CANCELLED,
        ItemPhase.CANCELLED,
        ItemPhase.SKIPPED,
        ItemPhase.SKIPPED,
    ]
    failed = get_condition(status.conditions, "Failed")
    assert failed is not None and failed.reason == "PartialFailure"
    assert "failFast" in failed.message
    assert sim.created == ["p-0", "p-1", "p-2"]
    assert status.cost_microdollars == 100 + 2 * sim.cancel_cost


def test_cancelling_the_parent_cancels_unfinished_children_and_waits_for_them() -> None:
    sim = Sim(leaf=lambda t: None if t.spec.prompt != "item 0" else Finish(output="first"))
    sim.add(fan(4, maxParallel=2))
    for _ in range(3):
        sim.cycle()
    parent = sim.get("p")
    sim.add(parent.model_copy(update={"spec": parent.spec.model_copy(update={"cancel": True})}))
    result = reconcile(sim.get("p"), sim.children(sim.get("p")), now=sim.now)
    assert result.cancel == ("p-1", "p-2")
    running = get_condition(result.status.conditions, "Running")
    assert running is not None and running.reason == "Cancelling"
    status = sim.run().status
    assert status.phase is TaskPhase.CANCELLED
    assert [i.phase for i in status.items] == [
        ItemPhase.SUCCEEDED,
        ItemPhase.CANCELLED,
        ItemPhase.CANCELLED,
        ItemPhase.SKIPPED,
    ]
    assert status.result is not None and status.result.output.startswith("[0] first\n")
    assert status.cost_microdollars == 100 + 2 * sim.cancel_cost


def test_children_budgets_keep_spent_plus_reserved_within_the_parents_cap() -> None:
    sim = Sim(leaf=lambda t: Finish(output="x", cost=10))
    sim.add(
        composite(
            fan_out={"prompts": ["a", "b", "c", "d"], "maxParallel": 2},
            config={"maxBudgetMicrodollars": 1000},
        )
    )
    first = reconcile(sim.get("p"), {}, now=T0)
    caps = [m["spec"]["config"]["maxBudgetMicrodollars"] for m in first.create]
    assert caps == [250, 250]  # the cap split over the four unstarted items
    status = sim.run().status
    assert status.phase is TaskPhase.SUCCEEDED
    later = [sim.get(f"p-{i}").spec.config for i in (2, 3)]
    # a and b finished at 10 each: the 980 left is split over the two items still to start
    assert [c.max_budget_microdollars for c in later if c is not None] == [490, 490]
    assert 10 + 10 + 490 + 490 <= 1000


def test_a_spent_cap_skips_the_remaining_items_with_budget_exceeded() -> None:
    sim = Sim(leaf=lambda t: Finish(output="x", cost=600))
    sim.add(
        composite(
            fan_out={"prompts": ["a", "b"], "maxParallel": 1}, config={"maxBudgetMicrodollars": 500}
        )
    )
    status = sim.run().status
    failed = get_condition(status.conditions, "Failed")
    assert failed is not None and failed.reason == "BudgetExceeded"
    assert [i.phase for i in status.items] == [ItemPhase.SUCCEEDED, ItemPhase.SKIPPED]


def test_chains_as_items_run_as_chain_children_with_their_own_steps() -> None:
    sim = Sim(leaf=lambda t: Finish(output=f"<{t.spec.prompt}>"))
    chains = [
        {"steps": [{"name": "a", "prompt": "a0"}, {"name": "b", "prompt": "b0 {previous_output}"}]},
        {"steps": [{"name": "a", "prompt": "a1"}]},
    ]
    sim.add(composite(fan_out={"chains": chains}))
    status = sim.run().status
    assert status.phase is TaskPhase.SUCCEEDED
    assert status.result is not None
    assert status.result.output == "[0] <b0 <a0>>\n[1] <a1>"
    assert sim.get("p-0").spec.chain is not None
    assert {"p-0-a", "p-0-b", "p-1-a"} <= set(sim.created)
    assert status.cost_microdollars == 300


def test_losing_status_writes_at_random_changes_nothing_and_runs_each_child_once() -> None:
    def run(lose: bool) -> tuple[str, int]:
        rng = random.Random(7)
        sim = Sim(leaf=fail_item(3))  # type: ignore[arg-type]
        sim.add(fan(12, maxParallel=4))
        for _ in range(200):
            sim.cycle(lose_writes=lose and rng.random() < 0.5)
            if sim.get("p").status.phase is TaskPhase.FAILED:
                break
        assert set(sim.runs.values()) == {1}
        assert len(sim.runs) == 12
        status = sim.get("p").status
        assert status.result is not None
        return status.result.output, status.cost_microdollars

    assert run(lose=True) == run(lose=False)


def test_a_finished_item_whose_child_was_deleted_keeps_its_recorded_result() -> None:
    sim = Sim()
    sim.add(fan(2, maxParallel=1))
    for _ in range(3):
        sim.cycle()
    assert sim.get("p").status.items[0].phase is ItemPhase.SUCCEEDED
    del sim.tasks["p-0"]
    status = sim.run().status
    assert status.phase is TaskPhase.SUCCEEDED
    assert sim.runs["p-0"] == 1 and sim.created.count("p-0") == 1
    assert status.result is not None and status.result.output.startswith("[0] done: item 0\n")


def test_combined_output_says_what_happened_to_items_that_did_not_succeed() -> None:
    parent = fan(1)
    view = ChildView(name="p-0", phase=TaskPhase.SUCCEEDED, output="whole text " * 100)
    result = reconcile(parent, {"p-0": view}, now=T0)
    assert result.status.items[0].output_truncated is True
    assert (
        combined_output(result.status.items, {}) == f"[0] {result.status.items[0].output.strip()}"
    )
    assert Stop.CANCEL.value == "cancel"
