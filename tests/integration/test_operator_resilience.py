"""Failures an operator meets in production: scale-down under load, lost slots, crashes."""

from __future__ import annotations

import pytest
from kubernetes import client

from tests.helpers import eventually
from tests.integration.harness import Env, wait_gone


def running_on(env: Env, names: list[str]) -> set[str]:
    slots = set()
    for name in names:
        status = env.task(name).get("status") or {}
        if status.get("phase") == "Running" and status.get("slot"):
            slots.add(status["slot"])
    return slots


@pytest.mark.timeout(240)
def test_scale_down_while_every_slot_is_busy_kills_none_and_ends_at_one(env: Env) -> None:
    env.create_pool(slots=3)
    env.wait_ready_slots(3)
    names = ["s0", "s1", "s2"]
    for name in names:
        env.create_task(name, prompt=f"{name} [[fake stall=6]]")
    eventually(lambda: len(running_on(env, names)) == 3, timeout=60, what="3 busy slots")
    env.custom.patch_namespaced_custom_object_scale(
        "claudepool.io",
        "v1alpha1",
        env.namespace,
        "claudepools",
        "pool",
        {"spec": {"replicas": 1}},
    )
    for name in names:
        task = env.wait_phase(name, timeout=120)
        assert task["status"]["phase"] == "Succeeded", task["status"]
        assert task["status"]["attempts"] == 1
    eventually(lambda: len(env.slot_pods()) == 1, timeout=60, what="one slot pod left")
    pool = env.wait_ready_slots(1)
    assert pool["spec"]["slots"] == 1
    assert pool["status"]["replicas"] == 1


@pytest.mark.timeout(240)
def test_a_task_on_a_deleted_slot_pod_completes_on_another_slot(env: Env) -> None:
    env.create_pool(slots=2)
    env.wait_ready_slots(2)
    env.create_task("moved", prompt="moved [[fake stall=8]]")
    first = eventually(lambda: running_on(env, ["moved"]), timeout=60, what="task running")
    victim = first.pop()
    env.core.delete_namespaced_pod(victim, env.namespace)
    task = env.wait_phase("moved", timeout=150)
    assert task["status"]["phase"] == "Succeeded", task["status"]
    assert task["status"]["attempts"] == 2
    # the pod was recreated: the pool is back to two slots
    env.wait_ready_slots(2)


@pytest.mark.timeout(300)
def test_killing_the_operator_loses_no_task_and_counts_no_cost_twice(env: Env) -> None:
    env.create_pool(slots=4)
    env.wait_ready_slots(4)
    names = [f"k{i}" for i in range(10)]
    for name in names:
        env.create_task(name, prompt=f"{name} [[fake in=100 out=20 stall=2]]")
    eventually(lambda: len(running_on(env, names)) >= 3, timeout=60, what="tasks in flight")
    env.operator.kill()
    env.operator.start()
    for name in names:
        task = env.wait_phase(name, timeout=200)
        assert task["status"]["phase"] == "Succeeded", task["status"]
    total = sum(env.task(n)["status"]["costMicrodollars"] for n in names)
    assert total == 600 * len(names)
    eventually(
        lambda: env.pool()["status"]["budget"]["spentMicrodollars"] == total,
        timeout=20,
        what="exact spend",
    )


@pytest.mark.timeout(120)
def test_a_persistent_overloaded_api_fails_the_task_with_reason_overloaded(env: Env) -> None:
    env.create_pool(slots=1)
    env.wait_ready_slots(1)
    env.create_task("busy-api", prompt="x [[fake status=529]]")
    task = env.wait_phase("busy-api", timeout=90)
    status = task["status"]
    assert status["phase"] == "Failed"
    assert status["result"]["failure"]["reason"] == "Overloaded"
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "Overloaded"


@pytest.mark.timeout(180)
def test_cancel_stops_a_running_task_and_a_queued_one(env: Env) -> None:
    env.create_pool(slots=1)
    env.wait_ready_slots(1)
    env.create_task("running", prompt="r [[fake stall=60]]")
    eventually(lambda: running_on(env, ["running"]), timeout=60, what="task running")
    env.create_task("queued", prompt="q")
    env.patch("claudetasks", "queued", {"spec": {"cancel": True}})
    queued = env.wait_phase("queued", timeout=60)
    assert queued["status"]["phase"] == "Cancelled"
    env.patch("claudetasks", "running", {"spec": {"cancel": True}})
    running = env.wait_phase("running", timeout=60)
    assert running["status"]["phase"] == "Cancelled"
    # the slot is free again: a new task runs
    env.create_task("after", prompt="after")
    assert env.wait_phase("after")["status"]["phase"] == "Succeeded"


@pytest.mark.timeout(180)
def test_deleting_the_pool_garbage_collects_its_pods_and_secret(env: Env) -> None:
    env.create_pool(slots=2)
    env.wait_ready_slots(2)
    assert len(env.slot_pods()) == 2
    env.delete("claudepools", "pool")
    eventually(lambda: not env.slot_pods(), timeout=90, what="slot pods collected")
    wait_gone(
        lambda: env.core.read_namespaced_secret("pool-agent-token", env.namespace),
        timeout=60,
        what="the token Secret collected",
    )


@pytest.mark.timeout(180)
def test_a_missing_credentials_secret_is_reported_and_work_starts_once_it_exists(
    env: Env,
) -> None:
    env.create_pool(slots=1, secret=False)

    def ready_condition() -> dict[str, str] | None:
        conds = (env.pool().get("status") or {}).get("conditions") or []
        ready = next((c for c in conds if c["type"] == "Ready"), None)
        return ready if ready and ready["reason"] == "CredentialsMissing" else None

    ready = eventually(ready_condition, timeout=60, what="CredentialsMissing")
    assert ready["status"] == "False"
    assert "claude-credentials" in ready["message"]
    env.create_task("patient", prompt="p")
    waiting = env.wait_phase("patient", phases=("Pending", "Waiting"), timeout=30)
    assert waiting["status"]["phase"] in ("Pending", "Waiting")
    env.credentials()
    assert env.wait_phase("patient", timeout=120)["status"]["phase"] == "Succeeded"


@pytest.mark.timeout(180)
def test_a_task_for_a_missing_pool_waits_with_a_reason_and_runs_when_the_pool_appears(
    env: Env,
) -> None:
    env.create_task("early", pool="later", prompt="e")

    def pool_not_found() -> bool:
        conds = (env.task("early").get("status") or {}).get("conditions") or []
        return any(c["type"] == "Admitted" and c["reason"] == "PoolNotFound" for c in conds)

    eventually(pool_not_found, timeout=60, what="PoolNotFound")
    env.create_pool("later", slots=1)
    assert env.wait_phase("early", timeout=120)["status"]["phase"] == "Succeeded"


@pytest.mark.timeout(180)
def test_a_slot_pod_deleted_by_anyone_is_recreated(env: Env) -> None:
    env.create_pool(slots=1)
    env.wait_ready_slots(1)
    old = env.slot_pods()[0].metadata.uid
    env.core.delete_namespaced_pod("pool-slot-0", env.namespace, body=client.V1DeleteOptions())

    def replaced() -> bool:
        pods = env.slot_pods()
        return len(pods) == 1 and pods[0].metadata.uid != old

    eventually(replaced, timeout=90, what="a new slot pod")
    env.wait_ready_slots(1)


@pytest.mark.timeout(180)
def test_a_slot_that_keeps_crashing_degrades_the_pool_and_is_replaced(env: Env) -> None:
    env.create_pool(slots=1, supervision={"maxRestarts": 1})
    env.wait_ready_slots(1)
    first = env.slot_pods()[0].metadata.uid

    def crash() -> bool:
        run = env.node.run_of(env.namespace, "pool-slot-0")
        if run is None or run.proc is None or run.uid != first:
            return False
        run.proc.kill()
        return True

    eventually(crash, timeout=30, what="a running agent to kill")
    eventually(
        lambda: (
            (run := env.node.run_of(env.namespace, "pool-slot-0")) is not None
            and run.restarts == 1
            and run.proc is not None
        ),
        timeout=30,
        what="the agent restarted once",
    )
    eventually(crash, timeout=30, what="the restarted agent to kill")

    def degraded() -> dict[str, str] | None:
        conds = (env.pool().get("status") or {}).get("conditions") or []
        cond = next((c for c in conds if c["type"] == "Degraded"), None)
        return cond if cond and cond["status"] == "True" else None

    cond = eventually(degraded, timeout=60, what="Degraded=True")
    assert cond["reason"] == "SlotRestartLimit"
    assert "restarted 2 times (limit 1)" in cond["message"]
    eventually(
        lambda: any(p.metadata.uid != first for p in env.slot_pods()),
        timeout=60,
        what="the worn pod replaced",
    )
    env.wait_ready_slots(1)


@pytest.mark.timeout(180)
def test_a_task_whose_slot_is_lost_with_no_attempts_left_fails_with_slot_lost(env: Env) -> None:
    env.create_pool(slots=1, supervision={"maxTaskAttempts": 1})
    env.wait_ready_slots(1)
    env.create_task("unlucky", prompt="u [[fake stall=30]]")
    slot = eventually(lambda: running_on(env, ["unlucky"]), timeout=60, what="running").pop()
    env.core.delete_namespaced_pod(slot, env.namespace)
    task = env.wait_phase("unlucky", timeout=90)
    status = task["status"]
    assert status["phase"] == "Failed"
    assert status["result"]["failure"]["reason"] == "SlotLost"
    assert "1 of 1 attempts" in status["result"]["failure"]["message"]
