"""The benchmarks' control plane: etcd, kube-apiserver with an audit log of every write,
kube-controller-manager and the CRDs, with API clients that carry distinct user agents.

Part of `bench/operatorbench` (see its package docstring); run through bench/bench_operator.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.operatorbench.common import (
    API_KEY,
    BENCH_AGENT,
    SECRET,
    WRITE_VERBS,
)
from bench.operatorbench.figures import note
from kubernetes import client, config

from claude_pool.devenv import clusterinit
from claude_pool.devenv.controlplane import ControlPlane

if TYPE_CHECKING:
    pass


class Cluster:
    """The control plane with its audit log, and API clients with distinct user agents."""

    def __init__(self, workdir: Path, audited: bool = True) -> None:
        self.workdir = workdir
        self.audited = audited
        self.cp = ControlPlane.create(workdir / "cp", audit_log=audited)
        self.api: client.ApiClient | None = None

    def start(self) -> Cluster:
        started = time.monotonic()
        self.cp.start()
        self.api = self.client(BENCH_AGENT, pool=64)
        clusterinit.install_crds(self.api)
        note(f"control plane up with CRDs in {time.monotonic() - started:.1f}s ({self.cp.server})")
        return self

    def stop(self) -> None:
        self.cp.stop()

    def client(self, agent: str, pool: int = 16) -> client.ApiClient:
        cfg = client.Configuration()
        config.load_kube_config(config_file=str(self.cp.kubeconfig), client_configuration=cfg)
        cfg.connection_pool_maxsize = pool
        api = client.ApiClient(cfg)
        api.user_agent = agent
        return api

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def namespace(self, name: str) -> str:
        self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        secret = client.V1Secret(
            metadata=client.V1ObjectMeta(name=SECRET),
            string_data={"ANTHROPIC_API_KEY": API_KEY},
        )
        self.core.create_namespaced_secret(name, secret)
        return name

    def pids(self) -> dict[str, int]:
        return self.cp.pids()

    def audit(self) -> list[dict[str, Any]]:
        """The completed write requests in the audit log so far."""
        out = []
        with self.cp.audit_path.open() as handle:
            for line in handle:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("stage") == "ResponseComplete" and event.get("verb") in WRITE_VERBS:
                    out.append(event)
        return out
