"""The slot book: what one pool's worker remembers about its slot pods between cycles.

Owned by `runtime.worker.PoolWorker`; changed by the scale step. It keeps the backoff of
failing slot indices, since when each slot drains, the slots replaced for restarting too
often (the pool stays Degraded for a while after), the uids of pods this worker deleted
(terminating for it even before the watch says so), and the CLI session each pod's last
successful run left (resumed under `sessionPolicy: resumeSlot`; forgotten with the pod, and
on an operator restart). `views` turns the pool's pods into the `SlotView`s the pure
planners and the dispatcher read.
"""

from __future__ import annotations

from collections.abc import Mapping

from claude_pool.controllers.state import PodView
from claude_pool.slots.planning import SlotView


class SlotBook:
    """Per-slot memory of one pool (see the module docstring)."""

    def __init__(self) -> None:
        self.backoff: dict[int, tuple[int, float]] = {}
        """slot index -> (failures so far, monotonic time before which it is not recreated)."""
        self.draining_since: dict[str, float] = {}
        self.replaced: dict[str, tuple[str, float]] = {}
        """slot name -> (why it was replaced, when): the pool stays Degraded for a while."""
        self.deleted: set[str] = set()
        """uids of pods this worker deleted."""
        self.sessions: dict[str, str] = {}
        """pod uid -> the CLI session its last successful run left (sessionPolicy resumeSlot)."""

    @property
    def degraded(self) -> str | None:
        """Why the pool is degraded now (None: it is not)."""
        return "; ".join(m for m, _ in self.replaced.values()) or None

    def backing_off(self, now: float) -> frozenset[int]:
        return frozenset(i for i, (_, until) in self.backoff.items() if until > now)

    def back_off(self, index: int, now: float, first: float, cap: float) -> None:
        """Slot `index` failed again: not recreated for `first` doubling per failure, capped."""
        failures = self.backoff.get(index, (0, 0.0))[0] + 1
        self.backoff[index] = (failures, now + min(first * 2 ** (failures - 1), cap))

    def views(
        self,
        pods: Mapping[str, PodView],
        busy: Mapping[str, str],
        now: float,
        *,
        credentials_ok: bool,
    ) -> list[SlotView]:
        """The pool's slots as the planners see them; `busy` maps slot name -> task uid."""
        self.deleted &= {pod.uid for pod in pods.values()}
        live = {pod.uid for pod in pods.values()}
        self.sessions = {uid: s for uid, s in self.sessions.items() if uid in live}
        views = []
        for pod in pods.values():
            if pod.draining:
                self.draining_since.setdefault(pod.name, now)
            views.append(
                SlotView(
                    name=pod.name,
                    index=pod.index,
                    uid=pod.uid,
                    ip=pod.ip,
                    phase=pod.phase,
                    ready=pod.ready and credentials_ok,
                    restarts=pod.restarts,
                    draining=pod.draining,
                    draining_since=self.draining_since.get(pod.name),
                    terminating=pod.terminating or pod.uid in self.deleted,
                    task=busy.get(pod.name),
                )
            )
        return views
