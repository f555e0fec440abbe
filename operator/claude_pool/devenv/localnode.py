"""The local node: plays kubelet (and scheduler) for tests and `make dev`.

Registers a Node, binds unscheduled pods to it, starts each pod's container as a local
process on its own loopback address (the pod IP, 127.x.y.z), probes it over HTTP, and
reports pod status (phase, podIP, Ready, container state, restarts, last termination) as a
kubelet does. Processes are restarted per restartPolicy with a capped backoff; a pod whose
Secret is missing waits in CreateContainerConfigError; deleting a pod stops its process
(SIGTERM, then SIGKILL after the grace period) and then removes the object. The operator
talks to pod IPs exactly as it would in a cluster.

When the node runs as root, a pod whose securityContext names a non-root runAsUser (slot
pods: 10001, like the slot image) runs as that user and group (`podusers`), with its
directories owned by it, so a slot's CLI cannot read what only root can (the admin
kubeconfig, the control plane's keys). When `root` is not traversable by that user (e.g.
pytest's private temporary directories), pods live in a scratch directory under the
system's temporary directory, removed when the node stops.

Two threads: one watches pods, one supervises processes. Use as a context manager.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from claude_pool.devenv.controlplane import die_with_parent
from claude_pool.devenv.kubeletlogs import KubeletLogs
from claude_pool.devenv.podprocess import PodConfigError, ProcessSpec, process_spec
from claude_pool.devenv.podusers import check_cli, chown_tree, slot_python, traversable_by_others

_IPS = itertools.count()
_BACKOFF_CAP = 10.0
_LIVENESS_FAILURES = 3


def next_pod_ip() -> str:
    """A loopback address unique to this process's pods (127.0.0.0/8 is all loopback)."""
    n = next(_IPS)
    return f"127.{os.getpid() % 250 + 1}.{n // 250}.{n % 250 + 2}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class PodRun:
    """What the node knows about one pod it runs."""

    namespace: str
    name: str
    uid: str
    ip: str
    restart_policy: str
    grace: float
    root: Path
    spec: ProcessSpec | None = None
    proc: subprocess.Popen[bytes] | None = None
    started_at: str | None = None
    restarts: int = 0
    ready: bool = False
    waiting: tuple[str, str] | None = None
    last_terminated: dict[str, Any] | None = None
    next_start: float = 0.0
    liveness_failures: int = 0
    next_liveness: float = 0.0
    deleting: bool = False
    dirty: bool = True
    container: str = "main"


class LocalNode:
    """A kubelet stand-in that runs pods as local processes."""

    def __init__(
        self,
        api: client.ApiClient,
        root: Path,
        *,
        name: str = "local-node",
        overrides: Mapping[str, str] | None = None,
        namespaces: set[str] | None = None,
        drop_root: bool = True,
    ) -> None:
        self.core = client.CoreV1Api(api)
        self.root = root
        self.switch_users = drop_root and os.geteuid() == 0
        """Run pods as their securityContext's user (possible only as root)."""
        self.pods_dir = root
        self.claims_dir = root / ".claims"
        """persistentVolumeClaim volumes, by namespace/claim (no namespace starts with a dot)."""
        self._scratch: Path | None = None
        self.python, self.python_env = sys.executable, dict[str, str]()
        self.name = name
        self.overrides = dict(overrides or {})
        self.namespaces = namespaces
        self.runs: dict[str, PodRun] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.logs = KubeletLogs(root / "kubelet", self._log_file, self._alive)

    def __enter__(self) -> LocalNode:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> LocalNode:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.switch_users:
            self.python, self.python_env = slot_python()
            check_cli(self.overrides.get("CLAUDE_POOL_AGENT_CLAUDE_BIN"))
            if not traversable_by_others(self.root):
                self._scratch = Path(tempfile.mkdtemp(prefix="claude-pool-pods-"))
                self._scratch.chmod(0o711)
                self.pods_dir = self._scratch
                self.claims_dir = self._scratch / ".claims"
        self.logs.start()
        self._register()
        for target in (self._watch_loop, self._supervise_loop):
            thread = threading.Thread(target=target, name=f"{self.name}-{target.__name__}")
            thread.daemon = True
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            runs = list(self.runs.values())
        for run in runs:
            self._kill(run, grace=2.0)
        for thread in self._threads:
            thread.join(timeout=10)
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
        self.logs.stop()

    def run_of(self, namespace: str, name: str) -> PodRun | None:
        with self._lock:
            return next(
                (r for r in self.runs.values() if (r.namespace, r.name) == (namespace, name)), None
            )

    # node registration and binding
    def _register(self) -> None:
        node = client.V1Node(
            metadata=client.V1ObjectMeta(name=self.name, labels={"claudepool.io/local-node": ""}),
            status=client.V1NodeStatus(
                conditions=[
                    client.V1NodeCondition(type="Ready", status="True", reason="LocalNode")
                ],
                addresses=[client.V1NodeAddress(type="InternalIP", address="127.0.0.1")],
            ),
        )
        with contextlib.suppress(ApiException):
            self.core.create_node(node)
        # where `kubectl logs` reaches this node (the node may exist from an earlier run)
        endpoint = {"daemonEndpoints": {"kubeletEndpoint": {"Port": self.logs.port}}}
        self.core.patch_node_status(self.name, {"status": endpoint})

    def _log_file(self, namespace: str, name: str) -> Path | None:
        run = self.run_of(namespace, name)
        return None if run is None else run.root / "container.log"

    def _alive(self, namespace: str, name: str) -> bool:
        run = self.run_of(namespace, name)
        return run is not None and run.proc is not None and run.proc.poll() is None

    def _wanted(self, pod: Any) -> bool:
        return self.namespaces is None or pod.metadata.namespace in self.namespaces

    def _bind(self, pod: Any) -> None:
        body = client.V1Binding(
            metadata=client.V1ObjectMeta(name=pod.metadata.name, uid=pod.metadata.uid),
            target=client.V1ObjectReference(kind="Node", name=self.name, api_version="v1"),
        )
        try:
            # the client cannot decode the Status answer of a binding; ignore the body
            self.core.create_namespaced_pod_binding(
                pod.metadata.name, pod.metadata.namespace, body, _preload_content=False
            )
        except ApiException as exc:
            if exc.status not in (404, 409):
                raise

    # watching pods
    def _watch_loop(self) -> None:
        last_error = ""
        while not self._stop.is_set():
            try:
                listing = self.core.list_pod_for_all_namespaces()
                for pod in listing.items:
                    self._on_pod("MODIFIED", pod)
                assert listing.metadata is not None
                stream = watch.Watch().stream(  # type: ignore[no-untyped-call]  # untyped client
                    self.core.list_pod_for_all_namespaces,
                    resource_version=listing.metadata.resource_version,
                    timeout_seconds=5,
                )
                last_error = ""
                for event in stream:
                    if self._stop.is_set():
                        break
                    self._on_pod(event["type"], event["object"])
            except Exception as exc:
                if not self._stop.is_set():
                    if str(exc) != last_error:  # once per kind of error, not twice a second
                        print(f"local-node: watch error: {exc}", flush=True)
                    last_error = str(exc)
                    time.sleep(0.5)

    def _on_pod(self, kind: str, pod: Any) -> None:
        if not self._wanted(pod):
            return
        uid = pod.metadata.uid
        with self._lock:
            run = self.runs.get(uid)
        if kind == "DELETED":
            if run is not None:
                self._kill(run, grace=0.0)
                with self._lock:
                    self.runs.pop(uid, None)
            return
        if pod.metadata.deletion_timestamp is not None:
            if run is not None and not run.deleting:
                run.deleting = True
                threading.Thread(target=self._terminate_and_remove, args=(run,)).start()
            elif run is None and pod.spec.node_name == self.name:
                self._remove(pod.metadata.namespace, pod.metadata.name, uid)
            return
        if not pod.spec.node_name:
            self._bind(pod)
            return
        if pod.spec.node_name != self.name or run is not None:
            return
        phase = pod.status.phase if pod.status else None
        if phase in ("Succeeded", "Failed"):
            return
        known_ip = pod.status.pod_ip if pod.status else None
        new = PodRun(
            namespace=pod.metadata.namespace,
            name=pod.metadata.name,
            uid=uid,
            # a pod adopted from an earlier node process (make dev restarted) keeps its IP:
            # the apiserver refuses a second one
            ip=known_ip if known_ip and known_ip.startswith("127.") else next_pod_ip(),
            restart_policy=pod.spec.restart_policy or "Always",
            grace=float(pod.spec.termination_grace_period_seconds or 30),
            root=self.pods_dir / pod.metadata.namespace / f"{pod.metadata.name}-{uid[:8]}",
            container=pod.spec.containers[0].name,
        )
        new.root.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self.runs[uid] = new

    def _terminate_and_remove(self, run: PodRun) -> None:
        self._kill(run, grace=min(run.grace, 10.0))
        self._remove(run.namespace, run.name, run.uid)
        with self._lock:
            self.runs.pop(run.uid, None)

    def _remove(self, namespace: str, name: str, uid: str) -> None:
        with contextlib.suppress(ApiException):
            self.core.delete_namespaced_pod(
                name,
                namespace,
                grace_period_seconds=0,
                body=client.V1DeleteOptions(
                    grace_period_seconds=0, preconditions=client.V1Preconditions(uid=uid)
                ),
            )

    # supervising processes
    def _supervise_loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                runs = [r for r in self.runs.values() if not r.deleting]
            for run in runs:
                try:
                    self._supervise(run)
                    if run.dirty:
                        self._report(run)
                except Exception as exc:
                    print(f"local-node: {run.namespace}/{run.name}: {exc}", flush=True)
            self._stop.wait(0.1)

    def _secret(self, namespace: str) -> Any:
        def lookup(name: str, key: str) -> str | None:
            try:
                secret = self.core.read_namespaced_secret(name, namespace)
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise
            raw = (secret.data or {}).get(key)
            return None if raw is None else base64.b64decode(raw).decode()

        return lookup

    def _config_map(self, namespace: str) -> Any:
        def lookup(name: str, key: str) -> str | None:
            try:
                cm = self.core.read_namespaced_config_map(name, namespace)
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise
            value: str | None = (cm.data or {}).get(key)
            return value

        return lookup

    def _supervise(self, run: PodRun) -> None:
        now = time.monotonic()
        if run.proc is not None and run.proc.poll() is not None:
            self._exited(run, now)
        if run.proc is None:
            if now >= run.next_start and not (
                run.last_terminated is not None and self._stays_down(run)
            ):
                self._launch(run, now)
            return
        if not run.ready:
            if self._probe(run, run.spec.readiness_path if run.spec else None):
                run.ready, run.dirty = True, True
        elif run.spec and run.spec.liveness_path and now >= run.next_liveness:
            run.next_liveness = now + 2.0
            if self._probe(run, run.spec.liveness_path):
                run.liveness_failures = 0
            else:
                run.liveness_failures += 1
                if run.liveness_failures >= _LIVENESS_FAILURES:
                    self._kill(run, grace=2.0)

    def _stays_down(self, run: PodRun) -> bool:
        code = (run.last_terminated or {}).get("exitCode", 1)
        return run.restart_policy == "Never" or (run.restart_policy == "OnFailure" and code == 0)

    def _launch(self, run: PodRun, now: float) -> None:
        pod = self.core.read_namespaced_pod(run.name, run.namespace)
        manifest = self.core.api_client.sanitize_for_serialization(pod)
        try:
            spec = process_spec(
                manifest,
                pod_ip=run.ip,
                root=run.root,
                secret=self._secret(run.namespace),
                config_map=self._config_map(run.namespace),
                overrides=self.overrides,
                python=self.python,
                claims=self.claims_dir,
            )
        except PodConfigError as exc:
            if run.waiting != ("CreateContainerConfigError", str(exc)):
                run.waiting, run.dirty = ("CreateContainerConfigError", str(exc)), True
            run.next_start = now + 1.0
            return
        for path in spec.volumes.values():
            path.mkdir(parents=True, exist_ok=True)
        user = spec.run_as_user if self.switch_users and spec.run_as_user else None
        group = spec.run_as_group if spec.run_as_group is not None else user
        if user is not None:
            for directory in (self.pods_dir, run.root.parent):
                directory.chmod(directory.stat().st_mode | 0o011)  # traversable, not listable
            chown_tree(run.root, user, group or user)
            for path in spec.volumes.values():
                if not path.is_relative_to(run.root):  # a claim's directory, shared by pods
                    for directory in (self.claims_dir, path.parent):
                        directory.chmod(directory.stat().st_mode | 0o011)
                    chown_tree(path, user, group or user)
        log = (run.root / "container.log").open("ab")
        run.proc = subprocess.Popen(
            spec.argv,
            env={"PATH": os.environ.get("PATH", ""), **self.python_env, **spec.env},
            cwd=spec.cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
            user=user,
            group=group if user is not None else None,
            extra_groups=[] if user is not None else None,
        )
        log.close()
        run.spec, run.started_at, run.waiting = spec, _now(), None
        run.ready = spec.readiness_path is None
        run.liveness_failures, run.next_liveness = 0, now + 2.0
        run.dirty = True

    def _exited(self, run: PodRun, now: float) -> None:
        assert run.proc is not None
        code = run.proc.returncode
        run.last_terminated = {
            "exitCode": code if code >= 0 else 128 - code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": run.started_at,
            "finishedAt": _now(),
        }
        run.proc, run.ready = None, False
        if not self._stays_down(run):
            run.restarts += 1
            run.next_start = now + min(_BACKOFF_CAP, 0.5 * 2 ** min(run.restarts, 6))
        run.dirty = True

    def _probe(self, run: PodRun, path: str | None) -> bool:
        if path is None or run.spec is None or run.spec.port is None:
            return run.proc is not None
        url = f"http://{run.ip}:{run.spec.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                status: int = resp.status
                return 200 <= status < 400
        except (urllib.error.URLError, OSError):
            return False

    def _kill(self, run: PodRun, grace: float) -> None:
        proc = run.proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=grace if grace > 0 else 0.01)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    # status
    def _report(self, run: PodRun) -> None:
        running = run.proc is not None
        state: dict[str, Any]
        if running:
            state = {"running": {"startedAt": run.started_at}}
        elif run.waiting:
            state = {"waiting": {"reason": run.waiting[0], "message": run.waiting[1]}}
        elif run.last_terminated is not None and self._stays_down(run):
            state = {"terminated": run.last_terminated}
        else:
            state = {"waiting": {"reason": "CrashLoopBackOff" if run.restarts else "Pending"}}
        ready = "True" if running and run.ready else "False"
        stamp = _now()
        phase = (
            "Running"
            if running or not self._stays_down(run)
            else ("Succeeded" if (run.last_terminated or {}).get("exitCode") == 0 else "Failed")
        )
        status: dict[str, Any] = {
            "phase": "Pending" if run.started_at is None else phase,
            "hostIP": "127.0.0.1",
            "podIP": run.ip,
            "podIPs": [{"ip": run.ip}],
            "startTime": run.started_at or stamp,
            "conditions": [
                {"type": t, "status": s, "lastTransitionTime": stamp}
                for t, s in (
                    ("PodScheduled", "True"),
                    ("Initialized", "True"),
                    ("ContainersReady", ready),
                    ("Ready", ready),
                )
            ],
            "containerStatuses": [
                {
                    "name": run.container,
                    "image": "local",
                    "imageID": "local",
                    "containerID": f"local://{run.uid}/{run.restarts}",
                    "ready": ready == "True",
                    "started": running,
                    "restartCount": run.restarts,
                    "state": state,
                    **(
                        {"lastState": {"terminated": run.last_terminated}}
                        if run.last_terminated
                        else {}
                    ),
                }
            ],
        }
        try:
            self.core.patch_namespaced_pod_status(run.name, run.namespace, {"status": status})
            run.dirty = False
        except ApiException as exc:
            if exc.status == 404:
                self._kill(run, grace=0.0)
                with self._lock:
                    self.runs.pop(run.uid, None)
            else:
                raise
