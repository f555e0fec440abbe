"""Build (or find) the control plane binaries: kube-apiserver, kube-controller-manager, etcd.

Called by the control plane launcher (`claude_pool.devenv.controlplane`), by `make setup` and
by `python -m claude_pool devenv build`. No registry ships a kube-apiserver binary, so we
build it from Go modules: a small wrapper module in the cache directory requires
`k8s.io/kubernetes` and replaces each staging module (`./staging/src/k8s.io/NAME` in
k/k's go.mod) with its published `v0.X.Y`. etcd is built the same way from
`go.etcd.io/etcd/server/v3`. Binaries are cached per version outside the repository and
reused when they report the right version. A directory named by `CLAUDE_POOL_ASSETS` (like
envtest's `KUBEBUILDER_ASSETS`) that holds all three binaries skips the build entirely.
kubectl is built the same way (`k8s.io/kubernetes/cmd/kubectl` from the same modules, so its
version matches the control plane and it warns about no skew) into the same folder, for
people: `make setup` builds it and `make dev` prints where it is; nothing else needs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.16"
BINARIES = ("kube-apiserver", "kube-controller-manager", "etcd")
ASSETS_ENV = "CLAUDE_POOL_ASSETS"
CACHE_ENV = "CLAUDE_POOL_CACHE"

_STAGING = re.compile(r"^\s*(k8s\.io/[\w.-]+)\s*=>\s*\./staging/src/", re.MULTILINE)
_GODEBUG = re.compile(r"^godebug .*$", re.MULTILINE)


@dataclass(frozen=True)
class Versions:
    """The pinned versions of the control plane components."""

    kubernetes: str = KUBERNETES_VERSION
    etcd: str = ETCD_VERSION

    @property
    def staging(self) -> str:
        """The published version of the staging modules (v1.36.3 -> v0.36.3)."""
        return "v0" + self.kubernetes[2:]

    @property
    def key(self) -> str:
        return f"k8s-{self.kubernetes}-etcd-{self.etcd}"


def cache_root() -> Path:
    """Where builds and binaries are kept (outside the repository)."""
    base = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "claude-pool"
    )
    return Path(base)


def bin_dir(versions: Versions = Versions()) -> Path:
    return cache_root() / "controlplane" / versions.key / "bin"


def staging_modules(kubernetes_gomod: str) -> list[str]:
    """The staging module paths that k/k's go.mod replaces with local directories."""
    return sorted(set(_STAGING.findall(kubernetes_gomod)))


def kubernetes_wrapper_gomod(kubernetes_gomod: str, versions: Versions) -> str:
    """A go.mod that builds k/k's commands from published modules."""
    godebug = _GODEBUG.search(kubernetes_gomod)
    staging = staging_modules(kubernetes_gomod)
    lines = [
        "module claudepool.local/kubebuild",
        "",
        "go 1.26.0",
        "",
        godebug.group(0) if godebug else "",
        "",
        f"require k8s.io/kubernetes {versions.kubernetes}",
        "",
        "replace (",
        *(f"\t{mod} => {mod} {versions.staging}" for mod in staging),
        ")",
        "",
    ]
    return "\n".join(lines)


def version_ldflags(versions: Versions) -> str:
    """-X flags so that /version reports the real version instead of v0.0.0-master."""
    major, minor = versions.kubernetes[1:].split(".")[:2]
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={versions.kubernetes}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return " ".join(flags)


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    print("+", " ".join(cmd), flush=True)
    proc = subprocess.run(
        cmd, cwd=cwd, env={**os.environ, **(env or {})}, text=True, capture_output=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc.stdout


def _reports_version(binary: Path, expected: str) -> bool:
    if not binary.is_file() or not os.access(binary, os.X_OK):
        return False
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return expected.lstrip("v") in out


_BUILD_ENV = {"CGO_ENABLED": "0", "GOFLAGS": "-mod=mod -buildvcs=false"}


def tools_go(commands: tuple[str, ...]) -> str:
    """A tools.go that makes `go mod tidy` keep what the `cmd/NAME` packages need."""
    imports = "".join(f'\t_ "k8s.io/kubernetes/cmd/{name}"\n' for name in commands)
    return f"//go:build tools\n\npackage tools\n\nimport (\n{imports})\n"


def build_kubernetes(
    versions: Versions,
    out: Path,
    commands: tuple[str, ...] = ("kube-apiserver", "kube-controller-manager"),
    work_name: str = "kubernetes",
) -> None:
    """Build k/k's `cmd/NAME` commands into `out` (each set in its own module directory)."""
    work = cache_root() / "controlplane" / "src" / f"{work_name}-{versions.kubernetes}"
    work.mkdir(parents=True, exist_ok=True)
    info = json.loads(
        _run(["go", "mod", "download", "-json", f"k8s.io/kubernetes@{versions.kubernetes}"], work)
    )
    gomod = Path(info["GoMod"]).read_text()
    (work / "go.mod").write_text(kubernetes_wrapper_gomod(gomod, versions))
    (work / "tools.go").write_text(tools_go(commands))
    _run(["go", "mod", "tidy"], work, _BUILD_ENV)
    _run(
        [
            "go",
            "build",
            "-trimpath",
            "-ldflags",
            version_ldflags(versions),
            "-o",
            str(out) + "/",
            *(f"k8s.io/kubernetes/cmd/{name}" for name in commands),
        ],
        work,
        _BUILD_ENV,
    )


def kubectl_path(versions: Versions = Versions()) -> Path:
    """Where `make setup` puts the kubectl that matches the control plane."""
    return bin_dir(versions) / "kubectl"


def _kubectl_reports(binary: Path, expected: str) -> bool:
    if not binary.is_file() or not os.access(binary, os.X_OK):
        return False
    try:
        out = subprocess.run(
            [str(binary), "version", "--client", "-o", "json"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        version = json.loads(out)["clientVersion"]["gitVersion"]
    except (OSError, subprocess.TimeoutExpired, ValueError, KeyError, TypeError):
        return False
    return bool(version == expected)


def ensure_kubectl(versions: Versions = Versions()) -> Path:
    """Return the cached kubectl of the control plane's version, building it when missing."""
    path = kubectl_path(versions)
    if not _kubectl_reports(path, versions.kubernetes):
        if shutil.which("go") is None:
            raise RuntimeError("Go is required to build kubectl (no cached binary found)")
        path.parent.mkdir(parents=True, exist_ok=True)
        build_kubernetes(versions, path.parent, ("kubectl",), work_name="kubectl")
    return path


def build_etcd(versions: Versions, out: Path) -> None:
    work = cache_root() / "controlplane" / "src" / f"etcd-{versions.etcd}"
    work.mkdir(parents=True, exist_ok=True)
    mods = ("api/v3", "client/pkg/v3", "client/v3", "pkg/v3", "server/v3")
    (work / "go.mod").write_text(
        "module claudepool.local/etcdbuild\n\ngo 1.26.0\n\n"
        f"require go.etcd.io/etcd/server/v3 {versions.etcd}\n\nreplace (\n"
        + "".join(f"\tgo.etcd.io/etcd/{m} => go.etcd.io/etcd/{m} {versions.etcd}\n" for m in mods)
        + ")\n"
    )
    (work / "tools.go").write_text(
        '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n'
    )
    _run(["go", "mod", "tidy"], work, _BUILD_ENV)
    _run(
        [
            "go",
            "build",
            "-trimpath",
            "-ldflags",
            "-s -w",
            "-o",
            str(out / "etcd"),
            "go.etcd.io/etcd/server/v3",
        ],
        work,
        _BUILD_ENV,
    )


def ensure_binaries(versions: Versions = Versions()) -> Path:
    """Return a directory holding all three binaries, building what is missing."""
    assets = os.environ.get(ASSETS_ENV)
    if assets:
        path = Path(assets)
        missing = [b for b in BINARIES if not (path / b).is_file()]
        if missing:
            raise RuntimeError(f"{ASSETS_ENV}={assets} lacks {', '.join(missing)}")
        return path
    out = bin_dir(versions)
    out.mkdir(parents=True, exist_ok=True)
    if not _reports_version(out / "etcd", versions.etcd):
        if shutil.which("go") is None:
            raise RuntimeError("Go is required to build etcd (no cached binary found)")
        build_etcd(versions, out)
    kube_ok = all(
        _reports_version(out / b, versions.kubernetes)
        for b in ("kube-apiserver", "kube-controller-manager")
    )
    if not kube_ok:
        if shutil.which("go") is None:
            raise RuntimeError("Go is required to build kube-apiserver (no cached binary found)")
        build_kubernetes(versions, out)
    return out


def main(argv: list[str] | None = None) -> int:
    """`python -m claude_pool build`: build what is missing (kubectl too) and print the
    binaries' folder."""
    del argv
    path = ensure_binaries()
    if not os.environ.get(ASSETS_ENV):
        ensure_kubectl()
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
