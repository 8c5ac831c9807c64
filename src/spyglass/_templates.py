"""Message templates: `'got {n} choices'` formatted from keyword arguments, never raising."""

from __future__ import annotations

import functools
import string
from typing import Any

_formatter = string.Formatter()


@functools.lru_cache(maxsize=1024)
def _parse(template: str) -> tuple[tuple[str, str | None, str | None, str | None], ...]:
    try:
        return tuple(_formatter.parse(template))
    except ValueError:  # unbalanced braces: the template is shown as written
        return ((template, None, "", None),)


def format_message(template: str, fields: dict[str, Any]) -> str:
    """Format `{field}` placeholders from `fields`; one that is missing or fails stays as written."""
    if "{" not in template:
        return template
    out: list[str] = []
    for literal, name, spec, conversion in _parse(template):
        out.append(literal)
        if name is None:
            continue
        try:
            value, _ = _formatter.get_field(name, (), fields)
            value = _formatter.convert_field(value, conversion)
            out.append(_formatter.format_field(value, spec or ""))
        except Exception:
            out.append(
                "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            )
    return "".join(out)
