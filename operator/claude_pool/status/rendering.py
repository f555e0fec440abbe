"""Dumping a status model as a JSON merge patch (pure; used by `status.tasks`, `status.pools`).

Only the fields given when the model was built are written (`exclude_unset`), absent values
are left out (`exclude_none`), and the fields named in `clear` are written as null, which a
merge patch reads as "remove".
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from claude_pool.api.common import StatusModel


def dump(model: StatusModel, clear: Iterable[str] = ()) -> dict[str, Any]:
    """`model` as a merge patch body (see the module docstring)."""
    body = model.model_dump(mode="json", by_alias=True, exclude_unset=True, exclude_none=True)
    fields = type(model).model_fields
    for name in clear:
        body[fields[name].alias or name] = None
    return body


def stamp(now: datetime) -> datetime:
    """A status timestamp: to the second, as Kubernetes writes them."""
    return now.replace(microsecond=0)
