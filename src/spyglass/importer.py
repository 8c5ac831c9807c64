"""`spyglass import FILE`: OTLP JSON traces (an `ExportTraceServiceRequest`, as the viewer's export or an
OTLP/HTTP JSON body has them) into the store, through the receiver's own decoding and normalizing.

The whole file is decoded before anything is written: a file that is not valid OTLP JSON writes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan

from spyglass._scrubbing import Scrubber
from spyglass._scrubbing_options import ScrubbingOptions
from spyglass.receiver._decode import PayloadError, decoded_spans, parse_json
from spyglass.receiver._joiner import LogJoiner
from spyglass.store._backends import mask_url, store_processor

_CHUNK = 10_000  # spans handed to the writer at a time: well under its queue bound
_TIMEOUT = 60.0  # seconds to wait for one chunk to be committed


class ImportFailed(ValueError):
    """The file cannot be imported; the message says why and that nothing was written."""


def import_otlp_json(source: str | os.PathLike[str], store: str | os.PathLike[str]) -> int:
    """Load the spans of an OTLP JSON file into the store; returns how many were written."""
    path = Path(source)
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise ImportFailed(f"Cannot read {path}: {exc.strerror or exc}") from None
    return len(import_otlp_bytes(body, store, str(path)))


def import_otlp_bytes(body: bytes, store: str | os.PathLike[str], name: str) -> list[ReadableSpan]:
    """Load the spans of OTLP JSON `body` (a file called `name`) into the store; returns the spans written."""
    try:
        scrubber = Scrubber(ScrubbingOptions())  # a file from anywhere: no secret reaches the store from it
        spans = [
            scrubber.scrub_span(s) for s in LogJoiner().spans_received(decoded_spans(parse_json(body)))[0]
        ]
    except PayloadError as exc:
        raise ImportFailed(f"{name} is not OTLP JSON traces ({exc}); nothing was imported.") from None
    except RecursionError:
        raise ImportFailed(f"{name} is nested too deeply; nothing was imported.") from None
    processor = store_processor(store)
    try:
        for start in range(0, len(spans), _CHUNK):
            commit = processor.submit(spans[start : start + _CHUNK])
            if commit is None or not commit.wait(_TIMEOUT):
                raise ImportFailed(
                    f"The store {mask_url(str(processor.path))} did not take the spans in time; "
                    f"{start} of {len(spans)} were written before this."
                )
    finally:
        processor.shutdown()
    return spans
