"""Prepare a fresh control plane for claude-pool: install the CRDs and mark the cluster.

Called by the integration test fixtures and by `make dev`. The marker (a ConfigMap in
kube-system holding the control plane's random id) is what the test guard checks before it
lets tests touch a cluster: a cluster without the right marker was not started by the suite.
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

MARKER_NAMESPACE = "kube-system"
MARKER_NAME = "claude-pool-test-cluster"
CRD_DIR = Path(__file__).resolve().parents[3] / "crds"


def install_crds(
    api: client.ApiClient, directory: Path = CRD_DIR, timeout: float = 60
) -> list[str]:
    """Create or replace every CRD in `directory` and wait until each is Established."""
    ext = client.ApiextensionsV1Api(api)
    names: list[str] = []
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            name = doc["metadata"]["name"]
            try:
                current = ext.read_custom_resource_definition(name)
                assert current.metadata is not None
                doc["metadata"]["resourceVersion"] = current.metadata.resource_version
                ext.replace_custom_resource_definition(name, doc)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                ext.create_custom_resource_definition(doc)
            names.append(name)
    deadline = time.monotonic() + timeout
    pending = set(names)
    while pending:
        for name in list(pending):
            crd = ext.read_custom_resource_definition(name)
            status = crd.status
            conds = {c.type: c.status for c in (status.conditions if status else None) or []}
            if conds.get("Established") == "True" and conds.get("NamesAccepted") == "True":
                pending.discard(name)
        if pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRDs not established after {timeout}s: {sorted(pending)}")
            time.sleep(0.2)
    return names


def mark_cluster(api: client.ApiClient, cluster_id: str) -> None:
    """Record the control plane's id in the cluster so the test guard can recognise it."""
    body = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=MARKER_NAME), data={"id": cluster_id}
    )
    client.CoreV1Api(api).create_namespaced_config_map(MARKER_NAMESPACE, body)


def read_marker(api: client.ApiClient) -> str | None:
    try:
        cm = client.CoreV1Api(api).read_namespaced_config_map(MARKER_NAME, MARKER_NAMESPACE)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    data: dict[str, str] = cm.data or {}
    return data.get("id")
