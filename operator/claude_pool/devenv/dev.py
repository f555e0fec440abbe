"""`make dev`: the whole product on this machine, on an embedded control plane.

Called by `python -m claude_pool dev`. Starts, in order, and stops in reverse order on
Ctrl-C, SIGTERM or any failure (nothing is left running):
1. the control plane (etcd, kube-apiserver, kube-controller-manager), state under `.dev/`,
   the CRDs installed, `.dev/kubeconfig` written;
2. the model API: the project's fake Anthropic API on a loopback port, or nothing when
   ANTHROPIC_API_KEY is set in the environment (the slots then call the real API);
3. the credentials Secret `claude-credentials` in the namespace (`default`): that key, or
   "sk-fake" for the fake API;
4. the local node (`devenv.localnode`), which runs slot pods as local processes with the
   pinned Claude CLI. With the fake API it also sets ANTHROPIC_BASE_URL in every slot, so
   pool manifests carry no base URL and stay cluster-agnostic (examples/ work unchanged);
5. the operator, `python -m claude_pool operator` as a child process, as in a cluster and
   in the integration harness: kopf owns that process's event loop and signals, its log
   goes to `.dev/logs/operator.log`, and it dies with this process (PR_SET_PDEATHSIG).
Then it prints where everything is and how to use it with kubectl, and waits.
`--exit-after-start` stops right after printing (the smoke test uses it).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from claude_pool.devenv import clusterinit
from claude_pool.devenv.clibin import ClaudeBinaryNotFound, claude_binary
from claude_pool.devenv.controlplane import ControlPlane
from claude_pool.devenv.fakeapi import FakeAnthropicThread
from claude_pool.devenv.localnode import LocalNode
from claude_pool.devenv.operatorproc import OperatorProcess

ROOT = Path(__file__).resolve().parents[3]
NAMESPACE = "default"  # where the examples go: the kubeconfig names no other
SECRET_NAME = "claude-credentials"  # noqa: S105 - the Secret's name, not a secret
API_KEY_ENV = "ANTHROPIC_API_KEY"
FAKE_API_KEY = "sk-fake"
OPERATOR_START_TIMEOUT = 60.0
DESCRIPTION = "Run claude-pool locally: control plane, fake API, local node, operator."


def _stop_on_sigterm(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # the same clean stop as Ctrl-C


def _api_client(kubeconfig: Path) -> client.ApiClient:
    cfg = client.Configuration()
    config.load_kube_config(  # type: ignore[no-untyped-call]  # kubernetes.config is untyped
        config_file=str(kubeconfig), client_configuration=cfg
    )
    return client.ApiClient(cfg)


def ensure_secret(api: client.ApiClient, namespace: str, api_key: str) -> None:
    """Create (or replace) the credentials Secret the example pool refers to."""
    core = client.CoreV1Api(api)
    body = client.V1Secret(
        metadata=client.V1ObjectMeta(name=SECRET_NAME), string_data={API_KEY_ENV: api_key}
    )
    try:
        core.create_namespaced_secret(namespace, body)
    except ApiException as exc:
        if exc.status != 409:
            raise
        core.replace_namespaced_secret(SECRET_NAME, namespace, body)


def _shown(path: Path) -> str:
    """`path` relative to the working directory when it is below it (shorter to copy)."""
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd()))
    return str(path)


def banner(
    *, seconds: float, server: str, kubeconfig: Path, model_api: str, namespace: str,
    operator: OperatorProcess, state: Path,
) -> str:  # fmt: skip
    """What `make dev` prints once everything runs."""
    examples = ROOT / "examples"
    return (
        f"claude-pool dev environment ready in {seconds:.1f}s\n"
        f"  control plane:  {server}\n"
        f"  kubeconfig:     {kubeconfig}\n"
        f"  model API:      {model_api}\n"
        f"  credentials:    Secret {namespace}/{SECRET_NAME}\n"
        f"  operator:       pid {operator.proc.pid if operator.proc else '-'}, "
        f"log {_shown(operator.log)}\n"
        f"  metrics:        {operator.metrics_url}\n"
        f"  slot logs:      {_shown(state / 'node')}/<namespace>/<pod>-<uid>/container.log\n"
        "\nIn another shell:\n"
        f"  export KUBECONFIG={kubeconfig}\n"
        f"  kubectl apply -f {_shown(examples / 'pool.yaml')}\n"
        "  kubectl get cpool,ctask\n"
        f"  kubectl apply -f {_shown(examples / 'task.yaml')}\n"
        "  kubectl wait ctask/hello --for=condition=Succeeded --timeout=120s\n"
        "  kubectl get ctask hello -o jsonpath='{.status.result.output}'\n"
        "  kubectl scale cpool/demo --replicas=3\n"
        f"  (more in {_shown(examples / 'README.md')})\n"
        "\nCtrl-C stops everything."
    )


def run(args: argparse.Namespace, stack: contextlib.ExitStack) -> int:
    """Start everything on `stack` (which stops it in reverse order) and wait."""
    started = time.monotonic()
    state: Path = args.state.resolve()
    cli = claude_binary()
    for stale in ("controlplane", "node", "logs"):  # a fresh cluster each time
        shutil.rmtree(state / stale, ignore_errors=True)
    cp = stack.enter_context(ControlPlane.create(state / "controlplane"))
    api = _api_client(cp.kubeconfig)
    stack.callback(api.close)
    clusterinit.install_crds(api)
    clusterinit.install_admission(api)
    kubeconfig = state / "kubeconfig"
    shutil.copyfile(cp.kubeconfig, kubeconfig)
    kubeconfig.chmod(0o600)

    overrides = {"CLAUDE_POOL_AGENT_CLAUDE_BIN": str(cli)}
    real_key = os.environ.get(API_KEY_ENV)
    if real_key:
        model_api = f"the real Anthropic API ({API_KEY_ENV} from your environment)"
    else:
        fake = stack.enter_context(FakeAnthropicThread(port=args.fake_api_port))
        overrides["ANTHROPIC_BASE_URL"] = fake.base_url
        model_api = f"fake Anthropic API at {fake.base_url} (set in every slot)"
    ensure_secret(api, NAMESPACE, real_key or FAKE_API_KEY)
    stack.enter_context(LocalNode(api, state / "node", overrides=overrides))
    operator = stack.enter_context(OperatorProcess(kubeconfig, state / "logs" / "operator.log"))
    print(
        banner(
            seconds=time.monotonic() - started, server=cp.server, kubeconfig=kubeconfig,
            model_api=model_api, namespace=NAMESPACE, operator=operator, state=state,
        ),
        flush=True,
    )  # fmt: skip
    if args.exit_after_start:
        return 0
    while operator.alive() and all(c.proc.poll() is None for c in cp.components):
        time.sleep(1)
    dead = [c.name for c in cp.components if c.proc.poll() is not None]
    if not operator.alive():
        dead.append("operator")
        print(operator.tail(), file=sys.stderr)
    print(f"stopped: {', '.join(dead)} exited; logs in {state / 'logs'} and "
          f"{cp.workdir / 'logs'}", file=sys.stderr)  # fmt: skip
    return 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="claude-pool dev", description=DESCRIPTION)
    parser.add_argument("--state", type=Path, default=ROOT / ".dev", help="state directory")
    parser.add_argument(
        "--fake-api-port", type=int, default=0, help="port of the fake API (0: a free one)"
    )
    parser.add_argument(
        "--exit-after-start", action="store_true", help="start, print, stop (for smoke tests)"
    )
    args = parser.parse_args(argv)
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        with contextlib.ExitStack() as stack:
            try:
                return run(args, stack)
            except KeyboardInterrupt:
                print("\nstopping", flush=True)
                return 0
            except ClaudeBinaryNotFound as exc:
                print(f"claude-pool dev: {exc}", file=sys.stderr)
                return 2
            finally:
                # a second Ctrl-C must not cut the shutdown short and leave processes behind
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
