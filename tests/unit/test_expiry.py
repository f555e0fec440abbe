"""ttlSecondsAfterFinished: the Job TTL controller's rule, with a pool default, on a fixed clock."""

from __future__ import annotations

import datetime as dt

from claude_pool.scheduling.expiry import FinishedTask, effective_ttl, plan_expiry

T0 = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def done(key: str, finished: float, ttl: int | None, *, committed: bool = True) -> FinishedTask:
    return FinishedTask(key, at(finished), ttl, cost_committed=committed)


def test_the_task_ttl_wins_over_the_pool_default_and_neither_keeps_it_forever() -> None:
    assert effective_ttl(30, 3600) == 30
    assert effective_ttl(0, 3600) == 0
    assert effective_ttl(None, 3600) == 3600
    assert effective_ttl(None, None) is None


def test_tasks_past_their_ttl_are_deleted_oldest_deadline_first() -> None:
    tasks = [done("b", 0, 20), done("a", 0, 10), done("c", 0, 100)]
    plan = plan_expiry(tasks, None, at(30))
    assert plan.delete == ("a", "b")
    assert plan.next_due == at(100)


def test_a_ttl_of_zero_deletes_at_once() -> None:
    plan = plan_expiry([done("a", 5, 0)], None, at(5))
    assert plan.delete == ("a",)
    assert plan.next_due is None


def test_the_pool_default_applies_to_tasks_without_their_own() -> None:
    tasks = [done("own", 0, 1000), done("pooled", 0, None)]
    plan = plan_expiry(tasks, 60, at(61))
    assert plan.delete == ("pooled",)
    assert plan.next_due == at(1000)


def test_without_any_ttl_nothing_is_deleted_and_nothing_is_due() -> None:
    plan = plan_expiry([done("a", 0, None)], None, at(10**6))
    assert plan.delete == ()
    assert plan.next_due is None


def test_a_task_whose_cost_is_not_committed_is_kept_until_it_is() -> None:
    tasks = [done("a", 0, 10, committed=False)]
    assert plan_expiry(tasks, None, at(30)).delete == ()
    tasks = [done("a", 0, 10, committed=True)]
    assert plan_expiry(tasks, None, at(30)).delete == ("a",)


def test_a_task_becomes_due_exactly_at_its_deadline() -> None:
    tasks = [done("a", 0, 10)]
    assert plan_expiry(tasks, None, at(9.999)).delete == ()
    assert plan_expiry(tasks, None, at(9.999)).next_due == at(10)
    assert plan_expiry(tasks, None, at(10)).delete == ("a",)
