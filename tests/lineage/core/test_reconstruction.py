"""End to end: real SDK spans -> collector -> ClickHouse -> lineage documents."""

from __future__ import annotations

from typing import Any

import pytest

from lineage.core import service
from lineage.core.scope import EVERYTHING
from lineage.core.service import Lineage
from tests.lineage.conftest import Shared
from tests.lineage.helpers import HOUR, MIN, Emitter, now_ns


def _doc(shared: Shared, cid: str) -> dict[str, Any]:
    doc = shared.lineage.transaction(EVERYTHING, cid)
    assert doc is not None, cid
    return doc


def _stage(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in doc["sla"]["stages"] if s["stage"] == name)


def _kinds(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["kind"], c["stage"]) for c in doc["conformance"]]


def test_complete_transaction(shared: Shared) -> None:
    doc = _doc(shared, "C-OK")
    assert doc["status"] == "complete" and doc["flow"] == "support_credit"
    assert [(h["entity_type"], h["step"], h["outcome"], h["attempts"]) for h in doc["hops"]] == [
        ("case", "case.opened", "ok", 1),
        ("credit", "credit.approved", "ok", 1),
        ("invoice", "invoice.issued", "ok", 1),
        ("ledger", "ledger.posted", "ok", 1),
    ]
    assert doc["hops"][1]["system"] == "billing" and doc["hops"][3]["system"] == "sap"
    assert all(h["duration_ms"] == 60_000 and h["correlation_id"] == "C-OK" for h in doc["hops"])
    assert all(len(h["trace_id"]) == 32 and len(h["span_id"]) == 16 for h in doc["hops"])
    assert doc["started_at"].endswith("Z") and doc["completed_at"] == doc["hops"][3]["end_time"]
    assert {(e["parent_id"], e["child_id"]) for e in doc["edges"]} == {
        ("CASE-OK", "CR-OK"),
        ("CR-OK", "INV-OK"),
        ("INV-OK", "LED-OK"),
    }
    assert len(doc["nodes"]) == 4
    assert doc["sla"]["breached"] is False
    assert [s["state"] for s in doc["sla"]["stages"]] == ["done"] * 4
    assert _stage(doc, "credit")["duration_ms"] == 30 * 60_000  # from case end (t0+1m) to t0+31m
    assert _stage(doc, "ledger")["sla_ms"] == 4 * 3600_000
    assert doc["conformance"] == [] and doc["amount_mismatches"] == [] and doc["exceptions"] == []
    assert doc["related_correlation_ids"] == ["C-LINK"]
    assert doc["related"][0]["via"] == "link"


def test_span_link_stitches_both_ways(shared: Shared) -> None:
    doc = _doc(shared, "C-LINK")
    assert doc["related"][0] == {
        "correlation_id": "C-OK",
        "depth": 1,
        "via": "link",
        "flow": "support_credit",
        "status": "complete",
    }


def test_retried_then_succeeded(shared: Shared) -> None:
    doc = _doc(shared, "C-RETRY")
    assert doc["status"] == "complete"
    ledger = doc["hops"][-1]
    assert (ledger["entity_id"], ledger["outcome"], ledger["attempts"]) == ("LED-RETRY", "ok", 3)
    assert [a["outcome"] for a in ledger["attempt_list"]] == ["retry", "failed", "ok"]
    [exc] = doc["exceptions"]
    assert exc["state"] == "resolved" and exc["resolved_at"] == ledger["end_time"]
    assert (exc["category"], exc["recoverable"], exc["attempts"]) == ("timeout", True, 3)
    assert len(exc["id"]) == 16
    assert doc["sla"]["breached"] is False  # posted 2h after the invoice: within 4h


def test_dead_letter_fails_the_transaction(shared: Shared) -> None:
    doc = _doc(shared, "C-DLQ")
    assert doc["status"] == "failed" and doc["completed_at"] is None
    [exc] = doc["exceptions"]
    assert (exc["state"], exc["category"], exc["recoverable"], exc["last_outcome"]) == (
        "open",
        "tax_error",
        False,
        "dead_letter",
    )
    assert exc["attempts"] == 2 and exc["first_seen"] < exc["last_seen"] and exc["age_ms"] > 9 * 3600_000
    ledger = _stage(doc, "ledger")
    assert ledger["state"] == "open" and ledger["breached"] and ledger["time_left_ms"] < 0


def test_late_posting_breaches_its_stage(shared: Shared) -> None:
    doc = _doc(shared, "C-LATE")
    assert doc["status"] == "complete" and doc["sla"]["breached"] is True
    ledger = _stage(doc, "ledger")
    assert ledger["breached"] and ledger["duration_ms"] == 6 * 3600_000
    assert not _stage(doc, "invoice")["breached"]
    assert doc["sla"]["end_to_end"]["breached"] is False


def test_batch_journal_fan_in_is_stitched_and_bounded(shared: Shared) -> None:
    doc = _doc(shared, "C-B0")
    # The journal (its own correlation ID) posts this invoice: the ledger stage is done.
    assert doc["status"] == "complete"
    assert [h["entity_type"] for h in doc["hops"]] == ["case", "credit", "invoice"]
    assert ("INV-B0", "JNL-1") in {(e["parent_id"], e["child_id"]) for e in doc["edges"]}
    assert doc["related"][0] == {
        "correlation_id": "J-1",
        "depth": 1,
        "via": "entity",
        "flow": "erp_journal",
        "status": "complete",
    }
    # Depth 2 reaches the journal's other invoices: 7, fan-out limit 5, 2 left out.
    others = [r for r in doc["related"] if r["depth"] == 2]
    assert len(others) == 5 and doc["related_omitted"] == 2
    journal = _doc(shared, "J-1")
    assert journal["flow"] == "erp_journal" and journal["status"] == "complete"
    assert len(journal["edges"]) == shared.world.batch_size
    assert len(journal["related"]) == 5 and journal["related_omitted"] == shared.world.batch_size - 5


def test_missing_stage(shared: Shared) -> None:
    doc = _doc(shared, "C-MISS")
    assert doc["status"] == "complete"
    assert _kinds(doc) == [("missing_stage", "credit")]
    assert _stage(doc, "credit")["state"] == "missing"


def test_duplicate_posting(shared: Shared) -> None:
    doc = _doc(shared, "C-DUP")
    assert doc["status"] == "complete"
    assert _kinds(doc) == [("duplicate_posting", "ledger.posted")] * 2
    details = " ".join(c["detail"] for c in doc["conformance"])
    assert "idempotency key post-INV-DUP succeeded 2 times" in details
    assert "parent entity invoice:INV-DUP succeeded 2 times" in details


def test_amount_mismatch(shared: Shared) -> None:
    doc = _doc(shared, "C-AMT")
    assert doc["amount_mismatches"] == [
        {
            "entity_type": "ledger",
            "entity_id": "LED-AMT",
            "step": "ledger.posted",
            "amount": 102.0,
            "currency": "USD",
            "expected_amount": 120.0,
            "expected_currency": "EUR",
        }
    ]
    assert doc["conformance"] == []


def test_spans_arriving_out_of_order(shared: Shared) -> None:
    doc = _doc(shared, "C-OOO")
    assert doc["status"] == "complete" and doc["conformance"] == []
    assert [h["entity_type"] for h in doc["hops"]] == ["case", "credit", "invoice", "ledger"]


def test_stages_out_of_order(shared: Shared) -> None:
    doc = _doc(shared, "C-ORD")
    assert _kinds(doc) == [("out_of_order", "invoice")]


def test_stuck_and_in_flight(shared: Shared) -> None:
    stuck = _doc(shared, "C-STUCK")
    assert stuck["status"] == "stuck" and stuck["sla"]["breached"]
    ledger = _stage(stuck, "ledger")
    assert ledger["state"] == "open" and ledger["time_left_ms"] < -5 * 3600_000
    flying = _doc(shared, "C-FLY")
    assert flying["status"] == "in_flight" and not flying["sla"]["breached"]
    credit = _stage(flying, "credit")
    assert credit["state"] == "open" and 3 * 3600_000 < credit["time_left_ms"] < 4 * 3600_000
    assert [s["state"] for s in flying["sla"]["stages"]] == ["done", "open", "pending", "pending"]


def test_unknown_correlation_id(shared: Shared) -> None:
    assert shared.lineage.transaction(EVERYTHING, "nope") is None


def test_late_spans_update_the_answer(emitter: Emitter, lineage: Lineage) -> None:
    t0 = now_ns() - 8 * HOUR
    emitter.hop("C-L", "case", "CASE-L", "case.opened", t0)
    emitter.hop("C-L", "credit", "CR-L", "credit.approved", t0 + 10 * MIN, parent=("case", "CASE-L"))
    emitter.hop("C-L", "invoice", "INV-L", "invoice.issued", t0 + 20 * MIN, parent=("credit", "CR-L"))
    emitter.wait()
    first = lineage.transaction(EVERYTHING, "C-L")
    assert first is not None and first["status"] == "stuck"
    # The posting happened in time but its span arrives hours later.
    emitter.hop("C-L", "ledger", "LED-L", "ledger.posted", t0 + 2 * HOUR, parent=("invoice", "INV-L"))
    emitter.wait()
    later = lineage.transaction(EVERYTHING, "C-L")
    assert later is not None and later["status"] == "complete" and not later["sla"]["breached"]
    assert len(later["hops"]) == 4


def test_retried_delivery_does_not_double_count(shared: Shared) -> None:
    """Insert C-OK's spans again, as a collector retry would: nothing changes."""
    before = _doc(shared, "C-OK")
    shared.store.command("INSERT INTO otel_traces SELECT * FROM otel_traces WHERE CorrelationId = 'C-OK'")
    after = _doc(shared, "C-OK")
    assert [h["attempts"] for h in after["hops"]] == [1, 1, 1, 1]
    assert after["conformance"] == [] and after["status"] == before["status"]


def test_big_frontier_variant_stitches_the_same(shared: Shared, monkeypatch: pytest.MonkeyPatch) -> None:
    """Frontiers over the key limit are stitched by correlation ID in SQL: same answers."""
    ids = ("C-B0", "J-1", "C-OK", "C-LINK", "C-DLQ")
    before = {cid: (_doc(shared, cid)["related"], _doc(shared, cid)["related_omitted"]) for cid in ids}
    monkeypatch.setattr(service, "_MAX_KEY_PARAMS", 0)
    after = {cid: (_doc(shared, cid)["related"], _doc(shared, cid)["related_omitted"]) for cid in ids}
    assert after == before


def test_same_entity_in_two_correlation_ids_is_stitched(emitter: Emitter, lineage: Lineage) -> None:
    t0 = now_ns() - 2 * HOUR
    emitter.hop("C-X1", "invoice", "INV-Z", "invoice.issued", t0)
    emitter.hop("C-X2", "invoice", "INV-Z", "invoice.sent", t0 + 10 * MIN, system="mailer")
    emitter.wait()
    for cid, other in (("C-X1", "C-X2"), ("C-X2", "C-X1")):
        doc = lineage.transaction(EVERYTHING, cid)
        assert doc is not None
        assert doc["related"] == [
            {"correlation_id": other, "depth": 1, "via": "entity", "flow": "support_credit", "status": "in_flight"}
        ]
