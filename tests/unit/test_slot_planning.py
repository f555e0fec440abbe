"""The pool's scale plan: idle slots go first, busy ones drain, failed ones are replaced."""

from __future__ import annotations

from claude_pool.slots.planning import SlotState, SlotView, drain_bound, plan_slots


def slot(i: int, *, task: str | None = None, **kw: object) -> SlotView:
    return SlotView(
        name=f"p-slot-{i}",
        index=i,
        ip=f"127.0.0.{i + 2}",
        ready=True,
        task=task,
        phase="Running",
        **kw,
    )  # type: ignore[arg-type]


def test_a_new_pool_creates_the_lowest_indices() -> None:
    assert plan_slots(3, [], now=0).create == (0, 1, 2)


def test_scale_up_fills_gaps_and_skips_indices_still_in_use() -> None:
    plan = plan_slots(3, [slot(1), SlotView(name="p-slot-0", index=0, terminating=True)], now=0)
    assert plan.create == (2, 3)


def test_scale_down_never_removes_a_busy_slot_while_an_idle_one_exists() -> None:
    plan = plan_slots(2, [slot(0, task="a"), slot(1), slot(2, task="b")], now=0)
    assert plan.delete == ("p-slot-1",)
    assert plan.drain == ()


def test_scale_down_drains_busy_slots_instead_of_deleting_them() -> None:
    plan = plan_slots(1, [slot(0, task="a"), slot(1, task="b"), slot(2, task="c")], now=0)
    assert plan.delete == ()
    assert plan.drain == ("p-slot-2", "p-slot-1")


def test_a_drained_slot_is_deleted_once_idle() -> None:
    plan = plan_slots(1, [slot(0, task="a"), slot(1, draining=True)], now=0)
    assert plan.delete == ("p-slot-1",)


def test_a_draining_busy_slot_is_deleted_when_its_drain_deadline_passes() -> None:
    slots = [slot(0), slot(1, task="b", draining=True, draining_since=100.0)]
    assert plan_slots(1, slots, now=150, drain_timeout=60).delete == ()
    assert plan_slots(1, slots, now=161, drain_timeout=60).delete == ("p-slot-1",)
    assert plan_slots(1, slots, now=10_000, drain_timeout=0).delete == ()


def test_scale_up_takes_back_a_draining_slot_before_creating_one() -> None:
    plan = plan_slots(2, [slot(0), slot(1, task="b", draining=True)], now=0)
    assert plan.undrain == ("p-slot-1",)
    assert plan.create == ()


def test_a_failed_pod_is_deleted_and_its_index_waits_while_backing_off() -> None:
    failed = SlotView(name="p-slot-0", index=0, phase="Failed")
    assert plan_slots(1, [failed], now=0).delete == ("p-slot-0",)
    assert plan_slots(1, [], now=0, backing_off=frozenset({0})).create == ()


def test_a_failed_slot_is_not_replaced_under_another_index_meanwhile() -> None:
    failed = SlotView(name="p-slot-0", index=0, phase="Failed")
    assert plan_slots(1, [failed], now=0).create == ()
    going = SlotView(name="p-slot-0", index=0, terminating=True)
    assert plan_slots(1, [going], now=0, backing_off=frozenset({0})).create == ()
    assert plan_slots(2, [failed], now=0).create == (1,)


def test_slot_states_follow_pod_and_task() -> None:
    assert slot(0).state is SlotState.IDLE
    assert slot(0, task="t").state is SlotState.BUSY
    assert SlotView(name="x", index=0).state is SlotState.STARTING
    assert slot(0, draining=True).state is SlotState.DRAINING


def test_the_drain_timeout_is_the_pools_capped_by_the_operators() -> None:
    assert drain_bound(0, 3600) == 3600
    assert drain_bound(60, 3600) == 60
    assert drain_bound(7200, 3600) == 3600
    assert drain_bound(60, 0) == 60
    assert drain_bound(0, 0) == 0
