"""Who a pool's slots are (the seed's SlotConfig name, role and description) and the review
options of a pool.

`spec.identity` of a ClaudePool gives every slot a name, role and description, and
`spec.identity.slots` overrides them per slot index. The seed's identity line ("You are
NAME, a ROLE. DESCRIPTION") is rendered by `claude_pool.workflows.identity` and opens the
system prompt addition of every task the slot runs.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from claude_pool.api.common import (
    MAX_MESSAGE_LENGTH,
    MAX_SLOTS,
    SlotIndex,
    SpecModel,
    cel,
    validations,
)

IdentityName = Annotated[str, Field(min_length=1, max_length=253)]
Role = Annotated[str, Field(min_length=1, max_length=253)]
Description = Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE_LENGTH)]
UNIQUE_SLOTS = "spec.identity.slots: each index at most once"


class SlotIdentity(SpecModel):
    """The identity of one slot; unset fields take the pool's."""

    index: SlotIndex
    """The slot (pod POOL-slot-INDEX)."""
    name: IdentityName | None = None
    """The slot's name ("You are NAME")."""
    role: Role | None = None
    """Its role (", a ROLE")."""
    description: Description | None = None
    """More about it (". DESCRIPTION")."""


class Identity(SpecModel):
    """The identity line of the pool's slots (seed 6.7), with per-slot overrides."""

    model_config = ConfigDict(
        json_schema_extra=validations(
            cel(
                "!has(self.slots)"
                " || self.slots.all(s, self.slots.exists_one(t, t.index == s.index))",
                UNIQUE_SLOTS,
            )
        )
    )

    name: IdentityName | None = None
    """Name of every slot (the seed says "a slot" when unset)."""
    role: Role | None = None
    """Role of every slot."""
    description: Description | None = None
    """Description of every slot."""
    slots: Annotated[list[SlotIdentity], Field(max_length=MAX_SLOTS)] = Field(default_factory=list)
    """Per-slot overrides, by slot index."""

    @model_validator(mode="after")
    def _unique_slots(self) -> Identity:
        indices = [slot.index for slot in self.slots]
        if len(set(indices)) != len(indices):
            raise ValueError(UNIQUE_SLOTS)
        return self


class PoolReview(SpecModel):
    """How reviews of this pool's tasks are checked."""

    four_eyes: bool = False
    """The user who created a task cannot approve it (they may still reject it)."""
