"""e2e tier: a kind cluster (opt-in). Skipped, with the reason, when it cannot run here."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def _docker_engine() -> str | None:
    if shutil.which("docker") is None:
        return "the docker client is not installed"
    try:
        proc = subprocess.run(["docker", "info"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"docker info failed: {exc}"
    return None if proc.returncode == 0 else "no Docker engine answers (docker info failed)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = None
    if os.environ.get("CLAUDE_POOL_E2E") != "1":
        reason = "e2e tests are opt-in: run `make kind-e2e` (sets CLAUDE_POOL_E2E=1)"
    elif shutil.which("kind") is None:
        reason = "kind is not installed"
    else:
        reason = _docker_engine()
    if reason:
        for item in items:
            if "/tests/e2e/" in str(item.path):
                item.add_marker(pytest.mark.skip(reason=reason))
