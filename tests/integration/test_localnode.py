"""The local node plays kubelet: binds pods, runs them on their own loopback IP, reports status."""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from claude_pool.devenv.localnode import LocalNode
from tests.helpers import eventually


@pytest.fixture
def node(api_client: client.ApiClient, namespace: str, tmp_path: Path) -> Iterator[LocalNode]:
    with LocalNode(api_client, tmp_path / "node", namespaces={namespace}) as n:
        yield n


def http_pod(name: str, *, secret: str | None = None) -> dict[str, Any]:
    env: list[dict[str, Any]] = [
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "SERVE_DIR", "value": "/data"},
    ]
    if secret:
        env.append(
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": "token"}}}
        )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "terminationGracePeriodSeconds": 2,
            "containers": [
                {
                    "name": "web",
                    "image": "python:3.11",
                    "command": ["python", "-m", "http.server", "8080"],
                    "args": ["--bind", "$(POD_IP)", "--directory", "$(SERVE_DIR)"],
                    "env": env,
                    "ports": [{"containerPort": 8080}],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                    "readinessProbe": {"httpGet": {"path": "/", "port": 8080}},
                }
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
        },
    }


def ready_pod(core: client.CoreV1Api, namespace: str, name: str) -> Any:
    pod = core.read_namespaced_pod(name, namespace)
    conds = {c.type: c.status for c in (pod.status.conditions or [])}
    return pod if conds.get("Ready") == "True" else None


def test_a_pod_runs_as_a_local_process_on_its_own_loopback_ip(
    api_client: client.ApiClient, namespace: str, node: LocalNode
) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_pod(namespace, http_pod("web"))
    pod = eventually(lambda: ready_pod(core, namespace, "web"), timeout=30, what="pod Ready")
    assert pod.spec.node_name == "local-node"
    assert pod.status.phase == "Running"
    assert pod.status.pod_ip.startswith("127.") and pod.status.pod_ip != "127.0.0.1"
    run = node.run_of(namespace, "web")
    assert run is not None and run.spec is not None
    (run.spec.volumes["data"] / "hello.txt").write_text("from the volume")
    with urllib.request.urlopen(f"http://{pod.status.pod_ip}:8080/hello.txt", timeout=5) as r:
        assert r.read() == b"from the volume"


def test_a_crashed_container_is_restarted_and_counted(
    api_client: client.ApiClient, namespace: str, node: LocalNode
) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_pod(namespace, http_pod("crashy"))
    eventually(lambda: ready_pod(core, namespace, "crashy"), timeout=30, what="pod Ready")
    run = node.run_of(namespace, "crashy")
    assert run is not None and run.proc is not None
    run.proc.kill()

    def restarted() -> bool:
        pod = ready_pod(core, namespace, "crashy")
        return pod is not None and pod.status.container_statuses[0].restart_count == 1

    eventually(restarted, timeout=30, what="a restart")
    status = core.read_namespaced_pod(name="crashy", namespace=namespace).status
    assert status.container_statuses[0].last_state.terminated.exit_code == 137


def test_a_missing_secret_keeps_the_container_waiting_with_a_reason(
    api_client: client.ApiClient, namespace: str, node: LocalNode
) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_pod(namespace, http_pod("needs-secret", secret="absent"))

    def waiting_reason() -> str | None:
        statuses = core.read_namespaced_pod("needs-secret", namespace).status.container_statuses
        waiting = statuses[0].state.waiting if statuses else None
        return waiting.reason if waiting else None

    reason = eventually(waiting_reason, timeout=30, what="a waiting reason")
    assert reason == "CreateContainerConfigError"
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="absent"), string_data={"token": "x"}),
    )
    eventually(lambda: ready_pod(core, namespace, "needs-secret"), timeout=30, what="Ready")


def test_deleting_a_pod_stops_its_process_and_removes_it(
    api_client: client.ApiClient, namespace: str, node: LocalNode
) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespaced_pod(namespace, http_pod("doomed"))
    eventually(lambda: ready_pod(core, namespace, "doomed"), timeout=30, what="pod Ready")
    run = node.run_of(namespace, "doomed")
    assert run is not None and run.proc is not None
    proc = run.proc
    core.delete_namespaced_pod("doomed", namespace)

    def gone() -> bool:
        try:
            core.read_namespaced_pod("doomed", namespace)
        except ApiException as exc:
            return exc.status == 404
        return False

    eventually(gone, timeout=30, what="the pod object removed")
    assert proc.poll() is not None


@pytest.mark.skipif(os.geteuid() != 0, reason="only a node running as root can switch users")
def test_as_root_a_pod_runs_as_its_run_as_user_and_cannot_read_the_admin_kubeconfig(
    api_client: client.ApiClient, namespace: str, node: LocalNode, kubeconfig: Path
) -> None:
    # the kubeconfig as `make dev` leaves it: mode 600 in a directory anyone may traverse,
    # beside a file anyone may read (so a denial is the file's mode, not the path's)
    shared = Path(tempfile.mkdtemp(prefix="claude-pool-test-"))
    try:
        shared.chmod(0o711)
        admin = shared / "kubeconfig"
        admin.write_bytes(kubeconfig.read_bytes())
        admin.chmod(0o600)
        public = shared / "public.txt"
        public.write_text("anyone")
        public.chmod(0o644)
        run = _run_probe_pod(api_client, namespace, node, admin, public)
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    assert run.proc is not None and run.spec is not None
    status = Path(f"/proc/{run.proc.pid}/status").read_text()
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    assert uid_line.split()[1:] == ["10001"] * 4
    written = run.spec.volumes["data"] / "mine.txt"
    assert written.stat().st_uid == 10001
    log = (run.root / "container.log").read_text()
    assert "public: readable" in log, log
    assert "kubeconfig: denied" in log, log


PROBE = """
import os, pathlib
for label, name in (("public", "PUBLIC_PATH"), ("kubeconfig", "KUBECONFIG_PATH")):
    try:
        pathlib.Path(os.environ[name]).read_text()
        print(f"{label}: readable", flush=True)
    except PermissionError:
        print(f"{label}: denied", flush=True)
pathlib.Path(os.environ["SERVE_DIR"], "mine.txt").write_text("written by the pod")
import http.server
http.server.test(HandlerClass=http.server.SimpleHTTPRequestHandler, port=8080,
                 bind=os.environ["POD_IP"])
"""


def _run_probe_pod(
    api_client: client.ApiClient, namespace: str, node: LocalNode, admin: Path, public: Path
) -> Any:
    core = client.CoreV1Api(api_client)
    manifest = http_pod("unprivileged")
    manifest["spec"]["securityContext"] = {"runAsUser": 10001, "runAsGroup": 10001}
    container = manifest["spec"]["containers"][0]
    container["command"], container["args"] = ["python", "-c", PROBE], []
    container["env"] += [
        {"name": "KUBECONFIG_PATH", "value": str(admin)},
        {"name": "PUBLIC_PATH", "value": str(public)},
    ]
    core.create_namespaced_pod(namespace, manifest)
    eventually(lambda: ready_pod(core, namespace, "unprivileged"), timeout=30, what="Ready")
    run = node.run_of(namespace, "unprivileged")
    assert run is not None
    return run
