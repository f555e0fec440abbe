"""Translate a pod's container into a local process: argv, environment, volume directories.

Pure (no API calls, no processes); called by `claude_pool.devenv.localnode`, which plays
kubelet in tests and `make dev`. What a kubelet would do with a container we do here:
- `python`/`python3` as the command runs with this interpreter (the image's Python), and a
  leading `tini --` is dropped (a local process is not PID 1: there is nothing to reap);
- env values are resolved (plain values, secretKeyRef, configMapKeyRef, fieldRef to
  status.podIP / metadata.name / metadata.namespace / metadata.uid);
- each volume is a directory under the pod's root, except a persistentVolumeClaim: a
  directory under `claims` keyed by namespace and claim name, so the next pod mounting
  that claim (a replacement slot pod) finds what the last one left; a mounted path that
  appears at the start of an env value is rewritten to that directory (there is no mount
  namespace);
- `$(VAR)` in command and args expands from the container's env, as in a kubelet;
- `overrides` set what only a node knows (the pod IP to bind to, the local CLI binary);
- the user and group to run as come from the securityContext (the container's over the
  pod's runAsUser/runAsGroup), as a kubelet applies them; the node uses them when it can.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")

SecretLookup = Callable[[str, str], str | None]
"""(name, key) -> value, or None when the Secret or key is missing."""


class PodConfigError(ValueError):
    """The container cannot start (CreateContainerConfigError in a kubelet)."""


@dataclass(frozen=True)
class ProcessSpec:
    """Everything needed to start one container as a local process."""

    argv: list[str]
    env: dict[str, str]
    cwd: Path
    volumes: dict[str, Path] = field(default_factory=dict)
    port: int | None = None
    readiness_path: str | None = None
    liveness_path: str | None = None
    run_as_user: int | None = None
    run_as_group: int | None = None


def _field_value(path: str, pod: Mapping[str, Any], pod_ip: str) -> str:
    meta = pod.get("metadata", {})
    values = {
        "status.podIP": pod_ip,
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
    }
    if path not in values:
        raise PodConfigError(f"fieldRef {path} is not supported by the local node")
    return str(values[path])


def _env_value(
    item: Mapping[str, Any],
    pod: Mapping[str, Any],
    pod_ip: str,
    secret: SecretLookup,
    config_map: SecretLookup,
) -> str | None:
    if "value" in item:
        return str(item["value"])
    source = item.get("valueFrom") or {}
    if "secretKeyRef" in source:
        ref = source["secretKeyRef"]
        value = secret(ref["name"], ref["key"])
        if value is None and not ref.get("optional"):
            raise PodConfigError(f'secret "{ref["name"]}" key "{ref["key"]}" not found')
        return value
    if "configMapKeyRef" in source:
        ref = source["configMapKeyRef"]
        value = config_map(ref["name"], ref["key"])
        if value is None and not ref.get("optional"):
            raise PodConfigError(f'configmap "{ref["name"]}" key "{ref["key"]}" not found')
        return value
    if "fieldRef" in source:
        return _field_value(source["fieldRef"]["fieldPath"], pod, pod_ip)
    return ""


def _probe_path(probe: Mapping[str, Any] | None) -> str | None:
    if not probe or "httpGet" not in probe:
        return None
    return str(probe["httpGet"].get("path", "/"))


def process_spec(
    pod: Mapping[str, Any],
    *,
    pod_ip: str,
    root: Path,
    secret: SecretLookup,
    config_map: SecretLookup,
    overrides: Mapping[str, str] | None = None,
    python: str | None = None,
    claims: Path | None = None,
) -> ProcessSpec:
    """The local process for the pod's first container (slot pods have exactly one).
    `claims` is the node's directory of persistentVolumeClaim volumes (default: under
    `root`, i.e. per pod)."""
    spec = pod["spec"]
    container = spec["containers"][0]
    namespace = str(pod.get("metadata", {}).get("namespace", ""))
    volumes = {
        v["name"]: _volume_dir(v, root, claims or root / "claims", namespace)
        for v in spec.get("volumes", [])
    }
    mounts: list[tuple[str, Path]] = []
    for mount in container.get("volumeMounts", []):
        if mount["name"] not in volumes:
            raise PodConfigError(f'volume "{mount["name"]}" is mounted but not defined')
        mounts.append((mount["mountPath"].rstrip("/"), volumes[mount["name"]]))
    mounts.sort(key=lambda m: len(m[0]), reverse=True)

    def relocate(value: str) -> str:
        for mount_path, local in mounts:
            if value == mount_path or value.startswith(mount_path + "/"):
                return str(local) + value[len(mount_path) :]
        return value

    env: dict[str, str] = {}
    for item in container.get("env", []):
        value = _env_value(item, pod, pod_ip, secret, config_map)
        if value is not None:
            env[item["name"]] = relocate(value)
    env.update(overrides or {})

    def expand(value: str) -> str:  # $(VAR) references, as a kubelet expands them
        return _VAR_REF.sub(lambda m: env.get(m.group(1), m.group(0)), value)

    command = [
        relocate(expand(part))
        for part in (*container.get("command", []), *container.get("args", []))
    ]
    if not command:
        raise PodConfigError("the local node needs an explicit command (no image entrypoints)")
    if len(command) > 2 and command[0].endswith("/tini") and command[1] == "--":
        command = command[2:]  # a local process is not PID 1: nothing to reap for
    if command[0] in ("python", "python3"):
        command[0] = python or sys.executable  # after relocation: the node's path, not the pod's
    ports = container.get("ports") or []
    pod_context = spec.get("securityContext") or {}
    own_context = container.get("securityContext") or {}
    user = own_context.get("runAsUser", pod_context.get("runAsUser"))
    group = own_context.get("runAsGroup", pod_context.get("runAsGroup"))
    return ProcessSpec(
        argv=command,
        env=env,
        cwd=volumes.get(_first_volume(container), root),
        volumes=volumes,
        port=int(ports[0]["containerPort"]) if ports else None,
        readiness_path=_probe_path(container.get("readinessProbe")),
        liveness_path=_probe_path(container.get("livenessProbe")),
        run_as_user=None if user is None else int(user),
        run_as_group=None if group is None else int(group),
    )


def _volume_dir(volume: Mapping[str, Any], root: Path, claims: Path, namespace: str) -> Path:
    claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
    if claim:
        return claims / namespace / str(claim)
    return root / "volumes" / str(volume["name"])


def _first_volume(container: Mapping[str, Any]) -> str:
    mounts = container.get("volumeMounts") or []
    return str(mounts[0]["name"]) if mounts else ""
