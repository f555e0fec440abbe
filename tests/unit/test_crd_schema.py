"""The generated CRDs: structural, bounded, float-free, with subresources, columns and CEL rules.

Walks every node of both schemas (the same checks kube-api-linter makes for Kueue) and
checks that the committed crds/ files are exactly what the generator writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from claude_pool.api import crdgen
from claude_pool.api.common import (
    MAX_CHAIN_STEPS,
    MAX_CONTEXT_CHARS,
    MAX_CONTEXT_ENTRIES,
    MAX_FANOUT,
    MAX_LIST_ITEMS,
    MAX_PRIORITY,
    MAX_PROMPT_FROM_BYTES,
    MAX_PROMPT_LENGTH,
    MAX_SLOT_MESSAGE_LENGTH,
    MAX_SLOTS,
    MAX_TIMEOUT_SECONDS,
    MAX_TTL_SECONDS,
)
from claude_pool.api.messages import ONE_TARGET
from claude_pool.api.reviews import IMMUTABLE as REVIEW_IMMUTABLE
from claude_pool.api.reviews import MAX_FEEDBACK_LENGTH, REJECT_NEEDS_FEEDBACK
from claude_pool.api.schema import SchemaError, structural_schema

REPO = Path(__file__).resolve().parents[2]
CRDS = {
    "pool": crdgen.pool_crd(),
    "task": crdgen.task_crd(),
    "review": crdgen.review_crd(),
    "message": crdgen.message_crd(),
}
INT_OR_STRING = "x-kubernetes-int-or-string"
PRESERVE = "x-kubernetes-preserve-unknown-fields"
ROOT_STRINGS = {".apiVersion", ".kind"}  # the apiserver validates these itself


def _version(crd: dict[str, Any]) -> dict[str, Any]:
    (version,) = crd["spec"]["versions"]
    return dict(version)


def _schema(kind: str) -> dict[str, Any]:
    return dict(_version(CRDS[kind])["schema"]["openAPIV3Schema"])


def _nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _nodes(node["additionalProperties"], f"{path}{{}}")


NODES_BY_PATH = {(kind, path): node for kind in CRDS for path, node in _nodes(_schema(kind))}


def _rules(kind: str) -> dict[str, list[dict[str, str]]]:
    return {
        path: node["x-kubernetes-validations"]
        for path, node in _nodes(_schema(kind))
        if "x-kubernetes-validations" in node
    }


def _messages(kind: str) -> set[str]:
    return {rule["message"] for rules in _rules(kind).values() for rule in rules}


def _structural_problems(path: str, node: dict[str, Any]) -> list[str]:
    problems = [
        f"{path}: {key}"
        for key in ("$ref", "$defs", "allOf", "oneOf", "not", "title", "nullable")
        if key in node
    ]
    if node.get("type") == "number":
        problems.append(f"{path}: type number")
    if node.get("additionalProperties") in (True, False):
        problems.append(f"{path}: boolean additionalProperties")
    if "anyOf" in node and (
        node.get(INT_OR_STRING) is not True
        or node["anyOf"] != [{"type": "integer"}, {"type": "string"}]
    ):
        problems.append(f"{path}: typed anyOf")
    if "type" not in node and not (node.get(PRESERVE) or node.get(INT_OR_STRING)):
        problems.append(f"{path}: untyped")
    return problems


def test_no_node_uses_refs_junctors_titles_or_floats_and_every_node_is_typed() -> None:
    problems = [
        problem
        for (kind, path), node in NODES_BY_PATH.items()
        for problem in _structural_problems(f"{kind}{path}", node)
    ]
    assert problems == []


def test_every_string_has_a_max_length() -> None:
    unbounded = [
        f"{kind}{path}"
        for (kind, path), node in NODES_BY_PATH.items()
        if (node.get("type") == "string" or node.get(INT_OR_STRING))
        and "maxLength" not in node
        and path not in ROOT_STRINGS
    ]
    assert unbounded == []


def test_every_list_has_max_items() -> None:
    unbounded = [
        f"{kind}{path}"
        for (kind, path), node in NODES_BY_PATH.items()
        if node.get("type") == "array" and "maxItems" not in node
    ]
    assert unbounded == []


def test_every_map_has_max_properties() -> None:
    unbounded = [
        f"{kind}{path}"
        for (kind, path), node in NODES_BY_PATH.items()
        if "additionalProperties" in node and "maxProperties" not in node
    ]
    assert unbounded == []


def test_every_integer_has_an_int32_or_int64_format() -> None:
    formats = {
        node.get("format") for node in NODES_BY_PATH.values() if node.get("type") == "integer"
    }
    assert formats <= {"int32", "int64"}


def test_money_fields_are_int64_microdollars_and_never_negative() -> None:
    money = {
        (kind, path): node
        for (kind, path), node in NODES_BY_PATH.items()
        if path.endswith("Microdollars") or path.endswith("microdollars")
    }
    assert ("pool", ".spec.budget.limitMicrodollars") in money
    assert ("task", ".spec.config.maxBudgetMicrodollars") in money
    assert ("task", ".status.costMicrodollars") in money
    for node in money.values():
        assert (node["type"], node["format"], node["minimum"]) == ("integer", "int64", 0)


def test_free_form_objects_are_only_where_the_api_means_them() -> None:
    free = sorted(
        f"{kind}{path}"
        for (kind, path), node in NODES_BY_PATH.items()
        if node.get(PRESERVE) and path != ".metadata"
    )
    expected = {
        "pool.spec.claude.mcpServers{}",
        "pool.spec.template.env[].valueFrom",
        "pool.spec.template.tolerations[]",
        "task.spec.config.jsonSchema",
        "task.spec.config.mcpServers{}",
        "task.status.result.structuredOutput",
    }
    assert expected <= set(free)
    assert all(not path.startswith(("pool.status.", "task.status.conditions")) for path in free)


def test_spec_and_status_are_not_free_form_so_unknown_fields_are_pruned_or_rejected() -> None:
    for kind in CRDS:
        for part in (".spec", ".status"):
            assert PRESERVE not in NODES_BY_PATH[(kind, part)]


def test_status_schemas_carry_no_defaults() -> None:
    defaulted = [
        f"{kind}{path}"
        for (kind, path), node in NODES_BY_PATH.items()
        if path.startswith(".status") and "default" in node
    ]
    assert defaulted == []


def test_spec_defaults_match_the_models() -> None:
    assert NODES_BY_PATH[("pool", ".spec.slots")]["default"] == 1
    assert NODES_BY_PATH[("pool", ".spec.suspend")]["default"] is False
    assert NODES_BY_PATH[("task", ".spec.review.maxRejections")]["default"] == 3
    assert NODES_BY_PATH[("task", ".spec.priority")]["default"] == 0


def test_caps_are_the_documented_constants() -> None:
    assert NODES_BY_PATH[("pool", ".spec.slots")]["minimum"] == 0
    assert NODES_BY_PATH[("pool", ".spec.slots")]["maximum"] == MAX_SLOTS == 200
    prompts = NODES_BY_PATH[("task", ".spec.fanOut.prompts")]
    assert (prompts["minItems"], prompts["maxItems"]) == (1, MAX_FANOUT)
    steps = NODES_BY_PATH[("task", ".spec.chain.steps")]
    assert (steps["minItems"], steps["maxItems"]) == (1, MAX_CHAIN_STEPS)
    assert NODES_BY_PATH[("task", ".spec.prompt")]["minLength"] == 1
    assert NODES_BY_PATH[("task", ".spec.fanOut.prompts[]")]["minLength"] == 1
    assert NODES_BY_PATH[("task", ".spec.review.maxRejections")]["minimum"] == 1


def test_permission_modes_leave_out_auto() -> None:
    modes = NODES_BY_PATH[("pool", ".spec.claude.permissionMode")]["enum"]
    assert modes == ["default", "acceptEdits", "plan", "bypassPermissions", "dontAsk"]


def test_conditions_are_a_map_list_keyed_by_type() -> None:
    for kind in CRDS:
        node = NODES_BY_PATH[(kind, ".status.conditions")]
        assert node["x-kubernetes-list-type"] == "map"
        assert node["x-kubernetes-list-map-keys"] == ["type"]
        assert {"type", "status", "reason", "lastTransitionTime"} <= set(node["items"]["required"])


def test_task_rules_enforce_one_mode_unique_steps_and_immutability() -> None:
    rules = _rules("task")
    spec_rules = {rule["message"]: rule["rule"] for rule in rules[".spec"]}
    one_mode = spec_rules[
        "exactly one of spec.prompt, spec.promptFrom, spec.fanOut, spec.chain or spec.auto"
        " must be set"
    ]
    modes = ("prompt", "promptFrom", "fanOut", "chain", "auto")
    assert all(f"has(self.{field})" in one_mode for field in modes)
    assert any("oldSelf.promptFrom" in rule for rule in spec_rules.values())
    assert "spec.cancel cannot be set back to false" in spec_rules
    for field in ("poolRef", "prompt", "promptFrom", "fanOut", "chain", "auto", "config"):
        assert {"rule": "self == oldSelf", "message": f"spec.{field} is immutable"} in rules[
            f".spec.{field}"
        ]
    assert "spec.chain.steps names must be unique" in _messages("task")


def test_pool_rules_guard_budget_credentials_labels_annotations_env_and_workspace() -> None:
    messages = _messages("pool")
    assert {
        "spec.budget.defaultTaskReservationMicrodollars must not exceed"
        " spec.budget.limitMicrodollars",
        "set at most one of spec.credentials.apiKeyKey and spec.credentials.oauthTokenKey",
        "spec.template.labels must not use the reserved prefix claudepool.io/",
        "spec.template.annotations must not use the reserved prefix claudepool.io/",
        "spec.template.env: set value or valueFrom, not both",
        "spec.context keys must be 1 to 253 characters",
        "spec.context is too large: keys and values together must be at most 32768 characters"
        " (it goes into every task's system prompt)",
        "spec.identity.slots: each index at most once",
    } < messages
    assert any(m.startswith("spec.template.env: a reserved name") for m in messages)
    assert any(m.startswith("spec.workspace.repo must not carry credentials") for m in messages)
    assert any(m.startswith("spec.workspace.push: branch needs a branch") for m in messages)
    assert any(m.startswith("spec.workspace.branchTemplate may only use") for m in messages)
    assert any(m.startswith("spec.workspace.pushOnApproval needs push: branch") for m in messages)
    assert "spec.workspace.volume: set emptyDir or claimTemplate, not both" in messages
    assert any(m.startswith("spec.workspace.branchTemplate must make a valid") for m in messages)
    assert len(messages) == 15


def test_limits_users_hit_are_in_the_field_descriptions_kubectl_explain_shows() -> None:
    expected = {
        ("pool", ".spec.slots"): str(MAX_SLOTS),
        ("pool", ".spec.context"): str(MAX_CONTEXT_ENTRIES),
        ("pool", ".spec.template.env"): str(MAX_LIST_ITEMS),
        ("pool", ".spec.ttlSecondsAfterFinished"): str(MAX_TTL_SECONDS),
        ("task", ".spec.prompt"): str(MAX_PROMPT_LENGTH),
        ("task", ".spec.promptFrom"): str(MAX_PROMPT_FROM_BYTES),
        ("task", ".spec.fanOut"): str(MAX_FANOUT),
        ("task", ".spec.fanOut.prompts"): str(MAX_FANOUT),
        ("task", ".spec.chain.steps"): str(MAX_CHAIN_STEPS),
        ("task", ".spec.timeoutSeconds"): str(MAX_TIMEOUT_SECONDS),
        ("task", ".spec.ttlSecondsAfterFinished"): str(MAX_TTL_SECONDS),
        ("task", ".spec.priority"): str(MAX_PRIORITY),
    }
    missing = [
        f"{kind}{path}: {number}"
        for (kind, path), number in expected.items()
        if number not in NODES_BY_PATH[(kind, path)]["description"]
    ]
    assert missing == []


def test_the_context_cap_sums_keys_and_values_against_the_constant() -> None:
    [keys, size] = _rules("pool")[".spec.context"]
    assert "size(k) <= 253" in keys["rule"]
    assert size["rule"] == f"self.map(k, size(k) + size(self[k])).sum() <= {MAX_CONTEXT_CHARS}"


def test_reviews_and_messages_are_immutable_and_check_their_targets() -> None:
    review = {rule["message"]: rule["rule"] for rule in _rules("review")[".spec"]}
    assert review[REVIEW_IMMUTABLE] == ("self == oldSelf")
    assert "size(self.feedback) > 0" in review[REJECT_NEEDS_FEEDBACK]
    message = {rule["message"]: rule["rule"] for rule in _rules("message")[".spec"]}
    assert "self == oldSelf" in message.values()
    assert "has(self.toSlot)" in message[ONE_TARGET]
    assert NODES_BY_PATH[("message", ".spec.content")]["maxLength"] == MAX_SLOT_MESSAGE_LENGTH
    assert NODES_BY_PATH[("review", ".spec.feedback")]["maxLength"] == MAX_FEEDBACK_LENGTH
    assert NODES_BY_PATH[("review", ".spec.decision")]["enum"] == ["approve", "reject"]


@pytest.mark.parametrize("kind", CRDS)
def test_every_rule_message_names_a_spec_field(kind: str) -> None:
    assert all("spec." in message for message in _messages(kind))


def test_transition_rules_only_appear_where_the_fields_are_immutable() -> None:
    for kind in CRDS:
        for path, rules in _rules(kind).items():
            for rule in rules:
                if "oldSelf" in rule["rule"]:
                    assert path.startswith(".spec"), path


def test_every_crd_is_namespaced_with_a_short_name_and_the_claude_category() -> None:
    for kind, short in (
        ("pool", "cpool"),
        ("task", "ctask"),
        ("review", "creview"),
        ("message", "cmsg"),
    ):
        spec = CRDS[kind]["spec"]
        assert spec["group"] == "claudepool.io"
        assert spec["scope"] == "Namespaced"
        assert spec["names"]["shortNames"] == [short]
        assert spec["names"]["categories"] == ["claude"]
        version = _version(CRDS[kind])
        assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)


def test_the_pool_has_status_and_scale_subresources_on_slots() -> None:
    assert _version(CRDS["pool"])["subresources"] == {
        "status": {},
        "scale": {
            "specReplicasPath": ".spec.slots",
            "statusReplicasPath": ".status.replicas",
            "labelSelectorPath": ".status.selector",
        },
    }
    assert _version(CRDS["task"])["subresources"] == {"status": {}}


def test_printer_columns_point_at_existing_fields() -> None:
    expected = {
        "pool": ["Slots", "Ready", "Idle", "Busy", "Pending", "Spent", "Suspended", "Age"],
        "task": ["Pool", "Mode", "Phase", "Slot", "Cost", "Attempts", "Age"],
    }
    for kind, names in expected.items():
        columns = _version(CRDS[kind])["additionalPrinterColumns"]
        assert [column["name"] for column in columns] == names
        for column in columns:
            if column["jsonPath"] != ".metadata.creationTimestamp":
                assert (kind, column["jsonPath"]) in NODES_BY_PATH, column


def test_the_committed_crds_equal_the_generator_output() -> None:
    assert crdgen.check(REPO / "crds", crdgen.generate()) == [], "run `python -m claude_pool crds`"


def test_the_generator_is_deterministic_and_writes_parseable_yaml(tmp_path: Path) -> None:
    assert crdgen.main(["--out", str(tmp_path)]) == 0
    first = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert first == crdgen.generate()
    assert all("&id" not in text for text in first.values()), "no YAML anchors"
    assert yaml.safe_load(first["claudepools.yaml"]) == CRDS["pool"]
    assert yaml.safe_load(first["claudetasks.yaml"]) == CRDS["task"]


def test_check_mode_fails_with_a_diff_when_a_file_drifted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crdgen.main(["--out", str(tmp_path)])
    assert crdgen.main(["--out", str(tmp_path), "--check"]) == 0
    drifted = tmp_path / "claudetasks.yaml"
    drifted.write_text(drifted.read_text().replace("maxItems: 256", "maxItems: 257"))
    assert crdgen.main(["--out", str(tmp_path), "--check"]) == 1
    added = [line for line in capsys.readouterr().out.splitlines() if line.startswith("+")]
    assert any(line.endswith("maxItems: 256") for line in added)


def test_the_converter_refuses_floats_and_unions_of_objects() -> None:
    class WithFloat(BaseModel):
        ratio: float

    class A(BaseModel):
        a: int

    class B(BaseModel):
        b: int

    class WithUnion(BaseModel):
        either: A | B

    with pytest.raises(SchemaError, match="floats"):
        structural_schema(WithFloat)
    with pytest.raises(SchemaError, match="union"):
        structural_schema(WithUnion)
