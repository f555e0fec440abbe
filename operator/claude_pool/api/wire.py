"""Bases of the slot agent's wire models: camelCase JSON, frozen, strict requests.

Used by `api.agent` and `api.workspaces` (which `api.agent` imports: the bases live here so
that neither imports the other's module for them).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    """Base of every agent wire model: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict, with aliases and without unset optional fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class RequestModel(WireModel):
    """Base of models the agent receives: unknown fields are an error."""

    model_config = ConfigDict(extra="forbid")
