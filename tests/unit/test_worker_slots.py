"""What the pool worker counts as an idle slot (no API: the views are built from memory)."""

from __future__ import annotations

from typing import Any

from claude_pool.api.pools import ClaudePool
from claude_pool.controllers.state import ClusterState, PodView
from claude_pool.runtime.settings import Settings
from claude_pool.runtime.worker import PoolWorker
from claude_pool.slots.planning import SlotState


def pod(name: str, uid: str) -> PodView:
    return PodView(
        name=name,
        namespace="n",
        pool="p",
        index=int(name[-1]),
        uid=uid,
        ip="127.1.0.2",
        phase="Running",
        ready=True,
        restarts=0,
        draining=False,
        terminating=False,
        template_hash=None,
        waiting_reason=None,
        waiting_message=None,
    )


def worker() -> PoolWorker:
    none: Any = None  # the views need no API client and no slot client
    return PoolWorker(("n", "p"), ClusterState(), none, none, Settings())


def test_a_pod_this_worker_deleted_is_never_idle_even_before_the_watch_says_so() -> None:
    w = worker()
    pool = ClaudePool.model_validate({"metadata": {"name": "p", "namespace": "n"}})
    pods = {"p-slot-0": pod("p-slot-0", "a"), "p-slot-1": pod("p-slot-1", "b")}
    w.deleted.add("b")
    states = {v.name: v.state for v in w._slot_views(pool, pods)}
    assert states == {"p-slot-0": SlotState.IDLE, "p-slot-1": SlotState.TERMINATING}


def test_the_deleted_set_forgets_pods_that_are_gone() -> None:
    w = worker()
    pool = ClaudePool.model_validate({"metadata": {"name": "p", "namespace": "n"}})
    w.deleted.update({"a", "gone"})
    w._slot_views(pool, {"p-slot-0": pod("p-slot-0", "a")})
    assert w.deleted == {"a"}
