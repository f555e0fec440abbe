"""HTTP client of the slot agent (slot-image/README.md is the contract), used by the dispatcher.

One aiohttp session for all slots; every call carries the pool's bearer token. Errors are
typed so the dispatcher can tell a busy slot (409) from an unknown task (404) from an
unreachable agent (`SlotUnreachable`: connection refused, timeout, 5xx).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from claude_pool.api.agent import (
    ErrorBody,
    ProgressEvent,
    SlotStatus,
    TaskRequest,
    TaskStatus,
)
from claude_pool.api.workspaces import PushRequest, PushResponse


def _error_message(text: str) -> str:
    """The message of an agent's error body (the raw text when it is not one)."""
    try:
        return ErrorBody.model_validate_json(text).message[:1024]
    except ValueError:
        return text[:1024]


class SlotError(Exception):
    """The agent answered with an error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"agent answered {status}: {message}")
        self.status = status


class SlotBusy(SlotError):
    """409: the slot runs another task (or the task is still running, on acknowledge)."""


class SlotUnreachable(Exception):
    """The agent could not be reached or did not answer in time."""


class PushRefused(Exception):
    """`POST /v1/workspace/push` failed for good: no such branch in the clone (404) or git's
    push failed (502 PushFailed); the message is the agent's, redacted by it."""


class SlotClient:
    """Calls slot agents at `http://IP:PORT`."""

    def __init__(self, session: aiohttp.ClientSession, *, timeout: float = 10.0) -> None:
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def _request(
        self, method: str, url: str, token: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with self.session.request(
                method, url, json=body, headers=headers, timeout=self.timeout
            ) as resp:
                text = await resp.text()
                if resp.status == 404:
                    return None
                if resp.status == 409:
                    raise SlotBusy(409, text[:500])
                if resp.status >= 500:
                    raise SlotUnreachable(f"{method} {url}: {resp.status} {text[:200]}")
                if resp.status >= 400:
                    raise SlotError(resp.status, text[:500])
                return dict(json.loads(text)) if text else {}
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SlotUnreachable(f"{method} {url}: {exc!r}") from exc

    async def slot(self, base: str, token: str) -> SlotStatus:
        data = await self._request("GET", f"{base}/v1/slot", token)
        if data is None:
            raise SlotUnreachable(f"{base}: no slot endpoint")
        return SlotStatus.model_validate(data)

    async def push(self, base: str, token: str, branch: str) -> PushResponse:
        """Push `branch` of the slot's clone (push on approval). SlotBusy while the clone is
        not ready (409), PushRefused when it cannot be pushed, SlotUnreachable otherwise."""
        headers = {"Authorization": f"Bearer {token}"}
        body = PushRequest(branch=branch).to_wire()
        url = f"{base}/v1/workspace/push"
        timeout = aiohttp.ClientTimeout(total=max(self.timeout.total or 0, 300.0))
        try:
            async with self.session.post(url, json=body, headers=headers, timeout=timeout) as resp:
                text = await resp.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SlotUnreachable(f"POST {url}: {exc!r}") from exc
        if resp.status == 200:
            return PushResponse.model_validate_json(text)
        message = _error_message(text)
        if resp.status == 409:
            raise SlotBusy(409, message)
        if resp.status in (404, 502):
            raise PushRefused(message)
        raise SlotUnreachable(f"POST {url}: {resp.status} {message[:200]}")

    async def start(self, base: str, token: str, uid: str, request: TaskRequest) -> TaskStatus:
        """Start (idempotently) task `uid`; SlotBusy if another task runs there."""
        data = await self._request("PUT", f"{base}/v1/tasks/{uid}", token, request.to_wire())
        if data is None:
            raise SlotError(404, "no task endpoint")
        return TaskStatus.model_validate(data)

    async def task(self, base: str, token: str, uid: str) -> TaskStatus | None:
        """The task's state and result, or None when the agent does not know it."""
        data = await self._request("GET", f"{base}/v1/tasks/{uid}", token)
        return None if data is None else TaskStatus.model_validate(data)

    async def cancel(self, base: str, token: str, uid: str) -> None:
        await self._request("POST", f"{base}/v1/tasks/{uid}/cancel", token)

    async def acknowledge(self, base: str, token: str, uid: str) -> None:
        """Tell the agent the result is recorded; it may drop it."""
        await self._request("DELETE", f"{base}/v1/tasks/{uid}", token)

    async def events(
        self, base: str, token: str, uid: str, *, idle_timeout: float = 60.0
    ) -> AsyncIterator[ProgressEvent | TaskStatus]:
        """Progress events, then the final TaskStatus; ends when the stream does."""
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=idle_timeout)
        try:
            async with self.session.get(
                f"{base}/v1/tasks/{uid}/events", headers=headers, timeout=timeout
            ) as resp:
                if resp.status != 200:
                    raise SlotError(resp.status, (await resp.text())[:500])
                kind, data = "", ""
                async for raw in resp.content:
                    line = raw.decode().rstrip("\r\n")
                    if line.startswith("event:"):
                        kind = line[6:].strip()
                    elif line.startswith("data:"):
                        data += line[5:].strip()
                    elif not line and data:
                        if kind == "result":
                            yield TaskStatus.model_validate_json(data)
                            return
                        if kind == "progress":
                            yield ProgressEvent.model_validate_json(data)
                        kind, data = "", ""
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SlotUnreachable(f"events of {uid}: {exc!r}") from exc
