"""Connecting with a user's kubeconfig: the chosen context's cluster and namespace."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from claude_pool.kube.access import NoConfiguration, connect


def kubeconfig(path: Path) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "a", "cluster": {"server": "https://127.0.0.1:1"}},
            {"name": "b", "cluster": {"server": "https://127.0.0.2:2"}},
        ],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [
            {"name": "one", "context": {"cluster": "a", "user": "u"}},
            {"name": "two", "context": {"cluster": "b", "user": "u", "namespace": "team"}},
        ],
        "current-context": "one",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_current_context_and_its_namespace_are_used(tmp_path: Path) -> None:
    connection = connect(str(kubeconfig(tmp_path / "config")))
    try:
        assert (connection.context, connection.namespace) == ("one", "default")
        assert connection.kube.api.configuration.host == "https://127.0.0.1:1"
    finally:
        connection.kube.close()


def test_another_context_brings_its_cluster_and_namespace(tmp_path: Path) -> None:
    connection = connect(str(kubeconfig(tmp_path / "config")), context="two")
    try:
        assert (connection.context, connection.namespace) == ("two", "team")
        assert connection.kube.api.configuration.host == "https://127.0.0.2:2"
    finally:
        connection.kube.close()


def test_an_unknown_context_or_a_missing_file_is_no_configuration(tmp_path: Path) -> None:
    with pytest.raises(NoConfiguration, match="context 'three' not in the kubeconfig"):
        connect(str(kubeconfig(tmp_path / "config")), context="three")
    with pytest.raises(NoConfiguration):
        connect(str(tmp_path / "absent"))
