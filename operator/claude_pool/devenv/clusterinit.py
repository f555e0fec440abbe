"""Prepare a fresh control plane for claude-pool: CRDs, admission policies, marker.

Called by the integration test fixtures and by `make dev`. `install_admission` installs
deploy/admission.yaml (the policies that stamp and check reviewers and creators) and the
`claude-pool-reviewer` ClusterRole of deploy/rbac.yaml, then waits until the apiserver
enforces them (policies take effect a moment after they are created). The marker (a ConfigMap in
kube-system holding the control plane's random id) is what the test guard checks before it
lets tests touch a cluster: a cluster without the right marker was not started by the suite.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from claude_pool.api.common import API_VERSION, CREATED_BY_ANNOTATION, GROUP, VERSION

MARKER_NAMESPACE = "kube-system"
MARKER_NAME = "claude-pool-test-cluster"
CRD_DIR = Path(__file__).resolve().parents[3] / "crds"
DEPLOY_DIR = CRD_DIR.parent / "deploy"
REVIEWER_ROLE = "claude-pool-reviewer"
PROBE_NAMESPACE = "default"
PROBE_TASK = "claude-pool-admission-probe"


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


def _admission_objects(directory: Path) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all((directory / "admission.yaml").read_text()) if d]
    roles = [
        d
        for d in yaml.safe_load_all((directory / "rbac.yaml").read_text())
        if d and d["kind"] == "ClusterRole" and d["metadata"]["name"] == REVIEWER_ROLE
    ]
    return [*docs, *roles]


def install_admission(
    api: client.ApiClient, directory: Path = DEPLOY_DIR, timeout: float = 60
) -> list[str]:
    """Create the admission policies, their bindings and the reviewer ClusterRole; wait
    until both the mutating and the validating policies act on requests."""
    admission = client.AdmissionregistrationV1Api(api)
    create: dict[str, Callable[..., object]] = {
        "MutatingAdmissionPolicy": admission.create_mutating_admission_policy,
        "MutatingAdmissionPolicyBinding": admission.create_mutating_admission_policy_binding,
        "ValidatingAdmissionPolicy": admission.create_validating_admission_policy,
        "ValidatingAdmissionPolicyBinding": admission.create_validating_admission_policy_binding,
        "ClusterRole": client.RbacAuthorizationV1Api(api).create_cluster_role,
    }
    names = []
    for doc in _admission_objects(directory):
        try:
            create[doc["kind"]](doc)
        except ApiException as exc:
            if exc.status != 409:
                raise
        names.append(f"{doc['kind']}/{doc['metadata']['name']}")
    _wait_for_policies(api, timeout)
    return names


def _wait_for_policies(api: client.ApiClient, timeout: float) -> None:
    """Probe with a task in `default` until a dry-run create comes back stamped with the
    admin's name (mutating policy) and a dry-run change of that stamp is refused
    (validating policy). Creating the task itself may first answer 503 while the CRD is
    being served."""
    objects = client.CustomObjectsApi(api)
    deadline = time.monotonic() + timeout
    created = False
    try:
        while True:
            try:
                created = created or _probe_stamped(objects, create=True)
                if created and _probe_forgery_refused(objects):
                    return
            except ApiException as exc:
                if exc.status not in (404, 503):
                    raise
            if time.monotonic() > deadline:
                raise TimeoutError(f"admission policies not enforced after {timeout}s")
            time.sleep(0.2)
    finally:
        if created:
            objects.delete_namespaced_custom_object(
                GROUP, VERSION, PROBE_NAMESPACE, _TASKS, PROBE_TASK
            )


_TASKS = "claudetasks"
_PROBE = {
    "apiVersion": API_VERSION,
    "kind": "ClaudeTask",
    "metadata": {"name": PROBE_TASK, "annotations": {CREATED_BY_ANNOTATION: "nobody"}},
    "spec": {"poolRef": {"name": "none"}, "prompt": "probe"},
}


def _probe_stamped(objects: client.CustomObjectsApi, *, create: bool) -> bool:
    """Whether the mutating policy stamps the creator; if so (and `create`), create the
    probe task for real."""
    probe = cast(
        dict[str, Any],
        objects.create_namespaced_custom_object(
            GROUP, VERSION, PROBE_NAMESPACE, _TASKS, _PROBE, dry_run="All"
        ),
    )
    if probe["metadata"]["annotations"][CREATED_BY_ANNOTATION] == "nobody":
        return False
    if create:
        objects.create_namespaced_custom_object(GROUP, VERSION, PROBE_NAMESPACE, _TASKS, _PROBE)
    return True


def _probe_forgery_refused(objects: client.CustomObjectsApi) -> bool:
    """Whether the validating policy refuses changing the probe task's stamp."""
    forged = {"metadata": {"annotations": {CREATED_BY_ANNOTATION: "someone-else"}}}
    try:
        objects.patch_namespaced_custom_object(
            GROUP, VERSION, PROBE_NAMESPACE, _TASKS, PROBE_TASK, forged, dry_run="All"
        )
    except ApiException as exc:
        if exc.status in (403, 422):
            return True
        raise
    return False
