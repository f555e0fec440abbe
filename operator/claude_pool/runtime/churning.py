"""The churn watch: which of one pool's slot pods were created and lost again, and when.

Owned by `runtime.worker.PoolWorker`; `observe` runs every cycle with the pool's slot pods,
and the scale step asks `allowance` how many pods it may create now. The rule is
`slots.churn` (pure): a pod lost (gone, Failed or terminating, whoever removed it) within a
minute of its creation is a short life; at `limit` short lives in the last minute no pod is
created until the oldest leaves the minute. While that holds the pool is Degraded=True,
reason SlotChurn, and one Warning Event SlotChurn is posted per episode. A pod's creation is
when this worker first saw it (the create's answer, or the watch after a restart).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from claude_pool.controllers.state import PodView
from claude_pool.slots.churn import ChurnVerdict, SlotLife, judge, recent

UNSEEN_GRACE = dt.timedelta(seconds=5)
"""A pod this worker created that the watch has not shown in this long is counted as lost."""


@dataclass
class _Pod:
    uid: str
    born: dt.datetime
    seen: bool
    """Whether the watch has shown it (a pod this worker created may be gone before that)."""


class ChurnWatch:
    """Short-lived slot pods of one pool (see the module docstring)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._pods: dict[str, _Pod] = {}
        """slot pod name -> its current incarnation (one pod per name at a time)."""
        self._lives: tuple[SlotLife, ...] = ()
        self._unseen = 0
        """Pods this worker created that the watch has not shown yet: maybe lost already."""
        self.verdict: ChurnVerdict | None = None
        """The last verdict that refused a create (None: creates are allowed)."""
        self.announced = False
        """Whether this episode's Warning Event was posted."""

    def created(self, name: str, uid: str, now: dt.datetime) -> None:
        """This worker created pod `name` (`uid`); an earlier pod of that name is gone."""
        old = self._pods.get(name)
        if old is not None and old.uid != uid:
            self._lost(old, now)
        self._pods[name] = _Pod(uid, now, seen=False)

    def observe(self, pods: Mapping[str, PodView], now: dt.datetime) -> None:
        """Record births and losses seen in this cycle's pods."""
        for name, known in list(self._pods.items()):
            pod = pods.get(name)
            if pod is not None and pod.uid == known.uid:
                known.seen = True
            elif pod is not None or known.seen or now - known.born > UNSEEN_GRACE:
                self._lost(known, now)  # replaced, gone, or never shown by the watch
                del self._pods[name]
        for pod in pods.values():
            gone = pod.phase == "Failed" or pod.terminating
            current = self._pods.get(pod.name)
            if gone and current is not None:
                self._lost(current, now)
                self._pods.pop(pod.name)
            elif not gone and current is None:
                self._pods[pod.name] = _Pod(pod.uid, now, seen=True)
        self._lives = recent(self._lives, now)
        self._unseen = sum(1 for n, p in self._pods.items() if not p.seen and n not in pods)

    def _lost(self, pod: _Pod, now: dt.datetime) -> None:
        self._lives = (*self._lives, SlotLife(created=pod.born, lost=now))

    def allowance(self, wanted: int, now: dt.datetime) -> int:
        """How many of `wanted` pod creates may happen now: at most as many as short lives
        are left under the limit (pods created and not seen yet count as maybe lost), so
        creates and losses cannot outrun it."""
        counted = len(recent(self._lives, now)) + self._unseen
        verdict = judge(self._lives, now, self.limit)
        if verdict.allowed:
            self.verdict, self.announced = None, False
        elif wanted:
            self.verdict = verdict
        return max(0, min(wanted, self.limit - counted))

    def retry_in(self, now: dt.datetime) -> float | None:
        """Seconds until a create is allowed again (None: it is allowed now)."""
        if self.verdict is None or self.verdict.retry_at is None:
            return None
        return max(0.0, (self.verdict.retry_at - now).total_seconds())

    def degraded(self, now: dt.datetime) -> str | None:
        """The Degraded=True message while creates wait (None: they do not)."""
        return None if self.verdict is None else self.verdict.message(now)
