"""Turn pydantic's JSON schema into a Kubernetes structural OpenAPI v3 schema.

Called by `crdgen` for each spec and status model. pydantic emits JSON Schema 2020-12:
`$defs` + `$ref`, `anyOf [X, null]` for Optional, titles, `additionalProperties: false`
for forbidden extras and `true` for free-form objects. The apiserver wants a structural
schema instead: every node typed and inline, no typed anyOf/oneOf, no $ref. This module:

- inlines every `$ref` (and single-element `allOf`), keeping the field's own description
  and appending field-level CEL rules to the model's;
- turns `anyOf [X, null]` into plain X (the field stays optional; nulls are pruned);
- turns `anyOf [integer, string]` into `x-kubernetes-int-or-string`;
- marks free-form objects and `Any` with `x-kubernetes-preserve-unknown-fields: true`;
- drops titles, `additionalProperties: false` and (optionally) defaults; keeps only scalar
  defaults;
- bounds enum strings and timestamps with `maxLength` and gives integers an int32/int64
  format from their range;
- refuses what it cannot express (`type: number`, unions of objects, unknown keywords), so
  a model change that would make the CRD non-structural fails generation instead of install.

Keys come out in a fixed order so the generated YAML is stable.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

INT32_MAX = 2**31 - 1
TIMESTAMP_MAX_LENGTH = 64
VALIDATIONS = "x-kubernetes-validations"
PRESERVE = "x-kubernetes-preserve-unknown-fields"
INT_OR_STRING = "x-kubernetes-int-or-string"

KEY_ORDER = (
    "description",
    "type",
    "format",
    "enum",
    "default",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "required",
    "anyOf",
    "properties",
    "items",
    "additionalProperties",
    INT_OR_STRING,
    PRESERVE,
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    VALIDATIONS,
)
_DROPPED = {"title", "$defs", "examples"}
_INPUT_ONLY = {"$ref", "allOf"}


class SchemaError(ValueError):
    """The model uses something a structural schema cannot express."""


def structural_schema(model: type[BaseModel], *, defaults: bool = True) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of a pydantic model.

    With `defaults=False` no `default` is emitted (used for status: the operator writes it).
    """
    raw = model.model_json_schema(mode="validation", by_alias=True)
    defs: dict[str, Any] = raw.get("$defs", {})
    return _convert(raw, defs, defaults, model.__name__)


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """The overlay's keys win, except that CEL rule lists are concatenated."""
    merged = {**base, **overlay}
    rules = list(base.get(VALIDATIONS, [])) + list(overlay.get(VALIDATIONS, []))
    if rules:
        merged[VALIDATIONS] = rules
    return merged


def _resolve(node: dict[str, Any], defs: dict[str, Any], where: str) -> dict[str, Any]:
    """Inline references and strip Optional until the node stands on its own."""
    while True:
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            rest = {k: v for k, v in node.items() if k != "$ref"}
            node = _merge(defs[name], rest)
        elif "allOf" in node:
            if len(node["allOf"]) != 1:
                raise SchemaError(f"{where}: allOf with several schemas is not structural")
            rest = {k: v for k, v in node.items() if k != "allOf"}
            node = _merge(node["allOf"][0], rest)
        elif "anyOf" in node:
            branches = [b for b in node["anyOf"] if b != {"type": "null"}]
            rest = {k: v for k, v in node.items() if k != "anyOf"}
            if len(branches) == 1:
                node = _merge(branches[0], rest)
            elif _is_int_or_string(branches, defs, where):
                return _int_or_string(branches, defs, rest, where)
            else:
                raise SchemaError(f"{where}: a union of {len(branches)} types is not structural")
        else:
            return node


def _is_int_or_string(branches: list[dict[str, Any]], defs: dict[str, Any], where: str) -> bool:
    types = sorted(str(_resolve(b, defs, where).get("type")) for b in branches)
    return types == ["integer", "string"]


def _int_or_string(
    branches: list[dict[str, Any]], defs: dict[str, Any], rest: dict[str, Any], where: str
) -> dict[str, Any]:
    node: dict[str, Any] = {**rest, INT_OR_STRING: True}
    node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    for branch in branches:
        resolved = _resolve(branch, defs, where)
        for key in ("maxLength", "pattern", "minLength"):
            if key in resolved:
                node[key] = resolved[key]
    return node


def _convert(
    node: dict[str, Any], defs: dict[str, Any], defaults: bool, where: str
) -> dict[str, Any]:
    node = _resolve(node, defs, where)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED or key in _INPUT_ONLY:
            continue
        if key == "default":
            if defaults and isinstance(value, bool | int | str):
                out[key] = value
        elif key == "properties":
            out[key] = {
                name: _convert(prop, defs, defaults, f"{where}.{name}")
                for name, prop in value.items()
            }
        elif key == "items":
            out[key] = _convert(value, defs, defaults, f"{where}[]")
        elif key == "additionalProperties":
            if isinstance(value, dict):
                out[key] = _convert(value, defs, defaults, f"{where}{{}}")
            elif value is True:
                out[PRESERVE] = True
        elif key == VALIDATIONS:
            out[key] = [_order_rule(rule) for rule in value]
        elif key in KEY_ORDER:
            out[key] = value
        else:
            raise SchemaError(f"{where}: keyword {key!r} is not supported in a CRD schema")
    _finish(out, where)
    return {key: out[key] for key in KEY_ORDER if key in out}


def _order_rule(rule: dict[str, Any]) -> dict[str, Any]:
    order = ("rule", "message", "messageExpression", "fieldPath", "reason", "optionalOldSelf")
    unknown = set(rule) - set(order)
    if unknown:
        raise SchemaError(f"unknown keys in a CEL rule: {sorted(unknown)}")
    return {key: rule[key] for key in order if key in rule}


def _finish(out: dict[str, Any], where: str) -> None:
    """Fill in the type-dependent parts: free-form markers, bounds, integer formats."""
    kind = out.get("type")
    if kind is None and not out.get(INT_OR_STRING):
        out[PRESERVE] = True  # Any: any JSON value, kept as is
    elif kind == "number":
        raise SchemaError(f"{where}: floats are not allowed in the API (use integers)")
    elif kind == "null":
        raise SchemaError(f"{where}: a field that can only be null is not allowed")
    elif kind == "object" and "properties" not in out and "additionalProperties" not in out:
        out[PRESERVE] = True
    elif kind == "string":
        if "enum" in out and "maxLength" not in out:
            out["maxLength"] = max(len(str(v)) for v in out["enum"])
        if out.get("format") == "date-time" and "maxLength" not in out:
            out["maxLength"] = TIMESTAMP_MAX_LENGTH
    elif kind == "integer" and "format" not in out:
        low, high = out.get("minimum"), out.get("maximum")
        small = low is not None and high is not None and low >= -INT32_MAX - 1 and high <= INT32_MAX
        out["format"] = "int32" if small else "int64"
