"""The operator's only door to the Kubernetes API (besides kopf's own watches).

Called by the controllers and the dispatcher. The official `kubernetes` client is
synchronous, so every call runs on a dedicated bounded thread pool, never on kopf's event
loop. Calls go through the client's request layer (`param_serialize` + `call_api`: the
same TLS, auth and connection pool as the generated methods) with plain JSON dicts, which
skips the generated methods' per-call model validation and deserialisation. Optimistic
concurrency: a patch may carry the resourceVersion it was computed from, and a conflict
raises `Conflict`. Every write is counted per verb and resource (`writes`), for the metrics
and the API-writes benchmark.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kubernetes import client, config

from claude_pool.api.common import GROUP, VERSION

POOLS = "claudepools"
TASKS = "claudetasks"
REVIEWS = "claudereviews"
MESSAGES = "claudemessages"
MERGE = "application/merge-patch+json"
_CORE = {"Pod": "pods", "Secret": "secrets", "ServiceAccount": "serviceaccounts",
         "ConfigMap": "configmaps", "Event": "events",
         "PersistentVolumeClaim": "persistentvolumeclaims"}  # fmt: skip


class ApiError(Exception):
    """The API answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class Conflict(ApiError):
    """The object changed since it was read (HTTP 409) or already exists."""


class NotFound(ApiError):
    """The object does not exist (HTTP 404)."""


def load_api_client(kubeconfig: str | None = None) -> client.ApiClient:
    """An ApiClient from a kubeconfig file, or the in-cluster service account."""
    cfg = client.Configuration()
    if kubeconfig:
        config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)  # type: ignore[no-untyped-call]  # untyped
    else:
        try:
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]  # untyped
        except config.ConfigException:
            config.load_kube_config(client_configuration=cfg)  # type: ignore[no-untyped-call]  # untyped
    cfg.connection_pool_maxsize = 64
    return client.ApiClient(cfg)


def custom_path(plural: str, namespace: str, name: str = "", sub: str = "") -> str:
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}"
    return path + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")


def core_path(kind: str, namespace: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{namespace}/{_CORE[kind]}" + (f"/{name}" if name else "")


class Kube:
    """Async methods over the synchronous client, run on a bounded thread pool."""

    def __init__(self, api: client.ApiClient, *, workers: int = 16) -> None:
        self.api = api
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kube")
        self.writes: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        """Error answers by "METHOD status" (404s and 409s included: they drive decisions)."""

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _request_sync(
        self, method: str, path: str, body: dict[str, Any] | None, content_type: str
    ) -> dict[str, Any]:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        serialized = self.api.param_serialize(
            method, path, header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )  # fmt: skip
        response = self.api.call_api(*serialized[:4], _request_timeout=60)
        data = response.read()  # type: ignore[no-untyped-call]  # untyped client
        if response.status >= 400:
            self.errors[f"{method} {response.status}"] += 1
            message = data.decode(errors="replace")[:500] if data else str(response.reason)
            with contextlib.suppress(ValueError, AttributeError):
                message = json.loads(data).get("message", message)
            error = {404: NotFound, 409: Conflict}.get(response.status, ApiError)
            raise error(response.status, message)
        return dict(json.loads(data)) if data else {}

    async def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, content_type: str = MERGE
    ) -> dict[str, Any]:
        """One API call on the thread pool; JSON in, JSON out."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, self._request_sync, method, path, body, content_type
        )

    def _count(self, verb: str, resource: str) -> None:
        self.writes[f"{verb} {resource}"] += 1

    # custom resources
    async def patch_status(
        self,
        plural: str,
        namespace: str,
        name: str,
        status: dict[str, Any],
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """Merge-patch .status; with resource_version, only if the object is unchanged."""
        body: dict[str, Any] = {"status": status}
        if resource_version is not None:
            body["metadata"] = {"resourceVersion": resource_version}
        self._count("patch", f"{plural}/status")
        return await self.request("PATCH", custom_path(plural, namespace, name, "status"), body)

    async def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        return await self.request("GET", custom_path(plural, namespace, name))

    async def create_custom(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create a ClaudeTask (a composite's child); a Conflict means it exists."""
        namespace = body["metadata"]["namespace"]
        self._count("create", plural)
        return await self.request("POST", custom_path(plural, namespace), body, "application/json")

    async def patch_custom(
        self, plural: str, namespace: str, name: str, patch: dict[str, Any]
    ) -> dict[str, Any]:
        """Merge-patch an object of ours (a child's `spec.cancel`)."""
        self._count("patch", plural)
        return await self.request("PATCH", custom_path(plural, namespace, name), patch)

    async def delete_custom(
        self, plural: str, namespace: str, name: str, *, uid: str | None = None
    ) -> None:
        """Delete a custom object (background propagation: its owned objects follow); with
        `uid`, only that incarnation (a re-created object of the same name is kept)."""
        self._count("delete", plural)
        options: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": "Background",
        }
        if uid:
            options["preconditions"] = {"uid": uid}
        await self.request(
            "DELETE", custom_path(plural, namespace, name), options, "application/json"
        )

    # core objects
    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a core/v1 Pod, Secret, ServiceAccount, ConfigMap, Event or
        PersistentVolumeClaim."""
        kind, namespace = body["kind"], body["metadata"]["namespace"]
        self._count("create", kind.lower())
        return await self.request("POST", core_path(kind, namespace), body, "application/json")

    async def delete_pod(self, namespace: str, name: str, uid: str | None = None) -> None:
        self._count("delete", "pod")
        options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
        if uid:
            options["preconditions"] = {"uid": uid}
        await self.request("DELETE", core_path("Pod", namespace, name), options, "application/json")

    async def patch_pod_metadata(self, namespace: str, name: str, meta: dict[str, Any]) -> None:
        self._count("patch", "pod")
        await self.request("PATCH", core_path("Pod", namespace, name), {"metadata": meta})

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        """The Secret's data (base64 values as stored), or None when it does not exist."""
        try:
            body = await self.request("GET", core_path("Secret", namespace, name))
        except NotFound:
            return None
        data: dict[str, str] = body.get("data") or {}
        return data

    async def read_config_key(self, kind: str, namespace: str, name: str, key: str) -> bytes | None:
        """One key of a ConfigMap (`data` or `binaryData`) or Secret (`data`), as bytes; None
        when the object or the key does not exist. `kind` is "ConfigMap" or "Secret"."""
        if kind not in ("ConfigMap", "Secret"):
            raise ValueError(f"read_config_key reads ConfigMaps and Secrets, not {kind}")
        try:
            body = await self.request("GET", core_path(kind, namespace, name))
        except NotFound:
            return None
        if kind == "ConfigMap" and key in (body.get("data") or {}):
            text: str = body["data"][key]
            return text.encode()
        encoded = (body.get("binaryData" if kind == "ConfigMap" else "data") or {}).get(key)
        return None if encoded is None else base64.b64decode(encoded)

    # events
    async def event(
        self,
        involved: dict[str, Any],
        *,
        reason: str,
        message: str,
        warning: bool = False,
        now: dt.datetime,
    ) -> None:
        """Record a core/v1 Event about `involved` (apiVersion, kind, name, namespace, uid)."""
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "generateName": f"{involved['name']}.",
                "namespace": involved["namespace"],
            },
            "involvedObject": involved,
            "reason": reason,
            "message": message[:1024],
            "type": "Warning" if warning else "Normal",
            "source": {"component": "claude-pool-operator"},
            "reportingComponent": "claude-pool-operator",
            "reportingInstance": "claude-pool-operator",
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        await self.create(body)
