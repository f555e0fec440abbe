"""The generated CRDs against a real kube-apiserver: install, admission, subresources, columns.

Everything here is the apiserver's own behaviour (schema, CEL, subresources); no operator
runs. Each rejected manifest must be refused with a message that names the offending field.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client

from claude_pool.api.common import GROUP, MAX_CHAIN_STEPS, MAX_FANOUT, MAX_SLOTS, VERSION, dump
from claude_pool.api.tasks import ClaudeTaskStatus
from tests.builders import chain_steps, pool_manifest, task_manifest
from tests.integration.test_examples import PLURALS, example_manifests

pytestmark = pytest.mark.integration

POOLS = "claudepools"
TASKS = "claudetasks"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def _create(api: client.ApiClient, ns: str, body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    plural = POOLS if body["kind"] == "ClaudePool" else TASKS
    objects = client.CustomObjectsApi(api)
    created: dict[str, Any] = objects.create_namespaced_custom_object(
        GROUP, VERSION, ns, plural, body, **kw
    )
    return created


def _get(api: client.ApiClient, ns: str, plural: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = client.CustomObjectsApi(api).get_namespaced_custom_object(
        GROUP, VERSION, ns, plural, name
    )
    return found


def _rejection(call: Callable[[], object]) -> tuple[int, str]:
    """Run a request that must fail; return the HTTP status and the apiserver's message."""
    with pytest.raises(client.ApiException) as info:
        call()
    body = info.value.body
    text = body.decode() if isinstance(body, bytes) else str(body)
    try:
        message = str(json.loads(text).get("message", text))
    except ValueError:
        message = text
    return int(info.value.status), message


def test_both_crds_are_established_with_short_names_and_categories(
    api_client: client.ApiClient,
) -> None:
    extensions = client.ApiextensionsV1Api(api_client)
    for plural, short in ((POOLS, "cpool"), (TASKS, "ctask")):
        crd = extensions.read_custom_resource_definition(f"{plural}.{GROUP}")
        states = {c.type: c.status for c in crd.status.conditions}
        assert states.get("Established") == "True"
        assert states.get("NamesAccepted") == "True"
        assert crd.spec.names.short_names == [short]
        assert crd.spec.names.categories == ["claude"]


def test_a_fully_specified_pool_is_accepted_and_keeps_every_field(
    api_client: client.ApiClient, namespace: str
) -> None:
    body = pool_manifest(
        "full",
        slots=3,
        template={
            "image": "ghcr.io/example/slot:1",
            "imagePullPolicy": "IfNotPresent",
            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": 2}},
            "nodeSelector": {"pool": "claude"},
            "tolerations": [{"key": "claude", "operator": "Exists", "effect": "NoSchedule"}],
            "runtimeClassName": "gvisor",
            "env": [
                {"name": "HTTPS_PROXY", "value": "http://proxy:3128"},
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
            ],
            "labels": {"team": "ai"},
            "annotations": {"note": "x"},
        },
        claude={
            "model": "sonnet",
            "fallbackModel": "haiku",
            "permissionMode": "acceptEdits",
            "maxTurns": 20,
            "effort": "high",
            "allowedTools": ["Read", "Bash(git log:*)"],
            "appendSystemPrompt": "Be brief.",
            "mcpServers": {"files": {"command": "mcp-files", "args": ["--root", "/w"]}},
            "maxRetries": 2,
            "apiTimeoutSeconds": 600,
        },
        credentials={"secretName": "anthropic", "oauthTokenKey": "token", "baseURL": "http://x:1"},
        budget={"limitMicrodollars": 10_000_000, "defaultTaskReservationMicrodollars": 500_000},
        context={"repo": "example/app"},
        router_prompt="Route the task. Answer JSON only.",
        suspend=False,
        supervision={"maxRestarts": 5, "maxTaskAttempts": 2, "drainTimeoutSeconds": 60},
        ttlSecondsAfterFinished=3600,
    )
    created = _create(api_client, namespace, body)
    assert created["spec"]["claude"]["mcpServers"]["files"]["args"] == ["--root", "/w"]
    assert created["spec"]["template"]["resources"]["limits"]["cpu"] == 2
    assert created["spec"]["template"]["env"][1]["valueFrom"]["secretKeyRef"]["key"] == "k"
    assert created["spec"]["claude"]["strictMcpConfig"] is True  # schema default
    assert created["spec"]["routerPrompt"] == "Route the task. Answer JSON only."


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({}, id="prompt"),
        pytest.param(
            {"prompt": None, "fan_out": {"prompts": ["a", "b"], "maxParallel": 2}}, id="fanOut"
        ),
        pytest.param(
            {"prompt": None, "fan_out": {"prompts": [f"p{i}" for i in range(MAX_FANOUT)]}},
            id="fanOut-at-cap",
        ),
        pytest.param(
            {
                "prompt": None,
                "fan_out": {
                    "chains": [{"steps": chain_steps("a", "b")}, {"steps": chain_steps("a")}],
                    "maxParallel": 1,
                    "failFast": True,
                },
            },
            id="fanOut-chains",
        ),
        pytest.param(
            {
                "prompt": None,
                "chain": {
                    "steps": [
                        {"name": "plan", "prompt": "Plan it.", "outputVars": {"files": "files"}},
                        {
                            "name": "build",
                            "prompt": "Do {steps.plan.files}",
                            "retries": 2,
                            "recoveryPrompt": "Fix: {error}",
                            "config": {"model": "opus", "jsonSchema": {"type": "object"}},
                        },
                    ],
                    "isolation": "none",
                },
            },
            id="chain",
        ),
        pytest.param(
            {
                "prompt": None,
                "auto": {
                    "prompt": "Refactor auth and update callers.",
                    "hints": {"maxParallel": 3, "prefer": "chain", "decompositionHints": ["api"]},
                },
            },
            id="auto",
        ),
    ],
)
def test_a_task_in_each_mode_is_accepted_with_defaults_filled_in(
    api_client: client.ApiClient, namespace: str, overrides: dict[str, Any]
) -> None:
    body = task_manifest(
        "task",
        "pool",
        config={"maxBudgetMicrodollars": 250_000, "permissionMode": "plan", "tools": []},
        review={"required": False},
        **overrides,
    )
    created = _create(api_client, namespace, body)
    assert created["spec"]["priority"] == 0
    assert created["spec"]["cancel"] is False
    assert created["spec"]["review"]["maxRejections"] == 3


def _fan(n: int) -> dict[str, Any]:
    return {"prompt": None, "fan_out": {"prompts": [f"p{i}" for i in range(n)]}}


INVALID: list[Any] = [
    pytest.param("task", {"fan_out": {"prompts": ["a"]}}, "spec.prompt", id="two-modes"),
    pytest.param("task", {"prompt": None}, "spec.fanOut", id="no-mode"),
    pytest.param("task", {"prompt": ""}, "spec.prompt", id="empty-prompt"),
    pytest.param("task", {"pool_ref": None}, "spec.poolRef", id="missing-poolRef"),
    pytest.param(
        "task", {"pool_ref": {"name": "Not_A_Name"}}, "spec.poolRef.name", id="bad-poolRef"
    ),
    pytest.param("task", _fan(0), "spec.fanOut.prompts", id="empty-fanOut"),
    pytest.param("task", _fan(MAX_FANOUT + 1), "spec.fanOut.prompts", id="fanOut-above-cap"),
    pytest.param(
        "task",
        {"prompt": None, "fan_out": {"prompts": ["a"], "chains": [{"steps": chain_steps("a")}]}},
        "spec.fanOut",
        id="fanOut-prompts-and-chains",
    ),
    pytest.param(
        "task", {"prompt": None, "fan_out": {"maxParallel": 2}}, "spec.fanOut", id="fanOut-empty"
    ),
    pytest.param(
        "task",
        {"prompt": None, "fan_out": {"chains": [{"steps": chain_steps("a", "a")}]}},
        "spec.fanOut.chains[0].steps",
        id="fanOut-chain-duplicate-steps",
    ),
    pytest.param(
        "task",
        {"prompt": None, "fan_out": {"prompts": ["a"], "maxParallel": MAX_FANOUT + 1}},
        "spec.fanOut.maxParallel",
        id="maxParallel-above-cap",
    ),
    pytest.param(
        "task",
        {"prompt": None, "fan_out": {"prompts": ["a", ""]}},
        "spec.fanOut.prompts[1]",
        id="empty-fanOut-prompt",
    ),
    pytest.param(
        "task",
        {"prompt": None, "chain": {"steps": chain_steps("a", "b", "a")}},
        "spec.chain.steps",
        id="duplicate-step-names",
    ),
    pytest.param(
        "task", {"prompt": None, "chain": {"steps": []}}, "spec.chain.steps", id="no-steps"
    ),
    pytest.param(
        "task",
        {"prompt": None, "chain": {"steps": chain_steps("a"), "isolation": "clone"}},
        "spec.chain.isolation: clone is not supported: use worktree",
        id="chain-isolation-clone",
    ),
    pytest.param(
        "task",
        {
            "prompt": None,
            "chain": {"steps": chain_steps(*[f"s{i}" for i in range(MAX_CHAIN_STEPS + 1)])},
        },
        "spec.chain.steps",
        id="chain-above-cap",
    ),
    pytest.param(
        "task",
        {"prompt": None, "chain": {"steps": chain_steps("a.b")}},
        "spec.chain.steps[0].name",
        id="step-name-with-dot",
    ),
    pytest.param(
        "task", {"review": {"maxRejections": 0}}, "spec.review.maxRejections", id="maxRejections-0"
    ),
    pytest.param(
        "task",
        {"config": {"permissionMode": "auto"}},
        "spec.config.permissionMode",
        id="permissionMode-auto",
    ),
    pytest.param(
        "task",
        {"config": {"maxBudgetMicrodollars": -1}},
        "spec.config.maxBudgetMicrodollars",
        id="negative-task-budget",
    ),
    pytest.param(
        "task",
        {"config": {"maxBudgetMicrodollars": 0.5}},
        "spec.config.maxBudgetMicrodollars",
        id="float-task-budget",
    ),
    pytest.param("task", {"priority": 5000}, "spec.priority", id="priority-above-max"),
    pytest.param("pool", {"slots": -1}, "spec.slots", id="negative-slots"),
    pytest.param("pool", {"slots": MAX_SLOTS + 1}, "spec.slots", id="slots-above-max"),
    pytest.param(
        "pool",
        {"budget": {"limitMicrodollars": -1}},
        "spec.budget.limitMicrodollars",
        id="negative-budget",
    ),
    pytest.param(
        "pool",
        {"budget": {"limitMicrodollars": "ten dollars"}},
        "spec.budget.limitMicrodollars",
        id="non-numeric-budget",
    ),
    pytest.param(
        "pool",
        {"budget": {"limitMicrodollars": 100, "defaultTaskReservationMicrodollars": 200}},
        "spec.budget.defaultTaskReservationMicrodollars",
        id="reservation-above-limit",
    ),
    pytest.param(
        "pool",
        {"template": {"labels": {"claudepool.io/pool": "x"}}},
        "spec.template.labels",
        id="reserved-label",
    ),
    pytest.param(
        "pool",
        {"template": {"annotations": {"claudepool.io/draining": "true"}}},
        "spec.template.annotations: Invalid value: spec.template.annotations must not use the"
        " reserved prefix claudepool.io/",
        id="reserved-annotation",
    ),
    *(
        pytest.param(
            "pool",
            {"template": {"env": [{"name": "FOO", "value": "1"}, {"name": name, "value": "x"}]}},
            f"spec.template.env: {name} is set by the operator",
            id=f"reserved-env-{name}",
        )
        for name in (
            "CLAUDE_POOL_AGENT_TOKEN",
            "ANTHROPIC_BASE_URL",
            "ANTHROPIC_API_KEY",
            "CLAUDE_CODE_OAUTH_TOKEN",
            "KUBERNETES_SERVICE_HOST",
        )
    ),
    pytest.param(
        "pool",
        {"workspace": {"repo": "https://bot:s3cret@git.example.com/app.git"}},
        "spec.workspace.repo must not carry credentials",
        id="workspace-credentials-in-url",
    ),
    pytest.param(
        "pool",
        {
            "workspace": {
                "repo": "https://git.example.com/app.git",
                "isolation": "none",
                "push": "branch",
            }
        },
        "spec.workspace.push: branch needs a branch per task",
        id="workspace-push-without-isolation",
    ),
    pytest.param(
        "pool",
        {"workspace": {"repo": "https://git.example.com/app.git", "branchTemplate": "w/{name}"}},
        "spec.workspace.branchTemplate may only use the placeholders",
        id="workspace-unknown-placeholder",
    ),
    pytest.param(
        "pool",
        {
            "workspace": {
                "repo": "https://git.example.com/app.git",
                "branchTemplate": "w/{task}.lock",
            }
        },
        "spec.workspace.branchTemplate must make a valid git branch name",
        id="workspace-branch-template-git-refuses",
    ),
    pytest.param(
        "pool",
        {"workspace": {"repo": "https://git.example.com/app.git", "pushOnApproval": True}},
        "spec.workspace.pushOnApproval needs push: branch",
        id="workspace-push-on-approval-without-push",
    ),
    pytest.param(
        "pool",
        {"workspace": {"repo": "git.example.com/app.git"}},
        "spec.workspace.repo",
        id="workspace-repo-without-scheme",
    ),
    pytest.param(
        "task",
        {
            "prompt": None,
            "prompt_from": {
                "configMapKeyRef": {"name": "p", "key": "prompt"},
                "secretKeyRef": {"name": "p", "key": "prompt"},
            },
        },
        "spec.promptFrom: set exactly one of configMapKeyRef and secretKeyRef",
        id="promptFrom-two-refs",
    ),
    pytest.param("task", {"prompt": "x" * 65537}, "spec.prompt", id="prompt-above-64KiB"),
    pytest.param(
        "pool",
        {"credentials": {"secretName": "s", "apiKeyKey": "a", "oauthTokenKey": "b"}},
        "spec.credentials",
        id="two-credential-keys",
    ),
    pytest.param(
        "pool",
        {"claude": {"effort": "extreme"}},
        "spec.claude.effort",
        id="unknown-effort",
    ),
    pytest.param(
        "pool",
        {"template": {"resources": {"requests": {"cpu": "lots"}}}},
        "spec.template.resources.requests",
        id="bad-quantity",
    ),
]


@pytest.mark.parametrize(("kind", "overrides", "field"), INVALID)
def test_an_invalid_manifest_is_rejected_with_a_message_naming_the_field(
    api_client: client.ApiClient, namespace: str, kind: str, overrides: dict[str, Any], field: str
) -> None:
    if kind == "pool":
        body = pool_manifest("bad", **overrides)
    else:
        body = task_manifest("bad", "pool", **overrides)
    status, message = _rejection(lambda: _create(api_client, namespace, body))
    assert status == 422, message
    assert field in message


def test_every_example_manifest_is_admitted_with_strict_field_validation(
    api_client: client.ApiClient, namespace: str
) -> None:
    objects = client.CustomObjectsApi(api_client)
    kinds = []
    for path, doc in example_manifests():
        body = {**doc, "metadata": {**doc["metadata"], "namespace": namespace}}
        created = objects.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURALS[doc["kind"]], body, field_validation="Strict"
        )
        assert created["spec"].keys() >= doc["spec"].keys(), path.name
        kinds.append(doc["kind"])
    assert kinds.count("ClaudeTask") >= 4


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        pytest.param("pool", pool_manifest("strict", bogus=1), id="pool"),
        pytest.param("task", task_manifest("strict", "pool", bogus=1), id="task"),
    ],
)
def test_an_unknown_field_is_rejected_under_strict_field_validation(
    api_client: client.ApiClient, namespace: str, kind: str, body: dict[str, Any]
) -> None:
    status, message = _rejection(
        lambda: _create(api_client, namespace, body, field_validation="Strict")
    )
    assert status in (400, 422), message
    assert "spec.bogus" in message


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        pytest.param({"spec": {"prompt": "Something else."}}, "spec.prompt", id="prompt"),
        pytest.param(
            {"spec": {"prompt": None, "fanOut": {"prompts": ["a"]}}}, "spec.fanOut", id="mode"
        ),
        pytest.param({"spec": {"poolRef": {"name": "other"}}}, "spec.poolRef", id="poolRef"),
        pytest.param({"spec": {"config": {"model": "opus"}}}, "spec.config", id="config"),
    ],
)
def test_the_task_mode_prompt_pool_and_config_cannot_change_after_creation(
    api_client: client.ApiClient, namespace: str, patch: dict[str, Any], field: str
) -> None:
    _create(api_client, namespace, task_manifest("fixed", "pool"))
    objects = client.CustomObjectsApi(api_client)
    status, message = _rejection(
        lambda: objects.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, TASKS, "fixed", patch
        )
    )
    assert status == 422, message
    assert field in message


def test_a_task_can_be_cancelled_and_reprioritised_but_not_uncancelled(
    api_client: client.ApiClient, namespace: str
) -> None:
    _create(api_client, namespace, task_manifest("flip", "pool"))
    objects = client.CustomObjectsApi(api_client)
    patched = objects.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, TASKS, "flip", {"spec": {"cancel": True, "priority": 10}}
    )
    assert patched["spec"]["cancel"] is True
    status, message = _rejection(
        lambda: objects.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, TASKS, "flip", {"spec": {"cancel": False}}
        )
    )
    assert status == 422, message
    assert "spec.cancel" in message


def test_scaling_a_pool_sets_spec_slots_and_reads_the_selector_from_status(
    api_client: client.ApiClient, namespace: str
) -> None:
    objects = client.CustomObjectsApi(api_client)
    _create(api_client, namespace, pool_manifest("scaled", slots=1))
    selector = "claudepool.io/pool=scaled"
    objects.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        POOLS,
        "scaled",
        {"status": {"replicas": 1, "selector": selector}},
    )
    objects.patch_namespaced_custom_object_scale(
        GROUP, VERSION, namespace, POOLS, "scaled", {"spec": {"replicas": 4}}
    )
    assert _get(api_client, namespace, POOLS, "scaled")["spec"]["slots"] == 4
    scale = objects.get_namespaced_custom_object_scale(GROUP, VERSION, namespace, POOLS, "scaled")
    assert scale["spec"]["replicas"] == 4
    assert scale["status"]["replicas"] == 1
    assert scale["status"]["selector"] == selector


def test_scaling_a_pool_above_the_maximum_is_rejected(
    api_client: client.ApiClient, namespace: str
) -> None:
    objects = client.CustomObjectsApi(api_client)
    _create(api_client, namespace, pool_manifest("big"))
    status, message = _rejection(
        lambda: objects.patch_namespaced_custom_object_scale(
            GROUP, VERSION, namespace, POOLS, "big", {"spec": {"replicas": MAX_SLOTS + 1}}
        )
    )
    assert status == 422, message
    assert "spec.slots" in message


def test_a_status_update_does_not_change_spec_and_a_spec_update_does_not_change_status(
    api_client: client.ApiClient, namespace: str
) -> None:
    objects = client.CustomObjectsApi(api_client)
    created = _create(api_client, namespace, pool_manifest("split", slots=2))
    through_status = objects.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        POOLS,
        "split",
        {
            "spec": {"slots": 7},
            "status": {
                "readySlots": 2,
                "budget": {"spentMicrodollars": 5, "recentCommits": ["uid-1"]},
            },
        },
    )
    assert through_status["spec"]["slots"] == 2
    assert through_status["status"]["readySlots"] == 2
    assert through_status["status"]["budget"]["recentCommits"] == ["uid-1"]  # not pruned
    assert through_status["metadata"]["generation"] == created["metadata"]["generation"]
    through_main = objects.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        POOLS,
        "split",
        {"spec": {"slots": 3}, "status": {"readySlots": 9}},
    )
    assert through_main["spec"]["slots"] == 3
    assert through_main["status"]["readySlots"] == 2
    assert through_main["metadata"]["generation"] == created["metadata"]["generation"] + 1


def test_an_invalid_status_is_rejected_too(api_client: client.ApiClient, namespace: str) -> None:
    objects = client.CustomObjectsApi(api_client)
    _create(api_client, namespace, task_manifest("st", "pool"))
    status, message = _rejection(
        lambda: objects.patch_namespaced_custom_object_status(
            GROUP, VERSION, namespace, TASKS, "st", {"status": {"phase": "Exploded"}}
        )
    )
    assert status == 422, message
    assert "status.phase" in message


def _table(api: client.ApiClient, ns: str, plural: str) -> dict[str, Any]:
    table: dict[str, Any] = client.CustomObjectsApi(api).list_namespaced_custom_object(
        GROUP, VERSION, ns, plural, _headers={"Accept": TABLE}
    )
    return table


def _cells(table: dict[str, Any]) -> dict[str, Any]:
    names = [column["name"] for column in table["columnDefinitions"]]
    return dict(zip(names, table["rows"][0]["cells"], strict=True))


def test_pool_printer_columns_show_slots_and_money(
    api_client: client.ApiClient, namespace: str
) -> None:
    _create(api_client, namespace, pool_manifest("cols", slots=2))
    client.CustomObjectsApi(api_client).patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        POOLS,
        "cols",
        {
            "status": {
                "readySlots": 2,
                "idleSlots": 1,
                "busySlots": 1,
                "queue": {"pending": 4},
                "budget": {"spentMicrodollars": 1_250_000, "spent": "1.25"},
            }
        },
    )
    table = _table(api_client, namespace, POOLS)
    assert table["kind"] == "Table"
    cells = _cells(table)
    assert list(cells) == [
        "Name",
        "Slots",
        "Ready",
        "Idle",
        "Busy",
        "Pending",
        "Spent",
        "Suspended",
        "Age",
    ]
    assert cells["Name"] == "cols"
    assert (cells["Slots"], cells["Ready"], cells["Busy"], cells["Pending"]) == (2, 2, 1, 4)
    assert cells["Spent"] == "1.25"


def test_task_printer_columns_show_pool_mode_phase_slot_and_cost(
    api_client: client.ApiClient, namespace: str
) -> None:
    _create(api_client, namespace, task_manifest("cols", "mypool"))
    client.CustomObjectsApi(api_client).patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        TASKS,
        "cols",
        {"status": {"mode": "Single", "phase": "Running", "slot": "mypool-slot-0", "cost": "0.01"}},
    )
    cells = _cells(_table(api_client, namespace, TASKS))
    assert list(cells) == ["Name", "Pool", "Mode", "Phase", "Slot", "Cost", "Attempts", "Age"]
    assert (cells["Pool"], cells["Mode"], cells["Phase"]) == ("mypool", "Single", "Running")
    assert (cells["Slot"], cells["Cost"]) == ("mypool-slot-0", "0.01")


def test_a_full_task_status_from_the_models_is_stored_without_pruning(
    api_client: client.ApiClient, namespace: str
) -> None:
    status = ClaudeTaskStatus.model_validate(
        {
            "observedGeneration": 1,
            "mode": "Chain",
            "phase": "AwaitingReview",
            "route": "chain",
            "conditions": [
                {
                    "type": "Reviewed",
                    "status": "False",
                    "reason": "AwaitingReview",
                    "message": "approve or reject",
                    "observedGeneration": 1,
                    "lastTransitionTime": "2026-01-02T03:04:05Z",
                }
            ],
            "slot": "p-slot-1",
            "slotUid": "0b6f6a0e-4c4b-4f57-9a40-5d3c1b2a1f00",
            "attempts": 2,
            "startTime": "2026-01-02T03:04:05Z",
            "result": {
                "output": "done",
                "outputTruncated": True,
                "outputSize": 123456,
                "outputRef": "full-output",
                "success": True,
                "sessionId": "0b6f6a0e-4c4b-4f57-9a40-5d3c1b2a1f01",
                "costMicrodollars": 4200,
                "usage": {"inputTokens": 10, "outputTokens": 20},
                "turns": 3,
                "durationMs": 1500,
                "model": "claude-sonnet-4-5",
                "structuredOutput": {"files": ["a.py"], "ok": True},
                "failure": {
                    "reason": "MaxTurns",
                    "message": "m",
                    "exitCode": -9,
                    "stderrTail": "e",
                },
            },
            "children": {"total": 3, "pending": 1, "running": 1, "succeeded": 1},
            "items": [
                {
                    "index": 0,
                    "phase": "Failed",
                    "child": "full-0",
                    "costMicrodollars": 600,
                    "output": "partial",
                    "outputTruncated": True,
                    "reason": "Overloaded",
                    "message": "529",
                }
            ],
            "steps": [
                {
                    "name": "plan",
                    "phase": "Succeeded",
                    "attempts": 2,
                    "recovered": True,
                    "child": "full-plan.recovery",
                    "costMicrodollars": 1200,
                    "startTime": "2026-01-02T03:04:05Z",
                    "completionTime": "2026-01-02T03:04:09Z",
                    "output": "{}",
                    "vars": {"files": "a.py"},
                    "message": "m",
                }
            ],
            "routing": {
                "router": "full-router",
                "route": "chain",
                "fallbackReason": "could not parse",
                "notes": ["cut to 2"],
                "items": 2,
                "child": "full-route",
            },
            "progress": {
                "turns": 3,
                "costMicrodollars": 4200,
                "completedSteps": 1,
                "totalSteps": 2,
                "currentStep": "build",
                "currentStepStartTime": "2026-01-02T03:04:10Z",
            },
            "review": {
                "state": "Pending",
                "rejections": 1,
                "awaitingSince": "2026-01-02T03:06:00Z",
                "resumeSessionId": "0b6f6a0e-4c4b-4f57-9a40-5d3c1b2a1f01",
                "resumeSlot": "p-slot-1",
                "resumeSlotUid": "0b6f6a0e-4c4b-4f57-9a40-5d3c1b2a1f00",
                "history": [
                    {
                        "decision": "reject",
                        "feedback": "more tests",
                        "reviewer": "alice",
                        "time": "2026-01-02T03:05:00Z",
                        "review": "full-review-1",
                    }
                ],
            },
            "contextRevision": "0123456789abcdef",
            "messages": ["hello-1"],
            "costMicrodollars": 4200,
            "cost": "0.0042",
        }
    )
    wire = dump(status)
    _create(api_client, namespace, task_manifest("full", "p"))
    stored = client.CustomObjectsApi(api_client).patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, TASKS, "full", {"status": wire}
    )
    assert stored["status"] == wire
    assert ClaudeTaskStatus.model_validate(stored["status"]) == status


def test_kubectl_explain_shows_the_limits_in_the_field_descriptions(
    api_client: client.ApiClient,
) -> None:
    # kubectl explain reads the apiserver's OpenAPI v3 document of the group version
    response = api_client.call_api(
        "GET",
        f"{api_client.configuration.host}/openapi/v3/apis/{GROUP}/{VERSION}",
        header_params={"Accept": "application/json"},
    )
    schemas = json.loads(response.read())["components"]["schemas"]
    pool = schemas[f"io.claudepool.{VERSION}.ClaudePool"]["properties"]["spec"]["properties"]
    task = schemas[f"io.claudepool.{VERSION}.ClaudeTask"]["properties"]["spec"]["properties"]
    assert "0 to 200" in pool["slots"]["description"]
    assert "65536 characters" in task["prompt"]["description"]
    assert "1 MiB" in task["promptFrom"]["description"]
