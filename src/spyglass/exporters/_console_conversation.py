"""The conversation of an LLM span, as rows of (role label, folded body) for the console.

Reads `gen_ai.system_instructions`, `gen_ai.input.messages` and `gen_ai.output.messages` (JSON strings,
shapes in docs/spans.md). In compact mode, input messages before the last assistant message are
summarised as `… N earlier messages`: an agent loop re-sends its whole history on every call, and the
earlier calls already showed it. The system (or developer) messages that open the history are always
shown: they are the instructions, kept in the input messages as the conventions want.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import RenderableType
from rich.text import Text

from spyglass._attribute_names import INPUT_MESSAGES, OUTPUT_MESSAGES, SYSTEM_INSTRUCTIONS
from spyglass.exporters._console_text import Hanging, clean, compact_json, format_bytes, format_count

CONTENT_KEYS = (SYSTEM_INSTRUCTIONS, INPUT_MESSAGES, OUTPUT_MESSAGES)

ROLE_STYLES = {
    "system": "magenta",
    "developer": "magenta",
    "user": "green",
    "assistant": "cyan",
    "tool": "yellow",
}
_INSTRUCTION_ROLES = ("system", "developer")
_LABEL_WIDTH = len("assistant")
_QUIET_FINISH_REASONS = {"stop", "tool_calls", "tool_call", "end_turn"}


@dataclass(frozen=True)
class FoldLimits:
    """How many lines each kind of body may take before it is cut with `…`."""

    text: int
    call: int


@dataclass(frozen=True)
class Row:
    """One line group of the conversation: a role label (empty for a continuation) and its body."""

    label: str
    body: Text
    max_lines: int


def conversation(
    attributes: Mapping[str, Any], *, limits: FoldLimits, compact: bool, indent: int
) -> list[RenderableType]:
    """The conversation of an LLM span as labelled lines indented by `indent` cells (none when absent)."""
    rows = conversation_rows(attributes, limits=limits, compact=compact)
    label_width = max([_LABEL_WIDTH, *(len(row.label) for row in rows)])
    return [
        Hanging(
            Text.assemble(" " * indent, (row.label.ljust(label_width), _role_style(row.label)), " "),
            row.body,
            row.max_lines,
        )
        for row in rows
    ]


def conversation_rows(attributes: Mapping[str, Any], *, limits: FoldLimits, compact: bool) -> list[Row]:
    """System instructions, then input messages, then output messages, as rows."""
    rows: list[Row] = []
    system = attributes.get(SYSTEM_INSTRUCTIONS)
    if system is not None:
        parts = _parse(system)
        rows += _part_rows("system", parts, limits, {}) if isinstance(parts, list) else _raw("system", system)
    tool_names: dict[str, str] = {}
    inputs = attributes.get(INPUT_MESSAGES)
    if inputs is not None:
        rows += _message_rows(_parse(inputs), inputs, limits, tool_names, compact=compact)
    outputs = attributes.get(OUTPUT_MESSAGES)
    if outputs is not None:
        rows += _message_rows(_parse(outputs), outputs, limits, tool_names, compact=False)
    return rows


def _message_rows(
    messages: object, raw: object, limits: FoldLimits, tool_names: dict[str, str], *, compact: bool
) -> list[Row]:
    if not isinstance(messages, list):
        return _raw("messages", raw)
    valid = [message for message in messages if isinstance(message, dict)]
    for message in valid:
        _collect_tool_names(message, tool_names)
    rows: list[Row] = []
    leading = _leading_instructions(valid)
    for message in valid[:leading]:
        rows += _single_message_rows(message, limits, tool_names)
    start = max(_earliest_shown(valid), leading) if compact else leading
    skipped = start - leading
    if skipped:
        noun = "message" if skipped == 1 else "messages"
        rows.append(Row("", Text(f"… {skipped} earlier {noun}", style="dim"), 1))
    for message in valid[start:]:
        rows += _single_message_rows(message, limits, tool_names)
    return rows


def _leading_instructions(messages: Sequence[dict[str, Any]]) -> int:
    """How many system/developer messages open the conversation."""
    count = 0
    while count < len(messages) and messages[count].get("role") in _INSTRUCTION_ROLES:
        count += 1
    return count


def _earliest_shown(messages: Sequence[dict[str, Any]]) -> int:
    """Index of the last assistant message: where the new part of the conversation starts."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "assistant":
            return index
    return 0


def _collect_tool_names(message: dict[str, Any], tool_names: dict[str, str]) -> None:
    for part in _parts_of(message):
        if isinstance(part, dict) and part.get("type") == "tool_call" and isinstance(part.get("id"), str):
            tool_names[part["id"]] = str(part.get("name", "?"))


def _single_message_rows(
    message: dict[str, Any], limits: FoldLimits, tool_names: dict[str, str]
) -> list[Row]:
    role = clean(str(message.get("role", "?")), one_line=True)
    rows = _part_rows(role, _parts_of(message), limits, tool_names)
    finish = message.get("finish_reason")
    if isinstance(finish, str) and finish not in _QUIET_FINISH_REASONS:
        rows.append(Row("", Text(f"finish reason: {clean(finish, one_line=True)}", style="dim"), 1))
    return rows


def _part_rows(role: str, parts: list[Any], limits: FoldLimits, tool_names: dict[str, str]) -> list[Row]:
    rows: list[Row] = []
    for part in parts:
        if not isinstance(part, dict):
            continue
        body, is_text = _part_body(part, tool_names)
        rows.append(Row("" if rows else role, body, limits.text if is_text else limits.call))
    return rows


def _part_body(part: dict[str, Any], tool_names: dict[str, str]) -> tuple[Text, bool]:
    """The part as text, and whether it is prose (folded to more lines than a call or a reference)."""
    kind = part.get("type")
    if kind == "text":
        return Text(clean(str(part.get("content", "")))), True
    if kind == "tool_call":
        return _tool_call(part), False
    if kind == "tool_call_response":
        return _tool_result(part, tool_names), False
    if kind == "reasoning":
        return Text.assemble(("thinking: ", "dim"), (clean(str(part.get("content", ""))), "dim italic")), True
    if kind == "refusal":
        return Text.assemble(("refused: ", "red"), clean(str(part.get("content", "")))), True
    if kind in ("uri", "blob", "blob_reference", "file"):
        return Text(_reference(part), style="blue"), False
    if kind == "tokens":
        return Text(f"[{format_count(_int(part.get('count')))} tokens]", style="dim"), False
    return Text(clean(f"[{kind}] {compact_json(part)}", one_line=True), style="dim"), False


def _tool_call(part: dict[str, Any]) -> Text:
    arguments = part.get("arguments")
    if isinstance(arguments, dict):
        shown = ", ".join(f"{key}={compact_json(value)}" for key, value in arguments.items())
    elif arguments is None:
        shown = ""
    else:
        shown = str(arguments)
    name = clean(str(part.get("name", "?")), one_line=True)
    return Text.assemble((name, "bold"), "(", clean(shown, one_line=True), ")")


def _tool_result(part: dict[str, Any], tool_names: dict[str, str]) -> Text:
    call_id = str(part.get("id", "?"))
    name = clean(tool_names.get(call_id, call_id), one_line=True)
    response = part.get("response")
    shown = response if isinstance(response, str) else compact_json(response)
    return Text.assemble((name, "bold"), " → ", clean(shown, one_line=True))


def _reference(part: dict[str, Any]) -> str:
    modality = clean(str(part.get("modality", "file")), one_line=True)
    if part.get("type") == "uri":
        return f"[{modality} {clean(str(part.get('uri', '')), one_line=True)}]"
    if part.get("type") == "file":
        return f"[{modality} {clean(str(part.get('file_id', '')), one_line=True)}]"
    details = [modality]
    if isinstance(part.get("size"), int):
        details.append(format_bytes(part["size"]))
    sha = part.get("sha256")
    if isinstance(sha, str) and sha:
        details.append(f"sha256:{clean(sha[:8], one_line=True)}…")
    return f"[{' '.join(details)}]"


def _parts_of(message: dict[str, Any]) -> list[Any]:
    parts = message.get("parts")
    return parts if isinstance(parts, list) else []


def _parse(value: object) -> object:
    """The JSON in `value`, or None when it does not parse (a value cut for size, say)."""
    if not isinstance(value, str):
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def _raw(label: str, value: object) -> list[Row]:
    return [Row(label, Text(clean(str(value), one_line=True), style="dim"), 1)]


def _int(value: object) -> int:
    return value if isinstance(value, int) else 0


def _role_style(label: str) -> str:
    return ROLE_STYLES.get(label, "bold" if label else "")
