"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager.

Called by the integration test fixtures (tests/integration/conftest.py), by `make dev`
(`claude_pool.devenv.dev`) and by `python -m claude_pool controlplane`. Binaries come from
`claude_pool.devenv.building`. Everything runs on free loopback ports under one work
directory; components are children that die with this process (PR_SET_PDEATHSIG), and
`stop()` (also on Ctrl-C, SIGTERM and interpreter exit) ends them, leaving nothing behind.
When start-up fails, the error carries the tail of each component's log. A work directory
given by the caller keeps etcd's data, so a later start on it finds the same objects
(`make dev`); etcd then reuses its earlier ports when they are free, because its member
list remembers them and clients would otherwise keep dialling the old ones.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import datetime as dt
import json
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from claude_pool.devenv import building
from claude_pool.devenv.certs import CertificateAuthority, service_account_keys
from claude_pool.devenv.kubeconfig import write_kubeconfig

_PR_SET_PDEATHSIG = 1
_START_TIMEOUT = 120.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether `port` can be bound now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def die_with_parent() -> None:
    """In a child between fork and exec: get SIGTERM when the parent (thread) dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class Component:
    """One started process and its log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])

    def stop(self, grace: float = 10.0) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(grace)


class StartupError(RuntimeError):
    """A component did not become healthy; the message holds the logs."""


@dataclass
class ControlPlane:
    """A running control plane. Use as a context manager, or call start()/stop()."""

    workdir: Path
    binaries: Path
    with_controller_manager: bool = True
    audit_log: bool = False
    cluster_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    components: list[Component] = field(default_factory=list)
    server: str = ""
    etcd_url: str = ""
    _owns_workdir: bool = False
    _ca: CertificateAuthority | None = None

    @classmethod
    def create(
        cls,
        workdir: Path | None = None,
        *,
        with_controller_manager: bool = True,
        audit_log: bool = False,
    ) -> ControlPlane:
        owns = workdir is None
        wd = Path(tempfile.mkdtemp(prefix="claude-pool-cp-")) if workdir is None else workdir
        wd.mkdir(parents=True, exist_ok=True)
        return cls(
            workdir=wd,
            binaries=building.ensure_binaries(),
            with_controller_manager=with_controller_manager,
            audit_log=audit_log,
            _owns_workdir=owns,
        )

    # paths
    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def pki(self) -> Path:
        return self.workdir / "pki"

    @property
    def audit_path(self) -> Path:
        return self.workdir / "logs" / "audit.log"

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> ControlPlane:
        atexit.register(self.stop)
        (self.workdir / "logs").mkdir(exist_ok=True)
        try:
            self._write_pki()
            self._start_etcd()
            self._start_apiserver()
            if self.with_controller_manager:
                self._start_controller_manager()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for comp in self.components:  # signal all first, then wait: shutdowns overlap
            if comp.proc.poll() is None:
                comp.proc.terminate()
        for comp in reversed(self.components):
            comp.stop()
        self.components.clear()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self._owns_workdir = False

    def user_kubeconfig(self, user: str, groups: tuple[str, ...] = ()) -> Path:
        """A kubeconfig for another user: a client certificate with CN = user and O = groups
        (the apiserver authenticates it as that user; RBAC decides what it may do)."""
        if self._ca is None:
            raise RuntimeError("the control plane is not started")
        stem = "user-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in user)
        cert, key = self._ca.issue(user, orgs=groups, client=True).write(self.pki, stem)
        path = self.workdir / f"{stem}.kubeconfig"
        write_kubeconfig(path, server=self.server, ca=self.pki / "ca.crt", cert=cert, key=key)
        return path

    def pids(self) -> dict[str, int]:
        return {c.name: c.proc.pid for c in self.components}

    # start-up steps
    def _write_pki(self) -> None:
        self.pki.mkdir(exist_ok=True)
        ca = CertificateAuthority(dt.datetime.now(dt.UTC))
        self._ca = ca
        ca.pair.write(self.pki, "ca")
        ca.issue(
            "kube-apiserver",
            hosts=("127.0.0.1", "localhost", "10.0.0.1", "kubernetes.default.svc"),
            server=True,
        ).write(self.pki, "apiserver")
        ca.issue("claude-pool-admin", orgs=("system:masters",), client=True).write(
            self.pki, "admin"
        )
        sa = service_account_keys()
        (self.pki / "sa.pub").write_bytes(sa.cert_pem)
        (self.pki / "sa.key").write_bytes(sa.key_pem)
        (self.pki / "sa.key").chmod(0o600)

    def _spawn(self, name: str, argv: list[str]) -> Component:
        log = self.workdir / "logs" / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                preexec_fn=die_with_parent,
            )
        comp = Component(name, proc, log)
        self.components.append(comp)
        return comp

    def _wait(self, comp: Component, probe: str, ctx: ssl.SSLContext | None) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        last = ""
        while time.monotonic() < deadline:
            if comp.proc.poll() is not None:
                raise StartupError(self._report(f"{comp.name} exited ({comp.proc.returncode})"))
            try:
                with urllib.request.urlopen(probe, timeout=2, context=ctx) as resp:  # noqa: S310 - our own loopback URL
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError) as exc:
                last = str(exc)
            time.sleep(0.2)
        raise StartupError(self._report(f"{comp.name} not healthy after {_START_TIMEOUT}s: {last}"))

    def _report(self, headline: str) -> str:
        parts = [headline]
        for comp in self.components:
            parts.append(f"--- {comp.name} log ({comp.log}) ---\n{comp.tail()}")
        return "\n".join(parts)

    def _etcd_ports(self) -> tuple[int, int]:
        """Client and peer port: the last run's when its data is kept and they are free."""
        saved = self.workdir / "etcd-ports.json"
        if (self.workdir / "etcd").is_dir() and saved.is_file():
            with contextlib.suppress(ValueError, TypeError):
                client, peer = (int(p) for p in json.loads(saved.read_text()))
                if port_free(client) and port_free(peer):
                    return client, peer
        client, peer = free_port(), free_port()
        saved.write_text(json.dumps([client, peer]))
        return client, peer

    def _start_etcd(self) -> None:
        client, peer = self._etcd_ports()
        self.etcd_url = f"http://127.0.0.1:{client}"
        peer_url = f"http://127.0.0.1:{peer}"
        comp = self._spawn(
            "etcd",
            [
                str(self.binaries / "etcd"),
                "--name=default",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
                "--quota-backend-bytes=8589934592",
            ],
        )
        self._wait(comp, f"{self.etcd_url}/health", None)

    def _client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.pki / "ca.crt"))
        ctx.load_cert_chain(str(self.pki / "admin.crt"), str(self.pki / "admin.key"))
        return ctx

    def _start_apiserver(self) -> None:
        port = free_port()
        self.server = f"https://127.0.0.1:{port}"
        argv = [
            str(self.binaries / "kube-apiserver"),
            f"--etcd-servers={self.etcd_url}",
            f"--secure-port={port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--tls-cert-file={self.pki / 'apiserver.crt'}",
            f"--tls-private-key-file={self.pki / 'apiserver.key'}",
            f"--client-ca-file={self.pki / 'ca.crt'}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={self.pki / 'sa.pub'}",
            f"--service-account-signing-key-file={self.pki / 'sa.key'}",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--disable-admission-plugins=ServiceAccount",
            "--allow-privileged=true",
            "--v=0",
        ]
        if self.audit_log:
            policy = self.workdir / "audit-policy.yaml"
            policy.write_text(
                "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n"
                "- level: Metadata\n  verbs: [create, update, patch, delete, deletecollection]\n"
            )
            argv += [
                f"--audit-policy-file={policy}",
                f"--audit-log-path={self.audit_path}",
                "--audit-log-format=json",
                "--audit-log-mode=blocking",
            ]
        comp = self._spawn("kube-apiserver", argv)
        self._wait(comp, f"{self.server}/readyz", self._client_context())
        write_kubeconfig(
            self.kubeconfig,
            server=self.server,
            ca=self.pki / "ca.crt",
            cert=self.pki / "admin.crt",
            key=self.pki / "admin.key",
        )

    def _start_controller_manager(self) -> None:
        port = free_port()
        comp = self._spawn(
            "kube-controller-manager",
            [
                str(self.binaries / "kube-controller-manager"),
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--controllers=garbage-collector-controller,namespace-controller",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--root-ca-file={self.pki / 'ca.crt'}",
                f"--service-account-private-key-file={self.pki / 'sa.key'}",
                "--concurrent-gc-syncs=5",
                "--v=0",
            ],
        )
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self._wait(comp, f"https://127.0.0.1:{port}/healthz", ctx)


def _raise_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str]) -> int:
    """`python -m claude_pool controlplane`: start, print the kubeconfig path, wait for Ctrl-C."""
    parser = argparse.ArgumentParser(prog="claude-pool controlplane")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--no-controller-manager", action="store_true")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_exit)
    started = time.monotonic()
    with ControlPlane.create(
        args.workdir, with_controller_manager=not args.no_controller_manager
    ) as cp:
        print(f"control plane ready in {time.monotonic() - started:.1f}s at {cp.server}")
        print(f"export KUBECONFIG={cp.kubeconfig}", flush=True)
        try:
            while all(c.proc.poll() is None for c in cp.components):
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        dead = [c.name for c in cp.components if c.proc.poll() is not None]
        if dead:
            print(f"stopped: {', '.join(dead)} exited", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
