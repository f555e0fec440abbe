"""Constants and targets of the operator benchmarks, and their error type.

Part of `bench/operatorbench` (see its package docstring); run through bench/bench_operator.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


ROOT = Path(__file__).resolve().parents[2]
INSTANT_CLI = ROOT / "bench" / "instant_claude"
START_LOG_ENV = "CLAUDE_CODE_BENCH_START_LOG"  # CLAUDE_CODE_* reaches the CLI's environment
FINISHED = ("Succeeded", "Failed", "Cancelled")
BENCH_AGENT = "claude-pool-bench"
NODE_AGENT = "claude-pool-localnode"
OPERATOR_AGENTS = ("OpenAPI-Generator", "kopf")  # the kubernetes client's, kopf's own
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
SECRET = "claude-credentials"
API_KEY = "sk-ant-bench-0123456789"
RATIO_PROMPT = "ratio benchmark task [[fake in=100 out=20]]"

LATENCY_P50_MS, LATENCY_P99_MS = 100.0, 500.0
THROUGHPUT_TARGET = 50.0
WRITES_TARGET = 6.0
RSS_TARGET_MB = 250.0
RATIO_TARGET = 0.9


class BenchError(RuntimeError):
    """A benchmark could not complete (a bound expired, an object is missing)."""


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]
