"""A dispatch cycle: priority then age, many tasks per cycle, budget admission with numbers."""

from __future__ import annotations

from claude_pool.api.reasons import TaskReason
from claude_pool.budget.ledger import Ledger
from claude_pool.scheduling.dispatching import QueuedTask, Verdict, queue_order, schedule


def task(
    name: str, *, priority: int = 0, created: str = "2026-01-01T00:00:00Z", reservation: int = 0
) -> QueuedTask:
    return QueuedTask(f"uid-{name}", name, priority, created, reservation)


def test_the_queue_orders_by_priority_then_age_then_name() -> None:
    a = task("a", created="2026-01-01T00:00:02Z")
    b = task("b", created="2026-01-01T00:00:01Z")
    c = task("c", priority=5, created="2026-01-01T00:00:09Z")
    assert [t.name for t in queue_order([a, b, c])] == ["c", "b", "a"]


def test_one_cycle_assigns_as_many_tasks_as_there_are_idle_slots() -> None:
    tasks = [task(f"t{i}", created=f"2026-01-01T00:00:{i:02d}Z") for i in range(5)]
    decisions = schedule(tasks, ["s0", "s1", "s2"], Ledger(None), suspended=False)
    assigned = [(d.task.name, d.slot) for d in decisions if d.verdict is Verdict.ASSIGN]
    assert assigned == [("t0", "s0"), ("t1", "s1"), ("t2", "s2")]
    assert [d.verdict for d in decisions[3:]] == [Verdict.WAIT_FOR_SLOT] * 2


def test_a_task_whose_cap_exceeds_the_remaining_budget_waits_with_the_numbers() -> None:
    ledger = Ledger(limit=1_000_000, spent=800_000)
    decisions = schedule(
        [
            task("big", reservation=500_000),
            task("small", created="2026-01-02T00:00:00Z", reservation=100_000),
        ],
        ["s0", "s1"],
        ledger,
        suspended=False,
    )
    big, small = decisions
    assert big.verdict is Verdict.WAIT_FOR_BUDGET
    assert big.reason is TaskReason.INSUFFICIENT_BUDGET
    assert big.message.startswith(
        "task reserves $0.50 but only $0.20 remain of the $1.00 limit (spent $0.80, reserved $0.00;"
    )
    assert "reserves 500000, 200000 remain, limit 1000000" in big.message
    assert small.verdict is Verdict.ASSIGN
    assert small.task.reservation == 100_000


def test_reservations_admitted_in_one_cycle_never_exceed_the_limit() -> None:
    tasks = [task(f"t{i:02d}", reservation=250_000) for i in range(20)]
    decisions = schedule(tasks, [f"s{i}" for i in range(20)], Ledger(1_000_000), suspended=False)
    assigned = [d for d in decisions if d.verdict is Verdict.ASSIGN]
    assert len(assigned) == 4
    assert sum(d.task.reservation for d in assigned) == 1_000_000
    assert {d.reason for d in decisions if d not in assigned} == {TaskReason.INSUFFICIENT_BUDGET}


def test_an_exhausted_pool_admits_nothing() -> None:
    decisions = schedule([task("t")], ["s0"], Ledger(100, spent=100), suspended=False)
    assert decisions[0].reason is TaskReason.BUDGET_EXHAUSTED


def test_a_suspended_pool_starts_nothing() -> None:
    decisions = schedule([task("t")], ["s0"], Ledger(None), suspended=True)
    assert decisions[0].verdict is Verdict.SUSPENDED


def test_a_task_bound_to_one_slot_takes_it_or_waits_and_leaves_the_others() -> None:
    pinned = QueuedTask("uid-p", "p", 5, "2026-01-01T00:00:00Z", 0, only_slot="s1")
    stuck = QueuedTask("uid-q", "q", 5, "2026-01-01T00:00:01Z", 0, only_slot="s9")
    decisions = schedule([pinned, stuck, task("a")], ["s0", "s1"], Ledger(None), suspended=False)
    by_name = {d.task.name: d for d in decisions}
    assert (by_name["p"].verdict, by_name["p"].slot) == (Verdict.ASSIGN, "s1")
    assert by_name["q"].verdict is Verdict.WAIT_FOR_SLOT
    assert "waits for slot s9" in by_name["q"].message
    assert (by_name["a"].verdict, by_name["a"].slot) == (Verdict.ASSIGN, "s0")


def test_a_chain_step_gets_its_preferred_slot_and_others_leave_it_free() -> None:
    first = task("first", created="2026-01-01T00:00:01Z")
    step = QueuedTask("uid-step", "step", 0, "2026-01-01T00:00:02Z", 0, preferred_slot="s1")
    decisions = schedule([first, step], ["s0", "s1"], Ledger(None), suspended=False)
    assert [(d.task.name, d.slot) for d in decisions] == [("first", "s0"), ("step", "s1")]
    gone = QueuedTask("uid-gone", "gone", 0, "2026-01-01T00:00:03Z", 0, preferred_slot="s9")
    [decision] = schedule([gone], ["s0"], Ledger(None), suspended=False)
    assert decision.slot == "s0"  # its slot is busy or gone: any idle slot, a fresh session
