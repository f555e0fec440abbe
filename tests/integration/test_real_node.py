"""The real node tier (opt-in, `make e2e-node`): slot pods as containers on a real kubelet.

containerd + runc + a kubelet built from the apiserver's Kubernetes modules register as a
Node of the suite's control plane (`claude_pool.devenv.node`); the operator runs the slot
image (`make images`) there and talks to the pods over a CNI bridge. The whole tier runs in a
network namespace `make e2e-node` creates (`unshare --net`): the pods' namespaces, the bridge,
the node's address and the fake API's address exist only for this run. Skipped unless
`CLAUDE_POOL_E2E_NODE=1` (set by `make e2e-node`).
"""

from __future__ import annotations

import copy
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from claude_pool.devenv.fakeapi import FakeAnthropicThread
from claude_pool.devenv.node import RealNode, foreign_interfaces
from claude_pool.devenv.nodeconfig import NODE_IP
from tests.containers import ContainerImages
from tests.helpers import eventually, operator_process
from tests.integration.harness import Env
from tests.integration.test_examples import PLURALS, example_manifests

pytestmark = [pytest.mark.node, pytest.mark.timeout(300)]
OPT_IN = "CLAUDE_POOL_E2E_NODE"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def real_node(
    container_images: ContainerImages,
    _cluster: client.ApiClient,
    kubeconfig: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RealNode]:
    if os.environ.get(OPT_IN) != "1":
        pytest.skip(f"opt-in tier: `make e2e-node` (sets {OPT_IN}=1)")
    if foreign_interfaces():
        pytest.skip("the real node needs a private network namespace: run `make e2e-node`")
    root = tmp_path_factory.mktemp("realnode")
    engine = container_images.engine
    with RealNode(_cluster, kubeconfig, root, engine, [container_images.slot]) as node:
        yield node


@pytest.fixture(scope="module")
def node_fake_api(real_node: RealNode) -> Iterator[FakeAnthropicThread]:
    """The fake API on the node's address, which the pods reach through their gateway."""
    with FakeAnthropicThread(host=NODE_IP) as fake:
        yield fake


@pytest.fixture
def real_env(
    real_node: RealNode,
    node_fake_api: FakeAnthropicThread,
    container_images: ContainerImages,
    api_client: client.ApiClient,
    namespace: str,
    kubeconfig: Path,
    tmp_path: Path,
) -> Iterator[Env]:
    operator = operator_process(
        kubeconfig, namespace, tmp_path / "operator.log", slot_image=container_images.slot
    ).start()
    try:
        yield Env(api_client, namespace, node_fake_api, real_node, operator)
    finally:
        operator.stop()


def ready_seconds(pod: Any) -> float:
    ready = next(c for c in pod.status.conditions if c.type == "Ready")
    return float((ready.last_transition_time - pod.metadata.creation_timestamp).total_seconds())


def test_the_examples_succeed_on_real_pods_with_their_cost(real_env: Env) -> None:
    real_env.credentials()
    tasks = []
    for _, doc in example_manifests():
        body = copy.deepcopy(doc)
        body["metadata"]["namespace"] = real_env.namespace
        if body["kind"] == "ClaudePool":
            body["spec"].setdefault("credentials", {})["baseURL"] = real_env.fake.base_url
        else:
            tasks.append(body["metadata"]["name"])
        real_env._create(PLURALS[body["kind"]], body)
    for name in tasks:
        task = real_env.wait_phase(name, timeout=180)
        assert task["status"]["phase"] == "Succeeded", task["status"]
        assert task["status"]["costMicrodollars"] > 0
    pods = real_env.slot_pods("demo")
    assert pods and all(p.spec.node_name == real_env.node.name for p in pods)
    assert all(p.status.pod_ip.startswith("10.244.0.") for p in pods)
    print("pod create to Ready on the real node:", [ready_seconds(p) for p in pods])


def running_slot(env: Env, task: str) -> str | None:
    status = env.task(task).get("status") or {}
    slot: str | None = status.get("slot") if status.get("phase") == "Running" else None
    return slot


def test_scale_up_and_down_drains_a_busy_slot_on_real_pods(real_env: Env) -> None:
    real_env.create_pool(slots=2)
    real_env.wait_ready_slots(2, timeout=120)
    real_env.create_task("busy", prompt="busy [[fake stall=10]]")
    busy = eventually(lambda: running_slot(real_env, "busy"), timeout=60, what="task running")
    real_env.patch("claudepools", "pool", {"spec": {"slots": 0}})
    eventually(
        lambda: [p.metadata.name for p in real_env.slot_pods()] == [busy],
        timeout=60,
        what="only the busy slot left",
    )
    task = real_env.wait_phase("busy", timeout=120)
    assert task["status"]["phase"] == "Succeeded", task["status"]
    eventually(lambda: real_env.slot_pods() == [], timeout=60, what="the drained slot gone")
    real_env.patch("claudepools", "pool", {"spec": {"slots": 2}})
    real_env.wait_ready_slots(2, timeout=120)


def test_a_deleted_slot_pod_is_replaced_and_its_task_retried(real_env: Env) -> None:
    real_env.create_pool(slots=1)
    real_env.wait_ready_slots(1, timeout=120)
    old = real_env.slot_pods()[0].metadata.uid
    real_env.create_task("moved", prompt="moved [[fake stall=8]]")
    victim = eventually(lambda: running_slot(real_env, "moved"), timeout=60, what="running")
    real_env.core.delete_namespaced_pod(victim, real_env.namespace)
    task = real_env.wait_phase("moved", timeout=200)
    assert task["status"]["phase"] == "Succeeded", task["status"]
    assert task["status"]["attempts"] == 2
    assert [p.metadata.uid for p in real_env.slot_pods()] != [old]


def slot_container_pid(node: RealNode, pod: Any) -> int:
    """The host pid of the pod's agent container's first process (tini)."""
    (status,) = pod.status.container_statuses
    container_id = status.container_id.removeprefix("containerd://")
    for line in node.ctr("tasks", "ls").splitlines()[1:]:
        task, pid, _ = line.split()
        if task == container_id:
            return int(pid)
    raise AssertionError(f"no containerd task {container_id}")


def exec_in_container(node: RealNode, pod: Any, script: str) -> subprocess.CompletedProcess[str]:
    (status,) = pod.status.container_statuses
    container_id = status.container_id.removeprefix("containerd://")
    argv = [str(node.bin / "ctr"), "--address", str(node.socket), "-n", "k8s.io", "tasks"]
    argv += ["exec", "--exec-id", f"probe-{time.monotonic_ns()}", container_id]
    return subprocess.run(
        [*argv, "/bin/sh", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_restricted_security_context_is_enforced_on_a_real_pod(real_env: Env) -> None:
    real_env.create_pool(slots=1)
    real_env.wait_ready_slots(1, timeout=120)
    (pod,) = real_env.slot_pods()
    pid = slot_container_pid(real_env.node, pod)
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = {k: v.strip() for k, v in (line.split(":", 1) for line in lines)}
    assert fields["Uid"].split() == ["10001"] * 4
    assert int(fields["CapEff"], 16) == 0 and int(fields["CapBnd"], 16) == 0
    assert fields["NoNewPrivs"] == "1"
    token = Path(f"/proc/{pid}/root/var/run/secrets/kubernetes.io/serviceaccount/token")
    assert not token.exists()
    node = real_env.node
    for path in ("/slot/probe", "/tmp/probe"):
        done = exec_in_container(node, pod, f"echo ok > {path} && cat {path} && id -u")
        assert (done.returncode, done.stdout) == (0, "ok\n10001\n"), done.stderr
    for path in ("/probe", "/etc/probe", "/usr/local/bin/probe", "/var/tmp/probe"):
        done = exec_in_container(node, pod, f"echo no > {path}")
        assert done.returncode != 0, path
        assert "Read-only file system" in done.stderr, (path, done.stderr)


def test_network_policies_are_accepted(real_env: Env) -> None:
    policy = yaml.safe_load((REPO / "deploy" / "networkpolicy.yaml").read_text())
    networking = client.NetworkingV1Api(real_env.api)
    networking.create_namespaced_network_policy(real_env.namespace, policy)
    stored = networking.read_namespaced_network_policy(
        policy["metadata"]["name"], real_env.namespace
    )
    assert stored.spec.policy_types == ["Ingress", "Egress"]
    # accepted only: the bridge CNI plugin enforces no NetworkPolicy (that needs a policy
    # plugin such as Calico or Cilium), so a slot still works with the policy in place
    real_env.create_pool(slots=1)
    real_env.wait_ready_slots(1, timeout=120)
    real_env.create_task("after-policy", prompt="hello")
    assert real_env.wait_phase("after-policy", timeout=120)["status"]["phase"] == "Succeeded"
