"""The ConfigMap that keeps a long output: owned by its task, never cut silently."""

from __future__ import annotations

from claude_pool.slots.outputs import CONFIG_MAP_LIMIT, output_config_map

OWNER = {"apiVersion": "claudepool.io/v1alpha1", "kind": "ClaudeTask", "name": "t", "uid": "u"}


def test_the_whole_output_is_kept_and_owned_by_the_task() -> None:
    body = output_config_map("t", "ns", OWNER, "é" * 50)
    assert body["metadata"]["name"] == "t-output"
    assert body["data"] == {"output": "é" * 50}
    assert body["metadata"]["ownerReferences"] == [
        {**OWNER, "controller": True, "blockOwnerDeletion": True}
    ]
    assert body["metadata"]["annotations"] == {
        "claudepool.io/output-size": "100",
        "claudepool.io/output-truncated": "false",
    }


def test_beyond_what_a_config_map_holds_the_beginning_is_kept_and_marked() -> None:
    body = output_config_map("t", "ns", OWNER, "é" * CONFIG_MAP_LIMIT)
    kept = body["data"]["output"]
    assert len(kept.encode()) <= CONFIG_MAP_LIMIT
    assert kept == "é" * (CONFIG_MAP_LIMIT // 2)
    assert body["metadata"]["annotations"]["claudepool.io/output-truncated"] == "true"
