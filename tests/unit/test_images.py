"""The image build helpers: mirror lookup, input hashing, engine choice (no engine runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from claude_pool.devenv import engine as engine_module
from claude_pool.devenv.engine import EngineKind, EngineNotFound, find_engine
from claude_pool.devenv.images import OPERATOR, PUBLIC_BASES, SLOT, debian_mirror, inputs_hash

REPO = Path(__file__).resolve().parents[2]

DEB822 = """Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
"""
SECURITY = """Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
"""


def test_the_mirror_is_the_first_debian_uri_that_is_not_the_security_archive() -> None:
    assert debian_mirror([SECURITY, DEB822]) == "http://deb.debian.org/debian"
    one_line = "deb [arch=amd64] http://mirror.example/debian bookworm main\n"
    assert debian_mirror([one_line]) == "http://mirror.example/debian"
    assert debian_mirror(["deb https://packages.cloud.google.com/apt cloud-sdk main"]) == (
        "http://deb.debian.org/debian"
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in ("pyproject.toml", "README.md", "slot-image/Dockerfile", "operator/Dockerfile"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"content of {name}\n")
    (tmp_path / "slot-image" / "cli").mkdir()
    (tmp_path / "slot-image" / "cli" / "package.json").write_text("{}")
    (tmp_path / "operator" / "claude_pool").mkdir()
    (tmp_path / "operator" / "claude_pool" / "x.py").write_text("x = 1\n")
    return tmp_path


def test_the_inputs_hash_changes_with_sources_dockerfile_and_bases_only(tree: Path) -> None:
    base = {"PYTHON_IMAGE": "python:3.11.11-slim-bookworm"}
    first = inputs_hash(SLOT, base, tree)
    assert inputs_hash(SLOT, base, tree) == first
    (tree / "operator" / "claude_pool" / "__pycache__").mkdir()
    (tree / "operator" / "claude_pool" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert inputs_hash(SLOT, base, tree) == first, "bytecode is not an input"
    assert inputs_hash(SLOT, {"PYTHON_IMAGE": "localhost/other:1"}, tree) != first
    assert inputs_hash(OPERATOR, base, tree) != first, "each image has its own Dockerfile"
    (tree / "operator" / "claude_pool" / "x.py").write_text("x = 2\n")
    assert inputs_hash(SLOT, base, tree) != first


def test_a_forced_engine_that_is_missing_is_refused_with_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(engine_module.ENGINE_ENV, "podman")
    monkeypatch.setattr(engine_module.shutil, "which", lambda name: None)
    with pytest.raises(EngineNotFound, match="podman with runc"):
        find_engine()


def test_podman_runs_with_runc_and_the_project_conf(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(engine_module.ENGINE_ENV, "podman")
    monkeypatch.setattr(engine_module.shutil, "which", lambda name: f"/usr/bin/{name}")
    found = find_engine()
    assert found.kind is EngineKind.PODMAN
    assert found.command("ps") == ["podman", "--runtime", "runc", "ps"]
    assert found.env == {"CONTAINERS_CONF": str(REPO / ".ci" / "containers.conf")}
    conf = (REPO / ".ci" / "containers.conf").read_text()
    assert 'cgroup_manager = "cgroupfs"' in conf
    assert "default_ulimits = []" in conf


def test_the_public_bases_are_the_dockerfiles_defaults() -> None:
    defaults = set()
    for dockerfile in ("slot-image/Dockerfile", "operator/Dockerfile"):
        for line in (REPO / dockerfile).read_text().splitlines():
            if line.startswith("ARG ") and "_IMAGE=" in line:
                defaults.add(line.split("=", 1)[1])
    assert defaults == set(PUBLIC_BASES)
