"""The pod-storm bound: whether a pool may create another slot pod now, or must back off.

Pure; for the pool worker's scaling step, before it creates a slot pod, and its status step
(the pool's Degraded condition), through `runtime.churning.ChurnWatch`. A pool whose slot pods are
created and lost again quickly (a template the operator fights, an image that exits at once,
an admission webhook that deletes pods) would otherwise create and delete pods without end.
What counts is a short-lived pod: one lost (deleted, failed or vanished, whoever removed it)
within `window` of its creation. A scale-up creates many pods and loses none; a template
rollout or a scale-down removes pods that lived long: neither counts. When `limit` short
lives fall in the last `window`, creates wait until the oldest of them leaves the window, so
at most `limit` pods are created-and-lost per window whatever the cause, and the pool
reports Degraded=True with reason SlotChurn (`PoolReason.SLOT_CHURN`) meanwhile.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

WINDOW = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class SlotLife:
    """One slot pod that existed and is gone."""

    created: dt.datetime
    """When the operator created it (or first saw it)."""
    lost: dt.datetime
    """When it was deleted, failed or vanished."""

    def short(self, window: dt.timedelta) -> bool:
        """Whether it was lost within `window` of its creation."""
        return self.lost - self.created < window


@dataclass(frozen=True)
class ChurnVerdict:
    """Whether a slot pod may be created now."""

    allowed: bool
    short_lives: int
    """Short-lived pods lost in the window ending now."""
    limit: int
    retry_at: dt.datetime | None = None
    """When a create is allowed again (None when it is allowed now)."""

    def message(self, now: dt.datetime) -> str:
        """For the Degraded condition and the Warning Event."""
        if self.allowed or self.retry_at is None:
            return f"{self.short_lives} slot pods created and lost in the last minute"
        wait = max(0, math.ceil((self.retry_at - now).total_seconds()))
        return (
            f"{self.short_lives} slot pods were created and lost within the last minute (the"
            f" limit is {self.limit}, CLAUDE_POOL_SLOT_CHURN_PER_MINUTE): no new slot pod for"
            f" {wait} s. Check the pool's template and the slot pods' events and logs."
        )


def recent(
    lives: Iterable[SlotLife], now: dt.datetime, window: dt.timedelta = WINDOW
) -> tuple[SlotLife, ...]:
    """The lives that still matter at `now` (short, lost in the window), oldest loss first:
    what the worker keeps between cycles."""
    kept = (life for life in lives if life.short(window) and now - life.lost < window)
    return tuple(sorted(kept, key=lambda life: life.lost))


def judge(
    lives: Sequence[SlotLife], now: dt.datetime, limit: int, window: dt.timedelta = WINDOW
) -> ChurnVerdict:
    """May the pool create a slot pod at `now`, given its recently lost pods?"""
    counted = recent(lives, now, window)
    if len(counted) < limit:
        return ChurnVerdict(allowed=True, short_lives=len(counted), limit=limit)
    # allowed again once only limit-1 remain: when the (len - limit + 1)-th oldest ages out
    expires = counted[len(counted) - limit].lost + window
    return ChurnVerdict(allowed=False, short_lives=len(counted), limit=limit, retry_at=expires)
