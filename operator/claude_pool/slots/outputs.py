"""The ConfigMap that keeps a task's long output whole (a pure builder, like `slots.pods`).

Called by the pool worker's recording step when a result's output is longer than what the
task's status keeps inline (`status` renders the inline part and `outputRef`). A ConfigMap
holds at most 1 MiB: beyond `CONFIG_MAP_LIMIT` bytes it keeps the beginning and says so in
its annotations, so nothing is cut silently.
"""

from __future__ import annotations

from typing import Any

CONFIG_MAP_LIMIT = 1_000_000
"""Bytes of output a ConfigMap keeps (a ConfigMap holds at most 1 MiB)."""


def output_config_map_name(task: str) -> str:
    return f"{task}-output"


def output_config_map(
    task: str, namespace: str, owner: dict[str, str], output: str, name: str | None = None
) -> dict[str, Any]:
    """The ConfigMap holding `output` (up to CONFIG_MAP_LIMIT bytes), owned by its task;
    `name` (default `<task>-output`) is the one the task's status.result.outputRef names."""
    size = len(output.encode())
    kept = output.encode()[:CONFIG_MAP_LIMIT].decode(errors="ignore")
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name or output_config_map_name(task),
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "claude-pool"},
            "ownerReferences": [{**owner, "controller": True, "blockOwnerDeletion": True}],
            "annotations": {
                "claudepool.io/output-size": str(size),
                "claudepool.io/output-truncated": str(len(kept.encode()) < size).lower(),
            },
        },
        "data": {"output": kept},
    }
