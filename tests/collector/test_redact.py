"""Redaction at ingest: rules validated at start, applied to resource, span, event and link
attributes before anything is stored, the same over OTLP/HTTP, OTLP/JSON and gRPC and with
either decoder; the raw value is nowhere in the data directory."""

from __future__ import annotations

import hashlib
import hmac
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.trace import Link

from collector.redact import HASH_PREFIX, load_redactor
from collector.store import Store
from collector.store.errors import ConfigError
from tests.collector.sdk import grpc_exporter, hop_attributes, http_exporter, provider
from tests.conftest import start_collector
from tests.ledgerline.test_cli import LEDGERLINE, _env, _read_urls

RULES = """rules:
  - {match: customer.email, action: hash}
  - {match: "card.*", action: drop}
  - {match: customer.phone, action: mask}
"""
KEY = "test-redaction-key"
EMAIL = "jane@example.com"
HASHED = HASH_PREFIX + hmac.new(KEY.encode(), EMAIL.encode(), hashlib.sha256).hexdigest()


def test_rules_that_would_break_lineage_are_refused(tmp_path: Path) -> None:
    for pattern in ("correlation.id", "correlation_*", "baggage", "biz.amount", "biz.*", "*", "b*", "*.email"):
        with pytest.raises(ConfigError, match="which lineage needs; refused") as refused:
            load_redactor(f"rules: [{{match: '{pattern}', action: drop}}]", KEY)
        assert "\n" not in str(refused.value)
    for bad, problem in (
        ("rules: [{match: x, action: burn}]", "not one of drop, hash, mask"),
        ("rules: [{match: x}]", "exactly 'match' and 'action'"),
        ("rules: x", "holding a list"),
        ("rules: [{match: x, action: hash}]", "needs LEDGERLINE_REDACT_KEY"),
    ):
        with pytest.raises(ConfigError, match=problem):
            load_redactor(bad, None)
    path = tmp_path / "redact.yaml"
    path.write_text(RULES)
    from_file = load_redactor(str(path), KEY)
    assert from_file is not None and [r.action for r in from_file.rules] == ["hash", "drop", "mask"]
    assert load_redactor(None, None) is None and load_redactor("", KEY) is None
    with pytest.raises(ConfigError, match="cannot read"):
        load_redactor(str(tmp_path / "missing.yaml"), KEY)


def test_one_function_redacts_every_attribute_set() -> None:
    redactor = load_redactor(RULES, KEY)
    assert redactor is not None
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.add(key="customer.email").value.string_value = EMAIL
    span = rs.scope_spans.add().spans.add()
    for kv in (("customer.email", EMAIL), ("card.number", "4111111111111111"), ("customer.phone", "+4915112345678"),
               ("correlation.id", "C-1")):  # fmt: skip
        span.attributes.add(key=kv[0]).value.string_value = kv[1]
    span.events.add().attributes.add(key="card.cvv").value.int_value = 123
    span.links.add().attributes.add(key="customer.email").value.string_value = EMAIL
    assert redactor.apply(request) == 6
    attrs = {kv.key: kv.value.string_value for kv in span.attributes}
    assert attrs == {"customer.email": HASHED, "customer.phone": "**********5678", "correlation.id": "C-1"}
    assert rs.resource.attributes[0].value.string_value == HASHED
    assert list(span.events[0].attributes) == []
    assert span.links[0].attributes[0].value.string_value == HASHED
    assert EMAIL.encode() not in request.SerializeToString()


def _attributes(store: Store) -> list[tuple[str, ...]]:
    return store.query(
        "SELECT SpanAttributes['customer.email'], SpanAttributes['customer.phone'], "
        "toString(mapContains(SpanAttributes, 'card.number')), ResourceAttributes['customer.email'], "
        "toString(`Events.Attributes`), toString(`Links.Attributes`) FROM otel_traces ORDER BY SpanName"
    )


@pytest.mark.parametrize("decoder", ["clickhouse", "python"])
def test_every_transport_and_decoder_stores_the_redacted_values(store: Store, decoder: str) -> None:
    collector = start_collector(store, redact=RULES, redact_key=KEY, ingest_decoder=decoder)
    try:
        exporters = {
            "http": http_exporter(f"http://127.0.0.1:{collector.http_port}/v1/traces"),
            "grpc": grpc_exporter(f"127.0.0.1:{collector.grpc_port}"),
        }
        for name, exporter in exporters.items():
            with provider(exporter) as tp:
                tracer = tp.get_tracer("t")
                attrs = hop_attributes("invoice", f"INV-{name}", "invoice.issued", f"C-{name}")
                attrs |= {"customer.email": EMAIL, "customer.phone": "+4915112345678", "card.number": "4111"}
                with tracer.start_as_current_span("linked") as other:
                    pass
                with tracer.start_as_current_span(
                    f"span-{name}", attributes=attrs, links=[Link(other.get_span_context(), {"customer.email": EMAIL})]
                ) as span:
                    span.add_event("paid", {"card.number": "4111", "customer.email": EMAIL})
    finally:
        collector.stop()
    rows = [r for r in _attributes(store) if r[0]]
    assert len(rows) == 2
    for email, phone, has_card, _, events, links in rows:
        assert (email, phone, has_card) == (HASHED, "**********5678", "0")
        assert HASHED in events and "card" not in events and HASHED in links
    hops = store.query("SELECT CorrelationId, EntityId FROM hops ORDER BY EntityId")
    assert hops == [("C-grpc", "INV-grpc"), ("C-http", "INV-http")]  # lineage is untouched


# Run after serve stopped (one process per chdb directory): the stored email, then how many
# rows of all MergeTree tables contain the raw value anywhere (a full scan), and how many tables.
_PROBE = """
import sys
from collector.settings import StoreSettings
from collector.store import open_store
s = open_store(StoreSettings())
print(s.query("SELECT SpanAttributes['customer.email'] FROM otel_traces")[0][0])
tables = [t for (t,) in s.query(
    "SELECT name FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree%'")]
hits = sum(s.query("SELECT count() FROM {t:Identifier} WHERE position(toString(tuple(*)), {v:String}) > 0",
                   {"t": t, "v": sys.argv[1]})[0][0] for t in tables)
print(hits, len(tables))
"""


def test_raw_value_is_nowhere_in_the_data_directory(tmp_path: Path) -> None:
    env = _env(tmp_path, LEDGERLINE_REDACT=RULES, LEDGERLINE_REDACT_KEY=KEY)
    process = subprocess.Popen(
        [*LEDGERLINE, "serve", "--http-port", "0", "--grpc-port", "0", "--api-port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        urls = _read_urls(process)
        with provider(http_exporter(urls["otlp_http"])) as tp:
            attrs = hop_attributes("invoice", "INV-R", "invoice.issued", "C-R") | {"customer.email": EMAIL}
            with tp.get_tracer("t").start_as_current_span("issue", attributes=attrs):
                pass
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
    assert process.returncode == 0, out
    # The hashed value is stored (a query finds it); the raw value is in no table, scanned in full.
    found = subprocess.run([sys.executable, "-c", _PROBE, EMAIL], env=env, capture_output=True, text=True, timeout=120)
    assert found.returncode == 0, found.stderr
    stored, counts = found.stdout.splitlines()[-2:]
    assert stored == HASHED
    matches, tables = map(int, counts.split())
    assert matches == 0 and tables >= 10
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) > 20
    assert [p for p in files if EMAIL.encode() in p.read_bytes()] == []


def test_serve_refuses_rules_that_break_lineage(tmp_path: Path) -> None:
    env = _env(tmp_path, LEDGERLINE_REDACT='rules: [{match: "biz.*", action: drop}]')
    refused = subprocess.run([*LEDGERLINE, "serve", "--api-port", "0"], env=env, capture_output=True, text=True,
                             timeout=60)  # fmt: skip
    assert refused.returncode == 2
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("ledgerline: error: LEDGERLINE_REDACT, line 1: rule 1 ('biz.*')")
