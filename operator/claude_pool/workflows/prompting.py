"""The prompt of a `spec.promptFrom` task: which key to read, and what its value means.

Pure; for the pool worker (`runtime.promptreading`), when it dispatches a single task whose prompt
lives in a ConfigMap or Secret (`source_key` says what to read through `Kube.read_config_key`, and
`prompt_from_value` turns what was read into the prompt, or into the reason the task keeps
waiting). The value is read at dispatch, not at admission: a missing or broken key makes
the task wait (Admitted=False) until it is fixed, as a pod waits for a missing Secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from claude_pool.api.common import MAX_PROMPT_FROM_BYTES
from claude_pool.api.reasons import TaskReason
from claude_pool.api.tasks import PromptSource


class SourceKind(StrEnum):
    """The kind of object a prompt is read from."""

    CONFIG_MAP = "ConfigMap"
    SECRET = "Secret"  # noqa: S105 - a kind name, not a secret


@dataclass(frozen=True)
class SourceKey:
    """One key of one ConfigMap or Secret in the task's namespace."""

    kind: SourceKind
    name: str
    key: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name} key {self.key}"


@dataclass(frozen=True)
class PromptOutcome:
    """The prompt, or why there is none yet (the Admitted=False reason and message)."""

    prompt: str | None
    reason: TaskReason | None = None
    message: str = ""


def source_key(source: PromptSource) -> SourceKey:
    """What to read for `source` (exactly one reference is set: the schema says so)."""
    if source.secret_key_ref is not None:
        return SourceKey(SourceKind.SECRET, source.secret_key_ref.name, source.secret_key_ref.key)
    ref = source.config_map_key_ref
    assert ref is not None  # the model refuses a source without a reference
    return SourceKey(SourceKind.CONFIG_MAP, ref.name, ref.key)


def prompt_from_value(
    key: SourceKey, value: bytes | None, limit: int = MAX_PROMPT_FROM_BYTES
) -> PromptOutcome:
    """The prompt held in `value` (None: the object or key does not exist)."""
    if value is None:
        return PromptOutcome(
            None, TaskReason.PROMPT_SOURCE_MISSING, f"spec.promptFrom: {key} does not exist"
        )
    if len(value) > limit:
        return PromptOutcome(
            None,
            TaskReason.PROMPT_SOURCE_INVALID,
            f"spec.promptFrom: {key} holds {len(value)} bytes; the limit is {limit} (1 MiB)",
        )
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as error:
        return PromptOutcome(
            None,
            TaskReason.PROMPT_SOURCE_INVALID,
            f"spec.promptFrom: {key} is not UTF-8 text (byte {error.start})",
        )
    if not text.strip():
        return PromptOutcome(
            None, TaskReason.PROMPT_SOURCE_INVALID, f"spec.promptFrom: {key} is empty"
        )
    return PromptOutcome(text)
