"""Which slot pods to create, delete, drain or keep: the pool's level-based scale plan.

Pure; called by the pool worker's scale step (`runtime.scaling`) each cycle with a snapshot
of the pool's pods (as `SlotView`s) and the desired count (spec.slots). Rules: scale-down
removes idle slots first (highest index first) and marks busy ones draining: a draining slot
gets no new task and is deleted once idle, or when its drain bound passes. Failed pods are
deleted so that they are recreated at the same index after a backoff: while that index backs
off it is not recreated, and no other index is created in its place. Scale-up first takes
back draining slots, then creates the lowest free indices.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class SlotState(StrEnum):
    """What a slot can do now, derived from its pod and the tasks assigned to it."""

    STARTING = "Starting"
    IDLE = "Idle"
    BUSY = "Busy"
    DRAINING = "Draining"
    UNHEALTHY = "Unhealthy"
    TERMINATING = "Terminating"


@dataclass(frozen=True)
class SlotView:
    """A snapshot of one slot pod as the controller sees it."""

    name: str
    index: int
    uid: str = ""
    ip: str | None = None
    phase: str = "Pending"
    ready: bool = False
    restarts: int = 0
    draining: bool = False
    draining_since: float | None = None
    terminating: bool = False
    task: str | None = None
    """uid of the task assigned to this slot, if any."""

    @property
    def state(self) -> SlotState:
        if self.terminating:
            return SlotState.TERMINATING
        if self.phase in ("Failed", "Succeeded"):
            return SlotState.UNHEALTHY
        if self.draining:
            return SlotState.DRAINING
        if self.task is not None:
            return SlotState.BUSY
        if self.ready and self.ip:
            return SlotState.IDLE
        return SlotState.STARTING


@dataclass(frozen=True)
class SlotPlan:
    """What the controller should do to the pool's pods this cycle."""

    create: tuple[int, ...] = ()
    delete: tuple[str, ...] = ()
    drain: tuple[str, ...] = ()
    undrain: tuple[str, ...] = ()


def drain_bound(pool_value: float, operator_bound: float) -> float:
    """The drain timeout in force: the pool's, capped by the operator's; 0 means unset."""
    values = [v for v in (pool_value, operator_bound) if v > 0]
    return float(min(values)) if values else 0.0


def plan_slots(
    desired: int,
    slots: list[SlotView],
    *,
    now: float,
    drain_timeout: float = 0.0,
    backing_off: frozenset[int] = frozenset(),
) -> SlotPlan:
    """The actions that move the pool's pods towards `desired` slots."""
    delete: list[str] = []
    drain: list[str] = []
    undrain: list[str] = []
    live = [s for s in slots if s.state is not SlotState.TERMINATING]
    for slot in live:
        drained = slot.task is None or (
            drain_timeout > 0
            and slot.draining_since is not None
            and now - slot.draining_since >= drain_timeout
        )
        if slot.state is SlotState.UNHEALTHY or (slot.state is SlotState.DRAINING and drained):
            delete.append(slot.name)
    serving = [s for s in live if s.state not in (SlotState.UNHEALTHY, SlotState.DRAINING)]
    excess = len(serving) - desired
    if excess > 0:
        # idle or starting slots go first (highest index first), busy ones are drained last
        order = sorted(serving, key=lambda s: (s.task is not None, -s.index))
        for slot in order[:excess]:
            if slot.task is None:
                delete.append(slot.name)
            else:
                drain.append(slot.name)
    create: list[int] = []
    if excess < 0:
        missing = -excess
        for slot in sorted(
            (s for s in live if s.state is SlotState.DRAINING and s.name not in delete),
            key=lambda s: s.index,
        ):
            if missing == 0:
                break
            undrain.append(slot.name)
            missing -= 1
        taken = {s.index for s in slots}
        # a failed slot's seat waits for its own index (recreated after the backoff)
        replacing = {
            s.index
            for s in slots
            if s.state is SlotState.UNHEALTHY
            or (s.state is SlotState.TERMINATING and s.index in backing_off)
        }
        index = 0
        while missing > 0:
            if index not in taken:
                if index not in backing_off:
                    create.append(index)
                missing -= 1
            elif index in replacing:
                missing -= 1
            index += 1
    return SlotPlan(tuple(create), tuple(delete), tuple(drain), tuple(undrain))
