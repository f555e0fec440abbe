"""ttlSecondsAfterFinished: which finished tasks to delete now, and when the next one is due.

Pure; for the pool worker, once per cycle with the pool's finished tasks (`runtime.expiring`
deletes what `plan_expiry` returns and wakes the worker at `next_due`). The rule is the Job TTL
controller's: a task finished at `finished` with a TTL of `ttl` seconds is deleted at
`finished + ttl` (0: at once). A task's own `spec.ttlSecondsAfterFinished` wins over the
pool's `spec.ttlSecondsAfterFinished`; with neither the task is kept forever. A task whose
cost is not yet committed to the pool's budget is never deleted: its status is the only
record of that cost until the commit is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class FinishedTask:
    """What the expiry rule needs to know about one finished task."""

    key: str
    """How the caller names it (e.g. its uid, or namespace/name)."""
    finished: dt.datetime
    """status.completionTime (the last condition's transition time when that is unset)."""
    ttl_seconds: int | None
    """Its own spec.ttlSecondsAfterFinished."""
    cost_committed: bool = True
    """Whether its cost is already counted in the pool's status.budget."""


@dataclass(frozen=True)
class ExpiryPlan:
    """The outcome of one expiry pass."""

    delete: tuple[str, ...]
    """Keys of the tasks to delete now, oldest deadline first."""
    next_due: dt.datetime | None
    """The earliest deadline still ahead (wake up then), or None when nothing is pending."""


def effective_ttl(task_ttl: int | None, pool_default: int | None) -> int | None:
    """The TTL that applies to a task: its own, else its pool's, else None (kept forever)."""
    return task_ttl if task_ttl is not None else pool_default


def deadline(task: FinishedTask, pool_default: int | None) -> dt.datetime | None:
    """When `task` is due for deletion, or None when it is kept forever."""
    ttl = effective_ttl(task.ttl_seconds, pool_default)
    return None if ttl is None else task.finished + dt.timedelta(seconds=ttl)


def plan_expiry(
    tasks: Iterable[FinishedTask], pool_default: int | None, now: dt.datetime
) -> ExpiryPlan:
    """The tasks whose TTL has run out at `now`, and when the next one will."""
    due: list[tuple[dt.datetime, str]] = []
    later: list[dt.datetime] = []
    for task in tasks:
        when = deadline(task, pool_default)
        if when is None:
            continue
        if when <= now and task.cost_committed:
            due.append((when, task.key))
        elif when > now:
            later.append(when)
    due.sort()
    return ExpiryPlan(delete=tuple(key for _, key in due), next_due=min(later, default=None))
