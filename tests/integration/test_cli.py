"""The `claude-pool` CLI as a user runs it (a subprocess) against the suite's control plane:
with the operator for run/wait/cancel/drain, without it for errors and pool edits."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.builders import pool_manifest, task_manifest
from tests.integration.harness import Env

ROOT = Path(__file__).resolve().parents[2]


def cli(
    kubeconfig: Path,
    namespace: str,
    *args: str,
    timeout: float = 90,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`python -m claude_pool ARGS` with kubectl's flags (placed after the command, as a user
    might: they are hoisted)."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "claude_pool",
            *args,
            "--kubeconfig",
            str(kubeconfig),
            "-n",
            namespace,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def parsed(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)


def test_run_prints_the_output_and_exits_with_the_result(env: Env, kubeconfig: Path) -> None:
    env.create_pool(slots=1)
    env.wait_ready_slots(1)
    ns = env.namespace

    ok = cli(kubeconfig, ns, "run", "-p", "pool", "--name", "ok", "hello [[fake in=100 out=20]]")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("fake answer: hello")
    assert "ok Succeeded" in ok.stderr  # the progress lines (not a terminal: one per change)

    # on a terminal (rich's TTY_COMPATIBLE forces it) the live display draws on stderr
    live = cli(kubeconfig, ns, "run", "-p", "pool", "--name", "live", "-", stdin="from stdin",
               env={"TTY_COMPATIBLE": "1", "COLUMNS": "120"})  # fmt: skip
    assert live.returncode == 0, live.stderr
    assert live.stdout.startswith("fake answer: from stdin")
    assert "\x1b[" in live.stderr  # cursor control of the live display

    bad = cli(
        kubeconfig, ns, "run", "-p", "pool", "--name", "bad", "-o", "json", "x [[fake status=400]]"
    )
    assert bad.returncode == 1, bad.stderr
    body = parsed(bad)
    assert body["status"]["phase"] == "Failed"
    assert body["status"]["result"]["failure"]["reason"]

    result = cli(kubeconfig, ns, "result", "ok", "-o", "yaml")
    assert result.returncode == 0
    assert yaml.safe_load(result.stdout)["costMicrodollars"] == 600

    listed = parsed(cli(kubeconfig, ns, "get", "ctask", "-o", "json"))
    assert sorted(item["metadata"]["name"] for item in listed["items"]) == ["bad", "live", "ok"]
    table = cli(kubeconfig, ns, "list", "-p", "pool")
    assert table.returncode == 0
    assert table.stdout.split("\n")[0].split() == [
        "NAME",
        "POOL",
        "MODE",
        "PHASE",
        "SLOT",
        "COST",
        "AGE",
    ]

    status = parsed(cli(kubeconfig, ns, "status", "-o", "json"))
    assert status[0]["name"] == "pool"
    assert status[0]["tasks"] == {"Failed": 1, "Succeeded": 2}
    assert status[0]["spent_microdollars"] >= 600


def test_logs_follow_a_running_task_through_the_api_server(env: Env, kubeconfig: Path) -> None:
    env.create_pool(slots=1)
    env.wait_ready_slots(1)
    ns = env.namespace
    sub = cli(
        kubeconfig, ns, "submit", "-p", "pool", "--name", "busy", "x [[fake tools=bash delay=2]]"
    )
    assert sub.returncode == 0, sub.stderr
    followed = cli(kubeconfig, ns, "logs", "-f", "busy", "--timeout", "60")
    assert followed.returncode == 0, followed.stderr
    uid = env.task("busy")["metadata"]["uid"]
    lines = followed.stdout.splitlines()
    assert lines and all(line.startswith(f"task {uid}:") for line in lines), lines
    assert any("tool Bash" in line for line in lines), lines
    assert ": succeeded: " in lines[-1]
    again = cli(kubeconfig, ns, "logs", "busy")
    assert again.stdout.splitlines() == lines


def test_cancel_wait_and_drain(env: Env, kubeconfig: Path) -> None:
    env.create_pool(slots=1)
    env.wait_ready_slots(1)
    ns = env.namespace
    sub = cli(kubeconfig, ns, "submit", "-p", "pool", "--name", "slow", "x [[fake delay=30]]")
    assert sub.returncode == 0 and "claudetask/slow created" in sub.stdout
    env.wait_phase("slow", ("Running",))
    assert cli(kubeconfig, ns, "cancel", "slow").returncode == 0
    waited = cli(kubeconfig, ns, "wait", "slow", "--timeout", "60")
    assert waited.returncode == 7, waited.stderr  # Cancelled
    drained = cli(kubeconfig, ns, "drain", "pool", "--timeout", "60")
    assert drained.returncode == 0, drained.stderr
    assert "drained" in drained.stdout
    assert env.pool()["spec"]["suspend"] is True
    queued = cli(kubeconfig, ns, "run", "-p", "pool", "x", "--timeout", "2", "-q")
    assert queued.returncode == 6  # the wait's bound: a suspended pool starts nothing
    assert cli(kubeconfig, ns, "resume", "pool").returncode == 0


def test_errors_have_their_own_exit_codes(
    api_client: Any, namespace: str, kubeconfig: Path, tmp_path: Path
) -> None:
    missing = cli(kubeconfig, namespace, "run", "-p", "nope", "hello")
    assert missing.returncode == 3
    assert f"pool 'nope' not found in namespace '{namespace}'" in missing.stderr

    assert cli(kubeconfig, namespace, "result", "ghost").returncode == 3

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(task_manifest("t", "p", extra_field=1)))
    refused = cli(kubeconfig, namespace, "submit", "-f", str(bad))
    assert refused.returncode == 4
    assert "extraField" in refused.stderr

    custom = _custom(api_client)
    custom.create_namespaced_custom_object(
        "claudepool.io", "v1alpha1", namespace, "claudepools", pool_manifest("p")
    )
    server_side = tmp_path / "server.yaml"
    server_side.write_text(yaml.safe_dump(task_manifest("Not_A_Name", "p")))
    admission = cli(kubeconfig, namespace, "submit", "-f", str(server_side))
    assert admission.returncode == 4, admission.stderr  # the API server refuses the name

    nowhere = tmp_path / "nowhere.kubeconfig"
    config = yaml.safe_load(kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    nowhere.write_text(yaml.safe_dump(config))
    unreachable = cli(nowhere, namespace, "status")
    assert unreachable.returncode == 5
    assert "not reachable" in unreachable.stderr
    no_file = cli(tmp_path / "absent", namespace, "status")
    assert no_file.returncode == 5

    usage = cli(kubeconfig, namespace, "scale", "p")
    assert usage.returncode == 2


def _custom(api_client: Any) -> Any:
    from kubernetes import client

    return client.CustomObjectsApi(api_client)


def test_pool_edits_and_composite_manifests_without_an_operator(
    api_client: Any, namespace: str, kubeconfig: Path, tmp_path: Path
) -> None:
    _custom(api_client).create_namespaced_custom_object(
        "claudepool.io", "v1alpha1", namespace, "claudepools", pool_manifest("p")
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        proc = cli(kubeconfig, namespace, *args)
        assert proc.returncode == 0, proc.stderr
        return proc

    run("context", "set", "p", "lang", "python")
    run("context", "set", "p", "style", "terse")
    assert parsed(run("context", "list", "p", "-o", "json")) == {"lang": "python", "style": "terse"}
    assert run("context", "get", "p", "lang").stdout == "python\n"
    run("context", "delete", "p", "lang")
    assert cli(kubeconfig, namespace, "context", "get", "p", "lang").returncode == 3
    assert parsed(run("scale", "p", "4", "-o", "json"))["spec"]["slots"] == 4
    assert parsed(run("suspend", "p", "-o", "json"))["spec"]["suspend"] is True
    assert parsed(run("resume", "p", "-o", "json"))["spec"]["suspend"] is False

    fan = parsed(run("fan-out", "-p", "p", "a", "b", "--max-parallel", "1", "-o", "json"))
    assert fan["spec"]["fanOut"] == {"prompts": ["a", "b"], "maxParallel": 1, "failFast": False}
    assert "review" not in fan["spec"]
    steps = tmp_path / "steps.yaml"
    steps.write_text(
        "- {name: plan, prompt: Plan it.}\n- {name: do, prompt: '{previous_output}'}\n"
    )
    chain = parsed(
        run("chain", "-p", "p", "-f", str(steps), "--review", "--max-rejections", "2", "-o", "json")
    )
    assert [s["name"] for s in chain["spec"]["chain"]["steps"]] == ["plan", "do"]
    assert chain["spec"]["review"]["required"] is True
    assert chain["spec"]["review"]["maxRejections"] == 2
    chains = tmp_path / "chains.yaml"
    chains.write_text("- [{name: a, prompt: x}]\n- {steps: [{name: b, prompt: y}]}\n")
    fan_chains = parsed(run("fan-out", "-p", "p", "--chains", str(chains), "-o", "json"))
    assert [c["steps"][0]["name"] for c in fan_chains["spec"]["fanOut"]["chains"]] == ["a", "b"]
    both = cli(kubeconfig, namespace, "fan-out", "-p", "p", "x", "--chains", str(chains))
    assert both.returncode != 0 and "not both" in both.stderr
    auto = parsed(run("auto", "-p", "p", "Build it.", "--prefer", "parallel", "-o", "json"))
    assert auto["spec"]["auto"] == {"prompt": "Build it.", "hints": {"prefer": "parallel"}}
    names = run("get", "tasks", "-o", "name").stdout.split()
    assert len(names) == 4 and all(n.startswith("claudetask/p-") for n in names)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
def test_kubectl_finds_the_plugin(api_client: Any, namespace: str, kubeconfig: Path) -> None:
    _custom(api_client).create_namespaced_custom_object(
        "claudepool.io", "v1alpha1", namespace, "claudepools", pool_manifest("p", slots=3)
    )
    bindir = Path(sys.executable).parent
    assert (bindir / "kubectl-claude").exists(), "pip install -e . installs kubectl-claude"
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "KUBECONFIG": str(kubeconfig)}
    proc = subprocess.run(
        ["kubectl", "claude", "get", "pool", "p", "-n", namespace, "-o", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["spec"]["slots"] == 3
