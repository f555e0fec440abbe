"""The pool's money: admission with the numbers, reservations, exactly-once commits."""

from __future__ import annotations

from claude_pool.budget.ledger import RECENT_COMMITS, Admission, Ledger, commit, reservation_for


def test_without_a_limit_everything_is_admitted_and_nothing_is_exhausted() -> None:
    ledger = Ledger(None, spent=10**12)
    assert ledger.admit(10**9)[0] is Admission.ADMITTED
    assert not ledger.exhausted
    assert ledger.remaining is None


def test_a_reservation_that_fits_what_remains_is_admitted() -> None:
    ledger = Ledger(1000, spent=600, reserved=100)
    assert ledger.remaining == 300
    admission, message = ledger.admit(300)
    assert admission is Admission.ADMITTED
    assert "300 of 300" in message


def test_a_reservation_larger_than_what_remains_is_refused_with_the_numbers() -> None:
    admission, message = Ledger(1000, spent=600, reserved=100).admit(301)
    assert admission is Admission.INSUFFICIENT
    assert "301" in message and "300 remain" in message


def test_spend_at_the_limit_exhausts_the_pool_whatever_the_reservation() -> None:
    ledger = Ledger(1000, spent=1000)
    assert ledger.exhausted
    assert ledger.admit(0)[0] is Admission.EXHAUSTED


def test_reserving_adds_to_what_is_held() -> None:
    ledger = Ledger(1000).reserve(400).reserve(100)
    assert (ledger.reserved, ledger.remaining) == (500, 500)


def test_a_task_reserves_its_own_cap_else_the_pool_default_else_nothing() -> None:
    assert reservation_for(5, 100) == 5
    assert reservation_for(None, 100) == 100
    assert reservation_for(None, None) == 0


def test_a_cost_is_committed_once_even_when_the_commit_is_retried() -> None:
    first = commit(0, (), {"a/1": 600, "b/1": 400})
    assert first.spent == 1000
    again = commit(first.spent, first.recent, {"b/1": 400, "c/1": 5})
    assert again.spent == 1005
    assert again.counted == ("c/1",)


def test_a_second_attempt_of_the_same_task_is_a_new_commit() -> None:
    first = commit(0, (), {"a/1": 7})
    assert commit(first.spent, first.recent, {"a/2": 3}).spent == 10


def test_the_ring_of_recent_commits_is_bounded_and_keeps_the_newest() -> None:
    result = commit(0, tuple(f"u{i}" for i in range(600)), {"new": 1})
    assert len(result.recent) == RECENT_COMMITS
    assert result.recent[-1] == "new"
    assert "u0" not in result.recent
