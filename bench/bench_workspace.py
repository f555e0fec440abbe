"""Benchmark of the slot agent's workspace: clone, and a task's worktree set-up and finish.

Runs standalone (`.venv/bin/python bench/bench_workspace.py [--files 5000] [--tasks 30]
[--strict]`): starts the loopback git server of the tests (`tests/gitserver.py`: `git
http-backend` behind HTTP Basic with a token), creates a repository of FILES files (50
directories, about 1 KB each), and drives the agent's `Workspace` in-process with the same
git commands the agent runs:

- clone: `keep_cloning` into a fresh directory (clone over HTTP with the credential helper,
  the ref resolved, stale worktrees pruned), CLONES times;
- worktree set-up per task (`prepare`): the fetch of every branch while `git worktree add
  --detach` checks out the base, then the switch to a new branch, TASKS times (target:
  p50 <= 300 ms after the first clone);
- the fetch alone and `git worktree add` alone, to show where the time goes;
- finish (`finish`): commit of one written file, numstat and diffstat, push of the branch,
  removal of the worktree.

Prints each figure (median, p95, min, max in ms) and the load average. `--dir` puts the
clones elsewhere (e.g. /dev/shm, to take the disk out of the figures). `--strict` exits 1
when the worktree set-up p50 misses its target. The figures are kept in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from claude_pool.agent.cloning import WorkspaceSpec, fetch
from claude_pool.agent.gitcredentials import GitCredentials
from claude_pool.agent.gitrun import Git
from claude_pool.agent.redaction import Redactor
from claude_pool.agent.workspace import Workspace
from claude_pool.api.workspaces import WorkspaceRequest
from tests.gitserver import GitServer, git_server

TARGET_P50_MS = 300.0
FIGURES = ("clone", "prepare", "fetch", "add", "finish")


def repository_files(count: int) -> dict[str, str]:
    line = "x = 'a line of a source file in the benchmark repository'\n"
    return {f"pkg{i % 50:02d}/module_{i:05d}.py": f"# file {i}\n" + line * 17 for i in range(count)}


def workspace(server: GitServer, directory: Path) -> Workspace:
    credentials = GitCredentials(token=server.token)
    git = Git(
        base_env=os.environ,
        home=directory / "githome",
        credentials=credentials,
        redactor=Redactor(credentials.secrets()),
        network_timeout=300,
    )
    spec = WorkspaceSpec(server.url("bench"), None, None, directory / "ws")
    return Workspace(spec, git, lambda message: None)


class Stopwatch:
    """`with Stopwatch() as watch: ...` then `watch.ms`."""

    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.ms = (time.perf_counter() - self.started) * 1000


def summary(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"{name:<34} p50 {statistics.median(ordered):8.1f} ms   p95 {p95:8.1f} ms   "
        f"min {ordered[0]:8.1f}   max {ordered[-1]:8.1f}   (n={len(ordered)})"
    )


async def measure(server: GitServer, root: Path, clones: int, tasks: int) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {name: [] for name in FIGURES}
    for number in range(clones):
        with Stopwatch() as watch:
            await workspace(server, root / f"clone-{number}").keep_cloning()
        figures["clone"].append(watch.ms)
        print(f"  clone {number + 1}/{clones} done", file=sys.stderr, flush=True)
    ws = workspace(server, root / "clone-0")
    for number in range(tasks):
        request = WorkspaceRequest(
            worktree=f"t{number}", branch=f"claude-pool/t{number}", push=True, remove=True
        )
        with Stopwatch() as watch:
            checkout = await ws.prepare(request)
        figures["prepare"].append(watch.ms)
        (checkout.path / "pkg00" / "module_00000.py").write_text("# changed by the task\n")
        with Stopwatch() as watch:
            result, error = await ws.finish(checkout, request, may_push=True)
        figures["finish"].append(watch.ms)
        if error is not None or not result.pushed or result.files_changed != 1:
            raise RuntimeError(f"unexpected finish: {result} {error}")
        with Stopwatch() as watch:
            await fetch(ws.git, ws.spec)
        figures["fetch"].append(watch.ms)
        path = str(ws.spec.worktrees / f"a{number}")
        with Stopwatch() as watch:
            await ws.git("worktree", "add", "--quiet", "--detach", path, "HEAD", cwd=ws.spec.clone)
        figures["add"].append(watch.ms)
        await ws.git("worktree", "remove", "--force", path, cwd=ws.spec.clone)
        print(f"  task {number + 1}/{tasks} done", file=sys.stderr, flush=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--clones", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=30)
    parser.add_argument("--strict", action="store_true")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where the clones go (default: the temp dir)"
    )
    args = parser.parse_args()
    with (
        git_server() as server,
        tempfile.TemporaryDirectory(prefix="bench-ws-", dir=args.dir) as scratch,
    ):
        started = time.perf_counter()
        server.create_repo("bench", repository_files(args.files))
        made = time.perf_counter() - started
        version = subprocess.run(["git", "--version"], capture_output=True, text=True, check=True)
        print(f"repository: {args.files} files, made in {made:.1f} s; {version.stdout.strip()}")
        print(
            f"clones in {scratch}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus"
        )
        figures = asyncio.run(measure(server, Path(scratch), args.clones, args.tasks))
    print(summary("clone (keep_cloning)", figures["clone"]))
    print(summary("worktree set-up (fetch + add)", figures["prepare"]))
    print(summary("git fetch alone (nothing new)", figures["fetch"]))
    print(summary("git worktree add alone", figures["add"]))
    print(summary("finish (commit, diff, push, rm)", figures["finish"]))
    p50 = statistics.median(figures["prepare"])
    verdict = "met" if p50 <= TARGET_P50_MS else "MISSED"
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    print(f"target: worktree set-up p50 <= {TARGET_P50_MS:.0f} ms: {verdict} ({p50:.1f} ms)")
    return 1 if args.strict and p50 > TARGET_P50_MS else 0


if __name__ == "__main__":
    sys.exit(main())
