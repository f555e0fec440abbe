"""Task records on the slot volume: one JSON file per task uid, written atomically.

Called by `slot.Slot`. A record marked running is written before the CLI starts and the
final one after it ends; both go through a temporary file, fsync and os.replace (then an
fsync of the directory), so a crash leaves either the old record or the new one, never half
a file. At agent start-up `recover` turns every record still marked running into a failure
with reason Interrupted: the CLI's outcome is unknown. Records stay until acknowledged
(`delete`). Synchronous: callers run it in a thread when it matters.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from claude_pool.api.agent import (
    AgentResult,
    Failure,
    TaskState,
    TaskStatus,
    is_valid_task_uid,
)
from claude_pool.api.failures import FailureReason

SUFFIX = ".json"
INTERRUPTED_MESSAGE = "the slot agent restarted while the task was running; its outcome is unknown"


class TaskStore:
    """The directory of task records."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _path(self, uid: str) -> Path:
        if not is_valid_task_uid(uid):
            raise ValueError(f"invalid task uid {uid!r}")
        return self.root / f"{uid}{SUFFIX}"

    def save(self, status: TaskStatus) -> None:
        """Write `status` atomically (durable when this returns)."""
        path = self._path(status.uid)
        data = status.model_dump_json(by_alias=True, exclude_none=True).encode()
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=f".{status.uid}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self._sync_directory()

    def _sync_directory(self) -> None:
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def load(self, uid: str) -> TaskStatus | None:
        if not is_valid_task_uid(uid):
            return None
        try:
            data = self._path(uid).read_bytes()
        except FileNotFoundError:
            return None
        return TaskStatus.model_validate_json(data)

    def delete(self, uid: str) -> bool:
        if not is_valid_task_uid(uid):
            return False
        try:
            self._path(uid).unlink()
        except FileNotFoundError:
            return False
        self._sync_directory()
        return True

    def _records(self) -> Iterator[TaskStatus]:
        for path in sorted(self.root.glob(f"*{SUFFIX}")):
            if path.name.startswith("."):
                continue
            try:
                yield TaskStatus.model_validate_json(path.read_bytes())
            except (OSError, ValidationError):
                continue

    def all(self) -> list[TaskStatus]:
        return list(self._records())

    def recover(self, now: datetime) -> list[TaskStatus]:
        """Mark every record left running as failed/Interrupted; return the marked ones.

        Also removes temporary files a crash left behind.
        """
        for leftover in self.root.glob(".*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        marked: list[TaskStatus] = []
        for status in self._records():
            if status.state is TaskState.RUNNING:
                status = interrupted(status, now, INTERRUPTED_MESSAGE)
                self.save(status)
                marked.append(status)
        return marked


def interrupted(status: TaskStatus, now: datetime, message: str) -> TaskStatus:
    """`status` finished as failed with reason Interrupted."""
    return status.model_copy(
        update={
            "state": TaskState.FAILED,
            "finished_at": now,
            "result": AgentResult(
                success=False,
                failure=Failure(reason=FailureReason.INTERRUPTED, message=message),
            ),
        }
    )
