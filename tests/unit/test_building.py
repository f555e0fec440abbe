"""The control plane builder's pure parts: wrapper go.mod, version flags, cache layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_pool.devenv import building

KK_GOMOD = """module k8s.io/kubernetes

go 1.26.0

godebug default=go1.26

require (
\tk8s.io/api v0.0.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/apiserver => ./staging/src/k8s.io/apiserver
\tk8s.io/cri-streaming => ./staging/src/k8s.io/cri-streaming
)
"""


def test_staging_modules_are_read_from_the_kubernetes_go_mod() -> None:
    assert building.staging_modules(KK_GOMOD) == [
        "k8s.io/api",
        "k8s.io/apiserver",
        "k8s.io/cri-streaming",
    ]


def test_the_wrapper_replaces_each_staging_module_with_its_published_version() -> None:
    gomod = building.kubernetes_wrapper_gomod(KK_GOMOD, building.Versions("v1.36.3", "v3.6.16"))
    assert "require k8s.io/kubernetes v1.36.3" in gomod
    assert "\tk8s.io/api => k8s.io/api v0.36.3" in gomod
    assert "\tk8s.io/cri-streaming => k8s.io/cri-streaming v0.36.3" in gomod
    assert "godebug default=go1.26" in gomod


def test_version_flags_set_both_version_packages() -> None:
    flags = building.version_ldflags(building.Versions("v1.36.3", "v3.6.16"))
    assert "-X k8s.io/component-base/version.gitVersion=v1.36.3" in flags
    assert "-X k8s.io/client-go/pkg/version.gitMinor=36" in flags


def test_binaries_are_cached_per_version_outside_the_repository(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(building.CACHE_ENV, str(tmp_path))
    path = building.bin_dir(building.Versions("v1.36.3", "v3.6.16"))
    assert path == tmp_path / "controlplane" / "k8s-v1.36.3-etcd-v3.6.16" / "bin"


def test_an_assets_directory_missing_a_binary_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "etcd").write_text("")
    monkeypatch.setenv(building.ASSETS_ENV, str(tmp_path))
    with pytest.raises(RuntimeError, match="lacks kube-apiserver, kube-controller-manager"):
        building.ensure_binaries()


def test_kubectl_is_built_from_the_same_modules_into_the_same_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(building.CACHE_ENV, str(tmp_path))
    assert building.kubectl_path() == building.bin_dir() / "kubectl"
    source = building.tools_go(("kubectl",))
    assert '\t_ "k8s.io/kubernetes/cmd/kubectl"\n' in source
    assert source.startswith("//go:build tools\n")
