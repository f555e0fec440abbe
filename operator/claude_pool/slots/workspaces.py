"""The workspace parts of a slot pod: the volume at /workspace, the agent's settings, the git
credentials, and the PersistentVolumeClaim of a slot index (pure builders).

Called by `slots.pods.desired_slot_pod` (volume, mount, env) and by the scale step
(`desired_workspace_claim`, created before the pod of that index); `clone_verdict` sums up
the clones the slots report (`GET /v1/slot`) for the pool's WorkspaceUnavailable condition
and the tasks' wait. The credentials Secret is
referenced by secretKeyRef with `optional: true` (a token or an SSH key, whichever the
Secret holds); the operator never reads it. A claim is named `<pool>-ws-<index>` and owned
by the pool: a replacement pod of that index mounts the same claim and finds its clone.
"""

from __future__ import annotations

from typing import Any

from claude_pool.api.pools import ClaudePool
from claude_pool.api.reasons import PoolReason
from claude_pool.api.workspaces import WorkspacePhase, WorkspaceState
from claude_pool.api.workspacespecs import AccessMode, Workspace

WORKSPACE_DIR = "/workspace"
VOLUME_NAME = "workspace"
SECRET_KEYS = (
    ("CLAUDE_POOL_AGENT_GIT_TOKEN", "token"),
    ("CLAUDE_POOL_AGENT_GIT_USERNAME", "username"),
    ("CLAUDE_POOL_AGENT_GIT_SSH_KEY", "ssh-privatekey"),
    ("CLAUDE_POOL_AGENT_GIT_KNOWN_HOSTS", "known_hosts"),
)
"""(variable, Secret key) of the git credentials the agent reads (never the CLI)."""


def claim_name(pool: str, index: int) -> str:
    return f"{pool}-ws-{index}"


def uses_claims(workspace: Workspace | None) -> bool:
    """Whether the pool's slots keep their clone in a PersistentVolumeClaim per index."""
    return (
        workspace is not None
        and workspace.volume is not None
        and (workspace.volume.claim_template is not None)
    )


def workspace_env(workspace: Workspace) -> list[dict[str, Any]]:
    """The agent's workspace settings and the credentials by optional secretKeyRef."""
    env: list[dict[str, Any]] = [
        {"name": "CLAUDE_POOL_AGENT_WORKSPACE_REPO", "value": workspace.repo},
        {"name": "CLAUDE_POOL_AGENT_WORKSPACE_DIR", "value": WORKSPACE_DIR},
    ]
    if workspace.ref is not None:
        env.append({"name": "CLAUDE_POOL_AGENT_WORKSPACE_REF", "value": workspace.ref})
    if workspace.depth is not None:
        env.append({"name": "CLAUDE_POOL_AGENT_WORKSPACE_DEPTH", "value": str(workspace.depth)})
    if workspace.credentials_secret is not None:
        secret = workspace.credentials_secret.name
        env += [
            {
                "name": name,
                "valueFrom": {"secretKeyRef": {"name": secret, "key": key, "optional": True}},
            }
            for name, key in SECRET_KEYS
        ]
    return env


def workspace_volume(pool: ClaudePool, index: int) -> dict[str, Any]:
    """The slot's workspace volume: an emptyDir (with its sizeLimit) or the index's claim."""
    workspace = pool.spec.workspace
    assert workspace is not None
    if uses_claims(workspace):
        claim = claim_name(pool.metadata.name, index)
        return {"name": VOLUME_NAME, "persistentVolumeClaim": {"claimName": claim}}
    empty: dict[str, Any] = {}
    if workspace.volume is not None and workspace.volume.empty_dir is not None:
        limit = workspace.volume.empty_dir.size_limit
        empty = {"sizeLimit": limit} if limit is not None else {}
    return {"name": VOLUME_NAME, "emptyDir": empty}


def workspace_mount() -> dict[str, Any]:
    return {"name": VOLUME_NAME, "mountPath": WORKSPACE_DIR}


def desired_workspace_claim(pool: ClaudePool, index: int, meta: dict[str, Any]) -> dict[str, Any]:
    """The PersistentVolumeClaim of slot `index` (`meta`: the pool-owned metadata to use)."""
    workspace = pool.spec.workspace
    volume = workspace.volume if workspace is not None else None
    template = volume.claim_template if volume is not None else None
    assert template is not None
    spec: dict[str, Any] = {
        "accessModes": [
            str(mode) for mode in template.access_modes or [AccessMode.READ_WRITE_ONCE]
        ],
        "resources": {"requests": {"storage": template.size}},
    }
    if template.storage_class_name is not None:
        spec["storageClassName"] = template.storage_class_name
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta,
        "spec": spec,
    }


def clone_ready(state: WorkspaceState | None) -> bool:
    """Whether a slot reporting `state` may take a task (an agent that reports no workspace
    state predates workspaces: it is not held back)."""
    return state is None or state.phase is WorkspacePhase.READY


def clone_verdict(
    states: dict[str, WorkspaceState | None],
) -> tuple[PoolReason, str, str | None]:
    """(condition reason, condition message, why tasks wait or None) from the workspace
    states of the slots that answered, by pod name. A slot whose clone failed makes the
    condition True with its reason; tasks wait only while no slot's clone is ready."""
    failed = sorted(
        (name, state)
        for name, state in states.items()
        if state is not None and state.phase is WorkspacePhase.UNAVAILABLE
    )
    ready = [name for name, state in states.items() if clone_ready(state)]
    cloning = [
        name
        for name, state in states.items()
        if state is not None and state.phase is WorkspacePhase.CLONING
    ]
    if not states:
        return PoolReason.WORKSPACE_CLONING, "no slot has reported its clone yet", None
    if failed:
        name, state = failed[0]
        why = state.reason.value if state.reason is not None else PoolReason.CLONE_FAILED.value
        reason = PoolReason(why)
        message = f"slot {name}: {reason.value}: {state.message}"[:1024]
        if len(failed) > 1:
            message = f"{len(failed)} slots cannot clone; {message}"[:1024]
    elif cloning:
        reason = PoolReason.WORKSPACE_CLONING
        message = f"{len(cloning)} of {len(states)} slots cloning"
    else:
        reason = PoolReason.WORKSPACE_READY
        message = f"the clone of {len(ready)} slots is ready"
    waits = None
    if not ready:
        waits = f"no slot's clone of the workspace is ready ({reason.value}): {message}"[:1024]
    return reason, message, waits
