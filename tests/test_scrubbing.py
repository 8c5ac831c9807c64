"""Secrets never leave the process: planted keys, tokens and passwords are absent from every span, from the
terminal output, and from everything the sinks receive."""

from __future__ import annotations

import io
import json
import re

import openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

import spyglass
from spyglass._scrubbing import Scrubber, ScrubbingOptions
from spyglass.testing import capture_spans

OPENAI_KEY = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
PASSWORD = "hunter2-correct-horse"
AWS = "AKIAIOSFODNN7EXAMPLE"
GITHUB = "ghp_0123456789abcdefghijABCDEFGHIJ0123456789"
SECRETS = [OPENAI_KEY, BEARER.split()[1], PASSWORD, AWS, GITHUB]


def plant(client: openai.OpenAI) -> None:
    with spyglass.span("login for {user}", user="ada", password=PASSWORD, config={"api_key": OPENAI_KEY}):
        spyglass.info("calling with header Authorization: {auth}", auth=BEARER)
        spyglass.warn("found {x} in the env", x=f"OPENAI_API_KEY={OPENAI_KEY}")
        spyglass.info(f"a key pasted into a template: {OPENAI_KEY}")  # the span name is the template
        spyglass.info("signing in with {password}", password=PASSWORD)  # the message shows the field
        client.chat.completions.create(
            model="gpt-4o",
            messages=[
                {"role": "user", "content": f"my key is {OPENAI_KEY}, my aws key {AWS}, token {GITHUB}"}
            ],
        )
        try:
            raise RuntimeError(f"upstream refused {BEARER} with password={PASSWORD}")
        except RuntimeError:
            spyglass.exception("request failed")
        with pytest.raises(ValueError), spyglass.span("risky"):
            raise ValueError(f'{{"password": "{PASSWORD}"}}')


def test_planted_secrets_reach_no_sink(server):
    terminal = io.StringIO()
    with capture_spans(console={"file": terminal, "colors": "never", "verbose": "verbose"}) as captured:
        with openai.OpenAI(api_key=OPENAI_KEY, base_url=server.base_url, max_retries=0) as client:
            with spyglass.instrument_openai(client):
                plant(client)
    exported = json.dumps(
        [
            {
                "name": s.name,
                "attributes": dict(s.attributes),
                "status": s.status.description,
                "events": [dict(e.attributes or {}) for e in s.events],
            }
            for s in captured.finished()
        ],
        default=str,
    )
    printed = terminal.getvalue()
    assert "[REDACTED" in exported
    assert printed, "the console printed the spans"
    for secret in SECRETS:
        assert secret not in exported, secret
        assert secret not in printed, secret
    # what is not a secret is kept
    spans = {s["name"]: s for s in captured.spans()}
    chat = spans["chat gpt-4o"]["attributes"]
    assert chat["gen_ai.usage.input_tokens"] > 0
    assert "my key is [REDACTED]" in chat["gen_ai.input.messages"][0]["parts"][0]["content"]
    assert spans["login for {user}"]["attributes"]["user"] == "ada"
    assert spans["login for {user}"]["attributes"]["password"] == "[REDACTED: password]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("count the tokens please", "count the tokens please"),
        ('{"max_tokens": 100, "token_count": 5}', '{"max_tokens": 100, "token_count": 5}'),
        ('{"password": "abc\\"def"}', '{"password": "[REDACTED]"}'),
        ('{"db_password":"x"}', '{"db_password":"[REDACTED]"}'),
        ("api-key: 0123456789abcdef", "api-key: [REDACTED]"),
        ("password=supersecret123&user=ada", "password=[REDACTED]&user=ada"),
        ("sk-short", "sk-short"),
        (f"key {OPENAI_KEY}.", "key [REDACTED]."),
        ("Authorization: Bearer abcdefghijkl", "Authorization: [REDACTED]"),
    ],
)
def test_scrub_text(text, expected):
    assert Scrubber(ScrubbingOptions()).scrub_text(text) == expected


def test_attribute_names_are_matched_as_whole_words():
    scrubber = Scrubber(ScrubbingOptions())
    attributes = {
        "gen_ai.usage.input_tokens": 12,
        "max_tokens": 5,
        "auth_token": "abc",
        "user.password": "x",
        "session_id": "s1",
        "author": "ada",
        "tokenizer": "o200k",
    }
    assert scrubber.scrub_attributes(attributes) == {
        **attributes,
        "auth_token": "[REDACTED: token]",
        "user.password": "[REDACTED: password]",
        "session_id": "[REDACTED: session]",
    }


def test_session_id_groups_traces_and_is_kept_unless_its_text_is_secret_shaped():
    scrubber = Scrubber(ScrubbingOptions())
    assert scrubber.scrub_attributes({"session.id": "chat-7", "spyglass.kind": "span"}) is None
    key = "sk-proj-" + "a1B2c3D4" * 5
    assert scrubber.scrub_attributes({"session.id": key}) == {"session.id": "[REDACTED]"}


def test_options_extra_patterns_allow_list_and_callback():
    seen = []

    def keep_session(match):
        seen.append((match.key, match.reason))
        return match.value if match.key == "session_id" else None

    scrubber = Scrubber(
        ScrubbingOptions(
            extra_patterns=[r"\bACME-\d{6}\b"],
            extra_key_words=["pin"],
            allowed_keys=["password_hint"],
            callback=keep_session,
        )
    )
    assert scrubber.scrub_attributes(
        {
            "note": "ticket ACME-123456 open",
            "pin": "1234",
            "password_hint": "pet name",
            "session_id": "s1",
        }
    ) == {
        "note": "ticket [REDACTED] open",
        "pin": "[REDACTED: pin]",
        "password_hint": "pet name",
        "session_id": "s1",
    }
    assert ("session_id", "session") in seen


def test_scrubbing_can_be_turned_off_and_bad_patterns_fail_at_configure():
    with capture_spans(scrubbing=False) as captured:
        spyglass.info("x", password=PASSWORD)
    assert captured.spans()[0]["attributes"]["password"] == PASSWORD
    with pytest.raises(spyglass.ConfigError, match="regular expression"):
        spyglass.configure(console=False, store=False, scrubbing=ScrubbingOptions(extra_patterns=["("]))
    with pytest.raises(spyglass.ConfigError, match="scrubbing"):
        spyglass.configure(console=False, store=False, scrubbing="yes")  # type: ignore[arg-type]


_KEY_BODY = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", min_size=20, max_size=60
)


@given(prefix=st.text(max_size=40), suffix=st.text(max_size=40), body=_KEY_BODY)
def test_any_openai_key_anywhere_in_text_is_redacted(prefix, suffix, body):
    key = f"sk-{body}"
    scrubbed = Scrubber(ScrubbingOptions()).scrub_text(f"{prefix} {key} {suffix}")
    assert key not in scrubbed


@given(st.text(max_size=200))
def test_scrubbing_never_raises_and_keeps_text_without_secrets_shaped_values(text):
    scrubbed = Scrubber(ScrubbingOptions()).scrub_text(text)
    assert isinstance(scrubbed, str)
    if not re.search(r"(?i)sk-|bearer|akia|gh[pousr]_|github_pat|xox|aiza|eyj|[:=]", text):
        assert scrubbed == text


# --- every form docs/configuration.md lists, and what must be kept -------------------------------------

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SLACK = "xoxb-123456789012-abcdefghijkl"
GOOGLE = "AIzaSyA1234567890abcdefghijklmnopqrstuv"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        # credential-shaped values, anywhere in text
        (f"my key is {OPENAI_KEY}, thanks", OPENAI_KEY),
        (f"curl -H 'Authorization: {BEARER}'", BEARER.split()[1]),
        (f"aws id {AWS} in the log", AWS),
        (f"push with {GITHUB}", GITHUB),
        (f"slack {SLACK}", SLACK),
        (f"maps key {GOOGLE}", GOOGLE),
        (f"session {JWT}", JWT),
        # "password": "..." pairs in JSON, at any depth of escaping (a message, a tool call's arguments)
        (json.dumps({"password": PASSWORD}), PASSWORD),
        (json.dumps({"user": "ada", "api_key": "plain-value-123456"}), "plain-value-123456"),
        (json.dumps({"content": json.dumps({"api_key": "nested-value-123456"})}), "nested-value-123456"),
        (json.dumps({"a": json.dumps({"b": json.dumps({"password": "x-y-z-secret"})})}), "x-y-z-secret"),
        (json.dumps({"arguments": '{"cmd": "export AWS_SECRET_ACCESS_KEY=' + AWS_SECRET + '"}'}), AWS_SECRET),
        (json.dumps({"pin": 12345678, "token": "t0ken-value"}), "t0ken-value"),
        ("{'password': 'py-repr-secret'}", "py-repr-secret"),
        # KEY=value and header pairs, in prose or in a shell line
        (f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}", AWS_SECRET),
        ("export STRIPE_SECRET_KEY=rk_live_abcdef", "rk_live_abcdef"),
        ('DATABASE_PASSWORD="with spaces 1"', "with spaces 1"),
        ("send it with api-key: 0123456789abcdef please", "0123456789abcdef"),
        ("x-api-key:abcdef0123456789", "abcdef0123456789"),
        ("clientSecret = 'cs-0123456789'", "cs-0123456789"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        ("the OpenAI API key: k-12345678 is old", "k-12345678"),
        # prose
        ("my password is hunter2-horse, don't tell", "hunter2-horse"),
        ("The API key was 'abc def ghi'.", "abc def ghi"),
        # URL query parameters
        ("/models?key=AIzaQuery123&alt=json", "AIzaQuery123"),
        ("https://x.openai.azure.com/openai?api-version=1&api-key=0a1b2c3d4e5f", "0a1b2c3d4e5f"),
        ("https://acct.blob.core.windows.net/c/b?sv=2024&sig=AbC%2Fdef%3D", "AbC%2Fdef%3D"),
        ("GET /oauth?access_token=ya29.a0AfH6SM", "ya29.a0AfH6SM"),
    ],
)
def test_every_documented_form_is_redacted(text, secret):
    assert secret in text
    scrubbed = Scrubber(ScrubbingOptions()).scrub_text(text)
    assert secret not in scrubbed
    assert "[REDACTED]" in scrubbed


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"max_tokens": 100, "token_count": 5, "tokenizer": "o200k", "session_id": "s-1"}),
        "the password is wrong, try again",
        "please rotate the token: it expires soon",
        "/search?keyword=monkey&page=2",
        "monkey=banana",
        "count the tokens please",
        "key: value",
        json.dumps([{"role": "user", "parts": [{"type": "text", "content": "What is an API key?"}]}]),
    ],
)
def test_text_without_secrets_is_kept(text):
    assert Scrubber(ScrubbingOptions()).scrub_text(text) == text


@pytest.mark.parametrize(
    "document",
    [
        {"password": PASSWORD, "user": "ada"},
        {"messages": [{"content": json.dumps({"api_key": OPENAI_KEY, "n": 1})}]},
        {"arguments": json.dumps({"token": 12345, "db": {"password": 'a"b'}})},
    ],
)
def test_redacted_json_stays_json(document):
    text = json.dumps(document)
    scrubbed = Scrubber(ScrubbingOptions()).scrub_text(text)
    assert scrubbed != text
    json.loads(scrubbed)  # still parses: the viewer and the store decode these attributes


# --- ScrubbingOptions refuses what it cannot use ----------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"extra_patterns": "abc"}, "extra_patterns"),
        ({"extra_patterns": ["("]}, "extra_patterns"),
        ({"extra_patterns": [r"x*"]}, "extra_patterns"),  # matches empty text: would redact everywhere
        ({"extra_patterns": [b"abc"]}, "extra_patterns"),
        ({"extra_patterns": 3}, "extra_patterns"),
        ({"extra_key_words": "pin"}, "extra_key_words"),
        ({"extra_key_words": [""]}, "extra_key_words"),
        ({"extra_key_words": [7]}, "extra_key_words"),
        ({"allowed_keys": "password_hint"}, "allowed_keys"),
        ({"callback": "redact"}, "callback"),
        ({"callback": 42}, "callback"),
    ],
)
def test_bad_options_are_refused_naming_the_argument(arguments, named):
    with pytest.raises(spyglass.ConfigError, match=rf"ScrubbingOptions\({named}="):
        ScrubbingOptions(**arguments)


def test_patterns_may_be_compiled_and_one_pattern_redacts_only_its_matches():
    scrubber = Scrubber(ScrubbingOptions(extra_patterns=[re.compile(r"abc")]))
    assert scrubber.scrub_text("a b c abc") == "a b c [REDACTED]"


def test_extra_key_words_count_in_pairs_and_prose():
    scrubber = Scrubber(ScrubbingOptions(extra_key_words=["pin"]))
    assert (
        scrubber.scrub_text("PIN=8642 and my pin is 1357, ok")
        == "PIN=[REDACTED] and my pin is [REDACTED], ok"
    )
    assert scrubber.scrub_text("/cards?sv=1&signature=AbCdEf123") == "/cards?sv=1&signature=[REDACTED]"
    assert scrubber.scrub_text("my password is Correct") == "my password is Correct"  # a word, not a secret
    assert scrubber.scrub_text("my password is corRect") == "my password is [REDACTED]"


def test_scrub_span_returns_a_scrubbed_copy_and_leaves_the_span_alone():
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.trace import Status, StatusCode

    scrubber = Scrubber(ScrubbingOptions())
    clean = ReadableSpan(name="ok", attributes={"a": "plain"}, status=Status(StatusCode.OK))
    assert scrubber.scrub_span(clean) is clean
    started = ReadableSpan(name=f"job {OPENAI_KEY}", attributes={"password": PASSWORD, "n": 3})
    copy = scrubber.scrub_span(started)
    assert (copy.name, dict(copy.attributes)) == (
        "job [REDACTED]",
        {"password": "[REDACTED: password]", "n": 3},
    )
    assert started.name == f"job {OPENAI_KEY}"  # a snapshot's owner may still need it
    ended = ReadableSpan(
        name="call",
        attributes={"x": 1},
        events=[Event("exception", {"exception.message": f"bad {BEARER}"})],
        status=Status(StatusCode.ERROR, f"AuthenticationError: key {OPENAI_KEY}"),
        end_time=2,
    )
    copy = scrubber.scrub_span(ended)
    assert dict(copy.events[0].attributes) == {"exception.message": "bad [REDACTED]"}
    assert copy.status.description == "AuthenticationError: key [REDACTED]"
    assert (copy.end_time, copy.status.status_code) == (2, StatusCode.ERROR)


def test_bytes_mappings_and_nested_values_are_scrubbed_too():
    from opentelemetry import trace

    with capture_spans() as captured, spyglass.span("holder"):
        live = trace.get_current_span()
        live.set_attribute("raw", f"key={OPENAI_KEY}".encode())
        live.set_attribute(
            "config", {"db": {"password": PASSWORD, "port": 5432}, "notes": [f"use {GITHUB}", 3]}
        )
        live.set_attribute("counts", (1, 2, 3))
        live.set_attribute("words", ("plain", "text"))
    attributes = captured.finished()[0].attributes
    assert attributes["raw"] == b"key=[REDACTED]"
    assert attributes["config"] == {
        "db": {"password": "[REDACTED: password]", "port": 5432},
        "notes": ("use [REDACTED]", 3),
    }
    assert attributes["counts"] == (1, 2, 3)
    assert attributes["words"] == ("plain", "text")


def test_a_callback_is_asked_only_about_values_that_need_scrubbing():
    asked = []
    scrubber = Scrubber(ScrubbingOptions(callback=lambda match: asked.append(match.key)))
    assert scrubber.scrub_attributes({"words": ["plain", "text"], "n": 1, "nested": {"a": ["b"]}}) is None
    assert asked == []
