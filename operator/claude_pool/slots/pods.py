"""Desired objects of a pool's slots: the pods, their token Secret and ServiceAccount.

Pure builders (plain dicts, tested by equality), called by the pool controller. A slot pod
runs the slot agent; it holds no Kubernetes credentials (no token mounted, a ServiceAccount
without permissions), runs under the restricted pod security profile, and gets the API
credential and the agent token only through secretKeyRef. Operator-owned labels are set
last, so a template cannot override them; reserved env names (refused at admission, see
`claude_pool.api.pools.RESERVED_ENV_PREFIXES`) are dropped here too, for objects stored
before that rule existed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from claude_pool.api.common import API_VERSION
from claude_pool.api.pools import ClaudePool, EnvVar, reserved_env_name
from claude_pool.slots import workspaces

POOL_LABEL = "claudepool.io/pool"
SLOT_LABEL = "claudepool.io/slot"
DRAINING_ANNOTATION = "claudepool.io/draining"
TEMPLATE_HASH_ANNOTATION = "claudepool.io/template-hash"
MANAGED_BY = {"app.kubernetes.io/managed-by": "claude-pool", "app.kubernetes.io/component": "slot"}
TOKEN_KEY = "token"  # noqa: S105 - the key name inside the Secret, not a secret
AGENT_PORT = 8080
VOLUME_DIR = "/slot"
SLOT_UID = 10001
_POD_IP = "status.podIP"


@dataclass(frozen=True)
class SlotDefaults:
    """Operator-wide settings the builders need (from runtime Settings)."""

    image: str = "ghcr.io/claude-pool/slot:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    termination_grace_seconds: int = 30


def token_secret_name(pool: str) -> str:
    return f"{pool}-agent-token"


def service_account_name(pool: str) -> str:
    return f"{pool}-slot"


def slot_pod_name(pool: str, index: int) -> str:
    return f"{pool}-slot-{index}"


def slot_index(pod_name: str, pool: str) -> int | None:
    """The slot index encoded in a pod name, or None if it is not one of the pool's."""
    prefix = f"{pool}-slot-"
    tail = pod_name[len(prefix) :] if pod_name.startswith(prefix) else ""
    return int(tail) if tail.isdigit() else None


def selector(pool: str) -> str:
    """The label selector of the pool's slot pods (status.selector, for HPA and scale)."""
    return f"{POOL_LABEL}={pool}"


def owner_reference(pool: ClaudePool) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ClaudePool",
        "name": pool.metadata.name,
        "uid": pool.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _meta(pool: ClaudePool, name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": pool.metadata.namespace,
        "labels": {**(labels or {}), **MANAGED_BY, POOL_LABEL: pool.metadata.name},
        "ownerReferences": [owner_reference(pool)],
    }


def desired_token_secret(pool: ClaudePool, token: str) -> dict[str, Any]:
    """The Secret holding the bearer token the operator uses to call the pool's agents."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(pool, token_secret_name(pool.metadata.name)),
        "type": "Opaque",
        "stringData": {TOKEN_KEY: token},
    }


def desired_service_account(pool: ClaudePool) -> dict[str, Any]:
    """A ServiceAccount with no permissions and no auto-mounted token."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(pool, service_account_name(pool.metadata.name)),
        "automountServiceAccountToken": False,
    }


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _env(pool: ClaudePool) -> list[dict[str, Any]]:
    spec = pool.spec
    template_env: list[EnvVar] = spec.template.env or []
    env: list[dict[str, Any]] = [
        e.model_dump(by_alias=True, exclude_none=True)
        for e in template_env
        if not reserved_env_name(e.name)
    ]
    env += [
        _secret_env("CLAUDE_POOL_AGENT_TOKEN", token_secret_name(pool.metadata.name), TOKEN_KEY),
        {"name": "CLAUDE_POOL_AGENT_HOST", "valueFrom": {"fieldRef": {"fieldPath": _POD_IP}}},
        {"name": "CLAUDE_POOL_AGENT_PORT", "value": str(AGENT_PORT)},
        {"name": "CLAUDE_POOL_AGENT_VOLUME_DIR", "value": VOLUME_DIR},
    ]  # fmt: skip
    if spec.claude.max_retries is not None:
        env.append({"name": "CLAUDE_POOL_AGENT_CLI_RETRIES", "value": str(spec.claude.max_retries)})
    if spec.claude.api_timeout_seconds is not None:
        ms = spec.claude.api_timeout_seconds * 1000
        env.append({"name": "CLAUDE_POOL_AGENT_API_TIMEOUT_MS", "value": str(ms)})
    if spec.workspace is not None:
        env += workspaces.workspace_env(spec.workspace)
    creds = spec.credentials
    if creds is not None:
        env.append(_secret_env(creds.env_name(), creds.secret_name, creds.secret_key()))
        if creds.base_url:
            env.append({"name": "ANTHROPIC_BASE_URL", "value": creds.base_url})
    return env


def _container(pool: ClaudePool, defaults: SlotDefaults) -> dict[str, Any]:
    tpl = pool.spec.template
    probe = {"httpGet": {"path": "/healthz", "port": AGENT_PORT}}
    container: dict[str, Any] = {
        "name": "agent",
        "image": tpl.image or defaults.image,
        "imagePullPolicy": str(tpl.image_pull_policy or defaults.image_pull_policy),
        # tini as PID 1 reaps what the CLI's tools orphan (the image's entrypoint too)
        "command": ["/usr/bin/tini", "--", "python", "-m", "claude_pool", "agent"],
        "ports": [{"name": "agent", "containerPort": AGENT_PORT, "protocol": "TCP"}],
        "env": _env(pool),
        "volumeMounts": [
            {"name": "slot", "mountPath": VOLUME_DIR},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir, not the host's /tmp
        ],
        "readinessProbe": {**probe, "periodSeconds": 2, "failureThreshold": 2},
        "livenessProbe": {**probe, "periodSeconds": 10, "failureThreshold": 3},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "stdin": False,
    }
    if pool.spec.workspace is not None:
        container["volumeMounts"].append(workspaces.workspace_mount())
    if tpl.resources is not None:
        container["resources"] = tpl.resources.model_dump(by_alias=True, exclude_none=True)
    return container


def desired_workspace_claim(pool: ClaudePool, index: int) -> dict[str, Any]:
    """The PersistentVolumeClaim of slot `index` (spec.workspace.volume.claimTemplate)."""
    name = workspaces.claim_name(pool.metadata.name, index)
    return workspaces.desired_workspace_claim(
        pool, index, _meta(pool, name, {SLOT_LABEL: str(index)})
    )


def desired_slot_pod(pool: ClaudePool, index: int, defaults: SlotDefaults) -> dict[str, Any]:
    """The pod of slot `index` of `pool`."""
    tpl = pool.spec.template
    name = pool.metadata.name
    spec: dict[str, Any] = {
        "serviceAccountName": tpl.service_account_name or service_account_name(name),
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": defaults.termination_grace_seconds,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": SLOT_UID,
            "runAsGroup": SLOT_UID,
            "fsGroup": SLOT_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(pool, defaults)],
        "volumes": [{"name": "slot", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
    }
    if pool.spec.workspace is not None:
        spec["volumes"].append(workspaces.workspace_volume(pool, index))
    if tpl.node_selector:
        spec["nodeSelector"] = dict(tpl.node_selector)
    if tpl.tolerations:
        spec["tolerations"] = list(tpl.tolerations)
    if tpl.runtime_class_name:
        spec["runtimeClassName"] = tpl.runtime_class_name
    if tpl.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": s.name} for s in tpl.image_pull_secrets]
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    meta = _meta(pool, slot_pod_name(name, index), {**(tpl.labels or {}), SLOT_LABEL: str(index)})
    meta["annotations"] = {**(tpl.annotations or {}), TEMPLATE_HASH_ANNOTATION: digest}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
