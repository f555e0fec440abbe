"""Review gates, messages, identity and context with the real operator, CLI and fake API.

Reviewers are client certificates minted by the suite's control plane: the apiserver
authenticates them, RBAC (deploy/'s claude-pool-reviewer ClusterRole) authorises them and
deploy/'s admission policies stamp `spec.reviewer` and the creator annotation. What each run
was sent is read from the fake API's request log. (A subject without the reviewer role
getting 403 is in test_review_admission.py: the operator plays no part in it.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, config

from claude_pool.api.common import GROUP, VERSION
from claude_pool.devenv.controlplane import ControlPlane
from tests.builders import message_manifest, review_manifest, task_manifest
from tests.helpers import eventually
from tests.integration.harness import Env

pytestmark = pytest.mark.integration


def user_client(cp: ControlPlane, user: str) -> client.ApiClient:
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(cp.user_kubeconfig(user)), client_configuration=cfg)
    return client.ApiClient(cfg)


@pytest.fixture
def users(
    control_plane: ControlPlane | None, env: Env
) -> Iterator[dict[str, client.CustomObjectsApi]]:
    """alice may create tasks and review; bob may review."""
    if control_plane is None:
        pytest.skip("minting users needs the suite's own control plane (its CA)")
    rbac = client.RbacAuthorizationV1Api(env.api)
    rbac.create_namespaced_role(
        env.namespace,
        {
            "metadata": {"name": "author"},
            "rules": [
                {
                    "apiGroups": [GROUP],
                    "resources": ["claudetasks", "claudemessages"],
                    "verbs": ["create", "get"],
                }
            ],
        },
    )
    for name, kind, role, user in (
        ("alice-author", "Role", "author", "alice"),
        ("alice-reviewer", "ClusterRole", "claude-pool-reviewer", "alice"),
        ("bob-reviewer", "ClusterRole", "claude-pool-reviewer", "bob"),
    ):
        rbac.create_namespaced_role_binding(
            env.namespace,
            {
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}
                ],
            },
        )
    apis = {name: user_client(control_plane, name) for name in ("alice", "bob")}
    yield {name: client.CustomObjectsApi(api) for name, api in apis.items()}
    for api in apis.values():
        api.close()


def review(
    api: client.CustomObjectsApi, env: Env, name: str, task: str, decision: str, feedback: str = ""
) -> None:
    body = review_manifest(name, task, decision, **({"feedback": feedback} if feedback else {}))
    api.create_namespaced_custom_object(GROUP, VERSION, env.namespace, "claudereviews", body)


def applied(env: Env, name: str) -> dict[str, Any]:
    """The review's Applied condition, once the operator wrote it."""

    def found() -> dict[str, Any] | None:
        status = env.get("claudereviews", name).get("status") or {}
        return next((c for c in status.get("conditions") or [] if c["type"] == "Applied"), None)

    return eventually(found, timeout=30, what=f"review {name} decided")


def sent(env: Env, marker: str) -> list[dict[str, Any]]:
    """Bodies of the messages requests whose conversation mentions `marker`, oldest first."""
    return [
        r.body
        for r in env.fake.requests
        if r.kind == "messages" and marker in json.dumps(r.body.get("messages"))
    ]


def system_text(body: dict[str, Any]) -> str:
    return "\n".join(part.get("text", "") for part in body.get("system") or [])


@pytest.mark.timeout(240)
def test_reject_reruns_with_the_feedback_resuming_the_session_then_approve_succeeds(
    env: Env, users: dict[str, client.CustomObjectsApi]
) -> None:
    env.create_pool(slots=2)
    env.wait_ready_slots(2)
    env.create_task("gated", prompt="write the plan [[fake stall=3]]", review={"required": True})
    first = env.wait_phase("gated", phases=("AwaitingReview",), timeout=90)["status"]
    assert first["result"]["success"] is True
    assert first["review"]["state"] == "Pending"
    reviewed = next(c for c in first["conditions"] if c["type"] == "Reviewed")
    assert (reviewed["status"], reviewed["reason"]) == ("False", "AwaitingReview")
    assert first["costMicrodollars"] > 0
    env.fake.clear_requests()

    review(users["bob"], env, "r1", "gated", "reject", "add the rollback step")
    assert applied(env, "r1")["reason"] == "Rejected"
    env.wait_phase("gated", phases=("Running",), timeout=60)
    review(users["bob"], env, "early", "gated", "approve")  # while the re-run runs
    early = applied(env, "early")
    assert (early["status"], early["reason"]) == ("False", "NotAwaitingReview")
    assert "is not awaiting review (phase: Running)" in early["message"]

    second = env.wait_phase("gated", phases=("AwaitingReview",), timeout=90)["status"]
    block = "\\n\\n--- Rejection feedback (attempt 1/3) ---\\nadd the rollback step"
    (rerun, *_) = sent(env, "Rejection feedback (attempt 1/3)")
    conversation = json.dumps(rerun["messages"])
    assert "write the plan [[fake stall=3]]" + block in conversation
    # resumed: the rejected run's prompt and answer come before the re-run's prompt
    assert conversation.index("fake answer: write the plan") < conversation.index(block)
    assert second["result"]["sessionId"] == first["result"]["sessionId"]
    assert second["slot"] == first["slot"]
    assert second["attempts"] == 2
    assert second["costMicrodollars"] > first["costMicrodollars"]

    review(users["bob"], env, "r2", "gated", "approve")
    assert applied(env, "r2")["reason"] == "Approved"
    done = env.wait_phase("gated", timeout=30)["status"]
    assert done["phase"] == "Succeeded"
    history = done["review"]["history"]
    assert [(h["decision"], h["reviewer"], h["review"]) for h in history] == [
        ("reject", "bob", "r1"),
        ("approve", "bob", "r2"),
    ]
    assert history[0]["feedback"] == "add the rollback step"
    assert done["review"]["state"] == "Approved"


@pytest.mark.timeout(240)
def test_the_third_rejection_fails_the_task_with_the_seeds_message(
    env: Env, users: dict[str, client.CustomObjectsApi]
) -> None:
    env.create_pool(slots=1)
    env.wait_ready_slots(1)
    env.create_task("thrice", prompt="draft", review={"required": True, "resumeSession": False})
    for n in (1, 2, 3):
        env.wait_phase("thrice", phases=("AwaitingReview",), timeout=90)
        review(users["bob"], env, f"no-{n}", "thrice", "reject", f"still wrong {n}")
        assert applied(env, f"no-{n}")["reason"] == "Rejected"
    status = env.wait_phase("thrice", timeout=30)["status"]
    message = "task rejected 3 times (max: 3). Last feedback: still wrong 3"
    assert status["phase"] == "Failed"
    assert status["result"]["failure"] == {"reason": "Rejected", "message": message}
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert (failed["reason"], failed["message"]) == ("Rejected", message)
    assert status["attempts"] == 3
    assert status["review"]["rejections"] == 3
    reruns = sent(env, "--- Rejection feedback (attempt 2/3) ---\\nstill wrong 2")
    assert len(reruns) == 1
    assert "still wrong 1" not in json.dumps(reruns[0]["messages"]), "only the latest feedback"


@pytest.mark.timeout(240)
def test_four_eyes_refuses_the_creators_approval_and_takes_another_reviewers(
    env: Env, users: dict[str, client.CustomObjectsApi]
) -> None:
    env.create_pool(slots=1, review={"fourEyes": True})
    env.wait_ready_slots(1)
    body = task_manifest("mine", "pool", "ship it", review={"required": True})
    users["alice"].create_namespaced_custom_object(
        GROUP, VERSION, env.namespace, "claudetasks", body
    )
    env.wait_phase("mine", phases=("AwaitingReview",), timeout=90)
    review(users["alice"], env, "self", "mine", "approve")
    refused = applied(env, "self")
    assert (refused["status"], refused["reason"]) == ("False", "SelfApproval")
    assert "alice created task mine and cannot approve it" in refused["message"]
    assert env.task("mine")["status"]["phase"] == "AwaitingReview"
    review(users["bob"], env, "other", "mine", "approve")
    assert applied(env, "other")["reason"] == "Approved"
    status = env.wait_phase("mine", timeout=30)["status"]
    assert status["phase"] == "Succeeded"
    assert [h["reviewer"] for h in status["review"]["history"]] == ["bob"]


@pytest.mark.timeout(300)
def test_a_broadcast_reaches_every_other_slot_once_at_its_next_task_across_sigkills(
    env: Env,
) -> None:
    env.create_pool(slots=3)
    env.wait_ready_slots(3)
    body = message_manifest(
        "hello-all", "pool", "the API moved to v2", "slot-0", broadcast=True, from_slot=0
    )
    env._create("claudemessages", body)

    def recipients() -> list[int] | None:
        return (env.get("claudemessages", "hello-all").get("status") or {}).get("recipients")

    assert eventually(recipients, timeout=30, what="recipients fixed") == [1, 2]
    env.operator.kill()
    env.operator.start()
    names = [f"m{i}" for i in range(3)]
    for name in names:
        env.create_task(name, prompt=f"task {name} [[fake stall=3]]")

    def carried() -> bool:
        return any((env.task(n).get("status") or {}).get("messages") for n in names)

    eventually(carried, timeout=60, what="a task carrying the message")
    env.operator.kill()  # after an assignment recorded it, maybe before the message's status
    env.operator.start()
    tasks = {name: env.wait_phase(name, timeout=120)["status"] for name in names}
    assert all(t["phase"] == "Succeeded" for t in tasks.values()), tasks
    by_slot = {t["slot"]: name for name, t in tasks.items()}
    assert sorted(by_slot) == ["pool-slot-0", "pool-slot-1", "pool-slot-2"]

    def delivered() -> dict[str, Any] | None:
        status = env.get("claudemessages", "hello-all").get("status") or {}
        done = any(
            c["type"] == "Delivered" and c["status"] == "True" for c in status.get("conditions", [])
        )
        return status if done else None

    status = eventually(delivered, timeout=30, what="message delivered")
    deliveries = {d["slot"]: d["task"] for d in status["deliveries"]}
    assert deliveries == {1: by_slot["pool-slot-1"], 2: by_slot["pool-slot-2"]}
    for slot, name in deliveries.items():
        assert tasks[name]["messages"] == ["hello-all"], slot
        (request, *_) = sent(env, f"task {name}")
        first = json.dumps(request["messages"])
        assert "## Messages received while idle" in first
        assert "**From slot-0**" in first and "the API moved to v2" in first
    sender = by_slot["pool-slot-0"]
    assert not tasks[sender].get("messages")
    assert "Messages received while idle" not in json.dumps(sent(env, f"task {sender}"))


@pytest.mark.timeout(240)
def test_a_context_change_reaches_the_next_task_with_its_revision_and_the_identity_line(
    env: Env,
) -> None:
    env.create_pool(
        slots=1,
        context={"release": "alpha-7"},
        identity={"name": "Ada", "role": "release manager", "description": "Be terse."},
    )
    env.wait_ready_slots(1)
    env.create_task("before", prompt="report before")
    before = env.wait_phase("before")["status"]
    env.patch("claudepools", "pool", {"spec": {"context": {"release": "beta-9"}}})

    def seen() -> bool:
        pool = env.pool()
        return bool(pool["status"].get("observedGeneration") == pool["metadata"]["generation"])

    eventually(seen, timeout=20, what="the operator saw the new context")
    env.create_task("after", prompt="report after")
    after = env.wait_phase("after")["status"]
    assert before["phase"] == after["phase"] == "Succeeded"
    assert before["contextRevision"] != after["contextRevision"]
    (first,) = sent(env, "report before")[:1]
    (second,) = sent(env, "report after")[:1]
    assert "alpha-7" in system_text(first) and "beta-9" not in system_text(first)
    assert "beta-9" in system_text(second) and "alpha-7" not in system_text(second)
    for body in (first, second):
        assert "You are Ada, a release manager. Be terse." in system_text(body)
