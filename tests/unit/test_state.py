"""The operator's in-memory view: what a task body and a pod body become, children indexed."""

from __future__ import annotations

from typing import Any

from claude_pool.api.phases import TaskPhase
from claude_pool.controllers.state import ClusterState, task_view

FAILED = {
    "conditions": [
        {
            "type": "Failed",
            "status": "True",
            "reason": "InvalidSpec",
            "message": "bad",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }
    ]
}


def body(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "t", "namespace": "n", "uid": "u", "resourceVersion": "1"},
        "spec": spec,
        "status": status or {},
    }


def test_a_task_whose_spec_does_not_parse_is_invalid_and_waits_to_be_failed() -> None:
    view = task_view(body({"poolRef": {"name": "p"}}))  # no mode at all
    assert view.invalid is not None
    assert view.phase is TaskPhase.PENDING
    assert not view.finished


def test_an_invalid_task_once_failed_stays_finished_so_it_is_not_failed_again() -> None:
    view = task_view(body({"poolRef": {"name": "p"}}, FAILED))
    assert view.invalid is not None
    assert view.phase is TaskPhase.FAILED
    assert view.finished


def test_a_finished_task_keeps_no_spec_or_status_in_memory() -> None:
    view = task_view(body({"poolRef": {"name": "p"}, "prompt": "x"}, FAILED))
    assert view.finished
    assert view.spec is None
    assert view.status is None


def test_children_are_indexed_by_their_parents_uid_and_a_deleted_parent_is_remembered() -> None:
    state = ClusterState()
    parent = body({"poolRef": {"name": "p"}, "fanOut": {"prompts": ["a"]}})
    parent["metadata"].update(name="f", uid="uid-f")
    child = body({"poolRef": {"name": "p"}, "prompt": "a"})
    child["metadata"].update(
        name="f-0",
        uid="uid-f-0",
        labels={"claudepool.io/parent-uid": "uid-f"},
        annotations={"claudepool.io/preferred-slot": "p-slot-1"},
    )
    state.upsert_task(parent)
    view = state.upsert_task(child)
    assert view.parent_uid == "uid-f" and view.child is not None
    assert view.preferred_slot == "p-slot-1" and view.resume_session is None
    assert [c.name for c in state.children_of("uid-f")] == ["f-0"]
    assert state.tasks["uid-f"].composite and not view.composite
    state.delete_task("uid-f")
    assert state.deleted_parents == {"uid-f"}
    state.delete_task("uid-f-0")
    assert state.children_of("uid-f") == []


def test_a_finished_childs_view_is_dropped_once_its_parent_has_finished() -> None:
    state = ClusterState()
    parent = body({"poolRef": {"name": "p"}, "fanOut": {"prompts": ["a"]}})
    parent["metadata"].update(name="f", uid="uid-f")
    child = body({"poolRef": {"name": "p"}, "prompt": "a"}, FAILED)
    child["metadata"].update(
        name="f-0", uid="uid-f-0", labels={"claudepool.io/parent-uid": "uid-f"}
    )
    state.upsert_task(parent)
    assert state.upsert_task(child).child is not None  # the parent still needs it
    state.upsert_task({**parent, "status": FAILED})
    assert state.tasks["uid-f-0"].child is None
    assert state.upsert_task(child).child is None


SUCCEEDED = {
    "conditions": [
        {
            "type": "Succeeded",
            "status": "True",
            "reason": "Completed",
            "message": "ok",
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }
    ]
}


def test_a_finished_task_with_a_review_gate_keeps_its_status_and_creator() -> None:
    plain = task_view(body({"poolRef": {"name": "p"}, "prompt": "x"}, SUCCEEDED))
    assert plain.finished and plain.status is None and plain.as_task() is None
    gated = body({"poolRef": {"name": "p"}, "prompt": "x", "review": {"required": True}}, SUCCEEDED)
    gated["metadata"]["annotations"] = {"claudepool.io/created-by": "alice"}
    view = task_view(gated)
    assert view.finished and view.status is not None
    task = view.as_task()
    assert task is not None
    assert task.metadata.annotations == {"claudepool.io/created-by": "alice"}


def test_a_review_belongs_to_its_tasks_pool_else_to_the_namespaces_first_pool() -> None:
    state = ClusterState()
    for name in ("b", "a"):
        state.upsert_pool(
            {
                "metadata": {"name": name, "namespace": "n"},
                "spec": {"slots": 1, "credentials": {"secretName": "s"}},
            }
        )
    state.upsert_task(body({"poolRef": {"name": "b"}, "prompt": "x"}))
    review = {
        "metadata": {"name": "r", "namespace": "n"},
        "spec": {"taskRef": {"name": "t"}, "decision": "approve", "reviewer": "bob"},
    }
    state.upsert_review(review)
    stray = {**review, "metadata": {"name": "s", "namespace": "n"}}
    stray["spec"] = {**review["spec"], "taskRef": {"name": "nobody"}}
    state.upsert_review(stray)
    assert [r.metadata.name for r in state.pool_reviews(("n", "b"))] == ["r"]
    assert [r.metadata.name for r in state.pool_reviews(("n", "a"))] == ["s"]
