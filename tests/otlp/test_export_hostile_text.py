"""OTLP export of spans holding lone surrogates: the bad span goes out with U+FFFD, its batch with it."""

from __future__ import annotations

import secrets

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator
from otlp_helpers import RunningReceiver

from spyglass._encoding import valid_utf8
from spyglass.exporters.otlp import otlp_span_processors

_TEXT = st.one_of(
    st.sampled_from(["\ud800", "a\udfffb", "nul\x00", "fine"]),
    st.text(st.characters(categories=["Cs", "L", "So"]), min_size=1, max_size=20),
)


class _FreshIds(IdGenerator):
    """Hypothesis seeds `random` for each example: ids from the OS keep examples apart in one store."""

    def generate_span_id(self) -> int:
        return secrets.randbits(64) or 1

    def generate_trace_id(self) -> int:
        return secrets.randbits(128) or 1


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=_TEXT, value=_TEXT, key=_TEXT, event=_TEXT)
def test_one_span_with_lone_surrogates_costs_no_other_span(
    receiver: RunningReceiver, name: str, value: str, key: str, event: str
) -> None:
    (processor,) = otlp_span_processors(receiver.endpoint)
    provider = TracerProvider(shutdown_on_exit=False, id_generator=_FreshIds())
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("tests")
    before = len(receiver.spans())
    try:
        for index in range(100):
            with tracer.start_as_current_span(f"normal {index}"):
                pass
            if index == 50:
                with tracer.start_as_current_span(
                    name, attributes={key: value, "list": (value, "ok")}
                ) as span:
                    span.add_event(event, {"text": value})
                    span.set_status(span.status.status_code, None)
        assert processor.force_flush(10_000)
    finally:
        provider.shutdown()
    spans = receiver.spans()
    assert len(spans) - before == 101
    assert any(span["name"] == valid_utf8(name) for span in spans)
