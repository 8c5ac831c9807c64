"""Every span the OpenAI tests capture has message attributes that the GenAI conventions' schemas accept."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from genai_schemas import schema_errors


@pytest.fixture(autouse=True)
def _messages_follow_the_genai_schemas(request: pytest.FixtureRequest) -> Iterator[None]:
    if "captured" not in request.fixturenames:
        yield
        return
    captured = request.getfixturevalue("captured")  # set up first, so it is torn down after this check
    yield
    problems = [
        f"{span.name}: {error}"
        for span in captured.finished()
        for error in schema_errors(dict(span.attributes or {}))
    ]
    assert not problems, "\n".join(problems)
