"""Cycle step 4: the scale plan applied to the pool's slot pods.

Called by `runtime.worker` every cycle with the slot views. Worn slots (idle, restarted more
than maxRestarts) are replaced, with a Warning Event on the pool, and keep the pool Degraded
for `degraded_hold_seconds`. `slots.planning.plan_slots` (pure) decides the rest: missing
indices created (not while their index backs off), failed, drained and excess idle pods
deleted, busy excess slots marked draining, draining slots taken back on scale-up. A failed
or worn slot's index backs off (doubling up to a cap) before it is recreated. Creates are
bounded by the churn watch (`runtime.churning`): a pool whose pods are created and lost
faster than CLAUDE_POOL_SLOT_CHURN_PER_MINUTE creates none until the oldest loss leaves the
minute (a Warning Event SlotChurn, Degraded=True), and the worker is woken then. With a
workspace claimTemplate, the claim `<pool>-ws-<index>` is created before the index's pod
(an existing one is kept: it holds the index's clone).
"""

from __future__ import annotations

import contextlib
import datetime as dt

from claude_pool.api.common import API_VERSION
from claude_pool.api.pools import ClaudePool
from claude_pool.controllers.state import PodView
from claude_pool.kube.client import Conflict, Kube, NotFound
from claude_pool.runtime.alarm import Alarm
from claude_pool.runtime.announcing import Announcer, EventReason
from claude_pool.runtime.churning import ChurnWatch
from claude_pool.runtime.settings import Settings
from claude_pool.runtime.slotbook import SlotBook
from claude_pool.slots import pods as slotpods
from claude_pool.slots import workspaces as slotworkspaces
from claude_pool.slots.planning import SlotView, drain_bound, plan_slots


def pool_ref(pool: ClaudePool) -> dict[str, str]:
    """The pool as an Event's involvedObject."""
    meta = pool.metadata
    return {
        "apiVersion": API_VERSION,
        "kind": "ClaudePool",
        "name": meta.name,
        "namespace": meta.namespace or "",
        "uid": meta.uid or "",
    }


async def scale(
    pool: ClaudePool,
    views: list[SlotView],
    pods: dict[str, PodView],
    now: float,
    *,
    book: SlotBook,
    kube: Kube,
    announcer: Announcer,
    settings: Settings,
    churn: ChurnWatch,
    wall: dt.datetime,
    alarm: Alarm,
) -> None:
    """Apply this cycle's scale plan (see the module docstring); `now` is monotonic, `wall`
    the wall time."""
    limit = pool.spec.supervision.max_restarts
    worn = [v for v in views if v.restarts > limit and v.task is None and not v.terminating]
    for view in worn:
        message = f"slot {view.name} restarted {view.restarts} times (limit {limit}); replaced"
        book.replaced[view.name] = (message, now)
        announcer.event(pool_ref(pool), EventReason.SLOT_REPLACED, message, warning=True)
    hold = settings.degraded_hold_seconds
    book.replaced = {k: v for k, v in book.replaced.items() if now - v[1] < hold}
    drain_timeout = drain_bound(
        pool.spec.supervision.drain_timeout_seconds, settings.drain_timeout_seconds
    )
    plan = plan_slots(
        pool.spec.slots,
        views,
        now=now,
        drain_timeout=drain_timeout,
        backing_off=book.backing_off(now),
    )
    ns = pool.metadata.namespace or ""
    replace = {v.name for v in worn} - set(plan.delete)
    for name in (*plan.delete, *replace):
        pod = pods[name]
        if pod.phase == "Failed" or name in replace:
            book.back_off(
                pod.index, now, settings.slot_backoff_seconds, settings.slot_backoff_max_seconds
            )
        with contextlib.suppress(NotFound):
            await kube.delete_pod(ns, name, uid=pod.uid)
        book.deleted.add(pod.uid)  # not dispatched to, not deleted again, before the watch
        book.draining_since.pop(name, None)
    for name in plan.drain:
        await kube.patch_pod_metadata(
            ns, name, {"annotations": {slotpods.DRAINING_ANNOTATION: "true"}}
        )
        book.draining_since[name] = now
    for name in plan.undrain:
        await kube.patch_pod_metadata(
            ns, name, {"annotations": {slotpods.DRAINING_ANNOTATION: None}}
        )
        book.draining_since.pop(name, None)
    defaults = slotpods.SlotDefaults(
        image=settings.slot_image,
        termination_grace_seconds=settings.slot_termination_grace_seconds,
    )
    churn.observe(pods, wall)
    allowed = churn.allowance(len(plan.create), wall)
    claims = slotworkspaces.uses_claims(pool.spec.workspace)
    for index in plan.create[:allowed]:
        if claims:  # the index's clone outlives its pods: created once, kept with the pool
            with contextlib.suppress(Conflict):
                await kube.create(slotpods.desired_workspace_claim(pool, index))
        with contextlib.suppress(Conflict):
            body = await kube.create(slotpods.desired_slot_pod(pool, index, defaults))
            meta = body.get("metadata") or {}
            churn.created(meta.get("name", ""), meta.get("uid", ""), wall)
    wait = churn.retry_in(wall)
    if wait is not None:
        alarm.at(wait)
        if not churn.announced:
            churn.announced = True
            message = churn.degraded(wall) or ""
            announcer.event(pool_ref(pool), EventReason.SLOT_CHURN, message, warning=True)
