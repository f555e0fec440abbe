"""On a real cluster (kind): the images, deploy/ and an example task, end to end.

Needs Docker and kind (`make kind-e2e`); the Anthropic API is replaced by the project's
fake API running as a pod, so no real key is used.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from claude_pool.devenv.images import SLOT_IMAGE

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = "claude-pool-e2e"


def run(*argv: str, timeout: float = 600) -> str:
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(argv)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.mark.timeout(1800)
def test_an_example_task_succeeds_on_a_kind_cluster() -> None:
    run("kind", "create", "cluster", "--name", CLUSTER, "--wait", "120s")
    try:
        run("make", "images", timeout=1200)
        run("kind", "load", "docker-image", SLOT_IMAGE, "--name", CLUSTER)
        context = f"kind-{CLUSTER}"
        run("kubectl", "--context", context, "apply", "-k", "deploy/")
        run("kubectl", "--context", context, "apply", "-f", "examples/")
        deadline = time.monotonic() + 600
        phase = None
        while time.monotonic() < deadline:
            out = run("kubectl", "--context", context, "get", "ctask", "-o", "json")
            # examples/task.yaml's task (workspace.yaml's needs a repository of yours)
            phases = [
                i.get("status", {}).get("phase")
                for i in json.loads(out)["items"]
                if i["metadata"]["name"] == "hello"
            ]
            phase = phases[0] if phases else None
            if phase in ("Succeeded", "Failed", "Cancelled"):
                break
            time.sleep(5)
        assert phase == "Succeeded"
    finally:
        subprocess.run(["kind", "delete", "cluster", "--name", CLUSTER], timeout=300)
