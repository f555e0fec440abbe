"""The SDK's view of the cluster: the methods of `claude_pool.kube.access.ClusterDoor`.

A Protocol, so unit tests give the SDK an in-memory fake of the same door
(tests/unit/sdkfake.py) and integration tests the real one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from claude_pool.kube.streams import WatchEvent


class Door(Protocol):
    """List/get/create/patch/delete custom objects, scale, ConfigMaps, watches and logs."""

    async def get(self, plural: str, namespace: str, name: str) -> dict[str, Any]: ...

    async def list(
        self, plural: str, namespace: str, *, label_selector: str | None = None
    ) -> tuple[list[dict[str, Any]], str]: ...

    async def create(self, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...

    async def patch(
        self, plural: str, namespace: str, name: str, body: dict[str, Any]
    ) -> dict[str, Any]: ...

    async def delete(self, plural: str, namespace: str, name: str) -> None: ...

    async def scale(
        self, plural: str, namespace: str, name: str, replicas: int
    ) -> dict[str, Any]: ...

    async def configmap_data(self, namespace: str, name: str) -> dict[str, str] | None: ...

    def watch(
        self,
        plural: str,
        namespace: str,
        *,
        resource_version: str,
        timeout_seconds: int,
        name: str | None = None,
        label_selector: str | None = None,
    ) -> AsyncIterator[WatchEvent]: ...

    def pod_log(
        self, namespace: str, pod: str, *, container: str, follow: bool, since_seconds: int | None
    ) -> AsyncIterator[str]: ...

    def close(self) -> None: ...
