"""py-spy sampling of the operator during a phase (`--profile DIR`).

Part of `bench/operatorbench` (see its package docstring); run through bench/bench_operator.py.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench.operatorbench.common import (
    BenchError,
)
from bench.operatorbench.figures import note
from bench.operatorbench.stack import Stack


class Profiler:
    """py-spy (if installed) sampling the operator, all threads, while a phase runs."""

    def __init__(self, stack: Stack, directory: Path, tag: str) -> None:
        assert stack.operator.proc is not None
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(spy).exists():
            raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy")
        directory.mkdir(parents=True, exist_ok=True)
        self.output = directory / f"operator-{tag}.txt"
        self.proc = subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(stack.operator.proc.pid),
                "--format",
                "raw",
                "--rate",
                "250",
                "--nonblocking",
                "--threads",
                "--output",
                str(self.output),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)  # attached

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        if not self.output.exists():
            note(f"    profile: py-spy wrote nothing (rc {self.proc.returncode})")
            return
        note(f"    profile: {self.output}")
        for line in summarize_profile(self.output):
            note(f"      {line}")


def summarize_profile(path: Path, top: int = 12) -> list[str]:
    """The functions most often on the stack (inclusive) and on top (self), from py-spy raw."""
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        threads[frames[0].split(" ")[0] if frames else "?"] += n
        seen = set()
        for frame in frames[1:]:
            name = frame.split(" (")[0]
            where = frame.split(" (")[1].split(":")[0] if " (" in frame else ""
            key = f"{name} ({where.rsplit('/', 2)[-2] if '/' in where else where})"
            if key not in seen:
                inclusive[key] += n
                seen.add(key)
        if len(frames) > 1:
            self_time[frames[-1].split(" (")[0]] += n
    if not total:
        return ["no samples"]
    out = [
        f"{total} samples; by thread: "
        + ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in threads.most_common(6))
    ]
    out.append(
        "self: " + ", ".join(f"{k} {100 * v / total:.1f}%" for k, v in self_time.most_common(top))
    )
    out.append(
        "inclusive: "
        + ", ".join(f"{k} {100 * v / total:.1f}%" for k, v in inclusive.most_common(top * 3))
    )
    return out
