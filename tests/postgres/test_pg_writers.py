"""Many writers on one PostgreSQL store: two `spyglass serve` receivers and two instrumented programs at once
lose and duplicate nothing; a receiver SIGKILLed mid-batch loses nothing it acknowledged; no output shows the
database password."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time

import psycopg
from otlp_helpers import free_port as _free_port
from otlp_helpers import post_json
from otlp_helpers import wait_until_listening as _wait_until_listening
from test_receiver_durability import _sender

from spyglass.store.postgres import PostgresSpanStore

_PROGRAM = """
import sys
import spyglass
from opentelemetry import trace
spyglass.configure(service_name=sys.argv[2], console=False, store=sys.argv[1])
tracer = trace.get_tracer("writers")
for index in range(int(sys.argv[3])):
    with tracer.start_as_current_span(f"job {index}"):
        for step in range(4):
            with tracer.start_as_current_span(f"step {step}"):
                pass
"""


def _serve(url: str, port: int, token: str | None = None) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "spyglass", "serve", "--store", url, "--port", str(port)]
    if token:
        args += ["--token", token]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _otlp_batch(trace_index: int) -> dict[str, object]:
    trace_id = f"{trace_index + 1:032x}"
    spans = [
        {
            "traceId": trace_id,
            "spanId": f"{trace_index * 100 + step + 1:016x}",
            "name": f"received {step}",
            "kind": 1,
            "startTimeUnixNano": str(1_700_000_000_000_000_000 + step),
            "endTimeUnixNano": str(1_700_000_000_500_000_000 + step),
        }
        for step in range(5)
    ]
    return {"resourceSpans": [{"resource": {}, "scopeSpans": [{"scope": {"name": "t"}, "spans": spans}]}]}


def test_two_receivers_and_two_programs_at_once_lose_and_duplicate_nothing(pg_url: str) -> None:
    ports = [_free_port(), _free_port()]
    receivers = [_serve(pg_url, port, token="team-token") for port in ports]
    try:
        for port, receiver in zip(ports, receivers, strict=True):
            _wait_until_listening(port, receiver)
        programs = [
            subprocess.Popen(
                [sys.executable, "-c", _PROGRAM, pg_url, f"program-{index}", "150"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for index in range(2)
        ]
        answers: list[int] = []

        def send(port: int) -> None:
            # Both receivers get every batch: the same spans arrive twice, as a retrying sender would do.
            for trace_index in range(60):
                answer = post_json(
                    f"http://127.0.0.1:{port}/v1/traces",
                    _otlp_batch(trace_index),
                    {"Authorization": "Bearer team-token"},
                )
                answers.append(answer.status)

        senders = [threading.Thread(target=send, args=(port,)) for port in ports]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(120)
        for program in programs:
            out, err = program.communicate(timeout=120)
            assert program.returncode == 0, err.decode()
        unauthorized = post_json(f"http://127.0.0.1:{ports[0]}/v1/traces", _otlp_batch(999))
        assert unauthorized.status == 401
    finally:
        for receiver in receivers:
            receiver.send_signal(signal.SIGINT)
        outputs = [receiver.communicate(timeout=30) for receiver in receivers]
    assert answers == [200] * 120
    with PostgresSpanStore(pg_url) as store:
        # 2 programs x 150 traces x 5 spans, and 60 received traces x 5 spans (each sent twice).
        stats = store.stats()
        assert (stats["traces"], stats["spans"]) == (2 * 150 + 60, 2 * 150 * 5 + 60 * 5)
        assert all(trace["pending_count"] == 0 for trace in store.list_traces(limit=1000))
        services = {trace["service_name"] for trace in store.list_traces(limit=1000)}
        assert {"program-0", "program-1"} <= services
    with psycopg.connect(pg_url) as conn:
        duplicates = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM spans GROUP BY trace_id, span_id HAVING count(*) > 1) d"
        ).fetchone()
        assert duplicates == (0,)
    for out, err in outputs:
        assert b"s3cret-pw" not in out + err
        assert b"spyglass:***@127.0.0.1" in err  # the ready line names the store, masked


def test_every_acknowledged_span_survives_a_receiver_sigkilled_mid_batch(pg_url: str) -> None:
    rng = random.Random(7)
    all_acknowledged: list[str] = []
    for round_ in range(3):
        port = _free_port()
        receiver = _serve(pg_url, port)
        try:
            _wait_until_listening(port, receiver)
            acknowledged: list[str] = []
            stop = threading.Event()
            senders = [
                threading.Thread(target=_sender, args=(port, round_ * 100 + index, acknowledged, stop))
                for index in range(4)
            ]
            for sender in senders:
                sender.start()
            time.sleep(rng.uniform(1.0, 2.5))
            os.kill(receiver.pid, signal.SIGKILL)
            stop.set()
            for sender in senders:
                sender.join(15)
        finally:
            receiver.kill()
            receiver.communicate()
        assert acknowledged, f"round {round_}: nothing was acknowledged"
        all_acknowledged.extend(acknowledged)
        with psycopg.connect(pg_url) as conn:
            stored = {span_id for (span_id,) in conn.execute("SELECT span_id FROM spans")}
        missing = [span_id for span_id in all_acknowledged if span_id not in stored]
        assert missing == [], f"round {round_}: {len(missing)} of {len(all_acknowledged)} acknowledged lost"


def test_no_message_shows_the_password(cluster: object, pg_url: str) -> None:
    wrong = pg_url.replace("s3cret-pw", "wrong-s3cret-pw")
    for args in (
        ["serve", "--store", wrong, "--port", "0"],
        ["view", "--store", wrong, "--no-open", "--port", "0"],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "spyglass", *args], capture_output=True, timeout=60, env={**os.environ}
        )
        output = (result.stdout + result.stderr).decode()
        assert result.returncode == 1, output
        assert "password authentication failed" in output and "spyglass:***@127.0.0.1" in output
        assert "s3cret-pw" not in output


def test_a_postgres_store_without_psycopg_is_a_clear_error_not_silence(pg_url: str) -> None:
    program = (
        "import sys; sys.modules['psycopg'] = None\n"
        "import spyglass\n"
        "try:\n"
        f"    spyglass.configure(console=False, store={pg_url!r})\n"
        "except spyglass.ConfigError as exc:\n"
        "    print('ConfigError:', exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, timeout=60)
    output = result.stdout.decode()
    assert "ConfigError: store=postgresql://spyglass:***@127.0.0.1" in output, result.stderr.decode()
    assert "pip install 'spyglass[postgres]'" in output and "s3cret-pw" not in output
