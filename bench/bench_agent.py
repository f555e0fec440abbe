"""Benchmark of the slot agent: overhead per task against the bare CLI, and idle memory.

Runs standalone (`.venv/bin/python bench/bench_agent.py [--pairs N] [--strict]`): starts the
fake Anthropic API in-process and one real agent (`python -m claude_pool agent`) on
127.0.0.1, then runs the same task N times through the agent (PUT, then the event stream
until the result) and N times as the same CLI command run directly (same argv, environment,
stdin file, HOME and working directory), interleaved pair by pair with the order alternating.
Prints the median wall time of both, the median per-pair ratio (target <= 1.05) and the
agent's idle RSS from /proc/<pid>/status (target <= 60 MB). `--strict` exits 1 on a miss.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from claude_pool.agent.argv import build_argv
from claude_pool.agent.environment import cli_environment
from claude_pool.api.agent import TaskRequest
from claude_pool.devenv.clibin import claude_binary
from claude_pool.devenv.fakeapi import FakeAnthropic

TOKEN = "bench-agent-token-0123456789abcdef"
API_KEY = "sk-ant-bench-0123456789"
PROMPT = "benchmark task [[fake in=100 out=20]]"
RATIO_TARGET = 1.05
RSS_TARGET_MB = 60.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


async def start_agent(env: dict[str, str]) -> tuple[asyncio.subprocess.Process, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "claude_pool",
        "agent",
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    while True:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        if not line:
            raise RuntimeError("the agent exited before listening")
        if "agent listening on " in line:
            url = line.split("agent listening on ", 1)[1].strip()
            break
    asyncio.get_running_loop().create_task(_drain(proc))
    return proc, url


async def _drain(proc: asyncio.subprocess.Process) -> None:
    assert proc.stdout is not None
    while await proc.stdout.read(65536):
        pass


async def through_agent(session: aiohttp.ClientSession, url: str, uid: str) -> float:
    started = time.perf_counter()
    async with session.put(
        f"{url}/v1/tasks/{uid}", json={"prompt": PROMPT, "model": "sonnet"}
    ) as r:
        if r.status != 201:
            raise RuntimeError(f"PUT {uid}: {r.status} {await r.text()}")
    result = ""
    async with session.get(f"{url}/v1/tasks/{uid}/events") as r:
        async for raw in r.content:
            if raw.startswith(b"event: result"):
                result = "seen"
            elif result and raw.startswith(b"data: "):
                result = raw.decode()
    elapsed = time.perf_counter() - started
    if '"state":"succeeded"' not in result:
        raise RuntimeError(f"task {uid} did not succeed: {result[:300]}")
    async with session.delete(f"{url}/v1/tasks/{uid}") as r:
        assert r.status == 204
    return elapsed


async def direct(argv: list[str], env: dict[str, str], cwd: Path, prompt_file: Path) -> float:
    started = time.perf_counter()
    with prompt_file.open("rb") as stdin:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=stdin,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
    out, _ = await proc.communicate()
    elapsed = time.perf_counter() - started
    if proc.returncode != 0 or b'"is_error":false' not in out.splitlines()[-1]:
        raise RuntimeError(f"direct run failed: rc={proc.returncode}")
    return elapsed


async def bench(pairs: int) -> bool:
    claude = str(claude_binary())
    with tempfile.TemporaryDirectory(prefix="bench-agent-") as tmp:
        volume = Path(tmp) / "slot"
        async with FakeAnthropic.start() as fake:
            base_env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "LANG": "C.UTF-8",
                "ANTHROPIC_BASE_URL": fake.base_url,
                "ANTHROPIC_API_KEY": API_KEY,
            }
            agent_env = base_env | {
                "CLAUDE_POOL_AGENT_TOKEN": TOKEN,
                "CLAUDE_POOL_AGENT_HOST": "127.0.0.1",
                "CLAUDE_POOL_AGENT_PORT": "0",
                "CLAUDE_POOL_AGENT_VOLUME_DIR": str(volume),
                "CLAUDE_POOL_AGENT_CLAUDE_BIN": claude,
                "CLAUDE_POOL_AGENT_CLI_RETRIES": "0",
            }
            # the same command the agent runs, with the same environment and files
            request = TaskRequest(prompt=PROMPT, model="sonnet")
            argv = build_argv(claude, request)
            env = cli_environment(
                base_env, home=volume / "home", retries=0, api_timeout_ms=600_000, sandbox=False
            )
            prompt_file = Path(tmp) / "prompt.txt"
            prompt_file.write_text(PROMPT)

            proc, url = await start_agent(agent_env)
            await asyncio.sleep(1.0)
            rss_start = rss_mb(proc.pid)
            headers = {"Authorization": f"Bearer {TOKEN}"}
            agent_times: list[float] = []
            direct_times: list[float] = []
            try:
                async with aiohttp.ClientSession(headers=headers) as session:
                    await through_agent(session, url, "warmup")  # HOME, caches, first connects
                    await direct(argv, env, volume / "work", prompt_file)
                    for i in range(pairs):
                        if i % 2 == 0:
                            agent_times.append(await through_agent(session, url, f"t{i}"))
                            direct_times.append(
                                await direct(argv, env, volume / "work", prompt_file)
                            )
                        else:
                            direct_times.append(
                                await direct(argv, env, volume / "work", prompt_file)
                            )
                            agent_times.append(await through_agent(session, url, f"t{i}"))
                await asyncio.sleep(1.0)
                rss_idle = rss_mb(proc.pid)
            finally:
                proc.terminate()
                await asyncio.wait_for(proc.wait(), 20)

    ratios = [a / d for a, d in zip(agent_times, direct_times, strict=True)]
    ratio = statistics.median(ratios)
    rss = max(rss_start, rss_idle)

    def figures(times: list[float]) -> str:
        return (
            f"median {statistics.median(times):.3f} s  (min {min(times):.3f}, max {max(times):.3f})"
        )

    print(f"slot agent benchmark: {pairs} interleaved pairs, prompt {PROMPT!r}, CLI {claude}")
    print(f"  direct CLI      {figures(direct_times)}")
    print(f"  through agent   {figures(agent_times)}")
    print(
        f"  agent/direct    median per-pair ratio {ratio:.3f}  "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f}; target <= {RATIO_TARGET})  "
        f"{'OK' if ratio <= RATIO_TARGET else 'MISS'}"
    )
    print(
        f"  idle agent RSS  {rss_start:.1f} MB after start, {rss_idle:.1f} MB after "
        f"{pairs + 1} tasks (target <= {RSS_TARGET_MB:.0f} MB)  "
        f"{'OK' if rss <= RSS_TARGET_MB else 'MISS'}"
    )
    return ratio <= RATIO_TARGET and rss <= RSS_TARGET_MB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pairs", type=int, default=15)
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    ok = asyncio.run(bench(args.pairs))
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
