"""The suite's own control plane: real components, garbage collection, clean shutdown, guard."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from claude_pool.devenv.controlplane import ControlPlane
from tests.helpers import eventually

ROOT = Path(__file__).resolve().parents[2]


def test_the_apiserver_reports_the_pinned_kubernetes_version(api_client: client.ApiClient) -> None:
    info = client.VersionApi(api_client).get_code()
    assert info.git_version == "v1.36.3"


def test_deleting_an_owner_garbage_collects_what_it_owns(
    api_client: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(api_client)
    owner = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner"))
    )
    ref = client.V1OwnerReference(
        api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid
    )
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owned", owner_references=[ref])),
    )
    core.delete_namespaced_config_map("owner", namespace)

    def owned_is_gone() -> bool:
        try:
            core.read_namespaced_config_map("owned", namespace)
        except ApiException as exc:
            return exc.status == 404
        return False

    eventually(owned_is_gone, timeout=60, what="the garbage collector removes 'owned'")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


@pytest.mark.timeout(120)
def test_stopping_a_control_plane_leaves_no_process_behind(tmp_path: Path) -> None:
    cp = ControlPlane.create(tmp_path / "cp", with_controller_manager=False).start()
    pids = cp.pids()
    assert set(pids) == {"etcd", "kube-apiserver"}
    assert all(_alive(pid) for pid in pids.values())
    cp.stop()
    eventually(lambda: not any(_alive(p) for p in pids.values()), timeout=20, what="no processes")


@pytest.mark.timeout(120)
def test_the_guard_refuses_a_cluster_the_suite_did_not_start(tmp_path: Path) -> None:
    env = {**os.environ, "CLAUDE_POOL_TEST_KUBECONFIG": str(tmp_path / "someone-elses")}
    env.pop("CLAUDE_POOL_TEST_ALLOW_FOREIGN_CLUSTER", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/integration/test_controlplane.py::test_the_apiserver_reports_the_pinned_kubernetes_version",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "refusing to run integration tests" in proc.stdout + proc.stderr
