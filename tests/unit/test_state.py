"""The operator's in-memory view: what a task body and a pod body become."""

from __future__ import annotations

from typing import Any

from claude_pool.api.phases import TaskPhase
from claude_pool.controllers.state import task_view

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
