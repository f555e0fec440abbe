"""Scrubbing of secrets (the API key, the agent token) from text the agent emits.

Called by `runner.Runner` on every result, progress snippet and stderr tail, and by the
stdout progress log. A model can read its own environment, so it can print the API key; what
leaves the agent (HTTP answers, stored results, `kubectl logs`) never contains it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from claude_pool.api.agent import AgentResult, Failure, ProgressEvent

REDACTED = "[REDACTED]"
MIN_SECRET_CHARS = 8
"""Shorter values are not treated as secrets: scrubbing them would mangle ordinary text."""


class Redactor:
    """Replaces every known secret by `[REDACTED]`."""

    def __init__(self, secrets: Iterable[str]) -> None:
        unique = {s for s in secrets if len(s) >= MIN_SECRET_CHARS}
        self._secrets = sorted(unique, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def scrub_json(self, value: Any) -> Any:
        """`value` with every string inside (keys too) scrubbed."""
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, list):
            return [self.scrub_json(v) for v in value]
        if isinstance(value, dict):
            return {self.scrub(str(k)): self.scrub_json(v) for k, v in value.items()}
        return value

    def scrub_event(self, event: ProgressEvent) -> ProgressEvent:
        if event.text is None:
            return event
        return event.model_copy(update={"text": self.scrub(event.text)})

    def scrub_result(self, result: AgentResult) -> AgentResult:
        failure: Failure | None = None
        if result.failure is not None:
            failure = result.failure.model_copy(
                update={
                    "message": self.scrub(result.failure.message),
                    "stderr_tail": self.scrub(result.failure.stderr_tail),
                }
            )
        return result.model_copy(
            update={
                "output": self.scrub(result.output),
                "structured_output": self.scrub_json(result.structured_output),
                "denied_tool_uses": [
                    use.model_copy(update={"target": self.scrub(use.target)})
                    for use in result.denied_tool_uses
                ],
                "failure": failure,
            }
        )
