"""Slot pods: restricted security, no API credentials, secrets by reference, owned labels."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from claude_pool.api.pools import ClaudePool, EnvVar
from claude_pool.slots import pods


def pool(**spec: Any) -> ClaudePool:
    return ClaudePool.model_validate(
        {"metadata": {"name": "p", "namespace": "ns", "uid": "u-1"}, "spec": spec}
    )


def test_a_slot_pod_is_owned_by_its_pool_and_labelled_by_the_operator() -> None:
    pod = pods.desired_slot_pod(
        pool(template={"labels": {"team": "a"}}), 2, pods.SlotDefaults(image="img:1")
    )
    meta = pod["metadata"]
    assert meta["name"] == "p-slot-2"
    assert meta["labels"]["claudepool.io/pool"] == "p"
    assert meta["labels"]["claudepool.io/slot"] == "2"
    assert meta["labels"]["team"] == "a"
    assert meta["ownerReferences"][0]["uid"] == "u-1"
    assert meta["ownerReferences"][0]["controller"] is True


def test_a_slot_pod_runs_restricted_without_kubernetes_credentials() -> None:
    spec = pods.desired_slot_pod(pool(), 0, pods.SlotDefaults())["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["serviceAccountName"] == "p-slot"
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = spec["containers"][0]["securityContext"]
    assert sc == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert {v["name"] for v in spec["volumes"]} == {"slot", "tmp"}


def test_credentials_reach_the_pod_only_by_secret_reference() -> None:
    p = pool(credentials={"secretName": "creds", "baseURL": "http://127.0.0.1:9"})
    env = {
        e["name"]: e
        for e in pods.desired_slot_pod(p, 0, pods.SlotDefaults())["spec"]["containers"][0]["env"]
    }
    assert env["ANTHROPIC_API_KEY"] == {
        "name": "ANTHROPIC_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "creds", "key": "ANTHROPIC_API_KEY"}},
    }
    assert env["CLAUDE_POOL_AGENT_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "p-agent-token"
    assert env["ANTHROPIC_BASE_URL"]["value"] == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    "name", ["CLAUDE_POOL_AGENT_TOKEN", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY",
             "CLAUDE_CODE_OAUTH_TOKEN", "KUBERNETES_SERVICE_HOST"],
)  # fmt: skip
def test_the_model_refuses_a_reserved_environment_variable_naming_it(name: str) -> None:
    with pytest.raises(ValidationError, match=f"spec.template.env: {name} is set by the operator"):
        pool(template={"env": [{"name": name, "value": "x"}]})


def test_a_template_cannot_override_reserved_environment_variables() -> None:
    p = pool(template={"env": [{"name": "FOO", "value": "bar"}]})
    # an object stored before admission refused these: built without validation
    stolen = EnvVar.model_construct(name="CLAUDE_POOL_AGENT_TOKEN", value="stolen")
    assert p.spec.template.env is not None
    p.spec.template.env.insert(0, stolen)
    env = pods.desired_slot_pod(p, 0, pods.SlotDefaults())["spec"]["containers"][0]["env"]
    token = [e for e in env if e["name"] == "CLAUDE_POOL_AGENT_TOKEN"]
    assert len(token) == 1
    assert "valueFrom" in token[0]
    assert {"name": "FOO", "value": "bar"} in env


def test_the_template_hash_changes_with_the_template() -> None:
    a = pods.desired_slot_pod(pool(), 0, pods.SlotDefaults())
    b = pods.desired_slot_pod(pool(template={"image": "other:2"}), 0, pods.SlotDefaults())
    key = pods.TEMPLATE_HASH_ANNOTATION
    assert a["metadata"]["annotations"][key] != b["metadata"]["annotations"][key]


def test_the_token_secret_and_service_account_belong_to_the_pool() -> None:
    secret = pods.desired_token_secret(pool(), "t" * 32)
    sa = pods.desired_service_account(pool())
    assert secret["metadata"]["name"] == "p-agent-token"
    assert secret["stringData"] == {"token": "t" * 32}
    assert sa["automountServiceAccountToken"] is False
    assert sa["metadata"]["ownerReferences"][0]["kind"] == "ClaudePool"


def test_slot_index_round_trips_through_the_pod_name() -> None:
    assert pods.slot_index(pods.slot_pod_name("p", 7), "p") == 7
    assert pods.slot_index("p-slot-x", "p") is None
    assert pods.slot_index("q-slot-1", "p") is None


def test_the_agent_runs_under_tini_so_orphaned_tool_processes_are_reaped() -> None:
    container = pods.desired_slot_pod(pool(), 0, pods.SlotDefaults())["spec"]["containers"][0]
    assert container["command"] == ["/usr/bin/tini", "--", "python", "-m", "claude_pool", "agent"]


def _container(p: ClaudePool, index: int = 0) -> dict[str, Any]:
    container: dict[str, Any] = pods.desired_slot_pod(p, index, pods.SlotDefaults())["spec"][
        "containers"
    ][0]
    return container


def test_a_pool_without_workspace_has_no_workspace_volume_or_settings() -> None:
    container = _container(pool())
    assert not [e for e in container["env"] if "WORKSPACE" in e["name"] or "GIT" in e["name"]]
    assert [m["mountPath"] for m in container["volumeMounts"]] == ["/slot", "/tmp"]


def test_a_workspace_is_an_empty_dir_at_workspace_with_git_credentials_by_optional_ref() -> None:
    p = pool(
        workspace={
            "repo": "https://git.example.com/app.git",
            "ref": "main",
            "depth": 5,
            "credentialsSecret": {"name": "git"},
            "volume": {"emptyDir": {"sizeLimit": "2Gi"}},
        }
    )
    spec = pods.desired_slot_pod(p, 1, pods.SlotDefaults())["spec"]
    assert {"name": "workspace", "emptyDir": {"sizeLimit": "2Gi"}} in spec["volumes"]
    container = spec["containers"][0]
    assert {"name": "workspace", "mountPath": "/workspace"} in container["volumeMounts"]
    env = {e["name"]: e for e in container["env"]}
    assert env["CLAUDE_POOL_AGENT_WORKSPACE_REPO"]["value"] == "https://git.example.com/app.git"
    assert env["CLAUDE_POOL_AGENT_WORKSPACE_REF"]["value"] == "main"
    assert env["CLAUDE_POOL_AGENT_WORKSPACE_DEPTH"]["value"] == "5"
    assert env["CLAUDE_POOL_AGENT_WORKSPACE_DIR"]["value"] == "/workspace"
    assert env["CLAUDE_POOL_AGENT_GIT_TOKEN"]["valueFrom"] == {
        "secretKeyRef": {"name": "git", "key": "token", "optional": True}
    }
    refs = {
        env[name]["valueFrom"]["secretKeyRef"]["key"]
        for name in env
        if name.startswith("CLAUDE_POOL_AGENT_GIT_")
    }
    assert refs == {"token", "username", "ssh-privatekey", "known_hosts"}
    assert all("value" not in env[n] for n in env if n.startswith("CLAUDE_POOL_AGENT_GIT_"))


def test_a_claim_template_gives_each_slot_index_its_own_claim_owned_by_the_pool() -> None:
    p = pool(
        workspace={
            "repo": "file:///srv/app.git",
            "volume": {"claimTemplate": {"size": "1Gi", "storageClassName": "fast"}},
        }
    )
    volumes = pods.desired_slot_pod(p, 3, pods.SlotDefaults())["spec"]["volumes"]
    assert {"name": "workspace", "persistentVolumeClaim": {"claimName": "p-ws-3"}} in volumes
    claim = pods.desired_workspace_claim(p, 3)
    assert claim["metadata"]["name"] == "p-ws-3"
    assert claim["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert claim["metadata"]["labels"]["claudepool.io/slot"] == "3"
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}},
        "storageClassName": "fast",
    }
