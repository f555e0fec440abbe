"""Directive scripting for the fake Anthropic API: `[[fake key=value ...]]` text -> Scenario.

Called by the fake server (`claude_pool.devenv.fakeapi`) for every Messages request (the
directives are written in the prompt or the system prompt) and by its control endpoint
`PUT /_fake/scenarios/{name}` (the same keys as a JSON object). Pure: no I/O, no clock.

Syntax: `[[fake reply="hello there" in=100 out=20]]`. Several blocks may appear; later keys
win (system prompt < user text blocks of the current turn; a registered scenario is the
lowest layer). A value is a run of non-blank characters, or double-quoted (`\\"` and `\\\\`
escapes) when it holds blanks or `]]`. `-` and `_` are the same in keys. Unknown keys and bad
values raise DirectiveError, which the server answers with a 400 naming the problem.

    key            value                     effect
    reply          text                      the final text (default "fake answer: <prompt>")
    echo           system | prompt           answer the caller's system prompt text (after
                                             the CLI default) / the prompt echo; beats reply
    delay          seconds                   wait before the response headers
    stall          seconds                   streaming: wait after message_start
    status         400..599                  answer an Anthropic error (type by status)
    retry_after    seconds                   `retry-after` header on errors
    should_retry   true | false              `x-should-retry` header on errors
    fail           n                         only the first n requests of the conversation
                                             fail (with status, default 500)
    fail_on        text                      fail (status, default 500) only requests whose
                                             prompt, without directives, contains text
                                             (e.g. one item of a routed fan-out)
    fail_scope     session | all             what `fail` counts: requests of one CLI session
                                             (default), or of every session with the same
                                             prompt (so a retried task sees its later tries)
    in, out        tokens                    usage (defaults 100 and 20)
    cache_read     tokens                    usage.cache_read_input_tokens (default 0)
    cache_write    tokens                    usage.cache_creation_input_tokens (default 0)
    tools          write:edit:bash:read|loop call k answers with tool k, then the final
                                             answer; `loop`: always Bash `true`
    file           name or absolute path     file for write/edit/read (fake_written.txt)
    cwd            absolute path             working dir for tool paths (default: the
                                             system prompt's "Primary working directory")
    structured     auto | JSON object        StructuredOutput tool_use (if that tool is sent;
                                             without any answer directive the fake answers
                                             `auto` whenever that tool is sent)
    json           JSON object               the text answer is this object plus "prompt":
                                             the prompt without directives (outputVars)
    route          single | parallel |       routing calls only (the router marker is in the
                   chain | garbage | error   system prompt): that decision (structured when
                                             the tool is sent), text that is no decision, or
                                             an API error 400; routing calls without it
                                             answer single
    n              0..256                    prompts / chain steps of a route (default 2)
    model          id                        the `model` field of the answer
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

OPEN = "[[fake"
CLOSE = "]]"
AUTO = "auto"


class DirectiveError(ValueError):
    """A directive block or value that cannot be parsed."""


class Echo(StrEnum):
    PROMPT = "prompt"
    SYSTEM = "system"


class ToolStep(StrEnum):
    WRITE = "write"
    EDIT = "edit"
    BASH = "bash"
    READ = "read"
    LOOP = "loop"


class Route(StrEnum):
    SINGLE = "single"
    PARALLEL = "parallel"
    CHAIN = "chain"
    GARBAGE = "garbage"
    ERROR = "error"


class FailScope(StrEnum):
    SESSION = "session"
    ALL = "all"


@dataclass(frozen=True)
class Scenario:
    """What the fake answers. None means "not set": a later layer or the default decides."""

    reply: str | None = None
    echo: Echo | None = None
    delay: float | None = None
    stall: float | None = None
    status: int | None = None
    retry_after: float | None = None
    should_retry: bool | None = None
    fail: int | None = None
    fail_on: str | None = None
    fail_scope: FailScope | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read: int | None = None
    cache_write: int | None = None
    tools: tuple[ToolStep, ...] | None = None
    file: str | None = None
    structured: str | None = None  # "auto" or canonical JSON text
    json_reply: str | None = None  # canonical JSON text of an object
    route: Route | None = None
    n: int | None = None
    model: str | None = None
    cwd: str | None = None

    def overlay(self, other: Scenario) -> Scenario:
        """This scenario with every field that `other` sets replaced by `other`'s value."""
        changes = {
            f.name: getattr(other, f.name)
            for f in dataclasses.fields(other)
            if getattr(other, f.name) is not None
        }
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> Scenario:
        """Build from (key, text value) pairs; later pairs win."""
        changes: dict[str, object] = {}
        for key, text in pairs:
            name = key.strip().lower().replace("-", "_")
            if name not in _KEYS:
                raise DirectiveError(f"unknown key {key!r} (known: {', '.join(sorted(_KEYS))})")
            field, parse = _KEYS[name]
            changes[field] = parse(name, text)
        return cls(**changes)  # type: ignore[arg-type]  # values are checked by the parsers

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object]) -> Scenario:
        """Build from a JSON object with directive keys (the control endpoint's body)."""
        return cls.from_pairs((key, _as_text(key, value)) for key, value in mapping.items())

    def to_dict(self) -> dict[str, object]:
        """The set fields under their directive keys, as JSON-ready values."""
        out: dict[str, object] = {}
        for key, (field, _) in _KEYS.items():
            value = getattr(self, field)
            if value is None:
                continue
            if field == "tools":
                value = ":".join(value)
            elif (field == "structured" and value != AUTO) or field == "json_reply":
                value = json.loads(value)
            out[key] = value
        return out


@dataclass(frozen=True)
class Block:
    """One `[[fake ...]]` block: its span in the text and its (key, value) pairs."""

    start: int
    end: int
    pairs: tuple[tuple[str, str], ...]


def find_blocks(text: str) -> list[Block]:
    """Every directive block in `text`, in order."""
    blocks: list[Block] = []
    pos = text.find(OPEN)
    while pos >= 0:
        after = pos + len(OPEN)
        if after < len(text) and not (text[after].isspace() or text.startswith(CLOSE, after)):
            pos = text.find(OPEN, after)  # "[[fakeX" is not a directive
            continue
        pairs, end = _scan_pairs(text, after)
        blocks.append(Block(pos, end, tuple(pairs)))
        pos = text.find(OPEN, end)
    return blocks


def parse_directives(text: str) -> Scenario:
    """The scenario written in `text` (empty if there is no directive)."""
    return Scenario.from_pairs(pair for block in find_blocks(text) for pair in block.pairs)


def read_directives(texts: Iterable[str]) -> tuple[Scenario, str]:
    """The scenario written across `texts` (later win) and the raw text of their blocks.

    The raw text identifies "the same script" across a conversation's requests.
    """
    blocks = [(text, block) for text in texts for block in find_blocks(text)]
    scenario = Scenario.from_pairs(pair for _, block in blocks for pair in block.pairs)
    return scenario, "\x00".join(text[block.start : block.end] for text, block in blocks)


def strip_keys(text: str, keys: Iterable[str]) -> str:
    """`text` with `keys` removed from its directive blocks (a block left empty goes)."""
    drop = {k.replace("-", "_") for k in keys}
    out: list[str] = []
    pos = 0
    for block in find_blocks(text):
        out.append(text[pos : block.start])
        kept = [(k, v) for k, v in block.pairs if k.replace("-", "_") not in drop]
        if kept:
            out.append(render_block(kept))
        else:
            out[-1] = out[-1].rstrip(" ")
        pos = block.end
    out.append(text[pos:])
    return "".join(out).strip()


def without_directives(text: str) -> str:
    """`text` with every directive block removed (blank runs left by them collapsed)."""
    out: list[str] = []
    pos = 0
    for block in find_blocks(text):
        out.append(text[pos : block.start])
        pos = block.end
    out.append(text[pos:])
    return re.sub(r"[ \t]+", " ", "".join(out)).strip()


def render_block(pairs: Iterable[tuple[str, str]]) -> str:
    """A directive block for `pairs`, quoting values where needed."""
    return OPEN + "".join(f" {key}={_quote(value)}" for key, value in pairs) + CLOSE


def _quote(value: str) -> str:
    if value and not any(c.isspace() or c == '"' for c in value) and CLOSE not in value:
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _scan_pairs(text: str, pos: int) -> tuple[list[tuple[str, str]], int]:
    pairs: list[tuple[str, str]] = []
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            raise DirectiveError("unterminated [[fake ...]] block")
        if text.startswith(CLOSE, pos):
            return pairs, pos + len(CLOSE)
        eq = pos
        while eq < len(text) and text[eq] != "=" and not text[eq].isspace():
            if text.startswith(CLOSE, eq):
                break
            eq += 1
        if eq >= len(text) or text[eq] != "=":
            raise DirectiveError(f"expected key=value, got {text[pos:eq]!r}")
        key, pos = text[pos:eq], eq + 1
        if pos < len(text) and text[pos] == '"':
            value, pos = _scan_quoted(text, pos + 1)
        else:
            end = pos
            while end < len(text) and not text[end].isspace() and not text.startswith(CLOSE, end):
                end += 1
            value, pos = text[pos:end], end
        pairs.append((key, value))


def _scan_quoted(text: str, pos: int) -> tuple[str, int]:
    chars: list[str] = []
    while pos < len(text):
        c = text[pos]
        if c == "\\" and pos + 1 < len(text):
            chars.append(text[pos + 1])
            pos += 2
        elif c == '"':
            return "".join(chars), pos + 1
        else:
            chars.append(c)
            pos += 1
    raise DirectiveError("unterminated quoted value")


def _as_text(key: str, value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if key.lower() == "tools" and isinstance(value, list):
        return ":".join(str(v) for v in value)
    if key.lower() in ("structured", "json"):
        return json.dumps(value)
    raise DirectiveError(f"{key}: unsupported value {value!r}")


def _text(key: str, text: str) -> str:
    return text


def _nonempty(key: str, text: str) -> str:
    if not text:
        raise DirectiveError(f"{key}: must not be empty")
    return text


def _seconds(key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DirectiveError(f"{key}: expected seconds, got {text!r}") from None
    if not 0 <= value <= 3600:
        raise DirectiveError(f"{key}: {value} is outside 0..3600 seconds")
    return value


def _int_in(low: int, high: int) -> Callable[[str, str], int]:
    def parse(key: str, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise DirectiveError(f"{key}: expected an integer, got {text!r}") from None
        if not low <= value <= high:
            raise DirectiveError(f"{key}: {value} is outside {low}..{high}")
        return value

    return parse


def _bool(key: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise DirectiveError(f"{key}: expected true or false, got {text!r}")


def _enum(kind: type[StrEnum]) -> Callable[[str, str], StrEnum]:
    def parse(key: str, text: str) -> StrEnum:
        try:
            return kind(text.lower())
        except ValueError:
            known = "|".join(m.value for m in kind)
            raise DirectiveError(f"{key}: expected {known}, got {text!r}") from None

    return parse


def _tools(key: str, text: str) -> tuple[ToolStep, ...]:
    parse = _enum(ToolStep)
    steps = tuple(ToolStep(parse(key, part)) for part in text.split(":"))
    if ToolStep.LOOP in steps and len(steps) > 1:
        raise DirectiveError(f"{key}: 'loop' cannot be combined with other tools")
    return steps


def _structured(key: str, text: str) -> str:
    if text.lower() == AUTO:
        return AUTO
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise DirectiveError(f"{key}: expected 'auto' or a JSON object, got {text!r}")
    return json.dumps(value, separators=(",", ":"))


def _json_object(key: str, text: str) -> str:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise DirectiveError(f"{key}: expected a JSON object, got {text!r}")
    return json.dumps(value, separators=(",", ":"))


def _cwd(key: str, text: str) -> str:
    if not text.startswith("/"):
        raise DirectiveError(f"{key}: must be an absolute path, got {text!r}")
    return text


_TOKENS = _int_in(0, 1_000_000_000)

# directive key -> (Scenario field, parser)
_KEYS: dict[str, tuple[str, Callable[[str, str], object]]] = {
    "reply": ("reply", _text),
    "echo": ("echo", _enum(Echo)),
    "delay": ("delay", _seconds),
    "stall": ("stall", _seconds),
    "status": ("status", _int_in(400, 599)),
    "retry_after": ("retry_after", _seconds),
    "should_retry": ("should_retry", _bool),
    "fail": ("fail", _int_in(0, 1_000_000)),
    "fail_on": ("fail_on", _nonempty),
    "fail_scope": ("fail_scope", _enum(FailScope)),
    "in": ("input_tokens", _TOKENS),
    "out": ("output_tokens", _TOKENS),
    "cache_read": ("cache_read", _TOKENS),
    "cache_write": ("cache_write", _TOKENS),
    "tools": ("tools", _tools),
    "file": ("file", _nonempty),
    "structured": ("structured", _structured),
    "json": ("json_reply", _json_object),
    "route": ("route", _enum(Route)),
    "n": ("n", _int_in(0, 256)),
    "model": ("model", _nonempty),
    "cwd": ("cwd", _cwd),
}
