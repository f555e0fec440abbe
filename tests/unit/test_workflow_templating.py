"""Chain templates: {previous_output}, {steps.NAME.VAR} with dot paths, {error} (the seed)."""

from __future__ import annotations

from typing import Any

import pytest

from claude_pool.workflows.templating import extract_vars, format_value, json_value, render

VARS = {"plan": {"files": '["a.py","b.py"]', "title": "Fix it"}}


def test_previous_output_and_step_variables_are_substituted() -> None:
    text = "Do {steps.plan.title} on {steps.plan.files} after: {previous_output}"
    assert render(text, previous_output="planned", step_vars=VARS) == (
        'Do Fix it on ["a.py","b.py"] after: planned'
    )


def test_the_first_step_sees_an_empty_previous_output() -> None:
    assert render("[{previous_output}]", previous_output="", step_vars={}) == "[]"


@pytest.mark.parametrize(
    "template",
    [
        "{steps.plan.nope}",
        "{steps.other.files}",
        "{steps.plan}",
        "{unknown}",
        "{ previous_output }",
    ],
)
def test_unknown_references_are_left_verbatim(template: str) -> None:
    assert render(template, previous_output="x", step_vars=VARS) == template


def test_error_is_only_substituted_in_recovery_prompts() -> None:
    assert render("fix {error}", previous_output="", step_vars={}) == "fix {error}"
    assert render("fix {error}", previous_output="", step_vars={}, error="boom") == "fix boom"


def test_substituted_text_is_not_expanded_again() -> None:
    out = render("{previous_output}", previous_output="{steps.plan.title}", step_vars=VARS)
    assert out == "{steps.plan.title}"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (".", '{"a":{"b":[1,{"c":"deep"}]},"s":"text","n":2,"t":true,"z":null}'),
        ("", '{"a":{"b":[1,{"c":"deep"}]},"s":"text","n":2,"t":true,"z":null}'),
        ("s", "text"),
        ("n", "2"),
        ("t", "true"),
        ("z", "null"),
        ("a.b", '[1,{"c":"deep"}]'),
        ("a.b.1.c", "deep"),
    ],
)
def test_dot_paths_unquote_strings_and_serialise_other_values(path: str, expected: str) -> None:
    output = '{"a": {"b": [1, {"c": "deep"}]}, "s": "text", "n": 2, "t": true, "z": null}'
    assert extract_vars({"v": path}, output) == {"v": expected}


def test_a_missing_path_or_non_json_output_defines_nothing() -> None:
    assert extract_vars({"v": "a.x", "w": "a.b.9"}, '{"a": {"b": []}}') == {}
    assert extract_vars({"v": "."}, "not json at all") == {}
    assert extract_vars({}, '{"a": 1}') == {}


def test_structured_output_wins_and_a_json_fence_is_read() -> None:
    assert extract_vars({"v": "a"}, "text", structured={"a": [1]}) == {"v": "[1]"}
    fenced = 'Here it is:\n```json\n{"a": "x"}\n```\nDone.'
    assert extract_vars({"v": "a"}, fenced) == {"v": "x"}
    assert json_value("nothing") is None


@pytest.mark.parametrize(("value", "text"), [("é", "é"), ({"k": "é"}, '{"k":"é"}'), (1.5, "1.5")])
def test_format_value_keeps_unicode(value: Any, text: str) -> None:
    assert format_value(value) == text
