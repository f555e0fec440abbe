"""Integration tier: a real kube-apiserver + etcd + kube-controller-manager for the session.

The suite starts its own control plane (claude_pool.devenv.controlplane) and installs the
CRDs from crds/. A guard refuses any other cluster: `CLAUDE_POOL_TEST_KUBECONFIG` may point
at an existing cluster only together with `CLAUDE_POOL_TEST_ALLOW_FOREIGN_CLUSTER=1`.
Every test gets a fresh namespace, deleted afterwards (the namespace controller runs).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from claude_pool.devenv import clusterinit
from claude_pool.devenv.clibin import claude_binary
from claude_pool.devenv.controlplane import ControlPlane
from claude_pool.devenv.fakeapi import FakeAnthropicThread
from claude_pool.devenv.localnode import LocalNode
from tests.containers import ContainerImages, container_images
from tests.helpers import TEST_TIMINGS, operator_process
from tests.integration.harness import Env

FOREIGN_KUBECONFIG = "CLAUDE_POOL_TEST_KUBECONFIG"
ALLOW_FOREIGN = "CLAUDE_POOL_TEST_ALLOW_FOREIGN_CLUSTER"


def _client(kubeconfig: Path) -> client.ApiClient:
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    return client.ApiClient(cfg)


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane | None]:
    foreign = os.environ.get(FOREIGN_KUBECONFIG)
    if foreign:
        if os.environ.get(ALLOW_FOREIGN) != "1":
            pytest.exit(
                f"{FOREIGN_KUBECONFIG} is set but {ALLOW_FOREIGN}=1 is not: refusing to run "
                "integration tests against a cluster this suite did not start",
                returncode=3,
            )
        yield None
        return
    workdir = tmp_path_factory.mktemp("controlplane")
    with ControlPlane.create(workdir) as cp:
        yield cp


@pytest.fixture(scope="session")
def kubeconfig(control_plane: ControlPlane | None) -> Path:
    if control_plane is None:
        return Path(os.environ[FOREIGN_KUBECONFIG])
    return control_plane.kubeconfig


@pytest.fixture(scope="session")
def _cluster(control_plane: ControlPlane | None, kubeconfig: Path) -> Iterator[client.ApiClient]:
    api = _client(kubeconfig)
    if control_plane is not None:
        clusterinit.mark_cluster(api, control_plane.cluster_id)
    clusterinit.install_crds(api)
    clusterinit.install_admission(api)
    yield api
    api.close()


@pytest.fixture
def api_client(_cluster: client.ApiClient, control_plane: ControlPlane | None) -> client.ApiClient:
    """The admin client of the suite's own cluster, after the guard has checked it."""
    if control_plane is not None:
        marker = clusterinit.read_marker(_cluster)
        assert marker == control_plane.cluster_id, "guard: not the cluster this suite started"
    return _cluster


@pytest.fixture
def namespace(api_client: client.ApiClient) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)


@pytest.fixture(scope="session")
def fake_api() -> Iterator[FakeAnthropicThread]:
    """The fake Anthropic API, shared by the session (it is scripted per request)."""
    with FakeAnthropicThread() as fake:
        yield fake


@pytest.fixture
def env(
    api_client: client.ApiClient,
    namespace: str,
    kubeconfig: Path,
    fake_api: FakeAnthropicThread,
    tmp_path: Path,
) -> Iterator[Env]:
    """Operator (subprocess) + local node + fake API on a fresh namespace."""
    overrides = {
        "CLAUDE_POOL_AGENT_CLAUDE_BIN": str(claude_binary()),
        "CLAUDE_POOL_AGENT_KILL_GRACE_SECONDS": "1",
    }
    with LocalNode(
        api_client, tmp_path / "node", namespaces={namespace}, overrides=overrides
    ) as node:
        operator = operator_process(
            kubeconfig, namespace, tmp_path / "operator.log", start_timeout=30, **TEST_TIMINGS
        ).start()
        try:
            yield Env(api_client, namespace, fake_api, node, operator)
        finally:
            operator.stop()


@pytest.fixture(scope="session", name="container_images")
def _container_images() -> ContainerImages:
    """The current slot and operator images, or a skip with the reason (tests/containers.py)."""
    return container_images()
