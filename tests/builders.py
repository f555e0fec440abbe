"""Builders of ClaudePool and ClaudeTask manifests for tests (plain dicts, ready to POST).

Keyword overrides set spec fields: snake_case names are turned into the API's camelCase
(`fan_out=` -> `fanOut`), and None removes a field (`prompt=None`). `namespace`, `labels`
and `annotations` go to metadata instead.

    pool_manifest("p", slots=3, budget={"limitMicrodollars": 1_000_000})
    task_manifest("t", "p", prompt=None, fan_out={"prompts": ["a", "b"]})
"""

from __future__ import annotations

from typing import Any

from pydantic.alias_generators import to_camel

from claude_pool.api.common import API_VERSION

_METADATA = ("namespace", "labels", "annotations")


def _manifest(
    kind: str, name: str, spec: dict[str, Any], overrides: dict[str, Any]
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    for key in _METADATA:
        if overrides.get(key) is not None:
            metadata[key] = overrides[key]
    for key, value in overrides.items():
        if key in _METADATA:
            continue
        field = to_camel(key)
        if value is None:
            spec.pop(field, None)
        else:
            spec[field] = value
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


def pool_manifest(name: str, **overrides: Any) -> dict[str, Any]:
    """A ClaudePool with one slot; overrides replace spec fields."""
    return _manifest("ClaudePool", name, {"slots": 1}, overrides)


def task_manifest(
    name: str, pool: str, prompt: str | None = "Say hello.", **overrides: Any
) -> dict[str, Any]:
    """A single-prompt ClaudeTask for `pool`; pass prompt=None with another mode."""
    spec: dict[str, Any] = {"poolRef": {"name": pool}}
    if prompt is not None:
        spec["prompt"] = prompt
    return _manifest("ClaudeTask", name, spec, overrides)


def chain_steps(*names: str, prompt: str = "Do {previous_output}.") -> list[dict[str, Any]]:
    """Chain steps with the given names, all with the same prompt."""
    return [{"name": step, "prompt": prompt} for step in names]


def review_manifest(
    name: str, task: str, decision: str = "approve", **overrides: Any
) -> dict[str, Any]:
    """A ClaudeReview of `task`; the admission policy fills in spec.reviewer."""
    return _manifest(
        "ClaudeReview", name, {"taskRef": {"name": task}, "decision": decision}, overrides
    )


def message_manifest(
    name: str, pool: str, content: str = "hello", sender: str = "slot-0", **overrides: Any
) -> dict[str, Any]:
    """A ClaudeMessage in `pool` from `sender`; pass to_slot=N or broadcast=True."""
    spec = {"poolRef": {"name": pool}, "from": sender, "content": content}
    return _manifest("ClaudeMessage", name, spec, overrides)
