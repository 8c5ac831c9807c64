"""Under hypothesis: the scrubber never raises and never lets a planted secret through, whatever text
surrounds it (lone surrogates, NUL, quotes, backslashes, separators) and whatever a span holds."""

from __future__ import annotations

import json

import openai
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import Status, StatusCode

from spyglass._credentials import remember_client_credentials
from spyglass._scrubbing import Scrubber, ScrubbingOptions

SCRUBBER = Scrubber(ScrubbingOptions())
CLIENT_KEY = "QzXq-client-key-0a9b8c7d6e5f"
CLIENT = openai.OpenAI(api_key=CLIENT_KEY, base_url="http://127.0.0.1:9/v1")  # never used for a request
remember_client_credentials(CLIENT)

HOSTILE = ["\ud800", "\udfff", "\x00", "\\", '"', "'", "`", "=", ":", "?", "&", "\n", "{", "}", "é", "🔑"]
surroundings = st.lists(st.one_of(st.text(max_size=12), st.sampled_from(HOSTILE)), max_size=8).map("".join)
# Secret values from an alphabet and length the surroundings cannot produce by chance.
values = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ23456789", min_size=12, max_size=40).map(
    lambda v: "Qz" + v
)


FORMS = {
    "openai key": lambda v: f"sk-proj-{v}",
    "bearer": lambda v: f"Authorization: Bearer {v}",
    "json": lambda v: json.dumps({"password": v}),
    "json in json": lambda v: json.dumps({"content": json.dumps({"api_key": v})}),
    "tool-call arguments": lambda v: json.dumps(
        {"arguments": json.dumps({"cmd": f"AWS_SECRET_ACCESS_KEY={v} x"})}
    ),
    "KEY=value": lambda v: f"OPENAI_API_KEY={v}",
    "header": lambda v: f"x-api-key: {v}",
    "prose": lambda v: f"my password is {v}",
    "query": lambda v: f"/v1/models?api-version=1&key={v}&alt=json",
    "python repr": lambda v: repr({"secret": v}),
}


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=300, deadline=None)  # shared CI cores
@given(
    form=st.sampled_from(sorted(FORMS)),
    value=values,
    prefix=surroundings,
    suffix=surroundings,
    gap=st.sampled_from([" ", "\n", "\t", ", "]),
)
def test_a_planted_secret_never_passes_whatever_surrounds_it(form, value, prefix, suffix, gap):
    planted = FORMS[form](value)
    scrubbed = SCRUBBER.scrub_text(f"{prefix}{gap}{planted}{gap}{suffix}")
    assert value not in scrubbed


@given(prefix=surroundings, suffix=surroundings)
def test_the_clients_own_key_never_passes(prefix, suffix):
    assert CLIENT_KEY not in SCRUBBER.scrub_text(f"{prefix}{CLIENT_KEY}{suffix}")


@given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=300))
def test_any_text_is_scrubbed_without_raising(text):
    assert isinstance(SCRUBBER.scrub_text(text), str)


attribute_values = st.one_of(
    surroundings,
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.lists(st.one_of(surroundings, st.integers()), max_size=4).map(tuple),
    st.binary(max_size=20),
    st.dictionaries(surroundings, st.one_of(surroundings, st.integers(), st.binary(max_size=8)), max_size=3),
)


@given(
    name=surroundings,
    attributes=st.dictionaries(st.one_of(surroundings, st.just("password")), attribute_values, max_size=6),
    event=st.dictionaries(surroundings, attribute_values, max_size=3),
    description=surroundings,
    value=values,
)
def test_any_span_is_scrubbed_without_raising_and_keeps_no_planted_secret(
    name, attributes, event, description, value
):
    attributes["planted"] = f"OPENAI_API_KEY={value}"
    attributes["planted bytes"] = f"x-api-key: {value}".encode()
    attributes["planted mapping"] = {"deep": [{"password": value}]}
    span = ReadableSpan(
        name=f"{name} sk-proj-{value}",
        attributes=attributes,
        events=[Event("exception", {**event, "exception.message": f"password={value}"})],
        status=Status(StatusCode.ERROR, f"{description} Bearer {value}"),
    )
    clean = SCRUBBER.scrub_span(span)
    text = repr((clean.name, dict(clean.attributes or {}), [dict(e.attributes or {}) for e in clean.events]))
    assert value not in text + (clean.status.description or "")


def test_huge_values_with_hostile_characters_are_scrubbed():
    filler = ('lorem ipsum \x00 \ud800 dolor: sit = amet \\" ' * 40_000)[:1_000_000]
    secrets = ["sk-proj-" + "H" * 30, "PASSWORD=huge-value-pw-1", json.dumps({"api_key": "huge-json-key-2"})]
    text = " ".join([filler, secrets[0], filler, secrets[1], filler, secrets[2]])
    scrubbed = SCRUBBER.scrub_text(text)
    for secret in ("H" * 30, "huge-value-pw-1", "huge-json-key-2"):
        assert secret not in scrubbed
    assert len(scrubbed) > 3_000_000
