"""Build a simple value that satisfies a JSON schema.

Used for structured outputs (`response_format` / `text.format` of type `json_schema`) and for the
arguments of demo tool calls. It covers what Pydantic and hand-written tool schemas produce: `$ref` into
`$defs`, `anyOf`/`oneOf`/`allOf`, `enum`, `const`, `type` lists, and the usual scalar, array and object
types. Values are predictable: strings are `"example <name>"`, numbers are 1, booleans are true, arrays
hold one item, objects hold every property.
"""

from __future__ import annotations

from typing import Any

_MAX_DEPTH = 12


def example_for_schema(schema: Any) -> Any:
    """A value valid for `schema` (a JSON-schema dict)."""
    root = schema if isinstance(schema, dict) else {}
    return _example(root, root, "value", 0)


def _example(schema: Any, root: dict[str, Any], name: str, depth: int) -> Any:
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None
    if "$ref" in schema:
        return _example(_resolve(schema["$ref"], root), root, name, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return _example(_first_non_null(schema[key]), root, name, depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(_resolve(part["$ref"], root) if "$ref" in part else part)
        return _example(merged, root, name, depth + 1)
    return _by_type(schema, root, name, depth)


def _by_type(schema: dict[str, Any], root: dict[str, Any], name: str, depth: int) -> Any:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        properties = schema.get("properties") or {}
        return {key: _example(sub, root, key, depth + 1) for key, sub in properties.items()}
    if kind == "array":
        items = schema.get("items")
        if isinstance(items, dict):
            return [_example(items, root, name, depth + 1)]
        return []
    return _scalar(kind, schema, name)


def _scalar(kind: str, schema: dict[str, Any], name: str) -> Any:
    if kind == "integer":
        return max(1, int(schema.get("minimum", 1)))
    if kind == "number":
        return max(1.0, float(schema.get("minimum", 1.0)))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return f"example {name}"


def _first_non_null(options: list[Any]) -> Any:
    for option in options:
        if isinstance(option, dict) and option.get("type") != "null":
            return option
    return options[0] if options else {}


def _resolve(ref: str, root: dict[str, Any]) -> Any:
    """Follow a local `#/a/b` reference."""
    node: Any = root
    for part in ref.lstrip("#/").split("/"):
        if not part:
            continue
        if not isinstance(node, dict):
            return {}
        node = node.get(part, {})
    return node
