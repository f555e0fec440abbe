"""Chain prompt templates: `{previous_output}`, `{steps.NAME.VAR}`, `{error}` (pure).

Called by `claude_pool.workflows.chains` when it builds the prompt of a step attempt or a
recovery. The seed's rules (notes/seed-claude-pool.md section 5):

- `{previous_output}`: the output of the step before (empty for the first step);
- `{steps.NAME.VAR}`: variable VAR of the earlier step NAME, taken with the step's
  `outputVars` (VAR -> dot path into the step's output parsed as JSON; "." or "" is the
  whole value; strings are inserted unquoted, every other value as compact JSON);
- `{error}` (recovery prompts only): the last attempt's error text.

A reference that cannot be resolved (unknown step or variable, output that is not JSON, a
path that does not exist) is left verbatim, as in the seed. Substitution is one pass: text
inserted by a placeholder is never expanded again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_PLACEHOLDER = re.compile(r"\{(previous_output|error|steps\.([^.{}]+)\.([^{}]+))\}")
_FENCE = re.compile(r"```(?:json)?[ \t]*\n(.*?)```", re.S)
_MISSING = object()

StepVars = Mapping[str, Mapping[str, str]]
"""Variables of finished steps: step name -> variable name -> rendered value."""


def render(
    template: str,
    *,
    previous_output: str,
    step_vars: StepVars,
    error: str | None = None,
) -> str:
    """The template with every known placeholder replaced (unknown ones stay as written).

    `error` is only substituted when given (recovery prompts); elsewhere `{error}` stays."""

    def replace(match: re.Match[str]) -> str:
        whole = match.group(0)
        if match.group(1) == "previous_output":
            return previous_output
        if match.group(1) == "error":
            return whole if error is None else error
        value = step_vars.get(match.group(2), {}).get(match.group(3))
        return whole if value is None else value

    return _PLACEHOLDER.sub(replace, template)


def json_value(output: str, structured: Any = None) -> Any:
    """The step's output as a JSON value: its structured output when it has one, else the
    output text parsed as JSON, else the first fenced block parsed; None when none is JSON."""
    if structured is not None:
        return structured
    for candidate in (output, *(m.group(1) for m in _FENCE.finditer(output))):
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return None


def lookup(value: Any, path: str) -> Any:
    """The value at a dot path ("a.b.0"); "." or "" is the value itself; _MISSING if absent."""
    if path in ("", "."):
        return value
    current = value
    for part in path.strip(".").split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def format_value(value: Any) -> str:
    """A JSON value as template text: strings unquoted, everything else as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def extract_vars(
    output_vars: Mapping[str, str], output: str, structured: Any = None
) -> dict[str, str]:
    """The variables a finished step defines; a variable whose path is missing is left out
    (so `{steps.NAME.VAR}` referring to it stays verbatim)."""
    if not output_vars:
        return {}
    value = json_value(output, structured)
    if value is None:
        return {}
    found: dict[str, str] = {}
    for name, path in output_vars.items():
        item = lookup(value, path)
        if item is not _MISSING:
            found[name] = format_value(item)
    return found
