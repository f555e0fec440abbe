"""Reading the router's answer: parse, normalise, enforce the hints, or fall back (pure).

Called by `claude_pool.workflows.autorouting` once the router child has finished. The
answer is the child's structured output when the CLI produced one; otherwise its text is
parsed as the seed does (notes/seed-claude-pool.md 4.3): a CLI JSON envelope is unwrapped
(a subtype other than "success" is an error), then the text is tried as JSON, then the first
```json fence, then the first ``` fence, then the object around the first "route" found by
brace matching. Normalising (4.4): prompts are trimmed, blank ones dropped, one parallel
prompt or chain step becomes single, nothing left is an error. The hints' limits are
enforced by cutting the route (with a note). Any failure gives the original prompt as a
single route, with the reason: `decide_route` never fails.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from claude_pool.api.common import MAX_CHAIN_STEPS, MAX_FANOUT, STEP_NAME
from claude_pool.api.modes import AutoHints, RoutePreference

_FENCES = (re.compile(r"```json[ \t]*\n(.*?)```", re.S), re.compile(r"```[^\n]*\n(.*?)```", re.S))
_STEP_NAME = re.compile(STEP_NAME)


class RouteError(ValueError):
    """The router's answer is not a usable route."""


@dataclass(frozen=True)
class Route:
    """A routing decision: single (one prompt), parallel (prompts) or chain (named steps)."""

    kind: RoutePreference
    prompts: tuple[str, ...]
    names: tuple[str, ...] = ()
    """Step names (chain only), one per prompt."""


@dataclass(frozen=True)
class RouteDecision:
    """The route to run, why it is not what the router said (notes), or why it fell back."""

    route: Route
    notes: tuple[str, ...] = ()
    fallback_reason: str | None = None


def parse_answer(structured: Any, text: str) -> dict[str, Any]:
    """The router's decision object, from its structured output or, without one, its text."""
    if isinstance(structured, dict) and "route" in structured:
        return structured
    found = _from_text(text)
    if found is None:
        raise RouteError("could not find a routing decision in the router's answer")
    return found


def _from_text(text: str) -> dict[str, Any] | None:
    value = _loads(text)
    if isinstance(value, dict) and "route" not in value and "type" in value:
        subtype = value.get("subtype")
        if subtype is not None and subtype != "success":
            raise RouteError(f"the router ended with {subtype!r} instead of a decision")
        inner = value.get("result")
        return _from_text(inner) if isinstance(inner, str) else None
    if isinstance(value, dict) and "route" in value:
        return value
    for fence in _FENCES:
        match = fence.search(text)
        value = _loads(match.group(1)) if match else None
        if isinstance(value, dict) and "route" in value:
            return value
    return _brace_match(text)


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _brace_match(text: str) -> dict[str, Any] | None:
    """The JSON object around the first "route", found by matching braces (strings skipped)."""
    at = text.find('"route"')
    start = text.rfind("{", 0, at) if at >= 0 else -1
    if start < 0:
        return None
    depth, in_string, escaped = 0, False, False
    for pos in range(start, len(text)):
        char = text[pos]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                value = _loads(text[start : pos + 1])
                return value if isinstance(value, dict) else None
    return None


def normalise(answer: dict[str, Any]) -> tuple[Route, list[str]]:
    """The answer as a Route, trimmed and without blanks; notes say what changed."""
    kind = answer.get("route")
    notes: list[str] = []
    if kind == "single":
        prompt = _text(answer.get("prompt")).strip()
        if not prompt:
            raise RouteError("the router gave an empty prompt")
        return Route(RoutePreference.SINGLE, (prompt,)), notes
    if kind == "parallel":
        raw = answer.get("prompts")
        items = [_text(p).strip() for p in raw] if isinstance(raw, list) else []
        prompts = [p for p in items if p]
        if len(prompts) < len(items):
            notes.append(f"dropped {len(items) - len(prompts)} blank prompts")
        return _collapse(RoutePreference.PARALLEL, prompts, [], notes)
    if kind == "chain":
        raw = answer.get("steps")
        steps = [s for s in raw if isinstance(s, dict)] if isinstance(raw, list) else []
        kept = [(_text(s.get("name")).strip(), _text(s.get("prompt")).strip()) for s in steps]
        pairs = [(n, p) for n, p in kept if p]
        if len(pairs) < len(kept):
            notes.append(f"dropped {len(kept) - len(pairs)} steps with blank prompts")
        names = _step_names([n for n, _ in pairs], notes)
        return _collapse(RoutePreference.CHAIN, [p for _, p in pairs], names, notes)
    raise RouteError(f"unknown route {kind!r}")


def _collapse(
    kind: RoutePreference, prompts: list[str], names: list[str], notes: list[str]
) -> tuple[Route, list[str]]:
    if not prompts:
        raise RouteError(f"the router's {kind.value} route has no prompts")
    if len(prompts) == 1:
        notes.append(f"a {kind.value} route of one item runs as single")
        return Route(RoutePreference.SINGLE, (prompts[0],)), notes
    return Route(kind, tuple(prompts), tuple(names)), notes


def _step_names(names: list[str], notes: list[str]) -> list[str]:
    """Usable, unique step names: an invalid or repeated name becomes step-N."""
    out: list[str] = []
    for index, name in enumerate(names, 1):
        if len(name) > 63 or not _STEP_NAME.fullmatch(name) or name in out:
            replacement = f"step-{index}"
            while replacement in out or replacement in names[index:]:
                replacement += "x"
            notes.append(f"step name {name[:40]!r} renamed to {replacement}")
            name = replacement
        out.append(name)
    return out


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def enforce(route: Route, hints: AutoHints | None) -> tuple[Route, list[str]]:
    """The route cut to the hints' maxParallel / maxChainSteps (and the API's own caps)."""
    if route.kind is RoutePreference.SINGLE:
        return route, []
    parallel = route.kind is RoutePreference.PARALLEL
    cap = MAX_FANOUT if parallel else MAX_CHAIN_STEPS
    hinted = (hints.max_parallel if parallel else hints.max_chain_steps) if hints else None
    limit = min(cap, hinted) if hinted is not None else cap
    if len(route.prompts) <= limit:
        return route, []
    what = "prompts" if parallel else "steps"
    source = "maxParallel" if parallel else "maxChainSteps"
    why = source if hinted == limit else "the API limit"
    note = f"the router gave {len(route.prompts)} {what}; cut to {limit} ({why})"
    if limit == 1:
        return Route(RoutePreference.SINGLE, route.prompts[:1]), [note]
    return Route(route.kind, route.prompts[:limit], route.names[:limit]), [note]


def decide_route(
    structured: Any, text: str, failure: str | None, original: str, hints: AutoHints | None
) -> RouteDecision:
    """The route to run given the router child's result; `failure` is set when it failed."""
    try:
        if failure is not None:
            raise RouteError(f"the routing call failed: {failure}")
        route, notes = normalise(parse_answer(structured, text))
        route, cut = enforce(route, hints)
        return RouteDecision(route, tuple(notes + cut))
    except RouteError as exc:
        return RouteDecision(Route(RoutePreference.SINGLE, (original,)), (), str(exc))
