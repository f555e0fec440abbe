"""A task's and a pool's lifecycle: suspend, delete, timeout, long output, events, metrics."""

from __future__ import annotations

import time

import pytest

from tests.helpers import eventually
from tests.integration.harness import Env, wait_gone


def condition(body: dict[str, object], kind: str) -> dict[str, str] | None:
    status = body.get("status") or {}
    assert isinstance(status, dict)
    return next((c for c in status.get("conditions") or [] if c["type"] == kind), None)


@pytest.mark.timeout(180)
def test_a_suspended_pool_finishes_running_work_starts_nothing_new_and_says_drained(
    env: Env,
) -> None:
    env.create_pool(slots=1)
    env.wait_ready_slots(1)
    env.create_task("before", prompt="b [[fake stall=4]]")
    env.wait_phase("before", phases=("Running",), timeout=60)
    env.patch("claudepools", "pool", {"spec": {"suspend": True}})
    env.create_task("held", prompt="h")
    assert env.wait_phase("before", timeout=60)["status"]["phase"] == "Succeeded"

    def drained() -> dict[str, str] | None:
        cond = condition(env.pool(), "Suspended")
        return cond if cond and cond["reason"] == "Drained" else None

    assert eventually(drained, timeout=30, what="Suspended/Drained")["status"] == "True"
    held = env.wait_phase("held", phases=("Waiting",), timeout=30)
    assert condition(held, "Admitted")["reason"] == "PoolSuspended"  # type: ignore[index]
    env.patch("claudepools", "pool", {"spec": {"suspend": False}})
    assert env.wait_phase("held", timeout=60)["status"]["phase"] == "Succeeded"


@pytest.mark.timeout(180)
def test_deleting_a_running_task_stops_it_on_its_slot(env: Env) -> None:
    env.create_pool(slots=1)
    env.wait_ready_slots(1)
    env.create_task("doomed", prompt="d [[fake stall=60]]")
    env.wait_phase("doomed", phases=("Running",), timeout=60)
    env.delete("claudetasks", "doomed")
    wait_gone(lambda: env.task("doomed"), timeout=30, what="task deleted")
    # the slot is freed (its CLI, stalled for 60 s, was stopped): the next task runs promptly
    started = time.monotonic()
    env.create_task("next", prompt="n")
    assert env.wait_phase("next", timeout=30)["status"]["phase"] == "Succeeded"
    assert time.monotonic() - started < 30


@pytest.mark.timeout(180)
def test_a_task_that_runs_past_its_timeout_fails_with_reason_timeout(env: Env) -> None:
    env.create_pool(slots=1)
    env.wait_ready_slots(1)
    env.create_task("slow", prompt="s [[fake stall=60]]", timeout_seconds=3)
    task = env.wait_phase("slow", timeout=60)
    assert task["status"]["phase"] == "Failed"
    assert task["status"]["result"]["failure"]["reason"] == "Timeout"


@pytest.mark.timeout(180)
def test_output_longer_than_status_allows_is_kept_whole_in_an_owned_config_map(env: Env) -> None:
    env.create_pool(slots=1)
    env.wait_ready_slots(1)
    long_text = "x" * 40_000
    env.create_task("long", prompt=f"l [[fake reply={long_text}]]")
    task = env.wait_phase("long", timeout=60)
    result = task["status"]["result"]
    assert result["outputTruncated"] is True
    assert result["outputSize"] == 40_000
    assert len(result["output"]) < 40_000
    cm = env.core.read_namespaced_config_map(result["outputRef"], env.namespace)
    assert cm.data["output"] == long_text
    assert cm.metadata.owner_references[0].uid == task["metadata"]["uid"]


@pytest.mark.timeout(180)
def test_events_record_the_start_and_the_outcome_of_a_task(env: Env) -> None:
    env.create_pool(slots=1)
    env.wait_ready_slots(1)
    env.create_task("ok", prompt="ok")
    env.create_task("bad", prompt="bad [[fake status=400]]")
    env.wait_phase("ok")
    env.wait_phase("bad")

    def reasons(name: str) -> set[str]:
        events = env.core.list_namespaced_event(
            env.namespace, field_selector=f"involvedObject.name={name}"
        ).items
        return {e.reason for e in events}

    assert eventually(lambda: {"Started", "Succeeded"} <= reasons("ok"), timeout=20)
    assert eventually(lambda: {"Started", "Failed"} <= reasons("bad"), timeout=20)


@pytest.mark.timeout(120)
def test_the_operator_exposes_prometheus_metrics(env: Env) -> None:
    env.create_pool(slots=1)
    env.wait_ready_slots(1)
    env.create_task("m", prompt="m [[fake in=100 out=20]]")
    env.wait_phase("m")

    def metrics() -> str | None:
        text = env.operator.metrics()
        return text if "claude_pool_cost_microdollars_total{namespace=" in text else None

    text = eventually(metrics, timeout=20, what="cost metric")
    for name in (
        "claude_pool_queue_depth",
        "claude_pool_slots",
        "claude_pool_dispatch_latency_seconds_bucket",
        "claude_pool_task_duration_seconds_bucket",
        "claude_pool_tokens_total",
        "claude_pool_api_writes_total",
        "claude_pool_api_errors",
    ):
        assert name in text, name
    cost_line = next(
        line
        for line in text.splitlines()
        if line.startswith("claude_pool_cost_microdollars_total{")
    )
    assert cost_line.endswith(" 600.0")
