"""Build (or find) the real node's binaries: kubelet and kube-scheduler, from the same
Kubernetes Go modules as the apiserver (`claude_pool.devenv.building`), containerd v2 from
its Go module, and a pause binary for the pod sandboxes.

Called by the real node tier (`claude_pool.devenv.node`, `make e2e-node`). The kubelet is
built in its own wrapper module next to the control plane's (same staging replacements, same
version ldflags) so the shared Go module and build caches serve both; containerd is built with
the graph drivers it does not need here (btrfs, devmapper, zfs) left out. Binaries are cached
in `<cache>/node/<versions>/bin` and reused when they report the right version.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from claude_pool.devenv.building import (
    Versions,
    cache_root,
    kubernetes_wrapper_gomod,
    version_ldflags,
)

CONTAINERD_VERSION = "v2.4.2"
_ENV = {"CGO_ENABLED": "0", "GOFLAGS": "-mod=mod -buildvcs=false"}
KUBE_COMMANDS = ("kubelet", "kube-scheduler")
_CONTAINERD_TAGS = "no_btrfs no_devmapper no_zfs no_aufs"


@dataclass(frozen=True)
class NodeVersions:
    kubernetes: str = Versions().kubernetes
    containerd: str = CONTAINERD_VERSION

    @property
    def key(self) -> str:
        return f"k8s-{self.kubernetes}-containerd-{self.containerd}"


def node_bin_dir(versions: NodeVersions = NodeVersions()) -> Path:
    return cache_root() / "node" / versions.key / "bin"


def _run(cmd: list[str], cwd: Path) -> str:
    print("+", " ".join(cmd), flush=True)
    proc = subprocess.run(
        cmd, cwd=cwd, env={**os.environ, **_ENV}, text=True, capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc.stdout


def _reports(binary: Path, expected: str) -> bool:
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        return False
    try:
        out = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False
    return expected.lstrip("v") in out


def build_kubelet(versions: NodeVersions, out: Path) -> None:
    k8s = Versions(kubernetes=versions.kubernetes)
    work = cache_root() / "node" / "src" / f"kubelet-{versions.kubernetes}"
    work.mkdir(parents=True, exist_ok=True)
    info = json.loads(
        _run(["go", "mod", "download", "-json", f"k8s.io/kubernetes@{versions.kubernetes}"], work)
    )
    (work / "go.mod").write_text(kubernetes_wrapper_gomod(Path(info["GoMod"]).read_text(), k8s))
    (work / "tools.go").write_text(
        "//go:build tools\n\npackage tools\n\nimport (\n"
        + "".join(f'\t_ "k8s.io/kubernetes/cmd/{cmd}"\n' for cmd in KUBE_COMMANDS)
        + ")\n"
    )
    _run(["go", "mod", "tidy"], work)
    flags = ["-trimpath", "-ldflags", version_ldflags(k8s), "-o", str(out) + "/"]
    _run(["go", "build", *flags, *(f"k8s.io/kubernetes/cmd/{c}" for c in KUBE_COMMANDS)], work)


def build_containerd(versions: NodeVersions, out: Path) -> None:
    work = cache_root() / "node" / "src" / f"containerd-{versions.containerd}"
    work.mkdir(parents=True, exist_ok=True)
    module = "github.com/containerd/containerd/v2"
    (work / "go.mod").write_text(
        f"module claudepool.local/containerdbuild\n\ngo 1.26.0\n\nrequire {module} "
        f"{versions.containerd}\n"
    )
    (work / "tools.go").write_text(
        f'//go:build tools\n\npackage tools\n\nimport _ "{module}/cmd/containerd"\n'
    )
    _run(["go", "mod", "tidy"], work)
    ldflags = f"-s -w -X {module}/version.Version={versions.containerd}"
    for cmd in ("containerd", "ctr", "containerd-shim-runc-v2"):
        flags = ["-trimpath", "-tags", _CONTAINERD_TAGS, "-ldflags", ldflags, "-o", str(out / cmd)]
        _run(["go", "build", *flags, f"{module}/cmd/{cmd}"], work)


PAUSE_GO = """package main

// The pod sandbox's process: holds the pod's namespaces, reaps orphans, exits on SIGTERM/SIGINT.
import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
"""


def build_pause(out: Path) -> None:
    """The sandbox ("pause") binary; no registry serves registry.k8s.io/pause here."""
    work = cache_root() / "node" / "src" / "pause"
    work.mkdir(parents=True, exist_ok=True)
    (work / "go.mod").write_text("module claudepool.local/pause\n\ngo 1.26.0\n")
    (work / "main.go").write_text(PAUSE_GO)
    _run(["go", "build", "-trimpath", "-ldflags", "-s -w", "-o", str(out / "pause"), "."], work)


def ensure_node_binaries(versions: NodeVersions = NodeVersions()) -> Path:
    """A directory with kubelet, kube-scheduler, containerd, ctr, the runc shim and pause."""
    out = node_bin_dir(versions)
    out.mkdir(parents=True, exist_ok=True)
    if shutil.which("go") is None and not (out / "kubelet").exists():
        raise RuntimeError("Go is required to build kubelet and containerd (none cached)")
    if not all(_reports(out / cmd, versions.kubernetes) for cmd in KUBE_COMMANDS):
        build_kubelet(versions, out)
    if not _reports(out / "containerd", versions.containerd):
        build_containerd(versions, out)
    if not (out / "pause").is_file():
        build_pause(out)
    return out


def main(argv: list[str] | None = None) -> int:
    del argv
    print(ensure_node_binaries())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
