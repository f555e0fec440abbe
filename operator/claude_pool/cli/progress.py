"""The live progress display of `claude-pool run` (and `wait`, `--wait`): rich on stderr.

On a terminal a spinner line shows the phase, slot, turns, cost and elapsed time, with a
bar that fills with finished children for composite tasks (and pulses otherwise);
elsewhere (a pipe, CI) each change is one plain line. Fed by the SDK's `on_update`
callback, which fires on every watch event of the task.
"""

from __future__ import annotations

from types import TracebackType

from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from claude_pool.api.money import format_dollars
from claude_pool.api.tasks import ClaudeTask
from claude_pool.cli.output import stderr
from claude_pool.sdk.summaries import task_phase


def describe(task: ClaudeTask) -> str:
    """One line: name, phase, and what is known about the run."""
    status = task.status
    parts = [task.metadata.name, str(task_phase(task))]
    if status.slot:
        parts.append(f"on {status.slot}")
    if status.children is not None and status.children.generation:
        parts.append(f"generation {status.children.generation}")  # re-run after a rejection
    progress = status.progress
    if progress is not None and progress.total_steps:
        parts.append(f"steps {progress.completed_steps}/{progress.total_steps}")
    if progress is not None and progress.turns:
        parts.append(f"turns {progress.turns}")
    cost = progress.cost_microdollars if progress is not None else 0
    cost = max(cost, status.cost_microdollars)
    if cost:
        parts.append(f"${format_dollars(cost)}")
    waiting = [c for c in status.conditions if c.type == "Admitted" and c.status == "False"]
    if waiting:
        parts.append(f"({waiting[0].reason}: {waiting[0].message})")
    return " ".join(parts)


class TaskProgress:
    """A context manager; call `update(task)` with each new version of the task."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.live = enabled and stderr.is_terminal
        self._last = ""
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TimeElapsedColumn(),
            console=stderr,
            transient=True,
        )
        self._bar: TaskID | None = None

    def __enter__(self) -> TaskProgress:
        if self.live:
            self._progress.start()
            self._bar = self._progress.add_task("submitted", total=None)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.live:
            self._progress.stop()

    def update(self, task: ClaudeTask) -> None:
        if not self.enabled:
            return
        line = describe(task)
        if self.live and self._bar is not None:
            progress = task.status.progress
            total = progress.total_steps if progress is not None and progress.total_steps else None
            done = progress.completed_steps if progress is not None else 0
            self._progress.update(self._bar, description=line, total=total, completed=done)
        elif line != self._last:
            stderr.print(line, markup=False)
        self._last = line
