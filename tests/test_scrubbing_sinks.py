"""Secrets reach no byte a sink holds: the store's files (WAL included) while a span runs and after, the
console, the OTLP requests; the client's own credentials included, whatever the server echoes."""

from __future__ import annotations

import asyncio
import json
import logging

import openai
import pytest
from openai.lib.azure import AzureOpenAI
from opentelemetry import trace

import spyglass
from scrubbing_sinks import all_sinks
from spyglass.demo.server import DemoServer

OPENAI_KEY = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
BEARER_TOKEN = "tok3n.0123456789abcdefghijklmnop"
# Keys no pattern recognises: only knowing the client's own credentials can redact them.
PLAIN_KEY = "plainkey-0123456789-XYZWVUTSRQ"
AZURE_KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
AZURE_AD_TOKEN = "adtoken-9876543210-ZYXWVUTSRQPONM"


def assert_absent(sinks_bytes: dict[str, bytes], secrets: list[str]) -> None:
    for where, data in sinks_bytes.items():
        assert data, f"{where} received nothing"
        leaked = [s for s in secrets if s.encode() in data]
        assert not leaked, f"{where} holds {leaked}"


def test_a_running_spans_pending_row_holds_no_secret(tmp_path):
    later = ["set-later-pw-123", "raw-otel-secret-123", AWS_SECRET, OPENAI_KEY]
    with all_sinks(tmp_path) as sinks:
        with spyglass.span(f"deploying with {OPENAI_KEY}", password="at-start-pw-123") as span:
            span.set_attribute("note", f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}")
            live = trace.get_current_span()
            live.set_attribute("api_key", "raw-otel-secret-123")
            live.set_attribute("config", '{"password": "set-later-pw-123"}')
            live.update_name(f"renamed with {OPENAI_KEY}")
            sinks.flush()
            assert sinks.store_rows("SELECT is_pending FROM spans") == [(1,)]
            assert_absent({"store files": sinks.store_bytes()}, [*later, "at-start-pw-123"])
        sinks.flush()
        assert sinks.store_rows("SELECT is_pending FROM spans") == [(0,)]
        assert_absent(sinks.everything(), [*later, "at-start-pw-123"])
    attributes = sinks.finished()[0].attributes
    assert attributes["note"] == "AWS_SECRET_ACCESS_KEY=[REDACTED]"
    assert attributes["api_key"] == "[REDACTED: api_key]"


def echo(client: openai.OpenAI) -> openai.AuthenticationError:
    with pytest.raises(openai.AuthenticationError) as raised:
        client.chat.completions.create(model="echo-credentials", messages=[{"role": "user", "content": "hi"}])
    return raised.value


@pytest.mark.parametrize(
    ("make", "secret"),
    [
        (lambda url: openai.OpenAI(api_key=PLAIN_KEY, base_url=url, max_retries=0), PLAIN_KEY),
        (
            lambda url: AzureOpenAI(api_key=AZURE_KEY, api_version="2024-10-21", base_url=url, max_retries=0),
            AZURE_KEY,
        ),
        (
            lambda url: AzureOpenAI(
                azure_ad_token=AZURE_AD_TOKEN, api_version="2024-10-21", base_url=url, max_retries=0
            ),
            AZURE_AD_TOKEN,
        ),
        (
            lambda url: openai.OpenAI(
                api_key="unused-by-this-proxy",
                base_url=url,
                max_retries=0,
                default_headers={"Authorization": f"Bearer {BEARER_TOKEN}"},
            ),
            BEARER_TOKEN,
        ),
    ],
    ids=["openai key", "azure key", "azure ad token", "bearer header"],
)
def test_the_clients_own_credentials_echoed_by_the_server_reach_no_sink(
    tmp_path, server: DemoServer, make, secret
):
    with all_sinks(tmp_path) as sinks, make(server.base_url) as client, spyglass.instrument_openai(client):
        error = echo(client)
    assert secret in str(error)  # the server did echo it, and the user's exception is untouched
    assert_absent(sinks.everything(), [secret])
    (span,) = sinks.finished()
    assert "Incorrect API key provided: [REDACTED]" in (span.status.description or "")
    exception = span.events[0].attributes or {}
    assert "[REDACTED]" in str(exception["exception.message"])
    assert secret not in str(exception["exception.stacktrace"])


def test_credential_query_parameters_are_redacted_in_the_path_and_the_name(tmp_path, server: DemoServer):
    with all_sinks(tmp_path) as sinks, openai.OpenAI(api_key=OPENAI_KEY, base_url=server.base_url) as client:
        with spyglass.instrument_openai(client):
            client.get("/models?key=query-key-123456&api-key=query-api-key-654321&alt=json", cast_to=object)
    (span,) = sinks.finished()
    assert span.name == "openai GET /models?key=[REDACTED]&api-key=[REDACTED]&alt=json"
    assert span.attributes["spyglass.openai.path"] == "/models?key=[REDACTED]&api-key=[REDACTED]&alt=json"
    assert_absent(sinks.everything(), ["query-key-123456", "query-api-key-654321"])


def test_a_raising_callback_fails_closed(tmp_path, caplog):
    def broken(match):
        raise RuntimeError("callback bug")

    options = spyglass.ScrubbingOptions(callback=broken)
    with caplog.at_level(logging.ERROR, logger="spyglass"), all_sinks(tmp_path, scrubbing=options) as sinks:
        for _ in range(3):
            spyglass.info("login {user}", user="ada", password="cb-secret-pw-1", note=f"key {OPENAI_KEY}")
    assert_absent(sinks.everything(), ["cb-secret-pw-1", OPENAI_KEY])
    attributes = sinks.finished()[0].attributes
    assert attributes["password"] == "[Scrubbing failed]"
    assert attributes["note"] == "[Scrubbing failed]"
    assert attributes["user"] == "ada"  # what needed no scrubbing is kept
    assert sum("scrubbing callback raised" in r.getMessage() for r in caplog.records) == 1


def test_an_internal_error_replaces_the_whole_spans_strings(tmp_path, caplog, monkeypatch):
    from spyglass import _errors
    from spyglass._scrubbing import Scrubber

    def fault(*args, **kwargs):
        raise MemoryError("injected")

    monkeypatch.setattr(Scrubber, "scrub_attributes", fault)  # a bug we cannot pin on one value
    _errors.reset_reported_errors()
    with caplog.at_level(logging.ERROR, logger="spyglass"), all_sinks(tmp_path) as sinks:
        with pytest.raises(ValueError), spyglass.span("work {n}", n=1, text="has-a-secret-9"):
            raise ValueError("exception text with has-a-secret-9")
    assert_absent(sinks.everything(), ["has-a-secret-9"])
    (span,) = sinks.finished()
    assert span.name == "[Scrubbing failed]"
    assert span.attributes["text"] == "[Scrubbing failed]"
    assert span.attributes["n"] == 1
    assert span.status.description == "[Scrubbing failed]"
    assert {k: v for k, v in (span.events[0].attributes or {}).items() if k != "exception.escaped"} == {
        "exception.type": "[Scrubbing failed]",
        "exception.message": "[Scrubbing failed]",
        "exception.stacktrace": "[Scrubbing failed]",
    }
    assert sum("internal error in scrubbing" in r.getMessage() for r in caplog.records) == 1


def test_a_callback_value_that_is_not_an_attribute_fails_closed(tmp_path):
    options = spyglass.ScrubbingOptions(callback=lambda match: {"kept": match.value})
    with all_sinks(tmp_path, scrubbing=options) as sinks:
        spyglass.info("x", password="dict-secret-123")
    assert sinks.finished()[0].attributes["password"] == "[Scrubbing failed]"
    assert_absent(sinks.everything(), ["dict-secret-123"])


# --- one program, every form of secret, every sink -------------------------------------------------------

PLANTED = {
    "json password in a message": "json-pw-in-message-1",
    "prose password": "prose-pw-2x",
    "api_key in tool-call arguments": "tool-args-api-key-3",
    "KEY=value in tool-call arguments": AWS_SECRET,
    "unparsable tool-call arguments": "broken-args-pw-4",
    "bearer token in a log": "bearer-token-in-log-5",
    "openai-shaped key in a span name": OPENAI_KEY,
    "set_attribute on a running span": "running-span-pw-6",
    "exception message": "exception-pw-7",
    "query parameter": "query-key-8a8a8a",
    "client key echoed by the server": PLAIN_KEY,
    "azure key echoed by the server": AZURE_KEY,
}


def traced_program(server: DemoServer) -> None:
    with spyglass.span(f"nightly job using {OPENAI_KEY}") as job:
        job.set_attribute("env", "DB_PASSWORD=running-span-pw-6")
        spyglass.info("calling with Authorization: Bearer bearer-token-in-log-5")
        with openai.OpenAI(api_key=PLAIN_KEY, base_url=server.base_url, max_retries=0) as client:
            spyglass.instrument_openai(client)
            client.chat.completions.create(
                model="gpt-4o",
                messages=[
                    {"role": "system", "content": "canary-visible-system-text"},
                    {"role": "user", "content": 'my config is {"password": "json-pw-in-message-1"}'},
                    {"role": "user", "content": "and my password is prose-pw-2x, keep it safe"},
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "id": "call_1",
                                "type": "function",
                                "function": {
                                    "name": "deploy",
                                    "arguments": json.dumps(
                                        {
                                            "api_key": "tool-args-api-key-3",
                                            "cmd": f"export AWS_SECRET_ACCESS_KEY={AWS_SECRET} && deploy",
                                        }
                                    ),
                                },
                            },
                            {
                                "id": "call_2",
                                "type": "function",
                                "function": {"name": "login", "arguments": '{"password": "broken-args-pw-4"'},
                            },
                        ],
                    },
                    {"role": "tool", "tool_call_id": "call_1", "content": "done"},
                    {"role": "tool", "tool_call_id": "call_2", "content": "done"},
                ],
            )
            client.get("/models?key=query-key-8a8a8a", cast_to=object)
            with pytest.raises(openai.AuthenticationError):
                client.chat.completions.create(
                    model="echo-credentials", messages=[{"role": "user", "content": "x"}]
                )
        azure = AzureOpenAI(
            api_key=AZURE_KEY, api_version="2024-10-21", base_url=server.base_url, max_retries=0
        )
        with azure, spyglass.instrument_openai(azure), pytest.raises(openai.AuthenticationError):
            azure.chat.completions.create(
                model="echo-credentials", messages=[{"role": "user", "content": "x"}]
            )
        with pytest.raises(RuntimeError), spyglass.span("risky step"):
            raise RuntimeError("upstream said: password=exception-pw-7")


def test_one_program_planting_every_form_leaks_nothing_to_any_sink(tmp_path, server: DemoServer):
    with all_sinks(tmp_path) as sinks:
        traced_program(server)
        sinks.flush()
        during = sinks.everything()
    after = sinks.everything()  # after shutdown: the WAL checkpointed into the file
    for where, data in {**during, **{f"{k} after shutdown": v for k, v in after.items()}}.items():
        assert b"canary-visible-system-text" in data, f"{where} did not get the conversation"
        leaked = [form for form, secret in PLANTED.items() if secret.encode() in data]
        assert not leaked, f"{where} holds the secret planted as: {leaked}"
    assert len(sinks.finished()) == 7, [span.name for span in sinks.finished()]
    spans = {span.name: span for span in sinks.finished()}
    assert "[REDACTED]" in str(spans["chat gpt-4o"].attributes["gen_ai.input.messages"])
    json.loads(str(spans["chat gpt-4o"].attributes["gen_ai.input.messages"]))  # still JSON


def test_an_async_clients_key_echoed_by_the_server_reaches_no_sink(tmp_path, server: DemoServer):
    async def call() -> None:
        async with openai.AsyncOpenAI(api_key=PLAIN_KEY, base_url=server.base_url, max_retries=0) as client:
            with spyglass.instrument_openai(client), pytest.raises(openai.AuthenticationError):
                await client.chat.completions.create(
                    model="echo-credentials", messages=[{"role": "user", "content": "hi"}]
                )

    with all_sinks(tmp_path) as sinks:
        asyncio.run(call())
    assert_absent(sinks.everything(), [PLAIN_KEY])
    assert "[REDACTED]" in (sinks.finished()[0].status.description or "")
