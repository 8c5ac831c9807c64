"""`spyglass import` into a shared PostgreSQL store, scrubbed like everything a receiver takes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from spyglass.cli import main
from spyglass.store._backends import open_store

TRACE_ID = "5b8efff798038103d269b633813fc60c"


def test_an_otlp_file_imports_into_postgres_scrubbed_and_the_password_never_shown(
    tmp_path: Path, pg_url: str
) -> None:
    planted = "hunter2-import-planted"
    document = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "elsewhere"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": TRACE_ID,
                                "spanId": "eee19b7ec3c1b174",
                                "name": "handle request",
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": "1700000001000000000",
                                "attributes": [{"key": "password", "value": {"stringValue": planted}}],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    source = tmp_path / "otlp.json"
    source.write_text(json.dumps(document))
    result = CliRunner().invoke(main, ["import", str(source), "--store", pg_url])
    assert result.exit_code == 0, result.output
    assert "Imported 1 span into" in result.output
    password = pg_url.split("://", 1)[1].split("@", 1)[0].partition(":")[2]
    assert password and password not in result.output
    store = open_store(pg_url)
    try:
        (span,) = store.get_trace(TRACE_ID)
    finally:
        store.close()
    assert span["name"] == "handle request"
    assert span["attributes"]["password"] == "[REDACTED: password]"
    assert planted not in json.dumps(span)
