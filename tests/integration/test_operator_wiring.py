"""Issue 7 wired into the operator, end to end: the pod-storm bound, the model billed, the
first status of a queued task, ttlSecondsAfterFinished, promptFrom and lifecycle log lines.

Real apiserver, local node, real Claude CLI against the fake Anthropic API. The `tuned`
fixture restarts the test's operator with a small churn bound and JSON log lines.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from claude_pool.api.money import format_dollars
from claude_pool.devenv.fakepricing import cost_microdollars
from tests.helpers import TEST_TIMINGS, eventually, operator_process
from tests.integration.harness import Env, wait_gone

CHURN_LIMIT = 5
HAIKU = "claude-haiku-4-5-20251001"


@pytest.fixture
def tuned(env: Env, kubeconfig: Path, tmp_path: Path) -> Iterator[Env]:
    """`env` with an operator whose churn bound is CHURN_LIMIT and whose logs are JSON."""
    env.operator.stop()
    tuned = operator_process(
        kubeconfig,
        env.namespace,
        tmp_path / "operator-json.log",
        start_timeout=30,
        **TEST_TIMINGS,
        slot_churn_per_minute=str(CHURN_LIMIT),
        log_format="json",
    ).start()
    env.operator = tuned
    try:
        yield env
    finally:
        tuned.stop()


def condition(body: dict[str, Any], kind: str) -> dict[str, Any] | None:
    conditions = (body.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == kind), None)


def writes(env: Env, verb: str, resource: str) -> float:
    """The operator's claude_pool_api_writes_total for one verb and resource."""
    pattern = re.compile(
        rf'^claude_pool_api_writes_total\{{resource="{re.escape(resource)}",verb="{verb}"\}} (\S+)$'
    )
    for line in env.operator.metrics().splitlines():
        found = pattern.match(line)
        if found:
            return float(found.group(1))
    return 0.0


def events(env: Env, name: str, reason: str) -> list[Any]:
    found = env.core.list_namespaced_event(env.namespace).items
    return [e for e in found if e.involved_object.name == name and e.reason == reason]


@pytest.mark.timeout(240)
def test_a_pod_storm_stays_under_the_churn_bound_for_a_minute(tuned: Env) -> None:
    env = tuned
    env.create_pool(slots=2)
    env.wait_ready_slots(2)
    before = writes(env, "create", "pod")
    assert before == 2
    deleted: set[str] = set()
    degraded: list[dict[str, Any]] = []
    end = time.monotonic() + 60
    while time.monotonic() < end:  # a hostile controller deletes every slot pod at once
        found = condition(env.pool(), "Degraded")
        if found is not None and found["status"] == "True":
            degraded.append(found)
        for pod in env.slot_pods():
            if pod.metadata.deletion_timestamp is None and pod.metadata.uid not in deleted:
                deleted.add(pod.metadata.uid)
                try:
                    env.core.delete_namespaced_pod(
                        pod.metadata.name,
                        env.namespace,
                        body=client.V1DeleteOptions(grace_period_seconds=0),
                    )
                except client.ApiException as exc:
                    if exc.status != 404:
                        raise
        time.sleep(0.2)
    creates = writes(env, "create", "pod") - before
    # each create may be lost again; at most CHURN_LIMIT short lives per minute, plus the
    # pods alive at the end (one per slot)
    assert creates <= CHURN_LIMIT + 2, f"{creates} pod creates in 60 s"
    assert len(deleted) >= CHURN_LIMIT, "the storm did not happen"
    # Degraded while creates are held back (it clears once the oldest loss is a minute old)
    assert degraded, "the pool never showed Degraded=True"
    assert {c["reason"] for c in degraded} == {"SlotChurn"}
    assert "CLAUDE_POOL_SLOT_CHURN_PER_MINUTE" in degraded[0]["message"]
    warnings = events(env, "pool", "SlotChurn")
    assert warnings, "no SlotChurn event"
    assert warnings[0].type == "Warning"


@pytest.mark.cli
@pytest.mark.timeout(180)
def test_a_haiku_pool_in_plan_mode_is_billed_at_haiku_prices_and_logs_its_lifecycle(
    tuned: Env,
) -> None:
    env = tuned
    env.create_pool(slots=1, claude={"model": "haiku"})
    env.wait_ready_slots(1)
    env.create_task("h", prompt="haiku [[fake in=2000 out=100]]")
    task = env.wait_phase("h", timeout=90)
    status = task["status"]
    assert status["phase"] == "Succeeded", status
    result = status["result"]
    assert (result["requestedModel"], result["resolvedModel"], result["model"]) == (
        "haiku",
        HAIKU,
        HAIKU,
    )
    assert status["costMicrodollars"] == cost_microdollars(HAIKU, 2000, 100)
    mismatch = condition(task, "ModelMismatch")
    assert mismatch is not None
    assert (mismatch["status"], mismatch["reason"]) == ("False", "RequestedModelUsed")
    succeeded = eventually(  # the Event is posted after the status write: it may lag
        lambda: events(env, "h", "Succeeded"), timeout=20, what="the Succeeded event of h"
    )
    assert "1 turn)" in succeeded[0].message

    env.create_task("w", prompt="write [[fake tools=write]]")
    denied = env.wait_phase("w", timeout=90)["status"]
    assert [d["tool"] for d in denied["result"]["permissionDenials"]] == ["Write"]
    warning = eventually(
        lambda: events(env, "w", "PermissionDenied"), timeout=20, what="PermissionDenied event"
    )
    assert warning[0].type == "Warning"
    assert "Write" in warning[0].message

    uid = env.task("h")["metadata"]["uid"]

    def lines() -> list[dict[str, Any]] | None:
        found = []
        for raw in env.operator.log.read_text().splitlines():
            if raw.startswith("{"):
                record = json.loads(raw)
                if record.get("uid") == uid:
                    found.append(record)
        messages = {r["message"] for r in found}
        wanted = {"task dispatched", "task started", "task finished"}
        return found if wanted <= messages else None

    records = eventually(lines, timeout=20, what="the lifecycle lines of task h")
    for record in records:
        assert record["level"] == "INFO"
        assert (record["pool"], record["task"], record["slot"]) == ("pool", "h", "pool-slot-0")
    finished = next(r for r in records if r["message"] == "task finished")
    assert finished["reason"] == "Completed"
    assert finished["cost"] == format_dollars(cost_microdollars(HAIKU, 2000, 100))


@pytest.mark.timeout(180)
def test_a_queued_task_shows_pending_and_its_mode_and_prompt_tasks_pay_nothing_extra(
    env: Env,
) -> None:
    env.create_pool(slots=2)
    env.wait_ready_slots(2)
    patches = writes(env, "patch", "claudetasks/status")
    for name in ("a", "b"):
        env.create_task(name, prompt=f"{name} [[fake in=100 out=20]]")
    for name in ("a", "b"):
        assert env.wait_phase(name)["status"]["phase"] == "Succeeded"
    # dispatched at once: the assignment and the result, nothing more
    assert writes(env, "patch", "claudetasks/status") - patches == 4
    for name in ("a", "b"):
        assert condition(env.task(name), "Admitted")["reason"] == "Dispatched"  # type: ignore[index]

    env.create_task("long1", prompt="long [[fake in=100 out=20 delay=8]]")
    env.create_task("long2", prompt="long [[fake in=100 out=20 delay=8]]")
    env.create_task("queued", prompt="queued [[fake in=100 out=20]]")
    waiting = env.wait_phase("queued", phases=("Pending",), timeout=10)
    status = waiting["status"]
    assert status["mode"] == "Single"
    admitted = condition(waiting, "Admitted")
    assert admitted is not None
    assert (admitted["status"], admitted["reason"]) == ("False", "WaitingForSlot")
    assert env.wait_phase("queued", timeout=60)["status"]["phase"] == "Succeeded"

    env.create_task("many", prompt=None, fan_out={"prompts": ["x", "y"]})
    fan_out = eventually(
        lambda: (env.task("many").get("status") or {}).get("mode"), timeout=20, what="mode"
    )
    assert fan_out == "FanOut"


@pytest.mark.timeout(180)
def test_finished_tasks_are_deleted_after_their_ttl_and_pool_spend_stays(env: Env) -> None:
    env.create_pool(slots=2, ttlSecondsAfterFinished=10)
    env.wait_ready_slots(2)
    env.create_task("own", prompt="own [[fake in=100 out=20]]", ttlSecondsAfterFinished=3)
    env.create_task("default", prompt="default [[fake in=100 out=20]]")
    own = env.wait_phase("own")
    default = env.wait_phase("default")
    cost = own["status"]["costMicrodollars"] + default["status"]["costMicrodollars"]
    wait_gone(lambda: env.task("own"), timeout=15, what="task own deleted after 3 s")
    # completionTime is to the second: the 10 s TTL has not run out 8.5 s after it
    completed = dt.datetime.fromisoformat(default["status"]["completionTime"])
    while dt.datetime.now(dt.UTC) < completed + dt.timedelta(seconds=8.5):
        assert env.task("default")["status"]["phase"] == "Succeeded"
        time.sleep(0.2)
    wait_gone(lambda: env.task("default"), timeout=20, what="task default deleted after 10 s")
    assert env.pool()["status"]["budget"]["spentMicrodollars"] == cost


@pytest.mark.cli
@pytest.mark.timeout(240)
def test_a_900_kb_prompt_from_a_config_map_that_appears_later_runs(env: Env) -> None:
    # about 225k tokens: more than a 200k context, so the pool asks for the 1M context
    env.create_pool(slots=1, claude={"model": "sonnet[1m]"})
    env.wait_ready_slots(1)
    env.create_task(
        "big",
        prompt=None,
        prompt_from={"configMapKeyRef": {"name": "big-prompt", "key": "prompt"}},
    )
    waiting = env.wait_phase("big", phases=("Waiting",), timeout=30)
    admitted = condition(waiting, "Admitted")
    assert admitted is not None
    assert admitted["reason"] == "PromptSourceMissing"
    assert "ConfigMap big-prompt key prompt" in admitted["message"]
    marker = "BIG-PROMPT-MARKER"
    text = (
        marker + " " + ("lorem ipsum " * 75_000)[:900_000] + ' [[fake reply="read" in=100 out=20]]'
    )
    env.core.create_namespaced_config_map(
        env.namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="big-prompt"), data={"prompt": text}),
    )
    done = env.wait_phase("big", timeout=120)
    assert done["status"]["phase"] == "Succeeded", done["status"]["result"]

    def prompt_length() -> int:
        for request in env.fake.requests:
            if request.kind != "messages" or marker not in json.dumps(request.body):
                continue
            for message in request.body.get("messages", []):
                content = message.get("content")
                parts = [content] if isinstance(content, str) else content or []
                for part in parts:
                    value = part if isinstance(part, str) else part.get("text", "")
                    if marker in value:
                        return len(value)
        return 0

    assert prompt_length() >= 900_000
