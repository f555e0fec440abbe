"""The worker's clock, injectable: monotonic seconds for intervals, UTC wall time for status.

The pool worker and its collaborators (run table, status writer, announcer, steps) and
`taskrun.follow` read time only through a `Clock`, so unit tests drive time by hand
(`tests/fakes.py` has a manual clock). `SystemClock` is the real one.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Protocol


class Clock(Protocol):
    """What the worker needs to know about time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (intervals, debounce, backoff)."""
        ...

    def now(self) -> dt.datetime:
        """The wall time in UTC (condition and status timestamps)."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


SYSTEM_CLOCK = SystemClock()
