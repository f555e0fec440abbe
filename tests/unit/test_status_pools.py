"""The pool's status: counts, selector, money and conditions, validated by the CRD's model."""

from __future__ import annotations

import datetime as dt
from typing import Any

from claude_pool.api.pools import ClaudePool, ClaudePoolStatus
from claude_pool.status.pools import PoolFacts, SlotCounts, pool_status

NOW = dt.datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)


def pool(**spec: Any) -> ClaudePool:
    return ClaudePool.model_validate(
        {"metadata": {"name": "p", "namespace": "ns", "generation": 3}, "spec": spec}
    )


def facts(**overrides: Any) -> PoolFacts:
    values: dict[str, Any] = {
        "slots": SlotCounts(existing=3, idle=1, busy=1, draining=0),
        "pending": 2,
        "waiting": 1,
        "running": 1,
        "limit": None,
        "spent": 0,
        "reserved": 0,
        "recent_commits": (),
        "selector": "claudepool.io/pool=p",
    }
    return PoolFacts(**{**values, **overrides})


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_counts_selector_and_queue_feed_the_printer_columns_and_the_scale_subresource() -> None:
    status = pool_status(pool(slots=3), facts(), NOW)
    assert status["observedGeneration"] == 3
    assert (status["replicas"], status["readySlots"]) == (3, 2)
    assert (status["idleSlots"], status["busySlots"], status["drainingSlots"]) == (1, 1, 0)
    assert status["selector"] == "claudepool.io/pool=p"
    assert status["queue"] == {"pending": 2, "waiting": 1, "running": 1}


def test_the_status_is_what_the_crd_model_reads_back() -> None:
    status = pool_status(pool(slots=3), facts(limit=100, spent=40, reserved=10), NOW)
    model = ClaudePoolStatus.model_validate(status)
    assert model.budget.spent_microdollars == 40
    assert model.conditions[0].last_transition_time == NOW.replace(microsecond=0)


def test_fewer_ready_slots_than_desired_is_not_ready() -> None:
    status = pool_status(pool(slots=3), facts(), NOW)
    assert conditions(status)["Ready"] == ("False", "SlotsStarting")
    assert status["conditions"][0]["message"] == "2 of 3 slots ready"


def test_enough_ready_slots_or_none_wanted_is_ready() -> None:
    assert conditions(pool_status(pool(slots=2), facts(), NOW))["Ready"] == (
        "True",
        "AllSlotsReady",
    )
    zero = facts(slots=SlotCounts())
    assert conditions(pool_status(pool(slots=0), zero, NOW))["Ready"] == ("True", "ScaledToZero")


def test_missing_credentials_win_over_ready_slots() -> None:
    status = pool_status(pool(slots=1), facts(credentials_problem='Secret "x" not found'), NOW)
    assert conditions(status)["Ready"] == ("False", "CredentialsMissing")


def test_a_replaced_slot_makes_the_pool_degraded_with_the_reason() -> None:
    status = pool_status(pool(slots=1), facts(degraded="slot p-slot-0 restarted 4 times"), NOW)
    assert conditions(status)["Degraded"] == ("True", "SlotRestartLimit")
    healthy = pool_status(pool(slots=1), facts(), NOW)
    assert conditions(healthy)["Degraded"] == ("False", "AsExpected")


def test_money_with_and_without_a_limit() -> None:
    unlimited = pool_status(pool(), facts(spent=5), NOW)
    assert unlimited["budget"]["limitMicrodollars"] is None  # removes a limit written before
    assert conditions(unlimited)["BudgetExhausted"] == ("False", "NoLimit")
    within = pool_status(pool(), facts(limit=100, spent=40, reserved=10), NOW)
    assert within["budget"] == {
        "limitMicrodollars": 100,
        "spentMicrodollars": 40,
        "reservedMicrodollars": 10,
        "spent": "0.00004",
        "recentCommits": [],
    }
    assert conditions(within)["BudgetExhausted"] == ("False", "WithinLimit")
    spent = pool_status(pool(), facts(limit=100, spent=100, recent_commits=("u/1",)), NOW)
    assert conditions(spent)["BudgetExhausted"] == ("True", "LimitReached")
    assert spent["budget"]["recentCommits"] == ["u/1"]


def test_a_suspended_pool_drains_then_is_drained() -> None:
    busy = pool_status(pool(suspend=True), facts(), NOW)
    assert conditions(busy)["Suspended"] == ("True", "Draining")
    idle = facts(slots=SlotCounts(existing=1, idle=1))
    assert conditions(pool_status(pool(suspend=True), idle, NOW))["Suspended"] == (
        "True",
        "Drained",
    )
    assert conditions(pool_status(pool(), idle, NOW))["Suspended"] == ("False", "Active")


def test_a_condition_keeps_its_transition_time_while_its_status_holds() -> None:
    first = pool_status(pool(slots=3), facts(), NOW)
    later = NOW + dt.timedelta(minutes=5)
    earlier = pool(slots=3).model_copy(update={"status": ClaudePoolStatus.model_validate(first)})
    again = pool_status(earlier, facts(slots=SlotCounts(existing=3, idle=2, busy=0)), later)
    ready = next(c for c in again["conditions"] if c["type"] == "Ready")
    assert ready["message"] == "2 of 3 slots ready"
    assert ready["lastTransitionTime"] == "2026-01-01T12:00:00Z"
