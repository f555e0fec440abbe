"""Cycle step 1: the pool's support objects and credentials.

Called by `runtime.worker` every cycle. Once per pool uid: the Secret `POOL-agent-token`
holding a random bearer token (created if missing, then read back) and, unless the template
names its own, the permission-less ServiceAccount `POOL-slot`. Every cycle (at most every
`CHECK_INTERVAL` seconds while fine): whether the credentials Secret and key exist; while not,
`problem` says why (the pool is Ready=False CredentialsMissing, its slots count as not ready).
"""

from __future__ import annotations

import base64
import contextlib
import secrets

from claude_pool.api.pools import ClaudePool
from claude_pool.controllers.state import PoolKey
from claude_pool.kube.client import Conflict, Kube
from claude_pool.runtime.clock import Clock
from claude_pool.slots import pods as slotpods

CHECK_INTERVAL = 5.0
"""Seconds between credential checks while they are fine."""


class Support:
    """The agent token and the credentials' state of one pool."""

    def __init__(self, key: PoolKey, kube: Kube, clock: Clock) -> None:
        self._key = key
        self._kube = kube
        self._clock = clock
        self.token: str | None = None
        """The pool's agent bearer token, once read."""
        self.problem: str | None = None
        """Why the pool's credentials are unusable (None: fine)."""
        self._for_uid: str | None = None
        self._checked: float | None = None

    async def ensure(self, pool: ClaudePool) -> None:
        """The step: support objects once per pool uid, then the credentials check."""
        if self._for_uid != pool.metadata.uid:
            await self._create_objects(pool)
        await self._check_credentials(pool)

    async def _create_objects(self, pool: ClaudePool) -> None:
        ns, name = self._key
        secret = slotpods.token_secret_name(name)
        data = await self._kube.read_secret(ns, secret)
        if data is None:
            token = secrets.token_urlsafe(32)
            with contextlib.suppress(Conflict):
                await self._kube.create(slotpods.desired_token_secret(pool, token))
            data = await self._kube.read_secret(ns, secret) or {}
        raw = data.get(slotpods.TOKEN_KEY)
        if not raw:
            raise RuntimeError(f"secret {secret} has no token")
        self.token = base64.b64decode(raw).decode()
        if pool.spec.template.service_account_name is None:
            with contextlib.suppress(Conflict):
                await self._kube.create(slotpods.desired_service_account(pool))
        self._for_uid = pool.metadata.uid

    async def _check_credentials(self, pool: ClaudePool) -> None:
        creds = pool.spec.credentials
        if creds is None:
            self.problem = None
            return
        now = self._clock.monotonic()
        recent = self._checked is not None and now - self._checked < CHECK_INTERVAL
        if recent and self.problem is None:
            return
        self._checked = now
        data = await self._kube.read_secret(self._key[0], creds.secret_name)
        if data is None:
            self.problem = f'credentials Secret "{creds.secret_name}" not found'
        elif creds.secret_key() not in data:
            self.problem = (
                f'credentials Secret "{creds.secret_name}" has no key "{creds.secret_key()}"'
            )
        else:
            self.problem = None
