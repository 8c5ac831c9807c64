"""Validation of the message attributes against the GenAI conventions' own JSON schemas (tests/fixtures/).

The schemas end each list of part types with a `GenericPart` (any object with a string `type`), so a part
that claims a defined type but lacks its required fields (a `blob` without `content`, a `tool_call` whose
`name` is null) would still pass. Each part whose `type` is one the schemas define is therefore also
checked against that definition alone, as the conventions intend.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMAS = Path(__file__).parent / "fixtures" / "genai-schemas"

# attribute -> schema file
ATTRIBUTE_SCHEMAS = {
    "gen_ai.input.messages": "gen-ai-input-messages.json",
    "gen_ai.output.messages": "gen-ai-output-messages.json",
    "gen_ai.system_instructions": "gen-ai-system-instructions.json",
}


@cache
def _schema(file: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMAS / file).read_text())
    return schema


@cache
def _validator(file: str, definition: str | None = None) -> Draft202012Validator:
    schema = _schema(file)
    if definition is not None:
        schema = {"$ref": f"#/$defs/{definition}", "$defs": schema["$defs"]}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@cache
def _part_definitions(file: str) -> dict[str, str]:
    """part type -> the definition naming it with a `const`, e.g. {"blob": "BlobPart"}."""
    found = {}
    for name, definition in _schema(file)["$defs"].items():
        kind = definition.get("properties", {}).get("type", {}).get("const")
        if isinstance(kind, str):
            found[kind] = name
    return found


def _parts(attribute: str, value: list[Any]) -> list[Any]:
    if attribute == "gen_ai.system_instructions":
        return value
    return [part for message in value if isinstance(message, dict) for part in message.get("parts", [])]


def schema_errors(attributes: Mapping[str, Any]) -> list[str]:
    """What is wrong with the message attributes of one span, as readable lines (empty when valid)."""
    errors: list[str] = []
    for attribute, file in ATTRIBUTE_SCHEMAS.items():
        if attribute not in attributes:
            continue
        value = attributes[attribute]
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                errors.append(f"{attribute}: not JSON ({exc})")
                continue
        for error in _validator(file).iter_errors(value):
            errors.append(f"{attribute}: {error.message} at {list(error.absolute_path)}")
        definitions = _part_definitions(file)
        for part in _parts(attribute, value):
            definition = definitions.get(part.get("type")) if isinstance(part, dict) else None
            if definition is None:
                continue
            for error in _validator(file, definition).iter_errors(part):
                errors.append(f"{attribute}: {definition} {error.message}: {json.dumps(part)[:300]}")
    return errors


def assert_valid_messages(attributes: Mapping[str, Any]) -> None:
    errors = schema_errors(attributes)
    assert not errors, "\n".join(errors)
