"""A slot's identity line and the revision of a pool's shared context (pure).

Called by the pool worker when it starts a task on a slot: `identity_line(pool, index)` is
the seed's "You are NAME, a ROLE. DESCRIPTION" (notes/seed-claude-pool.md 6.7), sent as
`TaskRequest.identity` and rendered first in the system prompt addition by the agent
(`agent/argv.py`, before the task's addition and the "## Shared Context" section);
`context_revision(pool.spec.context)` goes into the task's `status.contextRevision` with the
assignment, so `kubectl get ctask -o yaml` shows which context a run saw.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from claude_pool.api.identities import Identity
from claude_pool.api.pools import ClaudePoolSpec

REVISION_LENGTH = 16
"""Hex digits of the context revision (64 bits of a SHA-256)."""


def render_identity(name: str | None, role: str | None, description: str | None) -> str | None:
    """The seed's identity line, or None when no part is set.

    "You are " + (name or "a slot") + (", a " + role) + (". " + description, else "." when
    a role is set): exactly the seed's `build_system_prompt`, quirks included (a name alone
    gets no full stop)."""
    if name is None and role is None and description is None:
        return None
    line = "You are " + (name or "a slot")
    if role:
        line += ", a " + role
    if description:
        line += ". " + description
    elif role:
        line += "."
    return line


def identity_line(spec: ClaudePoolSpec, index: int) -> str | None:
    """The identity line of slot `index` of a pool: its spec.identity.slots entry over the
    pool's identity, field by field."""
    identity: Identity | None = spec.identity
    if identity is None:
        return None
    own = next((slot for slot in identity.slots if slot.index == index), None)
    return render_identity(
        (own.name if own else None) or identity.name,
        (own.role if own else None) or identity.role,
        (own.description if own else None) or identity.description,
    )


def context_revision(context: Mapping[str, str] | None) -> str:
    """A short, stable digest of a shared context: equal maps give equal revisions whatever
    their key order; any change of a key or value gives another one."""
    canonical = json.dumps(dict(context or {}), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:REVISION_LENGTH]
