"""The kustomize base in deploy/: one Recreate replica, least-privilege RBAC, hardened pod.

Static checks on the YAML (deploy/ and crds/), plus a `kubectl kustomize` render when kubectl
is on PATH. `OPERATOR_ACCESS` mirrors what the operator's code calls: kube/client.py (the
workers' writes and reads) and kopf's watches (controllers/handlers.py) and scanning. Adding a
call there without adding it here and to deploy/rbac.yaml fails this test, and so does a
grant nobody uses.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from claude_pool.slots.pods import AGENT_PORT, MANAGED_BY

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CRDS = ROOT / "crds"

OPERATOR_ACCESS: dict[tuple[str, str], set[str]] = {
    # kopf watches (list, watch); Kube.get_custom (get); kopf's finalizer/annotation upkeep (patch)
    ("claudepool.io", "claudepools"): {"get", "list", "watch", "patch"},
    # Kube.create_custom (a composite's children), Kube.patch_custom (their spec.cancel),
    # Kube.delete_custom (ttlSecondsAfterFinished)
    ("claudepool.io", "claudetasks"): {"get", "list", "watch", "patch", "create", "delete"},
    # Kube.patch_status
    ("claudepool.io", "claudepools/status"): {"patch"},
    ("claudepool.io", "claudetasks/status"): {"patch"},
    # kopf watches of reviews and messages (list, watch); Kube.patch_status of their status
    ("claudepool.io", "claudereviews"): {"list", "watch"},
    ("claudepool.io", "claudemessages"): {"list", "watch"},
    ("claudepool.io", "claudereviews/status"): {"patch"},
    ("claudepool.io", "claudemessages/status"): {"patch"},
    # kopf watch of slot pods; Kube.create, Kube.delete_pod, Kube.patch_pod_metadata
    ("", "pods"): {"get", "list", "watch", "create", "delete", "patch"},
    # Kube.read_secret (agent token, credentials check), Kube.create (agent token),
    # Kube.read_config_key (spec.promptFrom)
    ("", "secrets"): {"get", "create"},
    # Kube.create: the slots' ServiceAccount, the output ConfigMap, Kube.event (+ kopf's events);
    # Kube.read_config_key (spec.promptFrom)
    ("", "serviceaccounts"): {"create"},
    # Kube.create of a slot index's workspace claim (slots.workspaces)
    ("", "persistentvolumeclaims"): {"create"},
    ("", "configmaps"): {"get", "create"},
    ("", "events"): {"create"},
    # kopf: cluster-wide namespace tracking and CRD scanning
    ("", "namespaces"): {"list", "watch"},
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"get", "list", "watch"},
}


def documents(directory: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(directory.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path, doc


def the(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [
        doc
        for _, doc in documents(DEPLOY)
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected exactly one {kind} {name or ''} in deploy/: {len(found)}"
    return found[0]


OPERATOR_ROLE = "claude-pool-operator"
REVIEWER_ROLE = "claude-pool-reviewer"


def operator_container() -> dict[str, Any]:
    containers: list[dict[str, Any]] = the("Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def test_every_yaml_in_deploy_and_crds_parses_as_kubernetes_objects() -> None:
    for directory in (DEPLOY, CRDS):
        docs = list(documents(directory))
        assert docs, f"{directory} is empty"
        for path, doc in docs:
            assert {"apiVersion", "kind"} <= doc.keys(), path
            if doc["kind"] != "Kustomization":
                assert doc["metadata"]["name"], path


def test_the_kustomization_lists_every_file_and_the_crds() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    resources = kustomization["resources"]
    files = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert files <= set(resources), f"not listed: {files - set(resources)}"
    assert "../crds" in resources
    for entry in resources:
        assert (DEPLOY / entry).exists(), entry


def test_the_crds_kustomization_lists_every_generated_crd() -> None:
    kustomization = yaml.safe_load((CRDS / "Kustomization").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in CRDS.glob("*.yaml"))


def test_the_operator_runs_as_one_replica_recreated_never_two_at_once() -> None:
    spec = the("Deployment")["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"]["type"] == "Recreate"


def test_the_operator_container_is_non_root_with_a_read_only_root_filesystem() -> None:
    pod = the("Deployment")["spec"]["template"]["spec"]
    container = operator_container()
    security = container["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert "/tmp" in mounts  # an emptyDir: the only writable path


def test_the_probes_use_the_kopf_liveness_endpoint_and_metrics_are_exposed() -> None:
    container = operator_container()
    env = {e["name"]: e.get("value") for e in container["env"]}
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert env["CLAUDE_POOL_HEALTH_PORT"] == "8080" and ports["health"] == 8080
    assert env["CLAUDE_POOL_METRICS_PORT"] == "8000" and ports["metrics"] == 8000
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["command"] == ["python", "-m", "claude_pool", "operator"]
    assert (
        the("Deployment")["spec"]["template"]["spec"]["serviceAccountName"]
        == (the("ServiceAccount")["metadata"]["name"])
    )


def granted() -> dict[tuple[str, str], set[str]]:
    access: dict[tuple[str, str], set[str]] = {}
    for rule in the("ClusterRole", OPERATOR_ROLE)["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                access.setdefault((group, resource), set()).update(rule["verbs"])
    return access


def test_the_cluster_role_grants_exactly_what_the_operator_uses_and_no_wildcard() -> None:
    for rule in the("ClusterRole", OPERATOR_ROLE)["rules"]:
        for key in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[key], rule
        assert "resourceNames" not in rule and "nonResourceURLs" not in rule, rule
    access = granted()
    missing = {k: v - access.get(k, set()) for k, v in OPERATOR_ACCESS.items()}
    assert not {k: v for k, v in missing.items() if v}, f"not granted: {missing}"
    extra = {k: v - OPERATOR_ACCESS.get(k, set()) for k, v in access.items()}
    assert not {k: v for k, v in extra.items() if v}, f"granted but unused: {extra}"


def test_the_binding_gives_the_role_to_the_operators_service_account() -> None:
    binding = the("ClusterRoleBinding")
    account = the("ServiceAccount")["metadata"]
    assert binding["roleRef"]["name"] == OPERATOR_ROLE
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    ]
    assert account["namespace"] == the("Namespace")["metadata"]["name"]


def test_reviewers_may_create_reviews_and_read_tasks_and_nothing_else() -> None:
    access: dict[tuple[str, str], set[str]] = {}
    for rule in the("ClusterRole", REVIEWER_ROLE)["rules"]:
        for resource in rule["resources"]:
            access.setdefault((rule["apiGroups"][0], resource), set()).update(rule["verbs"])
    assert access == {
        ("claudepool.io", "claudereviews"): {"create", "get", "list", "watch"},
        ("claudepool.io", "claudetasks"): {"get", "list", "watch"},
    }


def test_every_admission_policy_is_bound_denies_and_fails_closed() -> None:
    for kind, binding_kind in (
        ("MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"),
        ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"),
    ):
        policies = [doc for _, doc in documents(DEPLOY) if doc["kind"] == kind]
        bindings = [doc for _, doc in documents(DEPLOY) if doc["kind"] == binding_kind]
        assert sorted(p["metadata"]["name"] for p in policies) == sorted(
            b["spec"]["policyName"] for b in bindings
        )
        for policy in policies:
            assert policy["apiVersion"] == "admissionregistration.k8s.io/v1"
            assert policy["spec"]["failurePolicy"] == "Fail"
        for binding in bindings:
            if kind == "ValidatingAdmissionPolicy":
                assert binding["spec"]["validationActions"] == ["Deny"]


def test_reviewers_and_creators_are_stamped_from_the_authenticated_user() -> None:
    stamp = the("MutatingAdmissionPolicy", "claude-pool-stamp-reviewer")["spec"]
    assert stamp["matchConstraints"]["resourceRules"][0]["resources"] == ["claudereviews"]
    assert "request.userInfo.username" in stamp["mutations"][0]["jsonPatch"]["expression"]
    check = the("ValidatingAdmissionPolicy", "claude-pool-reviewer-is-the-requester")["spec"]
    assert check["validations"][0]["expression"] == (
        "object.spec.reviewer == request.userInfo.username"
    )
    creator = the("ValidatingAdmissionPolicy", "claude-pool-created-by-is-the-creator")["spec"]
    rules = creator["matchConstraints"]["resourceRules"][0]
    assert (rules["resources"], rules["operations"]) == (
        ["claudetasks", "claudemessages"],
        ["CREATE", "UPDATE"],
    )


def test_slot_pods_accept_only_the_operator_on_the_agent_port() -> None:
    policy = the("NetworkPolicy")["spec"]
    assert policy["podSelector"]["matchLabels"] == MANAGED_BY
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    [ingress] = policy["ingress"]
    assert ingress["ports"] == [{"protocol": "TCP", "port": AGENT_PORT}]
    [peer] = ingress["from"]
    operator_labels = the("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert peer["podSelector"]["matchLabels"].items() <= operator_labels.items()
    namespace = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
    assert namespace == the("Namespace")["metadata"]["name"]
    egress_ports = {(p["protocol"], p["port"]) for rule in policy["egress"] for p in rule["ports"]}
    assert egress_ports == {("UDP", 53), ("TCP", 53), ("TCP", 443)}


def test_the_base_renders_with_kubectl_kustomize(tmp_path: Path) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not on PATH: the render check needs `kubectl kustomize`")
    # Rendered from a copy: kustomize reads ../crds only through a Kustomization file in it,
    # which the copy gets when the repository's crds/ has none.
    shutil.copytree(DEPLOY, tmp_path / "deploy")
    shutil.copytree(CRDS, tmp_path / "crds")
    crds_kustomization = tmp_path / "crds" / "Kustomization"
    if not crds_kustomization.exists():
        names = sorted(p.name for p in CRDS.glob("*.yaml"))
        crds_kustomization.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "kustomize.config.k8s.io/v1beta1",
                    "kind": "Kustomization",
                    "resources": names,
                }
            )
        )
    done = subprocess.run(
        [kubectl, "kustomize", str(tmp_path / "deploy")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    kinds = sorted(doc["kind"] for doc in yaml.safe_load_all(done.stdout) if doc)
    assert kinds == sorted(
        [
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "CustomResourceDefinition",
            "Namespace",
            "Service",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRole",
            "ClusterRoleBinding",
            "MutatingAdmissionPolicy",
            "MutatingAdmissionPolicy",
            "MutatingAdmissionPolicyBinding",
            "MutatingAdmissionPolicyBinding",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
            "ValidatingAdmissionPolicyBinding",
            "Deployment",
            "NetworkPolicy",
        ]
    )
