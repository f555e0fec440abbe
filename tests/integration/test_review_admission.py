"""Reviews, messages and the context cap against a real kube-apiserver with deploy/'s
admission policies and the claude-pool-reviewer ClusterRole (no operator runs).

Users are client certificates minted by the suite's control plane (CN = user name): the
apiserver authenticates them, RBAC authorises them, and the policies stamp and check the
names. The operator's side of a decision (phase, four-eyes) is the pure
`workflows.review.apply_review`, fed here with the objects as the apiserver stored them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from claude_pool.api.common import CREATED_BY_ANNOTATION, GROUP, MAX_SLOT_MESSAGE_LENGTH, VERSION
from claude_pool.api.reviews import ClaudeReview, ReviewReason
from claude_pool.api.tasks import ClaudeTask
from claude_pool.devenv.controlplane import ControlPlane
from claude_pool.workflows.review import ReviewVerdict, apply_review, hold_for_review
from tests.builders import message_manifest, pool_manifest, review_manifest, task_manifest
from tests.helpers import eventually

pytestmark = pytest.mark.integration

ADMIN = "claude-pool-admin"
PLURALS = {
    "ClaudePool": "claudepools",
    "ClaudeTask": "claudetasks",
    "ClaudeReview": "claudereviews",
    "ClaudeMessage": "claudemessages",
}
STAMP_REVIEWER = "claude-pool-stamp-reviewer"


def create(api: client.ApiClient, ns: str, body: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = client.CustomObjectsApi(api).create_namespaced_custom_object(
        GROUP, VERSION, ns, PLURALS[body["kind"]], body
    )
    return created


def refusal(call: Callable[[], object]) -> tuple[int, str]:
    """Run a request that must fail; return the HTTP status and the apiserver's message."""
    with pytest.raises(client.ApiException) as info:
        call()
    body = info.value.body
    text = body.decode() if isinstance(body, bytes) else str(body)
    return int(info.value.status), str(json.loads(text).get("message", text))


def user_client(cp: ControlPlane, user: str) -> client.ApiClient:
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(cp.user_kubeconfig(user)), client_configuration=cfg)
    return client.ApiClient(cfg)


@pytest.fixture
def cp(control_plane: ControlPlane | None) -> ControlPlane:
    if control_plane is None:
        pytest.skip("minting users needs the suite's own control plane (its CA)")
    return control_plane


@pytest.fixture
def users(
    cp: ControlPlane, api_client: client.ApiClient, namespace: str
) -> Iterator[dict[str, client.ApiClient]]:
    """alice may create tasks and messages; bob is a reviewer; mallory may do nothing."""
    rbac = client.RbacAuthorizationV1Api(api_client)
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "author"},
            "rules": [
                {
                    "apiGroups": [GROUP],
                    "resources": ["claudetasks", "claudemessages"],
                    "verbs": ["create", "get", "patch", "update"],
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
            namespace,
            {
                "metadata": {"name": name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}
                ],
            },
        )
    clients = {name: user_client(cp, name) for name in ("alice", "bob", "mallory")}
    yield clients
    for api in clients.values():
        api.close()


def test_the_reviewer_is_the_authenticated_user_whatever_name_was_typed(
    users: dict[str, client.ApiClient], namespace: str
) -> None:
    body = review_manifest("r1", "t", "approve", reviewer="alice")
    created = create(users["bob"], namespace, body)
    assert created["spec"]["reviewer"] == "bob"
    untyped = create(users["bob"], namespace, review_manifest("r2", "t", "reject", feedback="x"))
    assert untyped["spec"]["reviewer"] == "bob"


def test_a_subject_without_the_reviewer_role_gets_403(
    users: dict[str, client.ApiClient], namespace: str
) -> None:
    status, message = refusal(
        lambda: create(users["mallory"], namespace, review_manifest("r", "t"))
    )
    assert status == 403
    assert 'User "mallory" cannot create resource "claudereviews"' in message


def test_without_the_stamping_policy_a_review_naming_someone_else_is_refused(
    api_client: client.ApiClient, users: dict[str, client.ApiClient], namespace: str
) -> None:
    admission = client.AdmissionregistrationV1Api(api_client)
    binding = admission.read_mutating_admission_policy_binding(STAMP_REVIEWER)
    admission.delete_mutating_admission_policy_binding(STAMP_REVIEWER)
    try:
        forged = review_manifest("forged", "t", reviewer="alice")

        def refused_by_the_validating_policy() -> str | None:
            try:
                client.CustomObjectsApi(users["bob"]).create_namespaced_custom_object(
                    GROUP, VERSION, namespace, "claudereviews", forged, dry_run="All"
                )
            except client.ApiException as exc:
                return str(json.loads(exc.body)["message"])
            return None

        message = eventually(
            refused_by_the_validating_policy, timeout=30, what="the unstamped review refused"
        )
        assert "spec.reviewer must be the requesting user (bob), not alice" in message
        own = create(users["bob"], namespace, review_manifest("own", "t", reviewer="bob"))
        assert own["spec"]["reviewer"] == "bob"
    finally:
        admission.create_mutating_admission_policy_binding(
            {"metadata": {"name": STAMP_REVIEWER}, "spec": {"policyName": STAMP_REVIEWER}}
        )
        assert binding.spec.policy_name == STAMP_REVIEWER

    def stamped_again() -> bool:
        try:
            probe = client.CustomObjectsApi(users["bob"]).create_namespaced_custom_object(
                GROUP, VERSION, namespace, "claudereviews", forged, dry_run="All"
            )
        except client.ApiException:
            return False  # still refused by the validating policy: not stamped yet
        return bool(probe["spec"]["reviewer"] == "bob")

    eventually(stamped_again, timeout=30, what="the stamping policy back")


def test_reviews_are_immutable_and_a_rejection_needs_feedback(
    api_client: client.ApiClient, namespace: str
) -> None:
    create(api_client, namespace, review_manifest("r", "t", "approve"))
    objects = client.CustomObjectsApi(api_client)
    status, message = refusal(
        lambda: objects.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, "claudereviews", "r", {"spec": {"decision": "reject"}}
        )
    )
    assert (status, "spec.* is immutable" in message) == (422, True)
    status, message = refusal(
        lambda: create(api_client, namespace, review_manifest("n", "t", "reject"))
    )
    assert status == 422 and "spec.feedback is required to reject" in message
    status, message = refusal(
        lambda: create(api_client, namespace, review_manifest("m", "t", "maybe"))
    )
    assert status == 422 and "spec.decision" in message


def test_a_tasks_creator_is_stamped_and_cannot_be_forged_later(
    users: dict[str, client.ApiClient], namespace: str
) -> None:
    body = task_manifest("t", "p", annotations={CREATED_BY_ANNOTATION: "bob", "note": "x"})
    created = create(users["alice"], namespace, body)
    assert created["metadata"]["annotations"] == {CREATED_BY_ANNOTATION: "alice", "note": "x"}
    bare = create(users["alice"], namespace, task_manifest("t2", "p"))
    assert bare["metadata"]["annotations"] == {CREATED_BY_ANNOTATION: "alice"}
    forged = {"metadata": {"annotations": {CREATED_BY_ANNOTATION: "bob"}}}
    status, message = refusal(
        lambda: client.CustomObjectsApi(users["alice"]).patch_namespaced_custom_object(
            GROUP, VERSION, namespace, "claudetasks", "t", forged
        )
    )
    assert status in (403, 422)
    assert "claudepool.io/created-by] is immutable" in message
    unrelated = {"metadata": {"annotations": {"note": "y"}}}
    client.CustomObjectsApi(users["alice"]).patch_namespaced_custom_object(
        GROUP, VERSION, namespace, "claudetasks", "t", unrelated
    )


def _awaiting(api: client.ApiClient, ns: str, name: str, now: datetime) -> ClaudeTask:
    """Put the stored task into AwaitingReview through its status subresource, as the
    operator will, and read it back."""
    finished = {
        "conditions": [
            {
                "type": "Succeeded",
                "status": "True",
                "reason": "Completed",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
        "result": {"output": "done", "success": True},
    }
    patch = hold_for_review(finished, None, 1, now)
    objects = client.CustomObjectsApi(api)
    objects.patch_namespaced_custom_object_status(
        GROUP, VERSION, ns, "claudetasks", name, {"status": patch}
    )
    stored = objects.get_namespaced_custom_object(GROUP, VERSION, ns, "claudetasks", name)
    return ClaudeTask.model_validate(stored)


def test_four_eyes_refuses_the_stamped_creator_approving_their_own_task(
    api_client: client.ApiClient, users: dict[str, client.ApiClient], namespace: str
) -> None:
    create(users["alice"], namespace, task_manifest("t", "p", review={"required": True}))
    task = _awaiting(api_client, namespace, "t", datetime(2026, 1, 1, tzinfo=UTC))
    own = ClaudeReview.model_validate(
        create(users["alice"], namespace, review_manifest("by-alice", "t"))
    )
    other = ClaudeReview.model_validate(
        create(users["bob"], namespace, review_manifest("by-bob", "t"))
    )
    now = datetime.now(UTC)
    refused = apply_review(task, own, four_eyes=True, now=now)
    assert refused.verdict is ReviewVerdict.REFUSED
    assert refused.review_status.conditions[0].reason == ReviewReason.SELF_APPROVAL
    approved = apply_review(task, other, four_eyes=True, now=now)
    assert approved.verdict is ReviewVerdict.APPROVED
    assert approved.task_patch is not None
    assert approved.task_patch["review"]["history"][0]["reviewer"] == "bob"
    objects = client.CustomObjectsApi(api_client)
    objects.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, "claudereviews", "by-bob", {"status": _wire(approved)}
    )
    stored = objects.get_namespaced_custom_object_status(
        GROUP, VERSION, namespace, "claudereviews", "by-bob"
    )
    assert stored["status"]["conditions"][0]["reason"] == "Approved"


def _wire(outcome: Any) -> dict[str, Any]:
    wire: dict[str, Any] = outcome.review_status.model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    return wire


def test_approving_a_running_task_is_refused_with_the_phase(
    api_client: client.ApiClient, users: dict[str, client.ApiClient], namespace: str
) -> None:
    create(api_client, namespace, task_manifest("t", "p", review={"required": True}))
    running = {
        "conditions": [
            {
                "type": "Running",
                "status": "True",
                "reason": "Dispatched",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
            }
        ],
        "phase": "Running",
    }
    objects = client.CustomObjectsApi(api_client)
    objects.patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, "claudetasks", "t", {"status": running}
    )
    task = ClaudeTask.model_validate(
        objects.get_namespaced_custom_object(GROUP, VERSION, namespace, "claudetasks", "t")
    )
    review = ClaudeReview.model_validate(
        create(users["bob"], namespace, review_manifest("early", "t"))
    )
    outcome = apply_review(task, review, four_eyes=False, now=datetime.now(UTC))
    assert outcome.task_patch is None
    [applied] = outcome.review_status.conditions
    assert (applied.status, applied.reason) == ("False", "NotAwaitingReview")
    assert applied.message == "task t is not awaiting review (phase: Running)"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({}, "spec.toSlot"),
        ({"to_slot": 1, "broadcast": True}, "spec.toSlot"),
        ({"to_slot": 200}, "spec.toSlot"),
        ({"to_slot": 0, "content": "x" * (MAX_SLOT_MESSAGE_LENGTH + 1)}, "spec.content"),
        ({"to_slot": 0, "content": ""}, "spec.content"),
    ],
)
def test_invalid_messages_are_refused_naming_the_field(
    api_client: client.ApiClient, namespace: str, overrides: dict[str, Any], field: str
) -> None:
    body = message_manifest("m", "p", **overrides)
    status, message = refusal(lambda: create(api_client, namespace, body))
    assert status == 422 and field in message, message


def test_messages_are_stamped_with_their_sender_and_immutable(
    users: dict[str, client.ApiClient], api_client: client.ApiClient, namespace: str
) -> None:
    one = create(users["alice"], namespace, message_manifest("one", "p", to_slot=2))
    assert one["metadata"]["annotations"][CREATED_BY_ANNOTATION] == "alice"
    assert one["spec"]["broadcast"] is False
    everyone = create(
        users["alice"], namespace, message_manifest("all", "p", broadcast=True, from_slot=0)
    )
    assert (everyone["spec"]["fromSlot"], everyone["spec"]["broadcast"]) == (0, True)
    status, message = refusal(
        lambda: client.CustomObjectsApi(api_client).patch_namespaced_custom_object(
            GROUP, VERSION, namespace, "claudemessages", "one", {"spec": {"content": "edited"}}
        )
    )
    assert status == 422 and "spec.* is immutable" in message
    status, _ = refusal(lambda: create(users["mallory"], namespace, message_manifest("m", "p")))
    assert status == 403


def test_the_pools_context_is_capped_with_a_clear_message(
    api_client: client.ApiClient, namespace: str
) -> None:
    fits = {f"k{i}": "x" * 4000 for i in range(8)}
    created = create(api_client, namespace, pool_manifest("ok", context=fits))
    assert created["spec"]["context"] == fits
    too_big = {f"k{i}": "x" * 4000 for i in range(9)}
    status, message = refusal(
        lambda: create(api_client, namespace, pool_manifest("big", context=too_big))
    )
    assert status == 422
    assert "spec.context is too large: keys and values together must be at most 32768" in message
    status, message = refusal(
        lambda: create(api_client, namespace, pool_manifest("empty", context={"": "v"}))
    )
    assert status == 422 and "spec.context keys must be 1 to 253 characters" in message


def test_a_pools_identity_and_four_eyes_option_are_accepted_and_slot_indices_unique(
    api_client: client.ApiClient, namespace: str
) -> None:
    identity = {"name": "Ada", "role": "tester", "slots": [{"index": 1, "role": "reviewer"}]}
    created = create(
        api_client,
        namespace,
        pool_manifest("p", identity=identity, review={"fourEyes": True}),
    )
    assert created["spec"]["identity"] == identity
    assert created["spec"]["review"] == {"fourEyes": True}
    twice = {"slots": [{"index": 1, "role": "a"}, {"index": 1, "role": "b"}]}
    status, message = refusal(
        lambda: create(api_client, namespace, pool_manifest("q", identity=twice))
    )
    assert status == 422 and "spec.identity.slots: each index at most once" in message


def test_tables_show_review_and_message_columns(
    api_client: client.ApiClient, users: dict[str, client.ApiClient], namespace: str
) -> None:
    create(users["bob"], namespace, review_manifest("r", "t", "reject", feedback="redo"))
    table: dict[str, Any] = client.CustomObjectsApi(api_client).list_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "claudereviews",
        _headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"},
    )
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names == ["Name", "Task", "Decision", "Reviewer", "Applied", "Reason", "Age"]
    assert table["rows"][0]["cells"][1:4] == ["t", "reject", "bob"]


def test_user_kubeconfigs_are_written_under_the_control_planes_directory(cp: ControlPlane) -> None:
    path = cp.user_kubeconfig("carol", groups=("team",))
    assert path.parent == cp.workdir and Path(path).stat().st_mode & 0o077 == 0
