"""`make dev`: the whole product on this machine, on an embedded control plane.

Called by `python -m claude_pool dev`. Starts, in order, and stops in reverse order on
Ctrl-C, SIGTERM or any failure (nothing is left running):
1. the control plane (etcd, kube-apiserver, kube-controller-manager), state under `.dev/`
   and kept across runs (etcd's data: pools and tasks survive a restart; `--fresh` starts
   empty), the CRDs installed, `.dev/kubeconfig` written;
2. the model API: the project's fake Anthropic API on a loopback port, or nothing when
   ANTHROPIC_API_KEY is set in the environment (the slots then call the real API);
3. the credentials Secret `claude-credentials` in the namespace (`default`): that key, or
   "sk-fake" for the fake API;
4. the local node (`devenv.localnode`), which runs slot pods as local processes with the
   pinned Claude CLI. With the fake API it also sets ANTHROPIC_BASE_URL in every slot, so
   pool manifests carry no base URL and stay cluster-agnostic (examples/ work unchanged).
   Slot directories live outside any git checkout (`node_root`): the CLI tells the model
   the git status of its working directory, which must not be this repository's;
5. the operator, `python -m claude_pool operator` as a child process, as in a cluster and
   in the integration harness: kopf owns that process's event loop and signals, its log
   goes to `.dev/logs/operator.log`, and it dies with this process (PR_SET_PDEATHSIG).
Then it prints where everything is and how to use it with kubectl (the one `make setup`
built, matching the control plane), and watches: a crashed operator is restarted with a
backoff (said on the console), as a Deployment would; a dead etcd or kube-apiserver stops
everything with a message saying which and where its log is. `--exit-after-start` stops
right after printing (the smoke test uses it).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from claude_pool.devenv import building, clusterinit
from claude_pool.devenv.clibin import ClaudeBinaryNotFound, claude_binary
from claude_pool.devenv.controlplane import Component, ControlPlane
from claude_pool.devenv.fakeapi import FakeAnthropicThread
from claude_pool.devenv.localnode import LocalNode
from claude_pool.devenv.operatorproc import OperatorProcess

ROOT = Path(__file__).resolve().parents[3]
NAMESPACE = "default"  # where the examples go: the kubeconfig names no other
SECRET_NAME = "claude-credentials"  # noqa: S105 - the Secret's name, not a secret
API_KEY_ENV = "ANTHROPIC_API_KEY"
FAKE_API_KEY = "sk-fake"
OPERATOR_START_TIMEOUT = 60.0
RESTART_FIRST_DELAY = 1.0
RESTART_MAX_DELAY = 30.0
RESTART_STABLE_SECONDS = 60.0
"""An operator that ran this long before it died starts again from the first delay."""
DESCRIPTION = "Run claude-pool locally: control plane, fake API, local node, operator."


def say(text: str) -> None:
    """One line on the console, with the time (the dev environment's own log)."""
    print(f"[dev {time.strftime('%H:%M:%S')}] {text}", flush=True)


def node_root(state: Path) -> Path:
    """Where the slot pods' directories live: outside any git checkout, one per state
    directory (so kept across restarts, like the cluster's state), under the system's
    temporary directory; every level traversable by the slots' unprivileged user."""
    digest = hashlib.sha256(str(state.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"claude-pool-dev-{os.getuid()}" / digest / "node"


def _make_traversable(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for level in (path.parent.parent, path.parent, path):
        level.chmod(0o711)


def restart_delay(failures: int) -> float:
    """The wait before restarting the operator after its `failures`-th crash in a row."""
    return float(min(RESTART_MAX_DELAY, RESTART_FIRST_DELAY * 2 ** max(0, failures - 1)))


def supervise(
    components: list[Component],
    operator: OperatorProcess,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Component:
    """Watch until a control plane component dies (returned); restart a dead operator."""
    failures, since = 0, clock()
    while True:
        dead = next((c for c in components if c.proc.poll() is not None), None)
        if dead is not None:
            return dead
        if operator.alive():
            sleep(0.5)
            continue
        failures = 1 if clock() - since >= RESTART_STABLE_SECONDS else failures + 1
        delay = restart_delay(failures)
        code = operator.proc.returncode if operator.proc is not None else None
        say(
            f"the operator exited (code {code}); restarting it in {delay:g}s"
            f" (crash {failures} in a row; its log: {_shown(operator.log)})"
        )
        deadline = clock() + delay
        while clock() < deadline and all(c.proc.poll() is None for c in components):
            sleep(0.2)
        if any(c.proc.poll() is not None for c in components):
            continue
        since = clock()
        try:
            operator.start()
        except RuntimeError as exc:
            say(f"the operator did not start: {str(exc).splitlines()[0]}")
            continue
        say(f"the operator runs again (pid {operator.proc.pid if operator.proc else '-'})")


def stopped_message(component: Component) -> str:
    """What the console says when a control plane component died."""
    code = component.proc.returncode
    return (
        f"{component.name} exited (code {code}): nothing works without it, so the dev"
        f" environment stops now. Its log: {component.log}\n--- last lines ---\n"
        f"{component.tail(10)}\n---\nThe state is kept; run `make dev` again to start"
        " where it stopped (`--fresh` for an empty cluster)."
    )


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


def kubectl_hint(kubectl: Path | None) -> tuple[str, str]:
    """The banner's kubectl line and the command that puts it on PATH ("" when absent)."""
    if kubectl is None or not kubectl.is_file():
        return "not built (`make setup` builds one matching the control plane)", ""
    line = f"{kubectl} ({building.KUBERNETES_VERSION}, matches the control plane)"
    return line, f"  export PATH={kubectl.parent}:$PATH   # or call {kubectl} directly\n"


def banner(
    *, seconds: float, server: str, kubeconfig: Path, model_api: str, namespace: str,
    operator: OperatorProcess, state: Path, slots: Path, kubectl: Path | None = None,
) -> str:  # fmt: skip
    """What `make dev` prints once everything runs."""
    examples = ROOT / "examples"
    kubectl_line, path_line = kubectl_hint(kubectl)
    return (
        f"claude-pool dev environment ready in {seconds:.1f}s\n"
        f"  control plane:  {server}\n"
        f"  kubeconfig:     {kubeconfig}\n"
        f"  state:          {_shown(state)} (kept across runs; `--fresh` starts empty)\n"
        f"  kubectl:        {kubectl_line}\n"
        f"  model API:      {model_api}\n"
        f"  credentials:    Secret {namespace}/{SECRET_NAME}\n"
        f"  operator:       pid {operator.proc.pid if operator.proc else '-'}, "
        f"log {_shown(operator.log)} (restarted if it crashes)\n"
        f"  metrics:        {operator.metrics_url}\n"
        f"  slot logs:      {slots}/<namespace>/<pod>-<uid>/container.log (kubectl logs works)\n"
        "\nIn another shell:\n"
        f"{path_line}"
        f"  export KUBECONFIG={kubeconfig}\n"
        f"  kubectl apply -f {_shown(examples / 'pool.yaml')}\n"
        "  kubectl get cpool,ctask\n"
        f"  kubectl apply -f {_shown(examples / 'task.yaml')}\n"
        "  kubectl wait ctask/hello --for=condition=Succeeded --timeout=120s\n"
        "  kubectl get ctask hello -o jsonpath='{.status.result.output}'\n"
        "  kubectl scale cpool/demo --replicas=3\n"
        '  .venv/bin/claude-pool run -p demo "Say hello."   # the CLI: docs/cli.md\n'
        "  .venv/bin/claude-pool status\n"
        f"  (more in {_shown(examples / 'README.md')})\n"
        "\nCtrl-C stops everything."
    )


def run(args: argparse.Namespace, stack: contextlib.ExitStack) -> int:
    """Start everything on `stack` (which stops it in reverse order) and wait."""
    started = time.monotonic()
    state: Path = args.state.resolve()
    cli = claude_binary()
    slots = node_root(state)
    if args.fresh:
        for stale in (state / "controlplane", state / "logs", slots.parent):
            shutil.rmtree(stale, ignore_errors=True)
    _make_traversable(slots)
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
    stack.enter_context(LocalNode(api, slots, overrides=overrides))
    operator = stack.enter_context(OperatorProcess(kubeconfig, state / "logs" / "operator.log"))
    kubectl = building.kubectl_path()
    print(
        banner(
            seconds=time.monotonic() - started, server=cp.server, kubeconfig=kubeconfig,
            model_api=model_api, namespace=NAMESPACE, operator=operator, state=state,
            slots=slots, kubectl=kubectl if kubectl.is_file() else None,
        ),
        flush=True,
    )  # fmt: skip
    if args.exit_after_start:
        return 0
    dead = supervise(cp.components, operator)
    print(f"claude-pool dev: {stopped_message(dead)}", file=sys.stderr, flush=True)
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
    parser.add_argument(
        "--fresh", action="store_true", help="start with an empty cluster (drop the kept state)"
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
