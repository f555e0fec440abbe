"""Task records on the slot volume: atomic writes, restart semantics, acknowledgement."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from claude_pool.agent.store import TaskStore
from claude_pool.api.agent import AgentResult, TaskState, TaskStatus
from claude_pool.api.failures import FailureReason

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
T1 = datetime(2026, 1, 2, 3, 9, 5, tzinfo=UTC)


def running(uid: str) -> TaskStatus:
    return TaskStatus(uid=uid, state=TaskState.RUNNING, started_at=T0)


def succeeded(uid: str) -> TaskStatus:
    result = AgentResult(output="done", success=True, cost_microdollars=600)
    return TaskStatus(
        uid=uid, state=TaskState.SUCCEEDED, started_at=T0, finished_at=T1, result=result
    )


def test_a_saved_record_reads_back_equal(tmp_path: Path) -> None:
    store = TaskStore(tmp_path)
    store.save(succeeded("a"))
    assert store.load("a") == succeeded("a")
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o600


def test_the_final_record_replaces_the_running_marker(tmp_path: Path) -> None:
    store = TaskStore(tmp_path)
    store.save(running("a"))
    store.save(succeeded("a"))
    assert store.load("a") == succeeded("a")
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_a_failed_write_leaves_the_old_record_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TaskStore(tmp_path)
    store.save(running("a"))

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        store.save(succeeded("a"))
    monkeypatch.undo()
    assert store.load("a") == running("a")
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_a_task_left_running_is_reported_interrupted_after_a_restart(tmp_path: Path) -> None:
    TaskStore(tmp_path).save(running("a"))
    TaskStore(tmp_path).save(succeeded("b"))
    (tmp_path / ".a.x1y2.tmp").write_text("half a record")  # a crash mid-write

    store = TaskStore(tmp_path)  # the restarted agent
    marked = store.recover(T1)

    assert [s.uid for s in marked] == ["a"]
    record = store.load("a")
    assert record is not None
    assert record.state is TaskState.FAILED
    assert record.finished_at == T1
    assert record.result is not None
    assert record.result.failure is not None
    assert record.result.failure.reason is FailureReason.INTERRUPTED
    assert store.load("b") == succeeded("b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json"]


def test_a_finished_record_is_kept_until_acknowledged(tmp_path: Path) -> None:
    TaskStore(tmp_path).save(succeeded("a"))
    store = TaskStore(tmp_path)
    store.recover(T1)
    assert store.load("a") == succeeded("a")
    assert store.delete("a")
    assert store.load("a") is None
    assert not store.delete("a")


def test_uids_that_are_not_file_names_are_refused(tmp_path: Path) -> None:
    store = TaskStore(tmp_path)
    for uid in ("../x", "a/b", ".hidden", "", "x" * 200):
        assert store.load(uid) is None
        assert not store.delete(uid)
        with pytest.raises(ValueError, match="invalid task uid"):
            store.save(running(uid))


def test_unreadable_records_are_skipped_when_listing(tmp_path: Path) -> None:
    store = TaskStore(tmp_path)
    store.save(succeeded("good"))
    (tmp_path / "bad.json").write_text("{not json")
    assert [s.uid for s in store.all()] == ["good"]
