"""The JSON merge patch (RFC 7386) that turns one dumped status into another (pure).

Used by the pool worker's composing step, which computes a composite task's whole new
status: the patch carries only what changed, and a field the new status no longer has is
written as null (which a merge patch reads as "remove"). Lists are replaced whole, as merge
patches do.
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
