"""A past bucket changed by late postings says so: hops stored (hops.IngestedAt) more than the
lateness grace (LEDGERLINE_BUSINESS_METRICS_LAG) after their bucket ended are counted in ``late``
of the throughput, posting-latency and overview series."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from lineage.api.app import create_app
from lineage.core.service import Lineage
from tests.lineage.auth.helpers import bearer, issue
from tests.lineage.helpers import HOUR, MIN, Emitter, now_ns


def _posting(emitter: Emitter, n: str, posted_ns: int) -> None:
    """An invoice issued 10 minutes before its posting, which ends at ``posted_ns``."""
    emitter.hop(f"LATE-{n}", "invoice", f"INV-L{n}", "invoice.issued", posted_ns - 11 * MIN)
    emitter.hop(f"LATE-{n}", "ledger", f"LED-L{n}", "ledger.posted", posted_ns - MIN, parent=("invoice", f"INV-L{n}"))


def _series(lineage: Lineage, lag: str) -> dict[str, Any]:
    settings = lineage.settings.model_copy(update={"business_metrics_lag": lag})
    with TestClient(create_app(settings, lineage.store)) as c:
        c.headers.update(bearer(issue(lineage.store, "viewer")))
        answers = {}
        for name, route in (
            ("latency", "/api/v1/metrics/posting-latency"),
            ("throughput", "/api/v1/metrics/throughput"),
            ("overview", "/api/v1/overview"),
        ):
            response = c.get(route, params={"since": "6h", "bucket": "1h"})
            assert response.status_code == 200, response.text
            answers[name] = response.json()
        return answers


def test_late_postings_mark_their_closed_bucket(emitter: Emitter, lineage: Lineage) -> None:
    hour = now_ns() // HOUR * HOUR
    past = hour - 2 * HOUR + 30 * MIN  # in a bucket that closed over an hour ago: stored late now
    _posting(emitter, "old-1", past)
    _posting(emitter, "old-2", past + 5 * MIN)
    _posting(emitter, "now", now_ns() - MIN)  # the open bucket, or one closed under 15 minutes ago
    emitter.wait()

    answers = _series(lineage, "30m")  # a grace the recent posting is within and the old ones are not
    old = f"{(hour - 2 * HOUR) // 10**9}"
    late_latency = {b["bucket"]: b["late"] for b in answers["latency"]["buckets"]}
    assert sum(late_latency.values()) == 2, answers["latency"]
    [(bucket, n)] = [(b, n) for b, n in late_latency.items() if n]
    assert n == 2 and _epoch_s(bucket) == int(old)
    late_stages = {(b["bucket"], b["stage"]): b["late"] for b in answers["throughput"]["buckets"]}
    assert {k: v for k, v in late_stages.items() if v} == {(bucket, "invoice"): 2, (bucket, "ledger"): 2}
    late_overview = {p["bucket"]: p["late"] for p in answers["overview"]["series"]}
    assert {b: n for b, n in late_overview.items() if n} == {bucket: 2}

    # The same hops stored within the grace are on time: with a grace of 6 h nothing is late.
    relaxed = _series(lineage, "6h")
    assert all(b["late"] == 0 for b in relaxed["latency"]["buckets"] + relaxed["throughput"]["buckets"])
    assert all(p["late"] == 0 for p in relaxed["overview"]["series"])


def _epoch_s(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def test_late_hops_mark_each_kpi_by_what_it_measures(emitter: Emitter, lineage: Lineage) -> None:
    """The Flows page's KPI charts: latency and throughput count late successes of their measured
    step, the failure rate any late attempt; a KPI of another step is unmarked."""
    hour = now_ns() // HOUR * HOUR
    past = hour - 2 * HOUR + 30 * MIN
    _posting(emitter, "k-1", past)
    _posting(emitter, "k-2", past + 5 * MIN)
    emitter.hop("LATE-k-3", "ledger", "LED-Lk-3", "ledger.posted", past, outcome="failed", category="erp_rejected")
    emitter.hop("LATE-k-4", "credit", "CR-Lk-4", "credit.approved", now_ns() - 2 * MIN)  # on time
    emitter.wait()

    settings = lineage.settings.model_copy(update={"business_metrics_lag": "30m"})
    with TestClient(create_app(settings, lineage.store)) as c:
        c.headers.update(bearer(issue(lineage.store, "viewer")))
        response = c.get("/api/v1/kpis", params={"flow": "support_credit", "since": "6h", "bucket": "1h"})
        assert response.status_code == 200, response.text
        series = {k["name"]: k for k in response.json()["kpis"]}
    old = hour - 2 * HOUR

    def marks(name: str) -> dict[int, int]:
        return {_epoch_s(b["bucket"]): b["late"] for b in series[name]["buckets"] if b["late"]}

    assert marks("posting_latency") == {old // 10**9: 2}
    assert marks("ledger_failure_rate") == {old // 10**9: 3}  # the late failure changed the rate too
    assert series["credits_approved"]["buckets"] and marks("credits_approved") == {}
