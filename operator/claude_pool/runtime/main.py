"""Entry point of the operator: `python -m claude_pool operator`.

Loads `Settings`, sets up logging (`runtime.logs`: text or JSON lines), builds the kube
facade and the `Operator`, registers the kopf handlers and runs kopf in standalone mode (no
peering: one replica is the supported deployment, see docs/architecture.md), with the
Prometheus metrics endpoint and kopf's liveness probe.
`run_operator()` is the same thing as a coroutine, for tests and `make dev`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

import kopf
from prometheus_client import start_http_server

from claude_pool.controllers.handlers import register
from claude_pool.kube.client import Kube, load_api_client
from claude_pool.runtime import metrics
from claude_pool.runtime.logs import configure_logging
from claude_pool.runtime.operator import Operator
from claude_pool.runtime.settings import Settings


def build(settings: Settings) -> tuple[kopf.OperatorRegistry, Operator]:
    """The kopf registry with our handlers, and the operator they feed."""
    kube = Kube(load_api_client(settings.kubeconfig), workers=settings.kube_workers)
    operator = Operator(settings, kube)
    registry = kopf.OperatorRegistry()
    register(operator.state, registry)

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.level = logging.WARNING
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.networking.request_timeout = 60
        # list in pages: one unpaginated LIST of 10,000 tasks peaks RSS (docs/performance.md)
        settings.watching.chunk_size = 100
        await operator.start()

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        await operator.stop()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        if operator.settings.kubeconfig:
            os.environ["KUBECONFIG"] = operator.settings.kubeconfig
            return kopf.login_with_kubeconfig(**kwargs)
        return kopf.login_via_client(**kwargs)

    return registry, operator


async def run_operator(
    settings: Settings,
    *,
    stop_flag: asyncio.Event | threading.Event | None = None,
    ready_flag: asyncio.Event | threading.Event | None = None,
    liveness: str | None = None,
) -> Operator:
    """Run the operator until `stop_flag` is set (or forever); returns it for inspection."""
    registry, operator = build(settings)
    metrics.register_api_writes(operator.kube.writes, operator.kube.errors)
    await kopf.operator(
        registry=registry,
        standalone=True,
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        stop_flag=stop_flag,
        ready_flag=ready_flag,
        liveness_endpoint=liveness,
    )
    return operator


def main(argv: list[str]) -> int:
    del argv
    settings = Settings()
    configure_logging(settings.log_format)
    if settings.metrics_port:
        start_http_server(settings.metrics_port, settings.metrics_host)
    liveness = f"http://0.0.0.0:{settings.health_port}/healthz" if settings.health_port else None
    asyncio.run(run_operator(settings, liveness=liveness))
    return 0
