"""The pod-storm bound: short-lived slot pods per minute, table-driven on an injected clock."""

from __future__ import annotations

import datetime as dt

import pytest

from claude_pool.slots.churn import SlotLife, judge, recent

T0 = dt.datetime(2026, 12, 3, 9, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def storm(count: int, *, every: float = 1.0, lifetime: float = 0.5) -> list[SlotLife]:
    """`count` pods, one created every `every` seconds, each lost `lifetime` seconds later."""
    return [SlotLife(at(i * every), at(i * every + lifetime)) for i in range(count)]


def test_a_pool_without_losses_may_create_pods() -> None:
    verdict = judge([], at(0), limit=10)
    assert verdict.allowed
    assert verdict.retry_at is None


def test_below_the_bound_creates_are_allowed() -> None:
    verdict = judge(storm(9), at(10), limit=10)
    assert verdict.allowed
    assert verdict.short_lives == 9


def test_at_the_bound_creates_wait_until_the_oldest_loss_leaves_the_minute() -> None:
    lives = storm(10)
    verdict = judge(lives, at(10), limit=10)
    assert not verdict.allowed
    assert verdict.retry_at == at(0.5 + 60)
    assert judge(lives, at(60.4), limit=10).allowed is False
    assert judge(lives, at(60.5), limit=10).allowed is True


def test_above_the_bound_the_wait_lasts_until_enough_losses_aged_out() -> None:
    verdict = judge(storm(12), at(12), limit=10)
    assert not verdict.allowed
    assert verdict.short_lives == 12
    assert verdict.retry_at == at(2.5 + 60)  # the third oldest: 12 - 10 + 1 must leave


def test_long_lived_pods_do_not_count_so_a_rollout_or_scale_down_is_not_a_storm() -> None:
    rollout = [SlotLife(at(-3600), at(i)) for i in range(50)]
    assert judge(rollout, at(50), limit=10).allowed


def test_losses_older_than_a_minute_are_forgotten() -> None:
    lives = storm(10)
    assert recent(lives, at(200)) == ()
    assert judge(lives, at(200), limit=10).allowed


@pytest.mark.parametrize(("limit", "creates"), [(1, 1), (3, 3), (10, 10)])
def test_a_storm_creates_at_most_the_bound_of_pods_per_minute(limit: int, creates: int) -> None:
    """Simulate the operator fighting itself: every created pod is lost 0.1 s later."""
    lives: list[SlotLife] = []
    now, created = at(0), []
    while now < at(60):
        verdict = judge(lives, now, limit=limit)
        if verdict.allowed:
            created.append(now)
            lives.append(SlotLife(now, now + dt.timedelta(seconds=0.1)))
            now += dt.timedelta(seconds=0.2)
        else:
            assert verdict.retry_at is not None and verdict.retry_at > now
            now = verdict.retry_at
        lives = list(recent(lives, now))
    assert len(created) == creates


def test_the_message_names_the_bound_and_the_wait() -> None:
    verdict = judge(storm(10), at(10), limit=10)
    text = verdict.message(at(10))
    assert "10 slot pods" in text
    assert "CLAUDE_POOL_SLOT_CHURN_PER_MINUTE" in text
    assert "51 s" in text
