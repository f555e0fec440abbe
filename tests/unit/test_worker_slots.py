"""What the pool worker's slot book counts as an idle slot (views are built from memory)."""

from __future__ import annotations

from claude_pool.runtime.slotbook import SlotBook
from claude_pool.slots.planning import SlotState
from tests.fakes import slot_pod as pod


def test_a_pod_this_worker_deleted_is_never_idle_even_before_the_watch_says_so() -> None:
    book = SlotBook()
    pods = {"p-slot-0": pod("p-slot-0", "a"), "p-slot-1": pod("p-slot-1", "b")}
    book.deleted.add("b")
    states = {v.name: v.state for v in book.views(pods, {}, 0.0, credentials_ok=True)}
    assert states == {"p-slot-0": SlotState.IDLE, "p-slot-1": SlotState.TERMINATING}


def test_the_deleted_set_forgets_pods_that_are_gone() -> None:
    book = SlotBook()
    book.deleted.update({"a", "gone"})
    book.views({"p-slot-0": pod("p-slot-0", "a")}, {}, 0.0, credentials_ok=True)
    assert book.deleted == {"a"}


def test_missing_credentials_make_every_slot_not_ready() -> None:
    views = SlotBook().views({"p-slot-0": pod("p-slot-0", "a")}, {}, 0.0, credentials_ok=False)
    assert [v.state for v in views] == [SlotState.STARTING]


def test_a_slot_running_a_task_is_busy() -> None:
    views = SlotBook().views(
        {"p-slot-0": pod("p-slot-0", "a")}, {"p-slot-0": "t"}, 0.0, credentials_ok=True
    )
    assert [v.state for v in views] == [SlotState.BUSY]
