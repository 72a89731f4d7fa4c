"""The HTTP API over the scenarios (FastAPI TestClient), including errors and audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from collector.settings import StoreSettings
from collector.store import Store, migrate
from lineage.api.app import create_app
from lineage.auth.schema import MIGRATIONS as AUTH_MIGRATIONS
from lineage.core.scope import EVERYTHING
from lineage.core.service import Lineage
from tests.lineage.auth.helpers import bearer, issue
from tests.lineage.conftest import Shared
from tests.lineage.helpers import HOUR, MIN, Emitter, now_ns


@pytest.fixture(scope="module")
def client(shared: Shared) -> Iterator[TestClient]:
    with TestClient(create_app(shared.lineage.settings, shared.store)) as c:
        c.headers.update(bearer(issue(shared.store, "operator", "ana@corp.example")))
        yield c


def _get(client: TestClient, url: str, **params: Any) -> Any:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_transaction_route(client: TestClient, shared: Shared) -> None:
    doc = _get(client, "/api/v1/transactions/C-B0")
    assert doc["status"] == "complete" and doc["related_correlation_ids"][0] == "J-1"
    assert set(doc) >= {
        "correlation_id",
        "flow",
        "status",
        "started_at",
        "completed_at",
        "hops",
        "edges",
        "related_correlation_ids",
        "sla",
        "conformance",
        "amount_mismatches",
        "exceptions",
    }
    missing = client.get("/api/v1/transactions/NO-SUCH")
    assert missing.status_code == 404 and "NO-SUCH" in missing.json()["detail"]


def test_entity_route(client: TestClient) -> None:
    doc = _get(client, "/api/v1/entities/invoice/INV-B0")
    assert doc["correlation_ids"] == ["C-B0"] and doc["transactions"][0]["status"] == "complete"
    assert client.get("/api/v1/entities/invoice/NOPE").status_code == 404


def test_list_matches_lookups(client: TestClient, shared: Shared) -> None:
    listed = _get(client, "/api/v1/transactions", since="24h", limit=100)
    assert listed["truncated"] is False
    statuses = {t["correlation_id"]: t["status"] for t in listed["transactions"]}
    assert len(statuses) == 21
    for cid, status in statuses.items():
        assert shared.lineage.transaction(EVERYTHING, cid)["status"] == status, cid  # type: ignore[index]
    assert {t["correlation_id"] for t in _get(client, "/api/v1/transactions", status="stuck")["transactions"]} == {
        "C-STUCK"
    }
    assert [t["correlation_id"] for t in _get(client, "/api/v1/transactions", status="failed")["transactions"]] == [
        "C-DLQ"
    ]
    assert [t["correlation_id"] for t in _get(client, "/api/v1/transactions", region="amer")["transactions"]] == [
        "C-STUCK"
    ]
    assert [t["correlation_id"] for t in _get(client, "/api/v1/transactions", flow="erp_journal")["transactions"]] == [
        "J-1"
    ]
    limited = _get(client, "/api/v1/transactions", since="24h", limit=3)
    assert len(limited["transactions"]) == 3 and limited["truncated"] is True
    assert _get(client, "/api/v1/transactions", since="3h", until="2h")["transactions"] == []
    assert [t["correlation_id"] for t in _get(client, "/api/v1/transactions", since="1h")["transactions"]] == ["C-FLY"]


def test_exceptions_and_audit_trail(client: TestClient) -> None:
    listed = _get(client, "/api/v1/exceptions", since="24h")["exceptions"]
    assert {(e["entity_id"], e["state"]) for e in listed} == {("LED-RETRY", "resolved"), ("LED-DLQ", "open")}
    assert [e["entity_id"] for e in _get(client, "/api/v1/exceptions", category="timeout")["exceptions"]] == [
        "LED-RETRY"
    ]
    [dlq] = _get(client, "/api/v1/exceptions", state="open")["exceptions"]
    assert dlq["recoverable"] is False and dlq["system"] == "sap"
    acked = client.post(f"/api/v1/exceptions/{dlq['id']}/ack", json={"note": "tax table fix"})
    assert acked.status_code == 200 and acked.json()["state"] == "acknowledged"
    assert _get(client, "/api/v1/exceptions", state="open")["exceptions"] == []
    # A body's actor is ignored: the credential's subject is recorded.
    done = client.post(f"/api/v1/exceptions/{dlq['id']}/resolve", json={"actor": "bo", "note": "reposted"}).json()
    assert done["state"] == "resolved" and done["resolved_at"] is not None
    assert [(h["action"], h["actor"], h["note"]) for h in done["history"]] == [
        ("ack", "ana@corp.example", "tax table fix"),
        ("resolve", "ana@corp.example", "reposted"),
    ]
    assert _get(client, f"/api/v1/exceptions/{dlq['id']}")["history"][1]["actor"] == "ana@corp.example"
    assert client.post(f"/api/v1/exceptions/{dlq['id']}/ack", json={"note": "x" * 5000}).status_code == 422
    assert client.post("/api/v1/exceptions/0000000000000000/ack", json={"actor": "x"}).status_code == 404
    assert client.post("/api/v1/exceptions/not-an-id/ack", json={"actor": "x"}).status_code == 422


def test_posting_latency_counts(client: TestClient) -> None:
    doc = _get(client, "/api/v1/metrics/posting-latency", since="24h", bucket="1h", group_by="region")
    # 8 journal postings + OK, RETRY, LATE, MISS, AMT, OOO, ORD + 2 for DUP; the dead letter never posted.
    assert sum(b["count"] for b in doc["buckets"]) == 17
    assert {b["group"] for b in doc["buckets"]} == {"emea"}
    assert doc["from_step"] == "invoice.issued" and doc["to_step"] == "ledger.posted"


def test_throughput_and_breaches(client: TestClient) -> None:
    doc = _get(client, "/api/v1/metrics/throughput", since="24h", bucket="1h")
    per_stage: dict[str, int] = {}
    for b in doc["buckets"]:
        per_stage[b["stage"]] = per_stage.get(b["stage"], 0) + b["completed"]
    assert per_stage["case"] == 19 and per_stage["ledger"] == 9  # OK RETRY LATE MISS DUP(2) AMT OOO ORD
    breaches = _get(client, "/api/v1/sla/breaches", since="24h")
    kinds = {(b["correlation_id"], b["stage"], b["kind"]) for b in breaches["breaches"]}
    assert ("C-LATE", "ledger", "late_complete") in kinds
    assert {("C-STUCK", "ledger", "open_overdue"), ("C-DLQ", "ledger", "open_overdue")} <= kinds
    assert breaches["late_complete"] >= 1 and breaches["open_overdue"] >= 2
    only = _get(client, "/api/v1/sla/breaches", since="24h", stage="credit")
    assert only["breaches"] == []


def test_backlog(client: TestClient) -> None:
    doc = _get(client, "/api/v1/metrics/exception-backlog", since="24h", bucket="1h")
    open_by_cat = {(p["category"], p["open"]) for p in doc["series"]}
    assert ("tax_error", 1) in open_by_cat
    # The retried posting failed just under 15h into the window (the world was built a moment
    # before this request) and succeeded 1h51m later: open at the end of two hourly buckets.
    timeout = [p for p in doc["series"] if p["category"] == "timeout"]
    assert [p["open"] for p in timeout] == [1, 1]
    tax = [p for p in doc["series"] if p["category"] == "tax_error"]
    assert tax[0]["bucket"] == timeout[0]["bucket"] and len(tax) >= 9  # open from then on (until resolved)
    assert len(doc["series"]) <= 24 * 2 + 2


@pytest.mark.parametrize(
    "url, params, needle",
    [
        ("/api/v1/transactions", {"since": "yesterday"}, "not an ISO-8601 time"),
        ("/api/v1/transactions", {"since": "1h", "until": "2h"}, "'until' must be after 'since'"),
        ("/api/v1/transactions", {"since": "400d"}, "92 days"),
        ("/api/v1/transactions", {"status": "bogus"}, "status"),
        ("/api/v1/metrics/posting-latency", {"since": "24h", "bucket": "1s"}, "too many buckets"),
        ("/api/v1/metrics/posting-latency", {"bucket": "5 minutes"}, "not a duration"),
        ("/api/v1/metrics/posting-latency", {"group_by": "planet"}, "group_by"),
        ("/api/v1/metrics/throughput", {"flow": "nope"}, "unknown flow"),
        ("/api/v1/sla/breaches", {"stage": "nope"}, "no stage"),
    ],
)
def test_bad_parameters_are_422(client: TestClient, url: str, params: dict[str, str], needle: str) -> None:
    response = client.get(url, params=params)
    assert response.status_code == 422 and needle in response.text


def test_store_errors_are_503(shared: Shared) -> None:
    # A database with only the auth tables: every lineage query fails in the store.
    bare = Store(StoreSettings(clickhouse_url=shared.store.dsn, clickhouse_database="lineage_bare_db"))
    migrate(bare, AUTH_MIGRATIONS)
    with TestClient(create_app(shared.lineage.settings, bare)) as c:
        response = c.get("/api/v1/transactions/C-OK", headers=bearer(issue(bare, "viewer")))
    bare.command("DROP DATABASE IF EXISTS {db:Identifier}", {"db": bare.database})
    assert response.status_code == 503
    assert response.json()["detail"].startswith("the store is unavailable") and "Traceback" not in response.text


def test_posting_latency_quantiles(emitter: Emitter, lineage: Lineage) -> None:
    posted = (now_ns() // (3600 * 10**9) - 2) * 3600 * 10**9 + 50 * MIN  # same hour bucket for all
    for i, minutes in enumerate((10, 20, 30)):
        emitter.hop(
            f"Q-{i}",
            "invoice",
            f"INV-Q{i}",
            "invoice.issued",
            posted - (minutes + 1) * MIN,
            region="apac" if i else "emea",
        )
        emitter.hop(
            f"Q-{i}", "ledger", f"LED-Q{i}", "ledger.posted", posted - MIN, parent=("invoice", f"INV-Q{i}"), region=""
        )
    emitter.wait()
    with TestClient(create_app(lineage.settings, lineage.store)) as c:
        c.headers.update(bearer(issue(lineage.store, "viewer")))
        doc = _get(c, "/api/v1/metrics/posting-latency", since="6h", bucket="1h")
        [bucket] = doc["buckets"]
        assert (bucket["count"], bucket["p50_ms"], bucket["p99_ms"]) == (3, 20 * 60_000, 30 * 60_000)
        by_region = _get(c, "/api/v1/metrics/posting-latency", since="6h", bucket="1h", group_by="region")
        assert {(b["group"], b["count"]) for b in by_region["buckets"]} == {("apac", 2), ("emea", 1)}
    assert HOUR > 0


def test_lookup_exceptions_match_listing(client: TestClient) -> None:
    listed = {e["id"]: e for e in _get(client, "/api/v1/exceptions", since="24h")["exceptions"]}
    for cid in ("C-RETRY", "C-DLQ"):
        for exc in _get(client, f"/api/v1/transactions/{cid}")["exceptions"]:
            assert {k: v for k, v in exc.items() if k != "age_ms"} == {
                k: v for k, v in listed[exc["id"]].items() if k != "age_ms"
            }
