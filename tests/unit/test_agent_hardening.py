"""The agent hides itself from the CLI it runs (agent/hardening.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_DUMPABLE is Linux's")

_PROBE = """
import os, subprocess, sys
from claude_pool.agent.hardening import dumpable, hide_from_tasks
before = dumpable()
hidden = hide_from_tasks()
child = subprocess.run([sys.executable, "-c",
    "from claude_pool.agent.hardening import dumpable; print(dumpable())"],
    capture_output=True, text=True, check=True).stdout.strip()
print(before, hidden, dumpable(), child)
"""


def test_the_agent_becomes_non_dumpable_and_its_children_do_not_inherit_it() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert out == ["True", "True", "False", "True"]
