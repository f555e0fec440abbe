"""Build (or find) a pinned helm binary for the chart test: `go install` from Go modules.

Called by tests/integration/test_chart.py and `python -m claude_pool.devenv.helmbin`. No
registry this project may use ships a helm binary, but helm is a Go module, so it is built
like the control plane (`building.py`): `go install helm.sh/helm/v4/cmd/helm@VERSION`
through the module proxy, cached in ~/.cache/claude-pool/helm/VERSION, reused when it
reports the pinned version. `CLAUDE_POOL_HELM` names an existing binary instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from claude_pool.devenv.building import cache_root

HELM_VERSION = "v4.3.2"
HELM_MODULE = "helm.sh/helm/v4/cmd/helm"
HELM_ENV = "CLAUDE_POOL_HELM"


def helm_path(version: str = HELM_VERSION) -> Path:
    return cache_root() / "helm" / version / "bin" / "helm"


def reports_version(binary: Path, version: str) -> bool:
    if not (binary.is_file() and os.access(binary, os.X_OK)):
        return False
    try:
        out = subprocess.run(
            [str(binary), "version", "--template", "{{.Version}}"],
            capture_output=True, text=True, timeout=30,
        ).stdout  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.strip() == version


def ensure_helm(version: str = HELM_VERSION) -> Path:
    """A helm binary of the pinned version, built once (a few minutes) and cached."""
    given = os.environ.get(HELM_ENV)
    if given:
        return Path(given)
    binary = helm_path(version)
    if reports_version(binary, version):
        return binary
    if shutil.which("go") is None:
        raise RuntimeError("Go is required to build helm (no cached binary found)")
    binary.parent.mkdir(parents=True, exist_ok=True)
    ldflags = f"-s -w -X helm.sh/helm/v4/internal/version.version={version}"
    env = {**os.environ, "GOBIN": str(binary.parent), "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
    proc = subprocess.run(
        ["go", "install", "-trimpath", "-ldflags", ldflags, f"{HELM_MODULE}@{version}"],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"go install helm failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    if not reports_version(binary, version):
        raise RuntimeError(f"{binary} does not report {version}")
    return binary


def main(argv: list[str] | None = None) -> int:
    del argv
    print(ensure_helm())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
