"""The Flows and Reconciliation figures: the bucket still filling is drawn apart, rates read as
percentages (API-shaped data, no browser)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashboard import flow_figures

HOUR = timedelta(hours=1)
NOW = datetime(2026, 11, 23, 4, 30, tzinfo=UTC)  # the 04:00 bucket is still filling


def _bucket(hour: int, **values: object) -> dict[str, object]:
    return {"bucket": f"2026-11-23T{hour:02d}:00:00Z", "count": 48, **values}


def test_the_throughput_bucket_still_filling_is_a_hatched_bar_of_its_own() -> None:
    series = {
        "name": "payments_received",
        "kind": "throughput",
        "per_ms": 3_600_000,
        "buckets": [_bucket(2, rate=200.0), _bucket(3, rate=210.0), _bucket(4, rate=95.0, count=95)],
    }
    fig = flow_figures.kpi_figure(series, HOUR, NOW)
    done, filling = fig.data
    assert list(done.y) == [200.0, 210.0] and done.name == "complete buckets"
    assert list(filling.y) == [95.0] and filling.name == "still filling (so far)"
    assert filling.marker.pattern.shape == "/" and filling.marker.color != done.marker.color
    assert filling.customdata[0] == "95 per 1h (95) so far: the bucket is still filling until 05:00 UTC"
    assert fig.layout.yaxis.title.text == "per 1h"


def test_latency_and_failure_rate_leave_the_filling_bucket_off_the_line() -> None:
    latency = {
        "name": "payment_to_crm",
        "kind": "latency",
        "objective": {"target_ms": 1_800_000},
        "buckets": [_bucket(h, p50_ms=60_000.0 * h, p95_ms=120_000.0 * h, p99_ms=180_000.0 * h) for h in (2, 3, 4)],
    }
    fig = flow_figures.kpi_figure(latency, HOUR, NOW)
    assert [t.name for t in fig.data] == ["p50", "p95", "p99", "still filling"]
    assert all(len(t.x) == 2 for t in fig.data[:3]) and len(fig.data[3].x) == 3
    assert fig.layout.annotations[0].text == "target 30m 00s"
    failures = {
        "name": "crm_failure_rate",
        "kind": "failure_rate",
        "step": "payment.applied",
        "objective": {"max_rate": 0.02},
        "buckets": [_bucket(3, failed=25, rate=25 / 48), _bucket(4, failed=0, rate=0.0, count=0)],
    }
    fig = flow_figures.kpi_figure(failures, HOUR, NOW)
    assert list(fig.data[0].y) == [100 * 25 / 48]
    assert fig.data[0].customdata[0] == "52%: 25 of 48 attempts failed"
    assert fig.layout.annotations[0].text == "objective ≤ 2%"
    assert flow_figures.failure_summary(failures, "last 24h") == (
        "crm_failure_rate: 25 of 48 payment.applied attempts failed in the last 24h (52%); objective at most 2%."
    )


def test_buckets_late_postings_changed_are_marked_on_every_kpi_kind() -> None:
    kinds = {
        "latency": ({"p50_ms": 60_000.0, "p95_ms": 120_000.0, "p99_ms": 180_000.0}, 2.0),
        "throughput": ({"rate": 40.0}, 40.0),
        "failure_rate": ({"failed": 12, "rate": 0.25}, 25.0),
    }
    for kind, (values, height) in kinds.items():
        series = {
            "name": kind,
            "kind": kind,
            "per_ms": 3_600_000,
            "buckets": [_bucket(2, late=3, **values), _bucket(3, late=0, **values)],
        }
        [mark] = [t for t in flow_figures.kpi_figure(series, HOUR, NOW).data if t.name == "changed by late postings"]
        assert list(mark.y) == [height], kind  # on the changed bucket only, at its plotted value
        assert "3 late postings changed this bucket" in mark.text[0]


def test_today_is_hatched_in_the_reconciliation_drift() -> None:
    buckets = [
        {"bucket": "2026-11-22T00:00:00Z", "legal_entity": "LE-1", "break_count": 4},
        {"bucket": "2026-11-23T00:00:00Z", "legal_entity": "LE-1", "break_count": 1},
    ]
    fig = flow_figures.drift_figure(buckets, NOW)
    assert list(fig.data[0].marker.pattern.shape) == ["", "/"]
    assert fig.data[0].customdata == ("4 breaks", "1 break so far (today, still filling)")
