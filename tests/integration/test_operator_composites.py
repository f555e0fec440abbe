"""Composite tasks (fan-out, chain, auto) run as child ClaudeTasks: real control plane, real CLI.

Every leaf is a child task run by a slot with the real Claude CLI against the fake API; the
fake's directives script item failures, JSON outputs for outputVars and each router answer.
Costs are checked to the microdollar: every successful leaf costs 600 (100 in + 20 out on
the fake's sonnet prices), the pool's spend is the sum of its leaves' costs, and a parent's
cost is the sum of its children's (the router's included).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from tests.helpers import eventually
from tests.integration.harness import Env, wait_gone

LEAF = 600
"""The cost of one fake answer (100 input + 20 output tokens on sonnet)."""


def children(env: Env, parent: str) -> list[dict[str, Any]]:
    found = env.custom.list_namespaced_custom_object(
        "claudepool.io",
        "v1alpha1",
        env.namespace,
        "claudetasks",
        label_selector=f"claudepool.io/parent={parent}",
    )["items"]
    return sorted(found, key=lambda t: t["metadata"]["name"])


def condition(task: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in task["status"]["conditions"] if c["type"] == kind)


def leaves(env: Env) -> list[dict[str, Any]]:
    """Every task of the namespace that ran on a slot (no composite)."""
    found = env.custom.list_namespaced_custom_object(
        "claudepool.io", "v1alpha1", env.namespace, "claudetasks"
    )["items"]
    return [t for t in found if t["status"].get("mode") == "Single"]


def spend_is(env: Env, total: int) -> None:
    def spent() -> bool:
        value = env.pool()["status"]["budget"]["spentMicrodollars"]
        assert value == total, f"the pool's spend is {value}"
        return True

    eventually(spent, timeout=30, what=f"pool spend {total}")


def last_prompt(body: Any) -> str:
    """The prompt of a Messages request: the last user text holding a fake directive (the CLI
    adds reminder blocks after it; a resumed session carries the earlier prompts before it)."""
    texts = []
    for message in body["messages"]:
        content = message["content"]
        blocks = [{"text": content}] if isinstance(content, str) else content
        if message["role"] == "user":
            texts += [b.get("text", "") for b in blocks if isinstance(b, dict)]
    return next((t for t in reversed(texts) if "[[fake" in t), "")


def answered(env: Env, marker: str) -> int:
    """How many Messages requests whose last user turn holds `marker` were answered 200."""
    return sum(
        1
        for r in env.fake.requests
        if r.kind == "messages" and r.status == 200 and marker in last_prompt(r.body)
    )


@pytest.mark.timeout(300)
def test_fan_out_keeps_every_result_chains_feed_variables_and_recover(env: Env) -> None:
    env.create_pool(slots=4)
    env.wait_ready_slots(4)
    env.create_task(
        "fan",
        prompt=None,
        fan_out={"prompts": ["alpha [[fake reply=A]]", "beta [[fake status=400]]", "gamma"]},
    )
    vars_step = {
        "name": "s0",
        "prompt": 'first [[fake json={"k":"v0","n":{"deep":7}}]]',
        "outputVars": {"k": "k", "deep": "n.deep", "all": "."},
    }
    later = [
        {"name": f"s{i}", "prompt": f"step {i} after {{previous_output}} [[fake reply=r{i}]]"}
        for i in range(1, 9)
    ]
    final = {"name": "s9", "prompt": "uses {steps.s0.k} {steps.s0.deep} {steps.nope.x}"}
    env.create_task("chain", prompt=None, chain={"steps": [vars_step, *later, final]})
    recovering = [
        {
            "name": "flaky",
            "prompt": "flaky [[fake status=400]]",
            "retries": 1,
            "recoveryPrompt": "recover from: {error}",
        },
        {"name": "after", "prompt": "after {previous_output}"},
    ]
    env.create_task("rec", prompt=None, chain={"steps": recovering})

    fan = env.wait_phase("fan", timeout=120)["status"]
    assert fan["phase"] == "Failed"
    assert condition(env.task("fan"), "Failed")["reason"] == "PartialFailure"
    assert "1" in condition(env.task("fan"), "Failed")["message"]
    assert [i["phase"] for i in fan["items"]] == ["Succeeded", "Failed", "Succeeded"]
    assert fan["items"][0]["output"] == "A"
    lines = fan["result"]["output"].splitlines()
    assert lines[0] == "[0] A" and lines[1].startswith("[1] failed")
    assert lines[2].startswith("[2] fake answer: gamma")
    assert len(children(env, "fan")) == 3
    assert fan["costMicrodollars"] == sum(i["costMicrodollars"] for i in fan["items"]) == 2 * LEAF

    chain = env.wait_phase("chain", timeout=240)["status"]
    assert chain["phase"] == "Succeeded", chain
    assert [s["phase"] for s in chain["steps"]] == ["Succeeded"] * 10
    assert chain["steps"][0]["vars"]["k"] == "v0"
    last = env.task("chain-s9")["spec"]["prompt"]
    assert last == "uses v0 7 {steps.nope.x}"  # an unknown reference is left verbatim
    assert env.task("chain-s2")["spec"]["prompt"].startswith("step 2 after r1")
    assert chain["costMicrodollars"] == 10 * LEAF
    assert chain["progress"]["completedSteps"] == 10

    rec = env.wait_phase("rec", timeout=120)["status"]
    assert rec["phase"] == "Succeeded", rec
    flaky = rec["steps"][0]
    assert flaky["attempts"] == 2 and flaky["recovered"] is True
    names = [c["metadata"]["name"] for c in children(env, "rec")]
    assert names == ["rec-after", "rec-flaky", "rec-flaky.1", "rec-flaky.recovery"]
    recovery = env.task("rec-flaky.recovery")["spec"]["prompt"]
    assert recovery.startswith("recover from: ") and "400" in recovery
    assert rec["costMicrodollars"] == 2 * LEAF  # the failed attempts cost nothing (API 400)
    spend_is(env, sum(t["status"].get("costMicrodollars", 0) for t in leaves(env)))
    spend_is(env, 14 * LEAF)


@pytest.mark.timeout(300)
def test_auto_routes_each_router_answer_and_counts_the_routers_cost(env: Env) -> None:
    env.create_pool(slots=4)
    env.wait_ready_slots(4)
    answers = ("single", "parallel", "chain", "garbage", "error")
    for answer in answers:
        env.create_task(answer, prompt=None, auto={"prompt": f"{answer} [[fake route={answer}]]"})
    expected_route = {
        "single": "single",
        "parallel": "parallel",
        "chain": "chain",
        "garbage": "single",
        "error": "single",
    }
    total = 0
    for answer in answers:
        status = env.wait_phase(answer, timeout=180)["status"]
        assert status["phase"] == "Succeeded", (answer, status)
        routing = status["routing"]
        assert routing["route"] == expected_route[answer], (answer, routing)
        assert status["route"] == expected_route[answer]
        assert ("fallbackReason" in routing) == (answer in ("garbage", "error")), routing
        router = env.task(f"{answer}-router")
        assert router["metadata"]["labels"]["claudepool.io/role"] == "router"
        route = env.task(f"{answer}-route")
        assert route["status"]["phase"] == "Succeeded"
        router_cost = router["status"].get("costMicrodollars", 0)
        # garbage: the CLI asks again for the structured output (2 turns), then fails
        expected = {"garbage": 2 * LEAF, "error": 0}.get(answer, LEAF)
        assert router_cost == expected, (answer, router["status"])
        cost = status["costMicrodollars"]
        assert cost == router_cost + route["status"]["costMicrodollars"], answer
        total += cost
    assert env.task("parallel-route")["status"]["mode"] == "FanOut"
    assert env.task("chain-route")["status"]["mode"] == "Chain"
    assert env.task("single-route")["spec"]["prompt"].startswith("single")
    spend_is(env, total)
    assert total == sum(t["status"].get("costMicrodollars", 0) for t in leaves(env))


@pytest.mark.timeout(240)
def test_cancelling_a_chain_skips_the_rest_and_deleting_a_parent_cancels_its_children(
    env: Env,
) -> None:
    env.create_pool(slots=3)
    env.wait_ready_slots(3)
    steps = [
        {"name": "one", "prompt": "one"},
        {"name": "two", "prompt": "two [[fake stall=60]]"},
        {"name": "three", "prompt": "three"},
    ]
    env.create_task("stopped", prompt=None, chain={"steps": steps})
    env.create_task(
        "doomed",
        prompt=None,
        fan_out={"prompts": ["quick", "slow a [[fake stall=60]]", "slow b [[fake stall=60]]"]},
    )

    def running(name: str) -> bool:
        return any(
            c["metadata"]["name"] == name and c.get("status", {}).get("phase") == "Running"
            for parent in ("stopped", "doomed")
            for c in children(env, parent)
        )

    eventually(lambda: running("stopped-two"), timeout=90, what="step two running")
    env.patch("claudetasks", "stopped", {"spec": {"cancel": True}})
    status = env.wait_phase("stopped", timeout=60)["status"]
    assert status["phase"] == "Cancelled"
    assert [s["phase"] for s in status["steps"]] == ["Succeeded", "Cancelled", "Skipped"]
    assert status["result"]["output"] == env.task("stopped-one")["status"]["result"]["output"]
    assert env.task("stopped-two")["status"]["phase"] == "Cancelled"
    assert [c["metadata"]["name"] for c in children(env, "stopped")] == [
        "stopped-one",
        "stopped-two",
    ]

    eventually(
        lambda: running("doomed-1") and running("doomed-2"), timeout=90, what="items running"
    )
    assert env.wait_phase("doomed-0", timeout=60)["status"]["costMicrodollars"] == LEAF
    env.delete("claudetasks", "doomed")
    for name in ("doomed-0", "doomed-1", "doomed-2"):
        wait_gone(lambda n=name: env.task(n), timeout=60, what=f"{name} gone")
    # the stalled runs were stopped on their slots (60 s stalls): the slots take work again
    env.create_task("next", prompt="next")
    assert env.wait_phase("next", timeout=40)["status"]["phase"] == "Succeeded"
    # a stopped stalled run costs what the cancelled step two cost; the deleted items' runs
    # are committed too: two of them, plus quick, step one, step two and next
    stopped = env.task("stopped-two")["status"].get("costMicrodollars", 0)
    spend_is(env, 3 * LEAF + 3 * stopped)


@pytest.mark.timeout(420)
def test_killing_the_operator_mid_chain_and_mid_fan_out_runs_every_child_once(
    env: Env,
) -> None:
    env.create_pool(slots=4)
    env.wait_ready_slots(4)
    steps = [{"name": f"k{i}", "prompt": f"chainstep-{i} [[fake stall=1.5]]"} for i in range(4)]
    env.create_task("kc", prompt=None, chain={"steps": steps})
    prompts = [f"fanitem-{i} [[fake stall=2]]" for i in range(6)]
    env.create_task("kf", prompt=None, fan_out={"prompts": prompts, "maxParallel": 3})

    def mid() -> bool:
        chain = env.task("kc").get("status") or {}  # the parents exist: created above
        fan = env.task("kf").get("status") or {}
        done = (chain.get("progress") or {}).get("completedSteps", 0)
        items = (fan.get("children") or {}).get("succeeded", 0)
        return 1 <= done < 4 and 1 <= items < 6

    eventually(mid, timeout=120, what="mid-chain and mid-fan-out")
    env.operator.kill()
    env.operator.start()
    chain = env.wait_phase("kc", timeout=200)["status"]
    fan = env.wait_phase("kf", timeout=200)["status"]
    assert chain["phase"] == "Succeeded", chain
    assert fan["phase"] == "Succeeded", fan
    kids = children(env, "kc") + children(env, "kf")
    assert len(kids) == 10
    for kid in kids:
        assert kid["status"]["phase"] == "Succeeded", kid["status"]
        assert kid["status"]["attempts"] == 1, kid["metadata"]["name"]
    counts = Counter(
        {f"chainstep-{i}": answered(env, f"chainstep-{i} ") for i in range(4)}
        | {f"fanitem-{i}": answered(env, f"fanitem-{i} ") for i in range(6)}
    )
    assert set(counts.values()) == {1}, counts
    assert chain["costMicrodollars"] == 4 * LEAF
    assert fan["costMicrodollars"] == 6 * LEAF
    spend_is(env, 10 * LEAF)


@pytest.mark.timeout(600)
def test_a_hundred_item_fan_out_on_ten_slots_succeeds_and_spend_is_the_sum(env: Env) -> None:
    env.create_pool(slots=10)
    env.wait_ready_slots(10)
    prompts = [f"item {i}" for i in range(100)]
    env.create_task("wide", prompt=None, fan_out={"prompts": prompts})
    status = env.wait_phase("wide", timeout=540)["status"]
    assert status["phase"] == "Succeeded", json.dumps(status)[:2000]
    assert status["children"]["succeeded"] == 100
    kids = children(env, "wide")
    assert len(kids) == 100
    costs = sum(k["status"]["costMicrodollars"] for k in kids)
    assert costs == 100 * LEAF == status["costMicrodollars"]
    spend_is(env, costs)
