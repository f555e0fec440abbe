"""The container engine of this machine: Docker when a daemon answers, else podman.

Used by `claude_pool.devenv.images` (`make images`), the container tests and the real node
tier. podman runs with the project-local `.ci/containers.conf` (through `CONTAINERS_CONF`,
nothing under /etc is touched) and `--runtime runc`: on a cgroup v1 host crun refuses to run
("cgroups in hybrid mode not supported"), and the conf drops the default ulimits (a sandbox
without CAP_SYS_RESOURCE cannot raise RLIMIT_NOFILE) and uses the cgroupfs manager.
"""

from __future__ import annotations

import enum
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
CONTAINERS_CONF = REPO_ROOT / ".ci" / "containers.conf"
ENGINE_ENV = "CLAUDE_POOL_CONTAINER_ENGINE"


class EngineKind(enum.StrEnum):
    DOCKER = "docker"
    PODMAN = "podman"


class EngineNotFound(RuntimeError):
    """No usable container engine; the message says what is missing."""


@dataclass(frozen=True)
class Engine:
    """How to call the engine: the argv prefix and the environment it needs."""

    kind: EngineKind
    prefix: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)

    def command(self, *args: str) -> list[str]:
        return [*self.prefix, *args]

    def environ(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def run(
        self, *args: str, check: bool = True, timeout: float | None = 600, quiet: bool = False
    ) -> subprocess.CompletedProcess[str]:
        """Run an engine command, capturing its output; raise with stderr when it fails."""
        if not quiet:
            print("+", " ".join(self.command(*args)), flush=True)
        proc = subprocess.run(
            self.command(*args),
            env=self.environ(),
            text=True,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(self.command(*args))} failed ({proc.returncode}):\n"
                f"{proc.stderr[-4000:]}"
            )
        return proc

    def image_exists(self, image: str) -> bool:
        return self.run("image", "inspect", image, check=False, quiet=True).returncode == 0

    def image_id(self, image: str) -> str | None:
        proc = self.run("image", "inspect", "--format", "{{.Id}}", image, check=False, quiet=True)
        return proc.stdout.strip() if proc.returncode == 0 else None

    def image_label(self, image: str, label: str) -> str | None:
        proc = self.run(
            "image",
            "inspect",
            "--format",
            f'{{{{index .Config.Labels "{label}"}}}}',
            image,
            check=False,
            quiet=True,
        )
        value = proc.stdout.strip()
        return value if proc.returncode == 0 and value and value != "<no value>" else None

    def image_size(self, image: str) -> int:
        return int(self.run("image", "inspect", "--format", "{{.Size}}", image, quiet=True).stdout)


def podman_engine(conf: Path = CONTAINERS_CONF) -> Engine:
    return Engine(
        EngineKind.PODMAN,
        ("podman", "--runtime", "runc"),
        {"CONTAINERS_CONF": str(conf)},
    )


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        proc = subprocess.run(["docker", "info"], capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def find_engine(prefer: Sequence[EngineKind] | None = None) -> Engine:
    """Docker if its daemon answers, else podman; `$CLAUDE_POOL_CONTAINER_ENGINE` forces one."""
    forced = os.environ.get(ENGINE_ENV)
    default = (EngineKind.DOCKER, EngineKind.PODMAN)
    order = [EngineKind(forced)] if forced else list(prefer or default)
    missing = []
    for kind in order:
        if kind is EngineKind.DOCKER:
            if _docker_answers():
                return Engine(EngineKind.DOCKER, ("docker",))
            missing.append("docker (no binary, or `docker info` finds no daemon)")
        elif shutil.which("podman") is not None and shutil.which("runc") is not None:
            return podman_engine()
        else:
            missing.append("podman with runc (`make setup` installs them where apt is available)")
    raise EngineNotFound("no container engine: " + "; ".join(missing))
