"""The local node's pod -> process translation: env, volumes, $(VAR), tini, missing secrets."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from claude_pool.devenv.podprocess import PodConfigError, process_spec


def pod(env: list[dict[str, Any]], command: list[str]) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "command": command,
                    "env": env,
                    "ports": [{"containerPort": 8080}],
                    "volumeMounts": [{"name": "slot", "mountPath": "/slot"}],
                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
                }
            ],
            "volumes": [{"name": "slot", "emptyDir": {}}],
        },
    }


def no_secret(_name: str, _key: str) -> str | None:
    return None


def test_env_is_resolved_volumes_relocated_and_references_expanded(tmp_path: Path) -> None:
    env = [
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "DIR", "value": "/slot/state"},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
    ]
    spec = process_spec(
        pod(env, ["/usr/bin/tini", "--", "python", "-m", "x", "--bind=$(IP)"]),
        pod_ip="127.9.0.2",
        root=tmp_path,
        secret=lambda name, key: "t0k" if (name, key) == ("s", "k") else None,
        config_map=no_secret,
        overrides={"EXTRA": "1"},
    )
    assert spec.argv == [sys.executable, "-m", "x", "--bind=127.9.0.2"]
    assert spec.env["DIR"] == str(tmp_path / "volumes" / "slot" / "state")
    assert spec.env["TOKEN"] == "t0k"
    assert spec.env["EXTRA"] == "1"
    assert spec.port == 8080
    assert spec.readiness_path == "/healthz"


def test_a_missing_secret_is_a_container_config_error(tmp_path: Path) -> None:
    env = [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k"}}}]
    with pytest.raises(PodConfigError, match='secret "gone" key "k" not found'):
        process_spec(
            pod(env, ["python"]),
            pod_ip="127.9.0.2",
            root=tmp_path,
            secret=no_secret,
            config_map=no_secret,
        )


def test_the_nodes_own_interpreter_path_is_never_relocated_into_a_volume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a checkout under /tmp, and a pod that mounts a volume at /tmp
    monkeypatch.setattr(sys, "executable", "/tmp/checkout/.venv/bin/python")
    manifest = pod([], ["python", "-m", "x", "/tmp/file"])
    manifest["spec"]["containers"][0]["volumeMounts"].append({"name": "tmp", "mountPath": "/tmp"})
    manifest["spec"]["volumes"].append({"name": "tmp", "emptyDir": {}})
    spec = process_spec(
        manifest,
        pod_ip="127.9.0.2",
        root=tmp_path,
        secret=no_secret,
        config_map=no_secret,
        overrides={"BIN": "/tmp/checkout/claude"},
    )
    assert spec.argv == [
        "/tmp/checkout/.venv/bin/python",
        "-m",
        "x",
        str(tmp_path / "volumes" / "tmp" / "file"),
    ]
    assert spec.env["BIN"] == "/tmp/checkout/claude"


def test_the_user_comes_from_the_security_context_the_containers_over_the_pods(
    tmp_path: Path,
) -> None:
    manifest = pod([], ["python", "-V"])
    assert (
        process_spec(
            manifest, pod_ip="127.0.0.2", root=tmp_path, secret=no_secret, config_map=no_secret
        ).run_as_user
        is None
    )
    manifest["spec"]["securityContext"] = {"runAsUser": 10001, "runAsGroup": 10001}
    spec = process_spec(
        manifest, pod_ip="127.0.0.2", root=tmp_path, secret=no_secret, config_map=no_secret
    )
    assert (spec.run_as_user, spec.run_as_group) == (10001, 10001)
    manifest["spec"]["containers"][0]["securityContext"] = {"runAsUser": 20002}
    spec = process_spec(
        manifest, pod_ip="127.0.0.2", root=tmp_path, secret=no_secret, config_map=no_secret
    )
    assert (spec.run_as_user, spec.run_as_group) == (20002, 10001)


def test_a_claim_volume_is_a_node_directory_keyed_by_namespace_and_claim(tmp_path: Path) -> None:
    def with_claim(pod_root: str) -> Path:
        manifest = pod(
            [
                {"name": "WS", "value": "/workspace"},
                {
                    "name": "GIT",
                    "valueFrom": {"secretKeyRef": {"name": "g", "key": "token", "optional": True}},
                },
            ],
            ["python", "-m", "x"],
        )
        manifest["spec"]["volumes"].append(
            {"name": "workspace", "persistentVolumeClaim": {"claimName": "p-ws-0"}}
        )
        manifest["spec"]["containers"][0]["volumeMounts"].append(
            {"name": "workspace", "mountPath": "/workspace"}
        )
        spec = process_spec(
            manifest,
            pod_ip="127.9.0.3",
            root=tmp_path / pod_root,
            secret=no_secret,
            config_map=no_secret,
            claims=tmp_path / "claims",
        )
        assert "GIT" not in spec.env  # optional and missing: left out, not an error
        assert spec.env["WS"] == str(spec.volumes["workspace"])
        assert spec.volumes["slot"] == tmp_path / pod_root / "volumes" / "slot"
        return spec.volumes["workspace"]

    first, replacement = with_claim("p-slot-0-aaaa"), with_claim("p-slot-0-bbbb")
    assert first == replacement == tmp_path / "claims" / "ns" / "p-ws-0"
