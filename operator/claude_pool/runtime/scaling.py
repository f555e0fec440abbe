"""A pool's slots: support objects, credentials, and the scale plan applied.

Part of the pool worker (`runtime.worker`). Creates the agent-token Secret and the
permission-less ServiceAccount once per pool, checks the credentials Secret, and applies
`slots.planning`'s plan: creates missing slot pods, deletes failed, worn (restarted more
than maxRestarts: replaced with backoff, pool Degraded for a while) and excess idle ones,
and marks busy excess slots draining.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import time

from claude_pool.api.pools import ClaudePool
from claude_pool.controllers.state import PodView
from claude_pool.kube.client import Conflict, NotFound
from claude_pool.runtime.workerbase import (
    WorkerBase,
    _pool_ref,
)
from claude_pool.slots import pods as slotpods
from claude_pool.slots.planning import SlotView, drain_bound, plan_slots


class ScalingMixin(WorkerBase):
    """A pool's slots: support objects, credentials, and the scale plan applied."""

    async def _ensure_support(self, pool: ClaudePool) -> None:
        ns, name = self.key
        data = await self.kube.read_secret(ns, slotpods.token_secret_name(name))
        if data is None:
            token = secrets.token_urlsafe(32)
            with contextlib.suppress(Conflict):
                await self.kube.create(slotpods.desired_token_secret(pool, token))
            data = await self.kube.read_secret(ns, slotpods.token_secret_name(name)) or {}
        raw = data.get(slotpods.TOKEN_KEY)
        if not raw:
            raise RuntimeError(f"secret {slotpods.token_secret_name(name)} has no token")
        self.token = base64.b64decode(raw).decode()
        if pool.spec.template.service_account_name is None:
            with contextlib.suppress(Conflict):
                await self.kube.create(slotpods.desired_service_account(pool))
        self.support_for = pool.metadata.uid

    async def _check_credentials(self, pool: ClaudePool) -> None:
        creds = pool.spec.credentials
        if creds is None:
            self.credentials_problem = None
            return
        if time.monotonic() - self.credentials_checked < 5.0 and self.credentials_problem is None:
            return
        self.credentials_checked = time.monotonic()
        data = await self.kube.read_secret(self.key[0], creds.secret_name)
        if data is None:
            self.credentials_problem = f'credentials Secret "{creds.secret_name}" not found'
        elif creds.secret_key() not in data:
            self.credentials_problem = (
                f'credentials Secret "{creds.secret_name}" has no key "{creds.secret_key()}"'
            )
        else:
            self.credentials_problem = None

    def _init_ledger(self, pool: ClaudePool) -> None:
        if self.spent is None:
            budget = pool.status.budget
            self.spent = budget.spent_microdollars
            self.recent = tuple(budget.recent_commits)
            self.status_version = self.state.pool_versions.get(self.key)

    async def _apply_plan(
        self, pool: ClaudePool, views: list[SlotView], pods: dict[str, PodView]
    ) -> None:
        now = time.monotonic()
        desired = pool.spec.slots
        limit = pool.spec.supervision.max_restarts
        worn = [v for v in views if v.restarts > limit and v.task is None and not v.terminating]
        for view in worn:
            message = f"slot {view.name} restarted {view.restarts} times (limit {limit}); replaced"
            self.replaced[view.name] = (message, now)
            self._event(_pool_ref(pool), "SlotReplaced", message, warning=True)
        hold = self.settings.degraded_hold_seconds
        self.replaced = {k: v for k, v in self.replaced.items() if now - v[1] < hold}
        self.degraded = "; ".join(m for m, _ in self.replaced.values()) or None
        backing_off = frozenset(i for i, (_, until) in self.backoff.items() if until > now)
        drain_timeout = drain_bound(
            pool.spec.supervision.drain_timeout_seconds, self.settings.drain_timeout_seconds
        )
        plan = plan_slots(
            desired, views, now=now, drain_timeout=drain_timeout, backing_off=backing_off
        )
        ns = self.key[0]
        replace = {v.name for v in worn} - set(plan.delete)
        for name in (*plan.delete, *replace):
            pod = pods[name]
            if pod.phase == "Failed" or name in replace:
                failures = self.backoff.get(pod.index, (0, 0.0))[0] + 1
                delay = min(
                    self.settings.slot_backoff_seconds * 2 ** (failures - 1),
                    self.settings.slot_backoff_max_seconds,
                )
                self.backoff[pod.index] = (failures, now + delay)
            with contextlib.suppress(NotFound):
                await self.kube.delete_pod(ns, name, uid=pod.uid)
            self.deleted.add(pod.uid)  # not dispatched to, not deleted again, before the watch
            self.draining_since.pop(name, None)
        for name in plan.drain:
            await self.kube.patch_pod_metadata(
                ns, name, {"annotations": {slotpods.DRAINING_ANNOTATION: "true"}}
            )
            self.draining_since[name] = now
        for name in plan.undrain:
            await self.kube.patch_pod_metadata(
                ns, name, {"annotations": {slotpods.DRAINING_ANNOTATION: None}}
            )
            self.draining_since.pop(name, None)
        defaults = slotpods.SlotDefaults(
            image=self.settings.slot_image,
            termination_grace_seconds=self.settings.slot_termination_grace_seconds,
        )
        for index in plan.create:
            with contextlib.suppress(Conflict):
                await self.kube.create(slotpods.desired_slot_pod(pool, index, defaults))
