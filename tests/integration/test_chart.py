"""The Helm chart in deploy/chart renders the kustomize base's objects, and the API server
accepts them (server-side apply, dry run); so do the autoscaling examples.

helm is the pinned build from Go modules (`devenv/helmbin.py`, built by `make setup`). The
kustomize side is read by a small loader of the features deploy/ uses (resources, images,
configMapGenerator), checked against `kubectl kustomize` when kubectl is on PATH.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from claude_pool.devenv.helmbin import ensure_helm

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "chart"
SYSTEM = "claude-pool-system"
HELM_ONLY_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance")
Doc = dict[str, Any]

pytestmark = pytest.mark.timeout(900)  # the first run builds helm (a few minutes, then cached)


def kustomize(directory: Path) -> list[Doc]:
    """The objects of a kustomization (resources, images newTag, configMapGenerator)."""
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text()) if (
        directory / "kustomization.yaml").exists() else yaml.safe_load(
        (directory / "Kustomization").read_text())  # fmt: skip
    docs: list[Doc] = []
    for entry in spec.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            docs += kustomize(path)
        else:
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    for image in spec.get("images", []):
        for doc in docs:
            for container in _containers(doc):
                if container["image"].split(":")[0] == image["name"]:
                    container["image"] = f"{image['name']}:{image['newTag']}"
    for generator in spec.get("configMapGenerator", []):
        data = {}
        for item in generator.get("files", []):
            key, _, name = item.partition("=")
            data[key] = (directory / name).read_text()
        metadata = {"name": generator["name"], "labels": generator.get("options", {}).get("labels")}
        if generator.get("namespace"):
            metadata["namespace"] = generator["namespace"]
        docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data})
    return docs


def _containers(doc: Doc) -> list[Doc]:
    if doc.get("kind") != "Deployment":
        return []
    containers: list[Doc] = doc["spec"]["template"]["spec"]["containers"]
    return containers


def helm(*args: str) -> list[Doc]:
    proc = subprocess.run(
        [str(ensure_helm()), "template", "claude-pool", str(CHART), "--include-crds", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def normalized(docs: list[Doc]) -> dict[tuple[str, str, str, str], Doc]:
    """Objects by (apiVersion, kind, namespace, name), without Helm's bookkeeping labels."""
    out = {}
    for doc in docs:
        doc = copy.deepcopy(doc)
        labels = doc["metadata"].get("labels") or {}
        for key in HELM_ONLY_LABELS:
            labels.pop(key, None)
        meta = doc["metadata"]
        out[(doc["apiVersion"], doc["kind"], meta.get("namespace", ""), meta["name"])] = doc
    return out


def assert_same(chart: list[Doc], base: list[Doc]) -> None:
    ours, theirs = normalized(chart), normalized(base)
    assert sorted(ours) == sorted(theirs)
    for key, doc in theirs.items():
        assert ours[key] == doc, f"{key} differs"


def test_the_loader_reads_deploy_like_kubectl_kustomize() -> None:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not on PATH: the loader is not cross-checked")
    for directory in (DEPLOY, DEPLOY / "monitoring"):
        out = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True,
                             text=True, timeout=60, check=True).stdout  # fmt: skip
        assert_same([d for d in yaml.safe_load_all(out) if d], kustomize(directory))


def test_the_chart_renders_the_kustomize_base() -> None:
    defaults = helm("--namespace", SYSTEM, "--set", "namespace.create=true")
    assert_same(defaults, kustomize(DEPLOY))
    everything = helm(
        "--namespace", SYSTEM, "--set", "namespace.create=true",
        "--set", "metrics.serviceMonitor.enabled=true", "--set", "grafana.dashboard.enabled=true",
    )  # fmt: skip
    assert_same(everything, kustomize(DEPLOY) + kustomize(DEPLOY / "monitoring"))
    board = next(d for d in everything if d["kind"] == "ConfigMap")
    assert json.loads(board["data"]["claude-pool.json"])["uid"] == "claude-pool"


def test_chart_values_change_what_they_say() -> None:
    docs = helm(
        "--namespace", "ops", "--set", "image.tag=9.9.9", "--set", "slotImage=reg/slot:2",
        "--set", "operator.watchNamespaces={team-a,team-b}",
        "--set", "networkPolicy.namespaces={team-a,team-b}", "--set", "metrics.port=9100",
    )  # fmt: skip
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert container["image"] == "ghcr.io/claude-pool/operator:9.9.9"
    assert env["CLAUDE_POOL_SLOT_IMAGE"] == "reg/slot:2"
    assert json.loads(env["CLAUDE_POOL_NAMESPACES"]) == ["team-a", "team-b"]
    assert env["CLAUDE_POOL_METRICS_PORT"] == "9100"
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    assert sorted(p["metadata"]["namespace"] for p in policies) == ["team-a", "team-b"]
    source = policies[0]["spec"]["ingress"][0]["from"][0]["namespaceSelector"]["matchLabels"]
    assert source == {"kubernetes.io/metadata.name": "ops"}
    assert not [d for d in docs if d["kind"] == "Namespace"]


def _plural(kind: str) -> str:
    lower = kind.lower()
    return lower[:-1] + "ies" if lower.endswith("y") else lower + "s"


def dry_run_apply(api: client.ApiClient, doc: Doc) -> None:
    """Server-side apply with dryRun=All: the API server validates and admits, stores nothing."""
    group_version = doc["apiVersion"]
    base = f"/api/{group_version}" if "/" not in group_version else f"/apis/{group_version}"
    namespace = doc["metadata"].get("namespace")
    path = base + (f"/namespaces/{namespace}" if namespace else "")
    path += f"/{_plural(doc['kind'])}/{doc['metadata']['name']}"
    _apply(api, path, doc)


def _apply(api: client.ApiClient, path: str, doc: Doc) -> None:
    serialized = api.param_serialize(
        "PATCH", path,
        query_params=[("dryRun", "All"), ("fieldManager", "chart-test"), ("force", "true")],
        header_params={"Content-Type": "application/apply-patch+yaml",
                       "Accept": "application/json"},
        body=doc, auth_settings=["BearerToken"],
    )  # fmt: skip
    response = api.call_api(*serialized[:4], _request_timeout=30)
    body = response.read()
    assert response.status < 300, f"{doc['kind']}/{doc['metadata']['name']}: {body[:800]!r}"


def test_the_api_server_accepts_the_chart_and_the_autoscaling_example(
    api_client: client.ApiClient, namespace: str
) -> None:
    docs = helm("--namespace", namespace, "--set", "grafana.dashboard.enabled=true",
                "--set", f"networkPolicy.namespaces={{{namespace}}}")  # fmt: skip
    kinds = sorted({d["kind"] for d in docs})
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "ConfigMap", "CustomResourceDefinition",
                     "Deployment", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding",
                     "NetworkPolicy", "Service", "ServiceAccount", "ValidatingAdmissionPolicy",
                     "ValidatingAdmissionPolicyBinding"]  # fmt: skip
    for doc in docs:
        dry_run_apply(api_client, doc)
    hpa = yaml.safe_load((DEPLOY / "autoscaling" / "hpa.yaml").read_text())
    hpa["metadata"]["namespace"] = namespace
    dry_run_apply(api_client, hpa)
