"""Benchmarks of the operator: the entry point of `make bench` (the code is bench/operatorbench).

`.venv/bin/python bench/bench_operator.py [--quick] [--only NAME[,NAME]] [--operator-path DIR]`;
`--help` lists the options, bench/operatorbench/__init__.py describes every measurement and
docs/performance.md the method and the figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # bench.* and tests.* from the checkout
    sys.path.insert(0, str(ROOT))

from bench.operatorbench.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
