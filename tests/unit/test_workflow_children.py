"""Child tasks: deterministic DNS-safe names, labels, owner references, inherited spec, budget."""

from __future__ import annotations

import re

import pytest

from claude_pool.api.claude import TaskOverrides
from claude_pool.api.common import DNS_SUBDOMAIN
from claude_pool.api.composites import ChildRole
from claude_pool.api.phases import TaskPhase
from claude_pool.api.tasks import ClaudeTask, ClaudeTaskSpec
from claude_pool.workflows.children import (
    CHILD_NAME_LIMIT,
    ChildRef,
    ChildView,
    budget_share,
    child_manifest,
    child_name,
    inherited_spec,
    is_child_of,
    label_value,
    merge_overrides,
)
from tests.workflow_sim import composite

LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@pytest.mark.parametrize(
    ("ref", "name"),
    [
        (ChildRef.item(3), "p-3"),
        (ChildRef.step_attempt(0, "plan", 0), "p-plan"),
        (ChildRef.step_attempt(0, "plan", 2), "p-plan.2"),
        (ChildRef.recovery(0, "plan"), "p-plan.recovery"),
        (ChildRef(ChildRole.ROUTER), "p-router"),
        (ChildRef(ChildRole.ROUTE), "p-route"),
    ],
)
def test_child_names_are_the_parent_and_a_key(ref: ChildRef, name: str) -> None:
    assert ref.name("p") == name


def test_keys_never_collide_within_a_parent() -> None:
    refs = [
        ChildRef.step_attempt(0, "build", 1),
        ChildRef.step_attempt(1, "build-1", 0),
        ChildRef.step_attempt(2, "Build", 0),
        ChildRef.step_attempt(3, "build", 0),
        ChildRef.step_attempt(4, "b_uild", 0),
        ChildRef.step_attempt(5, "b-uild", 0),
        ChildRef.recovery(0, "build"),
        ChildRef.step_attempt(6, "recovery", 0),
    ]
    names = [ref.name("p") for ref in refs]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(DNS_SUBDOMAIN, n) for n in names)


def test_long_names_are_cut_with_a_stable_hash_and_stay_valid() -> None:
    parent = "a" * 120 + "." + "b" * 132  # 253 characters, the longest object name
    first = child_name(parent, "step-name.recovery")
    assert first == child_name(parent, "step-name.recovery")
    assert len(first) <= CHILD_NAME_LIMIT and first.endswith("-step-name.recovery")
    assert re.fullmatch(DNS_SUBDOMAIN, first)
    assert child_name(parent, "1") != child_name(parent, "2")
    assert len(f"{first}-output") <= 253


def test_label_values_fit_and_stay_distinct() -> None:
    long = "x" * 100
    assert label_value("short") == "short"
    assert len(label_value(long)) <= 63 and LABEL_VALUE.fullmatch(label_value(long))
    assert label_value(long) != label_value(long + "y")


def test_the_manifest_is_owned_by_the_parent_and_labelled_with_its_role() -> None:
    parent = composite(
        fan_out={"prompts": ["a"]}, priority=5, timeoutSeconds=60, config={"model": "opus"}
    )
    spec = inherited_spec(parent.spec, None, prompt="a")
    manifest = child_manifest(parent, ChildRef.item(0), spec)
    assert manifest["metadata"] == {
        "name": "p-0",
        "namespace": "ns",
        "labels": {
            "app.kubernetes.io/managed-by": "claude-pool",
            "claudepool.io/parent": "p",
            "claudepool.io/parent-uid": "uid-p",
            "claudepool.io/role": "item",
            "claudepool.io/item": "0",
        },
        "ownerReferences": [
            {
                "apiVersion": "claudepool.io/v1alpha1",
                "kind": "ClaudeTask",
                "name": "p",
                "uid": "uid-p",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    }
    assert manifest["spec"] == {
        "poolRef": {"name": "pool"},
        "prompt": "a",
        "config": {"model": "opus"},
        "priority": 5,
        "timeoutSeconds": 60,
        "cancel": False,
    }
    child = ClaudeTask.model_validate(manifest)
    assert is_child_of(child, parent)
    assert not is_child_of(child, composite(uid="other", fan_out={"prompts": ["a"]}))
    step = ChildRef.step_attempt(1, "Fix_It", 2).labels(parent)
    assert (step["claudepool.io/step"], step["claudepool.io/attempt"]) == ("Fix_It", "2")


def test_step_config_wins_field_by_field_and_a_share_caps_the_budget() -> None:
    base = TaskOverrides(model="sonnet", max_turns=3, max_budget_microdollars=900)
    top = TaskOverrides(model="opus", max_budget_microdollars=50)
    assert merge_overrides(base, top) == TaskOverrides(
        model="opus", max_turns=3, max_budget_microdollars=50
    )
    assert merge_overrides(None, top) == top and merge_overrides(base, None) == base
    spec = ClaudeTaskSpec.model_validate(
        {"poolRef": {"name": "x"}, "prompt": "y", "config": {"maxBudgetMicrodollars": 900}}
    )
    capped = inherited_spec(spec, 200, prompt="z")
    assert capped.config is not None and capped.config.max_budget_microdollars == 200


@pytest.mark.parametrize(
    ("cap", "committed", "reserved", "unstarted", "share"),
    [(None, 5, 5, 3, None), (1000, 0, 0, 4, 250), (1000, 100, 300, 3, 200), (1000, 900, 200, 2, 0)],
)
def test_budget_share_splits_what_is_left(
    cap: int | None, committed: int, reserved: int, unstarted: int, share: int | None
) -> None:
    assert budget_share(cap, committed=committed, reserved=reserved, unstarted=unstarted) == share


def test_a_child_view_reads_phase_cost_output_and_failure_from_the_task() -> None:
    task = ClaudeTask.model_validate(
        {
            "metadata": {"name": "c"},
            "spec": {
                "poolRef": {"name": "x"},
                "prompt": "y",
                "config": {"maxBudgetMicrodollars": 7},
            },
            "status": {
                "phase": "Failed",
                "costMicrodollars": 12,
                "result": {
                    "output": "short",
                    "outputTruncated": True,
                    "failure": {"reason": "MaxTurns", "message": "stopped"},
                },
            },
        }
    )
    view = ChildView.from_task(task, full_output="short and the rest")
    assert (view.phase, view.cost_microdollars, view.output) == (
        TaskPhase.FAILED,
        12,
        "short and the rest",
    )
    assert (view.reason, view.message, view.budget_cap, view.finished) == (
        "MaxTurns",
        "stopped",
        7,
        True,
    )
    assert view.error_text == "stopped"
