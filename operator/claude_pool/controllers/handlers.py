"""kopf handlers: watch pools, tasks, reviews, messages and slot pods; feed `ClusterState`.

Registered by `runtime.main` through `register()`. The handlers are thin and async: they
parse nothing heavy, call no API and write nothing (kopf's on.event handlers keep no progress
annotations and post no events), so the only writes are the ones the pool workers decide.
"""

from __future__ import annotations

from typing import Any

import kopf

from claude_pool.api.common import GROUP, VERSION
from claude_pool.controllers.state import ClusterState
from claude_pool.slots.pods import MANAGED_BY


def register(state: ClusterState, registry: kopf.OperatorRegistry) -> None:
    """Register the watch handlers on `registry`, feeding `state`."""

    @kopf.on.event(GROUP, VERSION, "claudepools", registry=registry)  # type: ignore[arg-type]  # kopf's decorator typing
    async def pool_event(event: dict[str, Any], body: kopf.Body, **_: Any) -> None:
        if event.get("type") == "DELETED":
            state.delete_pool(body.metadata.namespace or "", body.metadata.name or "")
        else:
            state.upsert_pool(dict(body))

    @kopf.on.event(GROUP, VERSION, "claudetasks", registry=registry)  # type: ignore[arg-type]  # kopf's decorator typing
    async def task_event(event: dict[str, Any], body: kopf.Body, **_: Any) -> None:
        if event.get("type") == "DELETED":
            state.delete_task(body.metadata.uid or "")
        else:
            state.upsert_task(dict(body))

    @kopf.on.event(GROUP, VERSION, "claudereviews", registry=registry)  # type: ignore[arg-type]  # kopf's decorator typing
    async def review_event(event: dict[str, Any], body: kopf.Body, **_: Any) -> None:
        if event.get("type") == "DELETED":
            state.delete_review(body.metadata.namespace or "", body.metadata.name or "")
        else:
            state.upsert_review(dict(body))

    @kopf.on.event(GROUP, VERSION, "claudemessages", registry=registry)  # type: ignore[arg-type]  # kopf's decorator typing
    async def message_event(event: dict[str, Any], body: kopf.Body, **_: Any) -> None:
        pool = (body.get("spec") or {}).get("poolRef", {}).get("name", "")
        if event.get("type") == "DELETED":
            state.delete_message(body.metadata.namespace or "", body.metadata.name or "", pool)
        else:
            state.upsert_message(dict(body))

    @kopf.on.event("", "v1", "pods", labels=dict(MANAGED_BY), registry=registry)  # type: ignore[arg-type]  # kopf's decorator typing
    async def pod_event(event: dict[str, Any], body: kopf.Body, **_: Any) -> None:
        if event.get("type") == "DELETED":
            state.delete_pod(dict(body))
        else:
            state.upsert_pod(dict(body))
