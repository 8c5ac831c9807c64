"""Parse `multipart/form-data` bodies (image edits) with the standard library's MIME parser.

Starlette's own form parser needs the optional `python-multipart` package; the demo server avoids that
dependency, since the only multipart request it handles is `images.edit`.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import Any


@dataclass(frozen=True)
class UploadedFile:
    """A file field of a multipart form."""

    filename: str
    content_type: str
    content: bytes


FormValue = str | UploadedFile


def parse_form(content_type: str, body: bytes) -> dict[str, Any]:
    """Form fields by name; a name sent several times (e.g. `image[]`) maps to a list of values."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    fields: dict[str, Any] = {}
    if not message.is_multipart():
        return fields
    for part in message.get_payload():
        if not isinstance(part, Message):
            continue
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        _add(fields, name, _value(part))
    return fields


def _value(part: Message) -> FormValue:
    payload = part.get_payload(decode=True)
    content = payload if isinstance(payload, bytes) else b""
    filename = part.get_filename()
    if filename is None:
        return content.decode(part.get_content_charset() or "utf-8", errors="replace")
    return UploadedFile(filename, part.get_content_type(), content)


def _add(fields: dict[str, Any], name: str, value: FormValue) -> None:
    if name not in fields:
        fields[name] = value
    elif isinstance(fields[name], list):
        fields[name].append(value)
    else:
        fields[name] = [fields[name], value]
