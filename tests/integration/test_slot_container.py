"""The images as containers: the slot image under the slot pod's security settings, and the
operator image against the suite's control plane.

The agent's HTTP contract in the image is covered by tests/integration/test_agent.py (its
`@CONTRACT` tests run against the container too). Here: what only a container shows, read
from the kernel's view of the container's processes (/proc) and by trying writes inside it.
Skipped with the reason when there is no engine or no built images (tests/containers.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from kubernetes import client

from claude_pool.api.common import GROUP, VERSION
from claude_pool.devenv.controlplane import free_port
from claude_pool.devenv.engine import EngineKind
from claude_pool.devenv.fakeapi import FakeAnthropic
from tests.agentdriver import Agent, start_agent_container
from tests.builders import pool_manifest
from tests.containers import ContainerImages
from tests.helpers import eventually

pytestmark = [pytest.mark.container, pytest.mark.timeout(180)]


@pytest.fixture
async def slot(container_images: ContainerImages, tmp_path: Path) -> AsyncIterator[Agent]:
    async with FakeAnthropic.start() as fake:
        agent = await start_agent_container(
            container_images.engine, container_images.slot, fake.base_url, tmp_path / "slot"
        )
        try:
            yield agent
        finally:
            await agent.stop()


def status_fields(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, v in (line.split(":", 1) for line in lines)}


def program_of(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()


def exec_in(images: ContainerImages, agent: Agent, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        images.engine.command("exec", agent.container, "/bin/sh", "-c", script),
        env=images.engine.environ(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_every_slot_process_runs_as_10001_with_no_capabilities_and_no_new_privileges(
    slot: Agent,
) -> None:
    pids = slot.pids()
    assert len(pids) >= 2  # tini and the agent
    for pid in pids:
        fields = status_fields(pid)
        assert fields["Uid"].split() == ["10001"] * 4, (pid, fields["Uid"])
        assert fields["Gid"].split() == ["10001"] * 4, (pid, fields["Gid"])
        assert int(fields["CapEff"], 16) == 0
        assert int(fields["CapPrm"], 16) == 0
        assert int(fields["CapBnd"], 16) == 0
        assert fields["NoNewPrivs"] == "1"
    assert "/usr/bin/tini" in {program_of(pid) for pid in pids}


async def test_the_slot_can_write_only_to_its_volume_and_tmp_and_holds_no_token(
    slot: Agent, container_images: ContainerImages
) -> None:
    for path in ("/slot/probe", "/tmp/probe"):
        done = exec_in(container_images, slot, f"echo ok > {path} && cat {path}")
        assert (done.returncode, done.stdout) == (0, "ok\n"), done.stderr
    assert (slot.volume / "probe").read_text() == "ok\n"
    for path in ("/probe", "/etc/probe", "/usr/local/bin/probe", "/var/tmp/probe", "/run/probe"):
        done = exec_in(container_images, slot, f"echo no > {path}")
        assert done.returncode != 0, path
        assert "Read-only file system" in done.stderr, (path, done.stderr)
    token = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    done = exec_in(container_images, slot, f"id -u; ls {token} 2>&1; echo $HOME")
    uid, secrets, home = done.stdout.splitlines()
    assert uid == "10001"
    assert "No such file or directory" in secrets
    assert home == "/slot/home"


@pytest.fixture
def operator_container(
    container_images: ContainerImages, kubeconfig: Path, namespace: str, tmp_path: Path
) -> Iterator[tuple[int, int]]:
    """The operator image watching the test namespace; (metrics port, health port)."""
    config = tmp_path / "kubeconfig"
    shutil.copy(kubeconfig, config)
    config.chmod(0o644)  # the image's user (10002) reads it
    metrics, health = free_port(), free_port()
    name = f"claude-pool-test-operator-{uuid.uuid4().hex[:8]}"
    env = {
        "CLAUDE_POOL_KUBECONFIG": "/kube/config",
        "CLAUDE_POOL_NAMESPACES": json.dumps([namespace]),
        "CLAUDE_POOL_METRICS_PORT": str(metrics),
        "CLAUDE_POOL_METRICS_HOST": "127.0.0.1",
        "CLAUDE_POOL_HEALTH_PORT": str(health),
        "CLAUDE_POOL_RESYNC_SECONDS": "2",
    }
    args = ["run", "--detach", "--rm", "--pull=never", "--name", name, "--network", "host"]
    args += ["--read-only", "--tmpfs", "/tmp:rw,mode=1777"]
    if container_images.engine.kind is EngineKind.PODMAN:
        args.append("--read-only-tmpfs=false")
    args += ["--cap-drop=all", "--security-opt", "no-new-privileges"]
    args += ["--volume", f"{config}:/kube/config:ro"]
    args += [f"--env={k}={v}" for k, v in env.items()]
    container_images.engine.run(*args, container_images.operator)
    try:
        yield metrics, health
    finally:
        logs = container_images.engine.run("logs", name, check=False, quiet=True)
        (tmp_path / "operator.log").write_text(logs.stdout + logs.stderr)
        container_images.engine.run("rm", "--force", "--time", "5", name, check=False)


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except (urllib.error.URLError, ConnectionError) as exc:
        raise AssertionError(f"{url}: {exc}") from exc


def test_the_operator_image_serves_health_and_metrics_and_manages_a_pool(
    operator_container: tuple[int, int], api_client: client.ApiClient, namespace: str
) -> None:
    metrics, health = operator_container
    status, _ = eventually(
        lambda: fetch(f"http://127.0.0.1:{health}/healthz"), timeout=90, what="operator healthz"
    )
    assert status == 200
    status, text = fetch(f"http://127.0.0.1:{metrics}/metrics")
    assert status == 200
    assert "claude_pool_" in text
    custom = client.CustomObjectsApi(api_client)
    custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "claudepools", pool_manifest("pool", slots=2)
    )
    core = client.CoreV1Api(api_client)

    def slot_pods() -> list[str]:
        return [p.metadata.name for p in core.list_namespaced_pod(namespace).items]

    assert len(eventually(slot_pods, timeout=60, what="the slot pods the operator creates")) == 2
