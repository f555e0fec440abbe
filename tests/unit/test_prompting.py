"""spec.promptFrom: which key to read, and the prompt or the reason the task waits."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from claude_pool.api.common import MAX_PROMPT_FROM_BYTES
from claude_pool.api.reasons import TaskReason
from claude_pool.api.tasks import ClaudeTaskSpec, PromptSource, TaskMode, task_mode
from claude_pool.workflows.prompting import SourceKey, SourceKind, prompt_from_value, source_key

CM = SourceKey(SourceKind.CONFIG_MAP, "prompts", "review")


def test_a_config_map_or_secret_reference_names_what_to_read() -> None:
    cm = PromptSource.model_validate({"configMapKeyRef": {"name": "prompts", "key": "review"}})
    secret = PromptSource.model_validate({"secretKeyRef": {"name": "s", "key": "p"}})
    assert source_key(cm) == CM
    assert source_key(secret) == SourceKey(SourceKind.SECRET, "s", "p")
    assert str(CM) == "ConfigMap prompts key review"


@pytest.mark.parametrize(
    "body",
    [{}, {"configMapKeyRef": {"name": "a", "key": "k"}, "secretKeyRef": {"name": "b", "key": "k"}}],
)
def test_a_source_needs_exactly_one_reference(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="exactly one of configMapKeyRef and secretKeyRef"):
        PromptSource.model_validate(body)


def test_a_prompt_from_task_is_a_single_task_and_excludes_an_inline_prompt() -> None:
    ref = {"configMapKeyRef": {"name": "prompts", "key": "review"}}
    spec = ClaudeTaskSpec.model_validate({"poolRef": {"name": "p"}, "promptFrom": ref})
    assert task_mode(spec) is TaskMode.SINGLE
    with pytest.raises(ValidationError, match=r"spec\.promptFrom"):
        ClaudeTaskSpec.model_validate({"poolRef": {"name": "p"}, "promptFrom": ref, "prompt": "x"})


def test_a_present_value_up_to_one_mebibyte_is_the_prompt() -> None:
    value = ("x" * 1023 + "\n").encode() * 1024
    assert len(value) == MAX_PROMPT_FROM_BYTES
    outcome = prompt_from_value(CM, value)
    assert outcome.prompt == value.decode()
    assert outcome.reason is None


def test_a_missing_object_or_key_makes_the_task_wait_naming_the_key() -> None:
    outcome = prompt_from_value(CM, None)
    assert outcome.prompt is None
    assert outcome.reason is TaskReason.PROMPT_SOURCE_MISSING
    assert outcome.message == "spec.promptFrom: ConfigMap prompts key review does not exist"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (b"x" * (MAX_PROMPT_FROM_BYTES + 1), "holds 1048577 bytes; the limit is 1048576"),
        (b"ok \xff\xfe", "is not UTF-8 text (byte 3)"),
        (b"  \n", "is empty"),
    ],
)
def test_a_value_too_large_binary_or_empty_makes_the_task_wait(value: bytes, words: str) -> None:
    outcome = prompt_from_value(CM, value)
    assert outcome.prompt is None
    assert outcome.reason is TaskReason.PROMPT_SOURCE_INVALID
    assert words in outcome.message
