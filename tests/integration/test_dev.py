"""`make dev` (`python -m claude_pool dev`) starts the whole product and stops all of it.

Each test runs the command as a subprocess with its own state directory (so its own control
plane, not the suite's) and then looks in /proc for any process that still refers to that
directory (command line, environment or working directory): etcd, kube-apiserver,
kube-controller-manager and the operator do; the slot agents refer to their own directory
outside the checkout (`dev.node_root(state)`), which is looked for too.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config

from claude_pool.api.common import GROUP, VERSION
from claude_pool.devenv import building
from claude_pool.devenv.dev import node_root
from tests.helpers import eventually

ROOT = Path(__file__).resolve().parents[2]
DEV = [sys.executable, "-m", "claude_pool", "dev"]
READY_LINE = "Ctrl-C stops everything."


def processes_using(state: Path) -> dict[int, str]:
    """Live processes whose argv, environment or working directory mention `state`."""
    marker = str(state)
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone, or not ours to read
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            continue  # a zombie holds no resources; its parent reaps it
        if marker in argv or marker in environ or cwd.startswith(marker):
            found[int(entry.name)] = argv[:160]
    return found


@pytest.fixture(autouse=True)
def _remove_slot_directories(tmp_path: Path) -> Iterator[None]:
    """The slot directories of this test's state live outside tmp_path: remove them too."""
    yield
    shutil.rmtree(node_root(tmp_path / "dev").parent, ignore_errors=True)


def dev_env() -> dict[str, str]:
    """The test's environment without a real API key: dev must use the fake API here."""
    return {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}


def assert_nothing_left(state: Path) -> None:
    def leftovers() -> dict[int, str]:
        return {**processes_using(state), **processes_using(node_root(state))}

    eventually(
        lambda: not leftovers(),
        timeout=15,
        what=f"no process of the dev environment left: {leftovers()}",
    )


def test_dev_exit_after_start_prints_the_kubeconfig_and_leaves_nothing_running(
    tmp_path: Path,
) -> None:
    state = tmp_path / "dev"
    done = subprocess.run(
        [*DEV, "--exit-after-start", "--state", str(state)],
        capture_output=True,
        text=True,
        timeout=100,
        cwd=ROOT,
        env=dev_env(),
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert f"kubeconfig:     {state / 'kubeconfig'}" in done.stdout, done.stdout
    assert "fake Anthropic API at http://127.0.0.1:" in done.stdout
    assert "metrics:        http://127.0.0.1:" in done.stdout
    assert "kubectl apply -f" in done.stdout
    assert (state / "kubeconfig").is_file()
    assert_nothing_left(state)


def _client(kubeconfig: Path) -> client.ApiClient:
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    return client.ApiClient(cfg)


def _example(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "examples" / name).read_text())
    return doc


def test_dev_runs_the_example_task_and_sigterm_stops_everything(tmp_path: Path) -> None:
    state = tmp_path / "dev"
    out = tmp_path / "dev.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [*DEV, "--state", str(state)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            env=dev_env(),
        )
    try:
        eventually(
            lambda: READY_LINE in out.read_text() or proc.poll() is not None,
            timeout=90,
            interval=0.5,
            what="make dev to be ready",
        )
        assert proc.poll() is None, out.read_text()
        api = _client(state / "kubeconfig")
        custom = client.CustomObjectsApi(api)
        # the examples as they are: no baseURL, dev's local node points the slots at its fake API
        custom.create_namespaced_custom_object(
            GROUP, VERSION, "default", "claudepools", _example("pool.yaml")
        )
        custom.create_namespaced_custom_object(
            GROUP, VERSION, "default", "claudetasks", _example("task.yaml")
        )

        def finished() -> dict[str, Any] | None:
            task = custom.get_namespaced_custom_object(
                GROUP, VERSION, "default", "claudetasks", "hello"
            )
            status = task.get("status") or {}
            return status if status.get("phase") in ("Succeeded", "Failed") else None

        status = eventually(finished, timeout=60, interval=0.5, what="the example task")
        assert status["phase"] == "Succeeded", status
        assert status["result"]["output"].startswith("fake answer:")
        kubectl = building.kubectl_path()
        if kubectl.is_file():  # the commands the banner prints, with the kubectl it names
            assert f"export PATH={kubectl.parent}:$PATH" in out.read_text()
            env = {**os.environ, "KUBECONFIG": str(state / "kubeconfig")}
            listed = subprocess.run(
                [str(kubectl), "get", "cpool,ctask", "-o", "name"],
                capture_output=True,
                text=True,
                timeout=30,
                env=env,
                check=True,
            )
            assert "claudetask.claudepool.io/hello" in listed.stdout
            assert "WARNING" not in listed.stderr, listed.stderr  # no version skew
            subprocess.run(
                [str(kubectl), "scale", "cpool/demo", "--replicas=1"],
                capture_output=True,
                text=True,
                timeout=30,
                env=env,
                check=True,
            )
            pool = custom.get_namespaced_custom_object(
                GROUP, VERSION, "default", "claudepools", "demo"
            )
            assert pool["spec"]["slots"] == 1
        api.close()
        assert processes_using(state), "expected the environment's processes while it runs"
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert proc.wait(60) == 0, out.read_text()
        print(f"stopped in {time.monotonic() - started:.1f}s")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert_nothing_left(state)


class DevRun:
    """`make dev` as a subprocess, its console in a file."""

    def __init__(self, state: Path, out: Path, *extra: str) -> None:
        self.out = out
        with out.open("wb") as sink:
            self.proc = subprocess.Popen(
                [*DEV, "--state", str(state), *extra],
                stdout=sink,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
                env=dev_env(),
            )

    @property
    def text(self) -> str:
        return self.out.read_text()

    def ready(self) -> None:
        eventually(
            lambda: READY_LINE in self.text or self.proc.poll() is not None,
            timeout=90,
            interval=0.5,
            what="make dev to be ready",
        )
        assert self.proc.poll() is None, self.text

    def banner_pid(self, label: str) -> int:
        line = next(line for line in self.text.splitlines() if line.strip().startswith(label))
        return int(line.split("pid ", 1)[1].split(",", 1)[0])

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(30)


def component_pid(state: Path, name: str) -> int:
    """The pid of the control plane binary `name` of this state directory."""
    return next(
        pid
        for pid, argv in processes_using(state).items()
        if Path(argv.split(" ", 1)[0]).name == name
    )


def _task(custom: client.CustomObjectsApi, name: str) -> dict[str, Any]:
    found: dict[str, Any] = custom.get_namespaced_custom_object(
        GROUP, VERSION, "default", "claudetasks", name
    )
    return found


@pytest.mark.timeout(360)
def test_dev_keeps_its_state_restarts_a_killed_operator_and_stops_when_the_apiserver_dies(
    tmp_path: Path,
) -> None:
    state = tmp_path / "dev"
    first = DevRun(state, tmp_path / "first.out")
    try:
        first.ready()
        api = _client(state / "kubeconfig")
        custom = client.CustomObjectsApi(api)
        pool = _example("pool.yaml")
        pool["spec"]["slots"] = 1
        custom.create_namespaced_custom_object(GROUP, VERSION, "default", "claudepools", pool)
        custom.create_namespaced_custom_object(
            GROUP, VERSION, "default", "claudetasks", _example("task.yaml")
        )
        os.kill(first.banner_pid("operator:"), signal.SIGKILL)
        eventually(lambda: "the operator runs again" in first.text, timeout=30, what="a restart")
        assert "the operator exited (code -9); restarting it in 1s" in first.text
        eventually(
            lambda: _task(custom, "hello").get("status", {}).get("phase") == "Succeeded",
            timeout=90,
            interval=0.5,
            what="the example task, run by the restarted operator",
        )
        api.close()
        assert first.stop() == 0, first.text
    finally:
        first.stop()
    assert_nothing_left(state)

    second = DevRun(state, tmp_path / "second.out")
    try:
        second.ready()
        api = _client(state / "kubeconfig")
        custom = client.CustomObjectsApi(api)
        kept = _task(custom, "hello")
        assert kept["status"]["phase"] == "Succeeded"  # the cluster of the first run
        task = _example("task.yaml")
        task["metadata"]["name"] = "again"
        custom.create_namespaced_custom_object(GROUP, VERSION, "default", "claudetasks", task)
        eventually(
            lambda: _task(custom, "again").get("status", {}).get("phase") == "Succeeded",
            timeout=90,
            interval=0.5,
            what="a task on the kept pool's adopted slot",
        )
        api.close()
        os.kill(component_pid(state, "kube-apiserver"), signal.SIGKILL)
        assert second.proc.wait(60) == 1
        text = second.text
        assert "claude-pool dev: kube-apiserver exited (code -9)" in text, text
        assert "Traceback" not in text, text
    finally:
        second.stop()
    assert_nothing_left(state)

    fresh = DevRun(state, tmp_path / "fresh.out", "--fresh")
    try:
        fresh.ready()
        api = _client(state / "kubeconfig")
        listed = client.CustomObjectsApi(api).list_namespaced_custom_object(
            GROUP, VERSION, "default", "claudepools"
        )
        assert listed["items"] == []  # --fresh: an empty cluster
        api.close()
        assert fresh.stop() == 0, fresh.text
    finally:
        fresh.stop()
    assert_nothing_left(state)


def test_slot_directories_are_outside_the_checkout() -> None:
    assert not node_root(ROOT / ".dev").is_relative_to(ROOT)
