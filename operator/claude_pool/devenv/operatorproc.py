"""The operator as a child process: `python -m claude_pool operator`, as it runs in a pod.

Used by `make dev` (`devenv.dev`), the integration harness and the benchmarks. Settings go in
as `CLAUDE_POOL_*` environment variables; the metrics endpoint on a free loopback port tells
when it serves; its log goes to a file; it dies with its parent (PR_SET_PDEATHSIG), and
`kill()` is the SIGKILL a crash-safety test needs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from claude_pool.devenv.controlplane import die_with_parent, free_port

ROOT = Path(__file__).resolve().parents[3]


class OperatorProcess:
    """One operator child process; `settings` are Settings fields (`resync_seconds="2"`)."""

    def __init__(
        self,
        kubeconfig: Path,
        log: Path,
        *,
        namespaces: list[str] | None = None,
        start_timeout: float = 60.0,
        **settings: str,
    ) -> None:
        self.metrics_port = free_port()
        self.log = log
        self.start_timeout = start_timeout
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("ANTHROPIC_")}
        self.env = {
            **inherited,  # CLAUDE_POOL_* settings from the shell reach the operator
            "CLAUDE_POOL_KUBECONFIG": str(kubeconfig),
            "CLAUDE_POOL_NAMESPACES": json.dumps(namespaces or []),
            "CLAUDE_POOL_METRICS_PORT": str(self.metrics_port),
            "CLAUDE_POOL_METRICS_HOST": "127.0.0.1",
            "CLAUDE_POOL_HEALTH_PORT": "0",
            **{f"CLAUDE_POOL_{k.upper()}": v for k, v in settings.items()},
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> OperatorProcess:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start(self) -> OperatorProcess:
        """Start it and wait until it serves metrics; raise with its log if it does not."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "claude_pool", "operator"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=ROOT,
                preexec_fn=die_with_parent,
            )
        deadline = time.monotonic() + self.start_timeout
        while not self._serving():
            if not self.alive():
                raise RuntimeError(f"the operator exited at start-up:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"the operator did not serve metrics within {self.start_timeout:g}s:\n"
                    f"{self.tail()}"
                )
            time.sleep(0.2)
        return self

    def _serving(self) -> bool:
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=1):  # noqa: S310 - loopback
                return True
        except OSError:
            return False

    def metrics(self) -> str:
        """The Prometheus text the operator serves now."""
        with urllib.request.urlopen(self.metrics_url, timeout=5) as resp:  # noqa: S310 - loopback
            text: str = resp.read().decode()
            return text

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 60) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def kill(self) -> None:
        """SIGKILL: no cleanup, as a crash would leave it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, grace: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill()
