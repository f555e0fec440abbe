"""The SDK's door to the Kubernetes API: a user's kubeconfig, CRUD, scale, watches, logs.

Called by `claude_pool.sdk` (and through it the CLI and the MCP server). Built on the
operator's `Kube` (same thread pool, same request layer, same error classes); adds what a
user-side client needs: connecting with a kubeconfig context and its default namespace,
list/create/patch/delete of custom resources, the scale subresource, a ConfigMap's data,
and two streams, watch events and pod logs (`streams.py`). Transport failures (refused
connection, TLS, DNS) become `Unreachable`.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client, config

from claude_pool.kube.client import Kube, NotFound, core_path, custom_path
from claude_pool.kube.streams import Unreachable, WatchEvent, stream_lines, watch_events

DEFAULT_NAMESPACE = "default"
JSON = "application/json"
MERGE = "application/merge-patch+json"


class NoConfiguration(Exception):
    """No usable kubeconfig (file missing, unknown context) and not in a cluster."""


@dataclass(frozen=True)
class Connection:
    """Where a user's kubeconfig points: the API client and the namespace to default to."""

    kube: Kube
    namespace: str
    context: str | None


def connect(kubeconfig: str | None = None, context: str | None = None) -> Connection:
    """Load a kubeconfig (file, $KUBECONFIG, ~/.kube/config) or the in-cluster account."""
    cfg = client.Configuration()
    namespace = DEFAULT_NAMESPACE
    active: str | None = None
    try:
        if kubeconfig is None and context is None and _in_cluster():
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]  # untyped
            namespace = _in_cluster_namespace()
        else:
            contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)  # type: ignore[no-untyped-call]  # untyped
            chosen = current
            if context is not None:
                chosen = next((c for c in contexts if c["name"] == context), None)
                if chosen is None:
                    names = ", ".join(c["name"] for c in contexts)
                    raise NoConfiguration(f"context {context!r} not in the kubeconfig ({names})")
            active = chosen["name"]
            namespace = chosen.get("context", {}).get("namespace") or DEFAULT_NAMESPACE
            config.load_kube_config(  # type: ignore[no-untyped-call]  # untyped
                config_file=kubeconfig, context=active, client_configuration=cfg
            )
    except config.ConfigException as error:
        raise NoConfiguration(f"no usable kubeconfig: {error}") from None
    except OSError as error:
        raise NoConfiguration(f"cannot read the kubeconfig: {error}") from None
    cfg.retries = 1  # a refused connection fails fast instead of three urllib3 retries
    return Connection(Kube(client.ApiClient(cfg), workers=8), namespace, active)


_SA = "/var/run/secrets/kubernetes.io/serviceaccount"


def _in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and not os.environ.get("KUBECONFIG")


def _in_cluster_namespace() -> str:
    try:
        with open(f"{_SA}/namespace", encoding="utf-8") as handle:
            return handle.read().strip() or DEFAULT_NAMESPACE
    except OSError:
        return DEFAULT_NAMESPACE


def _query(path: str, params: dict[str, str | int | bool | None]) -> str:
    pairs = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
    given = {k: v for k, v in pairs.items() if v != "None"}
    return f"{path}?{urllib.parse.urlencode(given)}" if given else path


class ClusterDoor:
    """What the SDK may do on the cluster, as async methods. JSON dicts in and out."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def close(self) -> None:
        self.kube.close()
        self.kube.api.close()  # type: ignore[no-untyped-call]  # untyped

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None, content_type: str = JSON
    ) -> dict[str, Any]:
        try:
            return await self.kube.request(method, path, body, content_type)
        except urllib3.exceptions.HTTPError as error:
            raise Unreachable(f"the API server is not reachable: {error}") from None

    # custom resources
    async def get(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        return await self._call("GET", custom_path(plural, namespace, name))

    async def list(
        self, plural: str, namespace: str, *, label_selector: str | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        """The objects and the list's resourceVersion (to watch from)."""
        path = _query(custom_path(plural, namespace), {"labelSelector": label_selector})
        body = await self._call("GET", path)
        items: list[dict[str, Any]] = body.get("items") or []
        return items, str((body.get("metadata") or {}).get("resourceVersion", ""))

    async def create(self, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", custom_path(plural, namespace), body)

    async def patch(
        self, plural: str, namespace: str, name: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """A JSON merge patch (a None value removes a map key)."""
        return await self._call("PATCH", custom_path(plural, namespace, name), body, MERGE)

    async def delete(self, plural: str, namespace: str, name: str) -> None:
        options = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        await self._call("DELETE", custom_path(plural, namespace, name), options)

    async def scale(self, plural: str, namespace: str, name: str, replicas: int) -> dict[str, Any]:
        """Set the replicas of the scale subresource (what `kubectl scale` does)."""
        body = {"spec": {"replicas": replicas}}
        return await self._call("PATCH", custom_path(plural, namespace, name, "scale"), body, MERGE)

    # core objects
    async def configmap_data(self, namespace: str, name: str) -> dict[str, str] | None:
        """A ConfigMap's data, or None when it does not exist."""
        try:
            body = await self._call("GET", core_path("ConfigMap", namespace, name))
        except NotFound:
            return None
        data: dict[str, str] = body.get("data") or {}
        return data

    # streams
    def watch(
        self,
        plural: str,
        namespace: str,
        *,
        resource_version: str,
        timeout_seconds: int,
        name: str | None = None,
        label_selector: str | None = None,
    ) -> AsyncIterator[WatchEvent]:
        """Watch events after `resource_version`; ends when the server closes the watch."""
        params: dict[str, str | int | bool | None] = {
            "watch": True,
            "resourceVersion": resource_version,
            "allowWatchBookmarks": True,
            "timeoutSeconds": max(1, timeout_seconds),
            "fieldSelector": f"metadata.name={name}" if name else None,
            "labelSelector": label_selector,
        }
        return watch_events(self.kube, _query(custom_path(plural, namespace), params))

    def pod_log(
        self, namespace: str, pod: str, *, container: str, follow: bool, since_seconds: int | None
    ) -> AsyncIterator[str]:
        """The lines of a pod's log (`kubectl logs [-f]`)."""
        path = core_path("Pod", namespace, pod) + "/log"
        params: dict[str, str | int | bool | None] = {
            "container": container,
            "follow": follow,
            "sinceSeconds": since_seconds,
        }
        return stream_lines(self.kube, _query(path, params))
