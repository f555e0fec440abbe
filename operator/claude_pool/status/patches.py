"""JSON merge patches (RFC 7386) between dumped statuses (pure).

`merge_diff` is used by the pool worker's composing step, which computes a composite task's
whole new status: the patch carries only what changed, and a field the new status no longer
has is written as null (which a merge patch reads as "remove"). Lists are replaced whole, as
merge patches do. `merge_apply` is what the API server does with such a patch: the
worker's hand-off (`runtime.handoff`) uses it to see a child's status as its result patch
will make it.
"""

from __future__ import annotations

from typing import Any


def merge_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The merge patch that makes `old` equal to `new` (empty when they are equal)."""
    patch: dict[str, Any] = {key: None for key in old.keys() - new.keys()}
    for key, value in new.items():
        before = old.get(key)
        if key in old and before == value:
            continue
        if isinstance(value, dict) and isinstance(before, dict):
            patch[key] = merge_diff(before, value)
        else:
            patch[key] = value
    return patch


def merge_apply(doc: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """`doc` with the merge patch applied (a new dict; `doc` is not changed)."""
    merged = dict(doc)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict):
            before = merged.get(key)
            merged[key] = merge_apply(before if isinstance(before, dict) else {}, value)
        else:
            merged[key] = value
    return merged
