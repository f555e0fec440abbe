"""The operator's only door to the Kubernetes API (besides kopf's own watches).

Called by the controllers and the dispatcher. The official `kubernetes` client is
synchronous, so every call runs on a dedicated bounded thread pool, never on kopf's event
loop. Hot-path calls skip the client's model deserialisation (`_preload_content=False`) and
return plain dicts. Optimistic concurrency: a patch may carry the resourceVersion it was
computed from, and a conflict raises `Conflict`. Every write is counted per verb and
resource (`writes`), for the metrics and the API-writes benchmark.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from claude_pool.api.common import GROUP, VERSION

T = TypeVar("T")
POOLS = "claudepools"
TASKS = "claudetasks"
MERGE = "application/merge-patch+json"


class Conflict(Exception):
    """The object changed since it was read (HTTP 409) or already exists."""


class NotFound(Exception):
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


def _raw(response: Any) -> dict[str, Any]:
    data = response.data
    return dict(json.loads(data)) if data else {}


class Kube:
    """Async methods over the synchronous client, run on a bounded thread pool."""

    def __init__(self, api: client.ApiClient, *, workers: int = 16) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kube")
        self.writes: Counter[str] = Counter()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))
        except ApiException as exc:
            if exc.status == 404:
                raise NotFound(str(exc.reason)) from exc
            if exc.status == 409:
                raise Conflict(str(exc.reason)) from exc
            raise

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
        resp = await self._call(
            self.custom.api_client.call_api,
            f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}/{name}/status",
            "PATCH",
            header_params={"Content-Type": MERGE, "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
            _preload_content=False,
            _return_http_data_only=True,
        )
        return _raw(resp)

    async def get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        resp: Any = await self._call(
            self.custom.get_namespaced_custom_object,
            GROUP, VERSION, namespace, plural, name, _preload_content=False,
        )  # fmt: skip
        return _raw(resp)

    # pods
    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a core/v1 Pod, Secret, ServiceAccount or ConfigMap from a manifest."""
        kind, namespace = body["kind"], body["metadata"]["namespace"]
        creators: dict[str, Callable[..., Any]] = {
            "Pod": self.core.create_namespaced_pod,
            "Secret": self.core.create_namespaced_secret,
            "ServiceAccount": self.core.create_namespaced_service_account,
            "ConfigMap": self.core.create_namespaced_config_map,
        }
        self._count("create", kind.lower())
        resp: Any = await self._call(creators[kind], namespace, body, _preload_content=False)
        return _raw(resp)

    async def delete_pod(self, namespace: str, name: str, uid: str | None = None) -> None:
        self._count("delete", "pod")
        options = client.V1DeleteOptions(
            preconditions=client.V1Preconditions(uid=uid) if uid else None
        )
        await self._call(
            self.core.delete_namespaced_pod, name, namespace, body=options, _preload_content=False
        )

    async def patch_pod_metadata(self, namespace: str, name: str, meta: dict[str, Any]) -> None:
        self._count("patch", "pod")
        await self._call(
            self.core.patch_namespaced_pod,
            name,
            namespace,
            {"metadata": meta},
            _preload_content=False,
        )

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        """The Secret's data (base64 values as stored), or None when it does not exist."""
        try:
            resp = await self._call(
                self.core.read_namespaced_secret, name, namespace, _preload_content=False
            )
        except NotFound:
            return None
        data: dict[str, str] = _raw(resp).get("data") or {}
        return data

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
        meta = involved
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
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
        self._count("create", "event")
        await self._call(
            self.core.create_namespaced_event, meta["namespace"], body, _preload_content=False
        )
