"""Drive one slot agent over its HTTP API: as a host process, or in the slot image.

Shared by tests/integration/test_agent.py (the agent's contract tests; the contract subset
runs against both launchers) and tests/integration/test_slot_container.py. A launcher takes
the fake API's URL, a host directory for the slot volume and agent settings, and returns an
`Agent` once the agent prints the address it listens on. The container launcher runs the
image with the settings of the slot pod the operator builds (`desired_slot_pod`): its user,
read-only root, dropped capabilities, no privilege escalation, the `/slot` volume (a host
directory here) and `/tmp` (a tmpfs), with the host's network so that the fake API on
127.0.0.1 is reachable and the agent listens on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from claude_pool.api.pools import ClaudePool
from claude_pool.devenv.clibin import claude_binary
from claude_pool.devenv.engine import Engine, EngineKind
from claude_pool.slots.pods import SlotDefaults, desired_slot_pod
from tests.helpers import eventually_async

TOKEN = "integration-agent-token-5f0c1d2e3a4b"
API_KEY = "sk-ant-integration-key-7c9e1a2b3d4f"
HOST = "127.0.0.1"
RUN_BOUND = 60.0
"""Upper bound for one short CLI run on a loaded 2-core machine."""
CONTAINER_VOLUME = Path("/slot")


@dataclass
class Agent:
    """One running agent (process or container) and an authenticated HTTP session to it."""

    proc: asyncio.subprocess.Process
    url: str
    volume: Path
    """The slot volume on the host."""
    mounted_at: Path
    """The slot volume as the agent sees it (the same path, or /slot in a container)."""
    session: aiohttp.ClientSession
    lines: list[str] = field(default_factory=list)
    pump: asyncio.Task[None] | None = None
    deliver: Callable[[int], Awaitable[None]] | None = None
    """Send a signal to the agent (default: to `proc`)."""
    cli_pids: Callable[[], list[int]] = list
    """Pids running in the tasks' working directories (the CLI and what it started)."""
    container: str = ""
    """The container's name (empty for a host process)."""
    pids: Callable[[], list[int]] = list
    """Every process of the container (empty for a host process)."""
    exit_code: Callable[[int], int] = int
    """The launcher's exit code as a process's (a container's 137 is -9)."""
    started: float = 0.0
    ready_after: float = 0.0
    """Seconds from launch to the agent listening."""

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    async def call(
        self, method: str, path: str, body: Any = None, **kwargs: Any
    ) -> tuple[int, Any]:
        async with self.session.request(method, self.url + path, json=body, **kwargs) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text) if text else None
            except ValueError:
                return resp.status, text

    async def start_task(self, uid: str, **request: Any) -> tuple[int, Any]:
        return await self.call("PUT", f"/v1/tasks/{uid}", request)

    async def task(self, uid: str) -> tuple[int, Any]:
        return await self.call("GET", f"/v1/tasks/{uid}")

    async def finished(self, uid: str, timeout: float = RUN_BOUND) -> dict[str, Any]:
        async def done() -> dict[str, Any] | None:
            status, body = await self.task(uid)
            assert status == 200, body
            return body if body["state"] != "running" else None

        return await eventually_async(done, timeout=timeout, interval=0.05, what=f"task {uid}")

    async def run(self, uid: str, **request: Any) -> dict[str, Any]:
        status, body = await self.start_task(uid, **request)
        assert status == 201, body
        return await self.finished(uid)

    async def events(self, uid: str) -> list[tuple[str, dict[str, Any]]]:
        """The whole SSE stream of a task, parsed."""
        events: list[tuple[str, dict[str, Any]]] = []
        timeout = aiohttp.ClientTimeout(total=RUN_BOUND)
        async with self.session.get(f"{self.url}/v1/tasks/{uid}/events", timeout=timeout) as r:
            assert r.status == 200
            kind = ""
            async for raw in r.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    kind = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    events.append((kind, json.loads(line.removeprefix("data: "))))
        return events

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal the agent and wait for it; its exit code (-N: killed by signal N)."""
        if self.proc.returncode is None:
            if self.deliver is not None:
                await self.deliver(sig)
            else:
                self.proc.send_signal(sig)
        try:
            code = await asyncio.wait_for(self.proc.wait(), 20)
        except TimeoutError:
            self.proc.kill()
            code = await self.proc.wait()
        if self.pump is not None:
            await asyncio.wait_for(self.pump, 5)
        await self.session.close()
        return self.exit_code(code)


Launch = Callable[..., Awaitable[Agent]]
"""`await launch(base_url, volume, **settings)`: a started agent."""


def agent_env(base_url: str, volume: Path, **settings: str) -> dict[str, str]:
    env = {
        "LANG": "C.UTF-8",
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": API_KEY,
        "CLAUDE_POOL_AGENT_TOKEN": TOKEN,
        "CLAUDE_POOL_AGENT_HOST": HOST,
        "CLAUDE_POOL_AGENT_PORT": "0",
        "CLAUDE_POOL_AGENT_VOLUME_DIR": str(volume),
        "CLAUDE_POOL_AGENT_CLI_RETRIES": "0",
        "CLAUDE_POOL_AGENT_KILL_GRACE_SECONDS": "3",
    }
    env.update({f"CLAUDE_POOL_AGENT_{k.upper()}": v for k, v in settings.items()})
    return env


async def _attach(
    proc: asyncio.subprocess.Process, volume: Path, started: float, timeout: float
) -> Agent:
    """Wait until the agent prints where it listens; then pump its output into `lines`."""
    assert proc.stdout is not None
    lines: list[str] = []

    async def ready() -> str:
        assert proc.stdout is not None
        while True:
            line = (await proc.stdout.readline()).decode()
            if not line:
                raise AssertionError(f"agent exited before listening:\n{chr(10).join(lines)}")
            lines.append(line.rstrip("\n"))
            if "agent listening on " in line:
                return line.split("agent listening on ", 1)[1].strip()

    try:
        url = await asyncio.wait_for(ready(), timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    ready_after = asyncio.get_running_loop().time() - started

    async def pump() -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            lines.append(raw.decode().rstrip("\n"))

    session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"})
    agent = Agent(proc, url, volume, volume, session, lines, asyncio.create_task(pump()))
    agent.started, agent.ready_after = started, ready_after
    return agent


def processes_under(root: Path, pid_namespace: str | None = None) -> list[int]:
    """Pids whose working directory is under `root` (in `pid_namespace`, if given)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cwd = os.readlink(entry / "cwd")
                if pid_namespace is not None and os.readlink(entry / "ns/pid") != pid_namespace:
                    continue
            except OSError:
                continue
            if cwd == str(root) or cwd.startswith(f"{root}/"):
                found.append(int(entry.name))
    return found


def processes_in(pid_namespace: str) -> list[int]:
    """Pids in a pid namespace (a container's processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.readlink(entry / "ns/pid") == pid_namespace:
                    found.append(int(entry.name))
    return found


def kill_cli_processes(root: Path) -> None:
    for pid in processes_under(root):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def start_agent(base_url: str, volume: Path, **settings: str) -> Agent:
    """The agent as a host process (`python -m claude_pool agent`) with the pinned CLI."""
    env = {
        **agent_env(base_url, volume, **settings),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "CLAUDE_POOL_AGENT_CLAUDE_BIN": str(claude_binary()),
    }
    started = asyncio.get_running_loop().time()
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "claude_pool", "agent"),
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    agent = await _attach(proc, volume, started, 30)
    agent.cli_pids = lambda: processes_under(volume / "work")
    return agent


def slot_pod(image: str) -> dict[str, Any]:
    """The slot pod the operator would create for a default pool."""
    pool = ClaudePool.model_validate(
        {"metadata": {"name": "p", "namespace": "ns", "uid": "u-1"}, "spec": {}}
    )
    return desired_slot_pod(pool, 0, SlotDefaults(image=image))


def container_run_args(
    pod: dict[str, Any], name: str, volume: Path, engine: EngineKind = EngineKind.PODMAN
) -> list[str]:
    """`run` arguments giving a container the slot pod's security settings and volumes."""
    spec = pod["spec"]
    (container,) = spec["containers"]
    pod_sc, sc = spec["securityContext"], container["securityContext"]
    assert spec["automountServiceAccountToken"] is False  # and the engine mounts no token
    assert pod_sc["runAsNonRoot"] and sc["runAsNonRoot"] and pod_sc["runAsUser"] != 0
    args = ["run", "--rm", "--pull=never", "--name", name, "--network", "host"]
    args += ["--user", f"{pod_sc['runAsUser']}:{pod_sc['runAsGroup']}"]
    if sc["readOnlyRootFilesystem"]:
        args.append("--read-only")
        if engine is EngineKind.PODMAN:
            args.append("--read-only-tmpfs=false")  # else podman adds /run, /var/tmp tmpfs
    args += [f"--cap-drop={cap.lower()}" for cap in sc["capabilities"]["drop"]]
    if sc["allowPrivilegeEscalation"] is False:
        args += ["--security-opt", "no-new-privileges"]
    for mount in container["volumeMounts"]:
        if mount["mountPath"] == str(CONTAINER_VOLUME):
            args += ["--volume", f"{volume}:{CONTAINER_VOLUME}"]
        else:
            args += ["--tmpfs", f"{mount['mountPath']}:rw,mode=1777"]
    args += ["--entrypoint", json.dumps(container["command"])]
    return args


async def start_agent_container(
    engine: Engine, image: str, base_url: str, volume: Path, **settings: str
) -> Agent:
    """The agent in the slot image, with the slot pod's settings (see the module docstring)."""
    pod = slot_pod(image)
    uid, gid = (pod["spec"]["securityContext"][k] for k in ("runAsUser", "fsGroup"))
    _own(volume, uid, gid)
    name = f"claude-pool-test-{uuid.uuid4().hex[:10]}"
    env = agent_env(base_url, CONTAINER_VOLUME, **settings)
    args = container_run_args(pod, name, volume, engine.kind)
    for key, value in env.items():
        args += ["--env", f"{key}={value}"]
    started = asyncio.get_running_loop().time()
    proc = await asyncio.create_subprocess_exec(
        *engine.command(*args, image),
        env=engine.environ(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        agent = await _attach(proc, volume, started, 60)
        init_pid = await _engine_output(engine, "inspect", "--format", "{{.State.Pid}}", name)
        namespace = os.readlink(f"/proc/{init_pid}/ns/pid")
    except BaseException:
        await _engine_output(engine, "rm", "--force", name)
        raise

    async def deliver(sig: int) -> None:
        await _engine_output(engine, "kill", "--signal", str(sig), name)

    agent.deliver = deliver
    agent.mounted_at = CONTAINER_VOLUME
    agent.container = name
    agent.pids = lambda: processes_in(namespace)
    agent.cli_pids = lambda: processes_under(CONTAINER_VOLUME / "work", namespace)
    agent.exit_code = lambda code: -(code - 128) if code > 128 else code
    return agent


def _own(volume: Path, uid: int, gid: int) -> None:
    """Give the volume to the pod's user and group: what fsGroup does to an emptyDir."""
    volume.mkdir(parents=True, exist_ok=True)
    for path in (volume, *volume.rglob("*")):
        os.chown(path, uid, gid)


async def _engine_output(engine: Engine, *args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        *engine.command(*args),
        env=engine.environ(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return out.decode().strip()
