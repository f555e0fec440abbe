"""`make dev`: a local claude-pool environment on an embedded control plane.

Called by `python -m claude_pool dev`. Starts the control plane (etcd, kube-apiserver,
kube-controller-manager) with its state under `.dev/` in the repository, installs the CRDs,
writes `.dev/kubeconfig`, prints how to use it, and runs until Ctrl-C or SIGTERM, then
stops everything it started.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import time
from pathlib import Path

from kubernetes import client, config

from claude_pool.devenv import clusterinit
from claude_pool.devenv.controlplane import ControlPlane

ROOT = Path(__file__).resolve().parents[3]


def _raise_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _api_client(kubeconfig: Path) -> client.ApiClient:
    cfg = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]  # kubernetes.config is untyped
        config_file=str(kubeconfig), client_configuration=cfg
    )
    return client.ApiClient(cfg)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="claude-pool dev")
    parser.add_argument("--state", type=Path, default=ROOT / ".dev", help="state directory")
    parser.add_argument(
        "--exit-after-start", action="store_true", help="start, print, stop (for smoke tests)"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_exit)
    state: Path = args.state
    shutil.rmtree(state / "controlplane", ignore_errors=True)
    started = time.monotonic()
    with ControlPlane.create(state / "controlplane") as cp:
        api = _api_client(cp.kubeconfig)
        clusterinit.install_crds(api)
        kubeconfig = state / "kubeconfig"
        shutil.copyfile(cp.kubeconfig, kubeconfig)
        kubeconfig.chmod(0o600)
        print(
            f"claude-pool dev environment ready in {time.monotonic() - started:.1f}s\n"
            f"  control plane: {cp.server}\n"
            f"  kubeconfig:    {kubeconfig}\n\n"
            f"In another shell:\n"
            f"  export KUBECONFIG={kubeconfig}\n"
            f"  kubectl get claudepools,claudetasks -A\n"
            f"  kubectl apply -f examples/\n\n"
            f"Ctrl-C stops everything.",
            flush=True,
        )
        if args.exit_after_start:
            return 0
        try:
            while all(c.proc.poll() is None for c in cp.components):
                time.sleep(1)
        except KeyboardInterrupt:
            print("\nstopping", flush=True)
            return 0
        dead = [c.name for c in cp.components if c.proc.poll() is not None]
        print(f"stopped: {', '.join(dead)} exited; logs in {cp.workdir / 'logs'}", file=sys.stderr)
        return 1
