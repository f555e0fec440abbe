"""Review of composite tasks with the real operator, real CLI and the fake API.

A reviewed fan-out or chain is reviewed on its aggregated result; a rejection re-runs the
whole composite as a new generation of children (`<parent>-<key>.g<n>`) whose prompts carry
the seed's feedback block, read here from the fake API's request log. Costs are exact: every
leaf costs LEAF, each generation's leaves are counted once in the parent's cost and in the
pool's spend. Reviewers are the suite's client-certificate users (test_operator_review.py).
"""

from __future__ import annotations

from collections import Counter

import pytest
from kubernetes import client

from claude_pool.api.common import GROUP, VERSION
from tests.builders import task_manifest
from tests.helpers import eventually
from tests.integration.harness import Env
from tests.integration.test_operator_composites import LEAF, answered, children, spend_is
from tests.integration.test_operator_review import applied, review, users

pytestmark = pytest.mark.integration
__all__ = ["users"]  # the fixture, shared with test_operator_review.py


def block(n: int, m: int, feedback: str) -> str:
    return f"\n\n--- Rejection feedback (attempt {n}/{m}) ---\n{feedback}"


def reviewed(status: dict[str, object]) -> tuple[str, str]:
    conditions = status["conditions"]
    assert isinstance(conditions, list)
    found = next(c for c in conditions if c["type"] == "Reviewed")
    return found["status"], found["reason"]


@pytest.mark.timeout(300)
def test_a_rejected_fan_out_reruns_every_item_with_the_feedback_and_approval_succeeds(
    env: Env, users: dict[str, client.CustomObjectsApi]
) -> None:
    env.create_pool(slots=2, review={"fourEyes": True})
    env.wait_ready_slots(2)
    prompts = ["alpha [[fake stall=1]]", "beta [[fake in=100]]"]
    body = task_manifest(
        "fan", "pool", None, fanOut={"prompts": prompts}, review={"required": True}
    )
    users["alice"].create_namespaced_custom_object(
        GROUP, VERSION, env.namespace, "claudetasks", body
    )
    first = env.wait_phase("fan", phases=("AwaitingReview",), timeout=90)["status"]
    assert reviewed(first) == ("False", "AwaitingReview")
    assert first["result"]["success"] is True
    assert first["result"]["output"].startswith("[0] fake answer: alpha")
    assert "\n[1] fake answer: beta" in first["result"]["output"]
    assert first["costMicrodollars"] == 2 * LEAF
    assert first["children"]["generation"] == 0
    review(users["alice"], env, "self", "fan", "approve")  # four eyes: not the creator
    assert applied(env, "self")["reason"] == "SelfApproval"

    feedback = "cite your sources"
    review(users["bob"], env, "r1", "fan", "reject", feedback)
    assert applied(env, "r1")["reason"] == "Rejected"
    second = env.wait_phase("fan", phases=("AwaitingReview",), timeout=90)["status"]
    for prompt in prompts:
        assert answered(env, prompt) == 2, prompt  # once per generation
        assert answered(env, prompt + block(1, 3, feedback)) == 1, prompt
    kids = children(env, "fan")
    assert [k["metadata"]["name"] for k in kids] == ["fan-0", "fan-0.g1", "fan-1", "fan-1.g1"]
    assert {k["metadata"]["labels"]["claudepool.io/generation"] for k in kids} == {"0", "1"}
    assert second["children"]["generation"] == 1 and second["children"]["total"] == 2
    assert [i["child"] for i in second["items"]] == ["fan-0.g1", "fan-1.g1"]
    assert sum(k["status"]["costMicrodollars"] for k in kids) == 4 * LEAF
    assert second["costMicrodollars"] == 4 * LEAF
    assert second["review"]["earlierCostMicrodollars"] == 2 * LEAF
    spend_is(env, 4 * LEAF)

    review(users["bob"], env, "r2", "fan", "approve")
    assert applied(env, "r2")["reason"] == "Approved"
    done = env.wait_phase("fan", timeout=30)["status"]
    assert done["phase"] == "Succeeded"
    assert done["costMicrodollars"] == 4 * LEAF
    assert [(h["decision"], h["reviewer"]) for h in done["review"]["history"]] == [
        ("reject", "bob"),
        ("approve", "bob"),
    ]
    spend_is(env, 4 * LEAF)


@pytest.mark.timeout(300)
def test_a_chain_rejected_to_its_maximum_fails_with_the_seeds_message(
    env: Env, users: dict[str, client.CustomObjectsApi]
) -> None:
    env.create_pool(slots=1)
    env.wait_ready_slots(1)
    steps = [
        {"name": "plan", "prompt": "plan [[fake reply=PLAN]]"},
        {"name": "write", "prompt": "write {previous_output} [[fake reply=DONE]]"},
    ]
    env.create_task(
        "ch", prompt=None, chain={"steps": steps}, review={"maxRejections": 2, "required": True}
    )
    for n in (1, 2):
        held = env.wait_phase("ch", phases=("AwaitingReview",), timeout=90)["status"]
        assert held["result"]["output"] == "DONE"
        review(users["bob"], env, f"no-{n}", "ch", "reject", f"wrong {n}")
        assert applied(env, f"no-{n}")["reason"] == "Rejected"
    status = env.wait_phase("ch", timeout=30)["status"]
    message = "task rejected 2 times (max: 2). Last feedback: wrong 2"
    assert status["phase"] == "Failed"
    assert status["result"]["failure"] == {"reason": "Rejected", "message": message}
    assert reviewed(status) == ("False", "Rejected")
    assert answered(env, "plan [[fake reply=PLAN]]" + block(1, 2, "wrong 1")) == 1
    assert answered(env, "write PLAN [[fake reply=DONE]]" + block(1, 2, "wrong 1")) == 1
    kids = [k["metadata"]["name"] for k in children(env, "ch")]
    assert kids == ["ch-plan", "ch-plan.g1", "ch-write", "ch-write.g1"], "no third generation"
    assert status["costMicrodollars"] == 4 * LEAF
    spend_is(env, 4 * LEAF)


@pytest.mark.timeout(420)
def test_operator_kills_while_awaiting_review_and_mid_rerun_run_every_child_once(
    env: Env, users: dict[str, client.CustomObjectsApi]
) -> None:
    env.create_pool(slots=2)
    env.wait_ready_slots(2)
    prompts = [f"killitem-{i} [[fake stall=2]]" for i in range(4)]
    env.create_task(
        "kr", prompt=None, fan_out={"prompts": prompts, "maxParallel": 2}, review={"required": True}
    )
    env.wait_phase("kr", phases=("AwaitingReview",), timeout=120)
    env.operator.kill()
    review(users["bob"], env, "r1", "kr", "reject", "again")  # made while no operator runs
    env.operator.start()
    assert applied(env, "r1")["reason"] == "Rejected"

    def mid() -> bool:
        status = env.task("kr").get("status") or {}
        kids = status.get("children") or {}
        return kids.get("generation") == 1 and 1 <= kids.get("succeeded", 0) < 4

    eventually(mid, timeout=120, what="mid second generation")
    env.operator.kill()
    env.operator.start()
    second = env.wait_phase("kr", phases=("AwaitingReview",), timeout=200)["status"]
    counts = Counter({p: answered(env, p + block(1, 3, "again")) for p in prompts})
    assert set(counts.values()) == {1}, counts
    assert len(children(env, "kr")) == 8
    for kid in children(env, "kr"):
        assert kid["status"]["phase"] == "Succeeded", kid["metadata"]["name"]
        assert kid["status"]["attempts"] == 1, kid["metadata"]["name"]
    assert second["costMicrodollars"] == 8 * LEAF
    spend_is(env, 8 * LEAF)
    review(users["bob"], env, "ok", "kr", "approve")
    assert applied(env, "ok")["reason"] == "Approved"
    assert env.wait_phase("kr", timeout=30)["status"]["phase"] == "Succeeded"
