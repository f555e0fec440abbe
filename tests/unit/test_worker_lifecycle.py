"""The pool worker's issue-7 steps against the fakes: the first status of a queued task, its
mode, the pod-storm bound, ttlSecondsAfterFinished, promptFrom read at dispatch, the model
and permission report of a finished run, and the lifecycle log lines.

Each test drives `PoolWorker.cycle()` by hand (`tests.unit.test_worker_cycle.Rig`).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from claude_pool.api.agent import AgentResult, DeniedToolUse
from claude_pool.kube.client import POOLS, TASKS
from claude_pool.runtime.pending import PENDING_AFTER
from claude_pool.runtime.settings import Settings
from tests.unit.test_worker_cycle import NS, Rig, ip, result


def task_patches(rig: Rig, name: str) -> list[dict[str, Any]]:
    return [w.body for w in rig.kube.writes_of("patch", f"{TASKS}/status") if w.name == name]


async def test_a_task_that_waits_a_second_for_a_slot_gets_its_status_in_one_write() -> None:
    rig = Rig(slots=1)
    rig.task("a")
    rig.task("b")
    worker = rig.worker()
    await rig.cycle(worker)
    assert len(task_patches(rig, "a")) == 1  # the assignment only: nothing extra
    assert task_patches(rig, "b") == []
    assert worker.alarm.due is not None  # woken when the second has passed
    rig.clock.advance(PENDING_AFTER / 2)
    await rig.cycle(worker)
    assert task_patches(rig, "b") == []
    rig.clock.advance(PENDING_AFTER / 2 + 0.1)
    await rig.cycle(worker)
    await rig.cycle(worker)
    [patch] = task_patches(rig, "b")
    assert patch["phase"] == "Pending"
    assert patch["mode"] == "Single"
    [admitted] = patch["conditions"]
    assert (admitted["type"], admitted["status"], admitted["reason"]) == (
        "Admitted",
        "False",
        "WaitingForSlot",
    )
    assert len(task_patches(rig, "a")) == 1
    # when the slot frees, b is assigned (Admitted=True) without a Queued write first
    uid_a = rig.kube.get(TASKS, "a")["metadata"]["uid"]
    rig.slots.agent(ip(0)).finish(uid_a, result(10))
    await rig.settle()
    await rig.cycle(worker)
    await rig.cycle(worker)
    assert rig.status(TASKS, "b")["phase"] == "Running"
    assert len(task_patches(rig, "b")) == 2
    await rig.stop()


async def test_a_fan_out_task_shows_its_mode_not_single() -> None:
    rig = Rig(slots=1)
    rig.task("f", prompt=None, fanOut={"prompts": ["one", "two"]})
    worker = rig.worker()
    await rig.cycle(worker)
    assert rig.status(TASKS, "f")["mode"] == "FanOut"
    await rig.stop()


def churn_rig(limit: int) -> Rig:
    rig = Rig(slots=1, pods=0)
    rig.settings = Settings(
        slot_churn_per_minute=limit,
        slot_backoff_seconds=1.0,
        pool_status_min_interval_seconds=1.0,
    )
    return rig


async def test_slot_pods_lost_as_fast_as_they_are_created_stop_at_the_churn_bound() -> None:
    rig = churn_rig(limit=3)
    worker = rig.worker()
    for _ in range(10):  # someone deletes every slot pod right after it was created
        await rig.cycle(worker)
        if ("pods", NS, "p-slot-0") in rig.kube.objects:
            rig.remove_pod(0)
        rig.clock.advance(1)
    assert len(rig.kube.writes_of("create", "pods")) == 3
    degraded = next(c for c in rig.status(POOLS, "p")["conditions"] if c["type"] == "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "SlotChurn")
    assert "CLAUDE_POOL_SLOT_CHURN_PER_MINUTE" in degraded["message"]
    [event] = rig.events("SlotChurn")
    assert event["warning"]
    assert worker.alarm.due is not None
    rig.clock.advance(60)  # the oldest loss leaves the minute: one more create
    await rig.cycle(worker)
    assert len(rig.kube.writes_of("create", "pods")) == 4
    await rig.stop()


async def test_a_scale_up_is_not_churn() -> None:
    rig = churn_rig(limit=3)
    rig.set_spec(slots=8)
    worker = rig.worker()
    await rig.cycle(worker)
    await rig.cycle(worker)
    await rig.cycle(worker)
    assert len(rig.kube.writes_of("create", "pods")) == 8
    assert rig.events("SlotChurn") == []
    await rig.stop()


def finish(rig: Rig, name: str, agent_result: AgentResult) -> None:
    uid = rig.kube.get(TASKS, name)["metadata"]["uid"]
    slot = rig.status(TASKS, name)["slot"]
    rig.slots.agent(ip(int(slot[-1]))).finish(uid, agent_result)


async def test_finished_tasks_are_deleted_after_their_ttl_and_spend_is_unchanged() -> None:
    rig = Rig(slots=2, ttlSecondsAfterFinished=30)
    rig.task("own", ttlSecondsAfterFinished=5)
    rig.task("default")
    worker = rig.worker()
    await rig.cycle(worker)
    finish(rig, "own", result(100))
    finish(rig, "default", result(200))
    await rig.settle()
    await rig.cycle(worker)
    await rig.cycle(worker)
    assert rig.status(TASKS, "own")["phase"] == "Succeeded"
    assert rig.kube.writes_of("delete", TASKS) == []
    assert worker.alarm.due is not None
    rig.clock.advance(6)
    await rig.cycle(worker)
    assert [w.name for w in rig.kube.writes_of("delete", TASKS)] == ["own"]
    assert (TASKS, NS, "default") in rig.kube.objects
    rig.clock.advance(30)
    await rig.cycle(worker)
    assert [w.name for w in rig.kube.writes_of("delete", TASKS)] == ["own", "default"]
    assert rig.status(POOLS, "p")["budget"]["spentMicrodollars"] == 300
    await rig.stop()


async def test_without_a_ttl_finished_tasks_are_kept() -> None:
    rig = Rig(slots=1)
    rig.task("t")
    worker = rig.worker()
    await rig.cycle(worker)
    finish(rig, "t", result(1))
    await rig.settle()
    await rig.cycle(worker)
    rig.clock.advance(10**6)
    await rig.cycle(worker)
    assert rig.kube.writes_of("delete", TASKS) == []
    await rig.stop()


async def test_a_prompt_from_task_waits_for_its_key_then_runs_with_its_value() -> None:
    rig = Rig(slots=1)
    source = {"configMapKeyRef": {"name": "big", "key": "prompt"}}
    uid = rig.task("t", prompt=None, promptFrom=source)
    worker = rig.worker()
    await rig.cycle(worker)
    admitted = rig.condition("t", "Admitted")
    assert (admitted["status"], admitted["reason"]) == ("False", "PromptSourceMissing")
    assert "ConfigMap big key prompt" in admitted["message"]
    assert rig.slots.agent(ip(0)).running == []
    rig.kube.config[("ConfigMap", NS, "big", "prompt")] = "x" * 900_000
    await rig.cycle(worker)
    agent = rig.slots.agent(ip(0))
    assert agent.running == [uid]
    assert len(agent.requests[uid].prompt) == 900_000
    await rig.stop()


async def test_a_prompt_from_task_with_a_missing_key_does_not_hold_the_slot() -> None:
    rig = Rig(slots=1)
    rig.task("a", prompt=None, promptFrom={"secretKeyRef": {"name": "s", "key": "k"}})
    uid = rig.task("b")
    worker = rig.worker()
    await rig.cycle(worker)
    assert rig.slots.agent(ip(0)).running == [uid]
    assert rig.condition("a", "Admitted")["reason"] == "PromptSourceMissing"
    await rig.stop()


async def test_a_haiku_task_answered_by_sonnet_gets_a_condition_and_a_warning() -> None:
    rig = Rig(slots=1, claude={"model": "haiku"})
    rig.task("t")
    worker = rig.worker()
    await rig.cycle(worker)
    denied = [DeniedToolUse(tool="Write", target="/w/a.py")]
    finish(
        rig,
        "t",
        AgentResult(
            output="x",
            success=True,
            cost_microdollars=30,
            turns=1,
            model="claude-sonnet-5",
            denied_tool_uses=denied,
        ),
    )
    await rig.settle()
    await rig.cycle(worker)
    await rig.cycle(worker)
    status = rig.status(TASKS, "t")
    assert status["result"]["requestedModel"] == "haiku"
    assert status["result"]["resolvedModel"] == "claude-haiku-4-5-20251001"
    assert status["result"]["model"] == "claude-sonnet-5"
    assert status["result"]["permissionDenials"] == [{"tool": "Write", "target": "/w/a.py"}]
    mismatch = rig.condition("t", "ModelMismatch")
    assert (mismatch["status"], mismatch["reason"]) == ("True", "OtherModelUsed")
    [model_event] = rig.events("ModelMismatch")
    assert model_event["warning"]
    assert "claude-sonnet-5" in model_event["message"]
    [denial_event] = rig.events("PermissionDenied")
    assert "Write /w/a.py" in denial_event["message"]
    [done] = rig.events("Succeeded")
    assert "1 turn)" in done["message"]
    await rig.stop()


async def test_the_requested_model_answering_sets_model_mismatch_false_and_no_warning() -> None:
    rig = Rig(slots=1, claude={"model": "haiku"})
    rig.task("t")
    worker = rig.worker()
    await rig.cycle(worker)
    finish(
        rig,
        "t",
        AgentResult(output="x", success=True, turns=2, model="claude-haiku-4-5-20251001"),
    )
    await rig.settle()
    await rig.cycle(worker)
    await rig.cycle(worker)
    assert rig.condition("t", "ModelMismatch")["status"] == "False"
    assert rig.events("ModelMismatch") == []
    assert rig.events("PermissionDenied") == []
    assert "2 turns)" in rig.events("Succeeded")[0]["message"]
    await rig.stop()


async def test_the_model_alias_setting_is_used() -> None:
    rig = Rig(slots=1, claude={"model": "fast"})
    rig.settings = Settings(model_aliases={"fast": "gw-fast-1"})
    uid = rig.task("t")
    worker = rig.worker()
    await rig.cycle(worker)
    assert rig.slots.agent(ip(0)).requests[uid].model == "gw-fast-1"
    await rig.stop()


async def test_a_task_lifecycle_is_logged_at_info_with_its_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="claude_pool.worker")
    rig = Rig(slots=1)
    uid = rig.task("t")
    worker = rig.worker()
    await rig.cycle(worker)
    finish(rig, "t", result(1_500))
    await rig.settle()
    await rig.cycle(worker)
    lines = {r.getMessage(): r for r in caplog.records}
    dispatched, finished = lines["task dispatched"], lines["task finished"]
    for record in (dispatched, finished):
        assert (record.pool, record.task, record.uid, record.slot) == ("p", "t", uid, "p-slot-0")  # type: ignore[attr-defined]
    assert finished.reason == "Completed"  # type: ignore[attr-defined]
    assert finished.cost == "0.0015"  # type: ignore[attr-defined]
    await rig.stop()


async def test_retries_and_cancels_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="claude_pool.worker")
    rig = Rig(slots=1)
    rig.task("t")
    rig.task("c", cancel=True)
    worker = rig.worker()
    await rig.cycle(worker)
    rig.remove_pod(0)
    await rig.cycle(worker)
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("task retried: slot p-slot-0") for m in messages)
    assert "task cancelled: cancelled before it started" in messages
    await rig.stop()
