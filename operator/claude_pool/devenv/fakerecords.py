"""What the fake Anthropic API records about each request it receives.

Called by the fake server (`claude_pool.devenv.fakeapi`), which appends one
RecordedRequest per API request (`fake.requests`, `GET /_fake/requests`), and by tests that
compare a recorded key fingerprint with `mask_secret(expected_key)`.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

SECRET_HEADERS = frozenset({"x-api-key", "authorization", "proxy-authorization", "cookie"})


def mask_secret(value: str) -> str:
    """How a secret header is recorded: a short fingerprint that tests can compare."""
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:12]


@dataclass
class RecordedRequest:
    """One request the fake received. `status`/`answer` are filled in once answered."""

    seq: int
    time: float
    method: str
    path: str
    query: dict[str, str]
    kind: str  # messages | count_tokens | warmup | unknown
    headers: dict[str, str]
    scenario: str | None
    session_id: str | None
    body: Any = None
    status: int | None = None
    answer: str | None = None  # "text", "tool_use Write", "error 529", ...

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
