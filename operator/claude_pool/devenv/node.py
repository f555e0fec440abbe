"""A real node for the e2e-node tier: containerd + runc + kubelet registered to the test
control plane, kube-scheduler binding pods to it, pods on a CNI bridge, images from podman.

Used by tests/integration/test_real_node.py (`make e2e-node`). The binaries come from
`claude_pool.devenv.nodebuild` (kubelet from the apiserver's Kubernetes modules, containerd
v2, a pause binary), the network from Debian's containernetworking-plugins. The node starts
only inside a private network namespace (`make e2e-node` runs the tier under
`unshare --net`): the bridge, the pods' namespaces and every address the tier uses then
exist only for this run, and nothing routes anywhere else. Images (pause, slot) go from the
container engine's store into containerd's `k8s.io` namespace, re-imported only when the
engine's image id changed. Stopping kills what containerd runs, stops containerd and the
kubelet, and unmounts and removes the pods' network namespaces and mounts it left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from kubernetes import client

from claude_pool.devenv.building import cache_root
from claude_pool.devenv.controlplane import die_with_parent
from claude_pool.devenv.engine import Engine
from claude_pool.devenv.nodebuild import ensure_node_binaries
from claude_pool.devenv.nodeconfig import (
    NODE_IP,
    PAUSE_IMAGE,
    cni_conflist,
    containerd_toml,
    kubelet_yaml,
)

NETNS_DIR = Path("/var/run/netns")


class NodeRefused(RuntimeError):
    """The node cannot start here; the message says why."""


def foreign_interfaces() -> list[str]:
    """Network interfaces here other than loopback and the ones this tier creates.

    In the private namespace `make e2e-node` creates there are none: nothing can route out.
    """
    names = [
        line.split(":")[1].strip().split("@")[0] for line in _run(["ip", "-o", "link"]).splitlines()
    ]
    return [n for n in names if n != "lo" and not n.startswith(("cpn-", "veth"))]


def _run(cmd: list[str], timeout: float = 60) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-3000:]}")
    return proc.stdout


class RealNode:
    """containerd + kubelet as one Node named `name` of the cluster in `kubeconfig`."""

    def __init__(
        self,
        api: client.ApiClient,
        kubeconfig: Path,
        root: Path,
        engine: Engine,
        images: list[str],
        name: str = "claude-pool-node",
    ) -> None:
        self.api, self.kubeconfig, self.root = api, kubeconfig, root
        self.engine, self.images, self.name = engine, images, name
        self.bin = ensure_node_binaries()
        # unix socket paths are limited to 108 bytes: keep them short
        self.run_dir = Path(tempfile.mkdtemp(prefix="cpn-", dir="/tmp"))
        self.socket = self.run_dir / "containerd.sock"
        self.store = cache_root() / "node" / "containerd"  # images survive runs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.netns_before: set[str] = set()

    def __enter__(self) -> RealNode:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def log(self, component: str) -> Path:
        return self.root / f"{component}.log"

    def start(self) -> None:
        foreign = foreign_interfaces()
        if foreign:
            raise NodeRefused(
                "the real node runs only in a private network namespace (`make e2e-node` "
                "starts the tier under `unshare --net`): its bridge and pods must not be "
                f"reachable from, or route to, the host's network (found {', '.join(foreign)})"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        self.netns_before = set(os.listdir(NETNS_DIR)) if NETNS_DIR.is_dir() else set()
        _run(["ip", "link", "set", "lo", "up"])
        if NODE_IP not in _run(["ip", "-o", "addr", "show", "dev", "lo"]):
            _run(["ip", "addr", "add", f"{NODE_IP}/32", "dev", "lo"])  # no dummy module here
        cni = self.root / "cni"
        cni.mkdir(exist_ok=True)
        (cni / "10-claude-pool.conflist").write_text(cni_conflist(self.root / "ipam"))
        config = self.root / "containerd.toml"
        config.write_text(containerd_toml(self.store, self.run_dir / "state", self.socket, cni))
        self._spawn("containerd", [str(self.bin / "containerd"), "--config", str(config)])
        self._wait(lambda: self.socket.exists(), 30, "containerd's socket")
        self.load_images()
        kubelet_config = self.root / "kubelet.yaml"
        kubelet_config.write_text(kubelet_yaml(self.socket))
        self._spawn(
            "kubelet",
            [
                str(self.bin / "kubelet"),
                f"--config={kubelet_config}",
                f"--kubeconfig={self.kubeconfig}",
                f"--root-dir={self.root / 'kubelet'}",
                f"--cert-dir={self.root / 'pki'}",
                f"--hostname-override={self.name}",
                f"--node-ip={NODE_IP}",
                "--v=1",
            ],
        )
        self._wait(self.ready, 120, f"node {self.name} Ready")
        # the kubelet registers with the not-ready taint; the node lifecycle controller, which
        # the suite's controller manager does not run, would lift it once the node is Ready
        client.CoreV1Api(self.api).patch_node(self.name, {"spec": {"taints": []}})
        # the control plane of the suite has no scheduler (the local node binds its pods)
        self._spawn(
            "kube-scheduler",
            [
                str(self.bin / "kube-scheduler"),
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
            ],
        )

    def _spawn(self, component: str, argv: list[str]) -> None:
        env = {**os.environ, "PATH": f"{self.bin}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
        with self.log(component).open("ab") as out:
            self.procs[component] = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                preexec_fn=die_with_parent,
            )

    def _wait(self, ok: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not ok():
            for component, proc in self.procs.items():
                if proc.poll() is not None:
                    tail = self.log(component).read_text()[-3000:]
                    raise RuntimeError(f"{component} exited ({proc.returncode}):\n{tail}")
            if time.monotonic() > deadline:
                tails = {c: self.log(c).read_text()[-2000:] for c in self.procs}
                raise RuntimeError(f"timed out after {timeout}s waiting for {what}: {tails}")
            time.sleep(0.5)

    def ready(self) -> bool:
        try:
            node = client.CoreV1Api(self.api).read_node(self.name)
        except client.exceptions.ApiException:
            return False
        status = node.status
        conditions = {c.type: c.status for c in (status.conditions if status else None) or []}
        return conditions.get("Ready") == "True"

    def ctr(self, *args: str, **kwargs: Any) -> str:
        return _run(
            [str(self.bin / "ctr"), "--address", str(self.socket), "-n", "k8s.io", *args], **kwargs
        )

    def load_images(self) -> None:
        """Import the pause image and `images` from the engine, when their ids changed."""
        if not self.engine.image_exists(PAUSE_IMAGE):
            tar = subprocess.run(
                ["tar", "-C", str(self.bin), "-c", "pause"], capture_output=True, check=True
            )
            imported = subprocess.run(
                self.engine.command(
                    "import", "--change", 'ENTRYPOINT ["/pause"]', "-", PAUSE_IMAGE
                ),
                input=tar.stdout,
                env=self.engine.environ(),
                capture_output=True,
                check=False,
            )
            if imported.returncode != 0:
                raise RuntimeError(f"importing the pause image failed: {imported.stderr!r}")
        stamps = self.store / "imported"
        stamps.mkdir(parents=True, exist_ok=True)
        for image in (PAUSE_IMAGE, *self.images):
            image_id = self.engine.run("image", "inspect", "--format", "{{.Id}}", image, quiet=True)
            stamp = stamps / image.replace("/", "_").replace(":", "_")
            if stamp.exists() and stamp.read_text() == image_id.stdout:
                continue
            archive = self.run_dir / "image.tar"
            self.engine.run("save", "--output", str(archive), image, quiet=True)
            self.ctr("images", "import", "--snapshotter", "overlayfs", str(archive), timeout=600)
            archive.unlink()
            stamp.write_text(image_id.stdout)

    def stop(self) -> None:
        """Stop everything and leave no container, mount or network namespace behind."""
        for component in ("kube-scheduler", "kubelet"):
            proc = self.procs.pop(component, None)
            if proc is not None:
                _terminate(proc)
        if "containerd" in self.procs and self.socket.exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                for task in self.ctr("tasks", "ls", "--quiet", timeout=30).split():
                    with contextlib.suppress(RuntimeError):
                        self.ctr("tasks", "kill", "--signal", "SIGKILL", task, timeout=30)
                time.sleep(1)
                for container in self.ctr("containers", "ls", "--quiet", timeout=30).split():
                    with contextlib.suppress(RuntimeError):
                        self.ctr("tasks", "delete", "--force", container, timeout=30)
                    with contextlib.suppress(RuntimeError):
                        self.ctr("containers", "delete", container, timeout=30)
        containerd = self.procs.pop("containerd", None)
        if containerd is not None:
            _terminate(containerd)
        self._kill_shims()
        self._unmount_under((self.run_dir, self.store, self.root))
        _remove_pod_cgroups()
        if NETNS_DIR.is_dir():
            for name in set(os.listdir(NETNS_DIR)) - self.netns_before:
                path = NETNS_DIR / name
                subprocess.run(["umount", str(path)], capture_output=True, check=False)
                with contextlib.suppress(OSError):
                    path.unlink()

    def _kill_shims(self) -> None:
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    cmdline = (entry / "cmdline").read_bytes()
                    if b"containerd-shim" in cmdline and str(self.socket).encode() in cmdline:
                        os.kill(int(entry.name), signal.SIGKILL)

    @staticmethod
    def _unmount_under(roots: tuple[Path, ...]) -> None:
        prefixes = tuple(f"{root}/" for root in roots)
        mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
        for mount in reversed(mounts):
            if mount.startswith(prefixes):
                subprocess.run(["umount", "-l", mount], capture_output=True, check=False)


def _remove_pod_cgroups(root: Path = Path("/sys/fs/cgroup")) -> None:
    """Remove the kubelet's (now empty) `kubepods` cgroups, deepest first (cgroupfs driver)."""
    for top in root.glob("*/kubepods"):
        for directory in sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if directory.is_dir():
                with contextlib.suppress(OSError):
                    directory.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
