"""Turning arbitrary Python values into OpenTelemetry attribute values, safely.

OpenTelemetry attributes hold only str, bool, int, float and homogeneous sequences of those. Users pass
anything (dicts, Pydantic models, dataclasses, datetimes, bytes, objects whose repr raises, cyclic or huge
structures); none of it may raise into their code. Structured values become JSON strings; oversized values are
cut with a visible marker.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
import re
import uuid
from collections.abc import Mapping
from decimal import Decimal
from pathlib import PurePath
from typing import Any

DEFAULT_MAX_LENGTH = 128 * 1024
"""The longest string attribute kept whole, in characters."""

_MAX_DEPTH = 64
_SURROGATES = re.compile("[\ud800-\udfff]")
_PRIMITIVES = (bool, int, float, str)


def truncate(text: str, max_length: int = DEFAULT_MAX_LENGTH) -> str:
    """Cut `text` to `max_length` characters, saying how much was dropped."""
    if len(text) <= max_length:
        return text
    dropped = len(text) - max_length
    return f"{text[:max_length]}...[truncated {dropped} chars]"


def clean_text(text: str, max_length: int = DEFAULT_MAX_LENGTH) -> str:
    """Truncate, then make sure the string is valid UTF-8 (lone surrogates break every exporter)."""
    return valid_utf8(truncate(text, max_length))


def valid_utf8(text: str) -> str:
    """`text` with any lone surrogate replaced by U+FFFD: what every file, socket and database can take."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", text)
    return text


def encode_value(value: Any, max_length: int = DEFAULT_MAX_LENGTH) -> tuple[Any, bool]:
    """Return `(attribute_value, is_json)` for any value; never raises."""
    try:
        if isinstance(value, str):
            return clean_text(value, max_length), False
        if isinstance(value, bool | float):
            return value, False
        if isinstance(value, int):
            # OpenTelemetry ints are 64-bit; bigger ones are kept as text rather than dropped.
            return (value, False) if -(2**63) <= value < 2**63 else (str(value), False)
        if isinstance(value, list | tuple) and value and _homogeneous_primitives(value):
            if isinstance(value[0], str):
                return tuple(clean_text(v, max_length) for v in value), False
            return tuple(value), False
        return to_json(value, max_length), True
    except Exception:
        return clean_text(safe_repr(value), max_length), False


def _homogeneous_primitives(values: list[Any] | tuple[Any, ...]) -> bool:
    first = type(values[0])
    if first not in _PRIMITIVES:
        return False
    return all(type(v) is first for v in values)


def to_json(value: Any, max_length: int = DEFAULT_MAX_LENGTH) -> str:
    """Serialize `value` as JSON, whatever it is; strings inside are cut so the result stays parseable."""
    try:
        text = json.dumps(value, default=_json_default, ensure_ascii=False, separators=(",", ":"))
    except (ValueError, TypeError, RecursionError):
        # Cycles, unsortable keys, deep nesting: walk it ourselves with a cycle guard and a depth cap.
        text = json.dumps(_jsonable(value, max_length, 0, set()), ensure_ascii=False, separators=(",", ":"))
    if len(text) > max_length:
        text = json.dumps(
            _jsonable(value, max_length // 8, 0, set()), ensure_ascii=False, separators=(",", ":")
        )
    return clean_text(text, max_length)


def _json_default(value: Any) -> Any:
    converted = _convert(value)
    if converted is _UNCONVERTIBLE:
        return safe_repr(value)
    return converted


_UNCONVERTIBLE = object()


def _convert(value: Any) -> Any:
    """One step of turning a non-JSON value into something JSON can hold."""
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return repr(raw[:256]) + (f"...[{len(raw)} bytes]" if len(raw) > 256 else "")
    if isinstance(value, set | frozenset):
        return list(value)
    if isinstance(value, uuid.UUID | Decimal | PurePath):
        return str(value)
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    dump = getattr(value, "model_dump", None)
    if callable(dump) and hasattr(type(value), "model_fields"):
        return dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    return _UNCONVERTIBLE


def _jsonable(value: Any, max_length: int, depth: int, seen: set[int]) -> Any:
    """A JSON-safe copy of `value`: cycles and excess depth become markers, long strings are cut."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return truncate(value, max_length)
    if depth >= _MAX_DEPTH:
        return "...[max depth]"
    if id(value) in seen:
        return "...[circular]"
    seen = seen | {id(value)}
    try:
        if isinstance(value, Mapping):
            return {str(k): _jsonable(v, max_length, depth + 1, seen) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [_jsonable(v, max_length, depth + 1, seen) for v in value]
        converted = _convert(value)
    except Exception:
        return truncate(safe_repr(value), max_length)
    if converted is _UNCONVERTIBLE:
        return truncate(safe_repr(value), max_length)
    return _jsonable(converted, max_length, depth + 1, seen)


def safe_repr(value: Any) -> str:
    """`repr(value)`, or a placeholder naming the type when repr itself fails."""
    try:
        return repr(value)
    except Exception:
        return f"<{type(value).__name__} object (repr failed)>"
