"""``GET /metrics/business``: business figures for Prometheus, in OpenMetrics text.

Apart from the platform's health on ``GET /metrics`` (lineage/api/telemetry.py, open, no business
value): these are money and volumes, so the route is guarded like ``/api/v1`` (a viewer token,
scope applied in SQL) and each scope has its own counters (lineage/insights/scrape.py).
Names and labels are in docs/prometheus.md.
"""

from __future__ import annotations

from collections.abc import Iterator

from anyio import to_thread
from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from lineage.auth.principal import CurrentScope
from lineage.core.timeparse import parse_seconds
from lineage.insights.scrape import HOP_LABELS, BusinessMetrics, Limits, Snapshot
from lineage.insights.service import EDGES
from lineage.settings import LineageSettings

router = APIRouter(include_in_schema=False, tags=["metrics"])
NS = "ledgerline_business"


def limits_of(settings: LineageSettings) -> Limits:
    """The scrape's limits from the settings (validated durations)."""
    return Limits(
        window_ms=int(parse_seconds(settings.business_metrics_window) * 1000),
        lag_ms=int(parse_seconds(settings.business_metrics_lag) * 1000),
        max_series=settings.business_metrics_max_series,
        refresh_s=parse_seconds(settings.business_metrics_refresh),
        max_rows=settings.business_metrics_max_rows,
    )


class _Families(Collector):
    """One snapshot as metric families."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        s = self.snap
        for name, values, what in (
            (
                "hops_completed",
                s.completed,
                "Stages completed (one per entity and step), as the throughput route.",
            ),
            ("hops_failed", s.failed, "Failed attempts of the flows' stages (a duplicated span once)."),
        ):
            counter = CounterMetricFamily(f"{NS}_{name}", what, labels=HOP_LABELS, created=s.created_s)
            for labels, n in sorted(values.items()):
                counter.add_metric(list(labels), n, created=s.created_s)
            yield counter
        latency = HistogramMetricFamily(
            f"{NS}_posting_latency_seconds",
            "Posting latency per flow, as GET /api/v1/metrics/posting-latency/histogram (bins [lower, upper)).",
            labels=["flow"],
        )
        for flow, h in sorted(s.latency.items()):
            cumulative, buckets = 0, []
            for i, n in enumerate(h.bins):
                cumulative += n
                upper = f"{EDGES[i + 1] / 1000:g}" if i + 1 < len(EDGES) else "+Inf"
                buckets.append((upper, cumulative))
            if buckets[-1][0] != "+Inf":
                buckets.append(("+Inf", cumulative))
            latency.add_metric([flow], buckets, h.sum_ms / 1000)
        yield latency
        for gname, glabels, gvalues, gwhat in (
            ("open_exceptions", ["system", "region"], s.open_exceptions, "Open exceptions seen in the window."),
            ("stuck_transactions", ["flow", "system", "region"], s.stuck, "Stuck transactions started in the window."),
            (
                "money_at_risk",
                ["kind", "currency"],
                s.money,
                "Amounts at risk per kind and currency, as GET /api/v1/at-risk totals.",
            ),
        ):
            gauge = GaugeMetricFamily(f"{NS}_{gname}", gwhat, labels=glabels)
            for key, v in sorted(gvalues.items()):
                gauge.add_metric(list(key), v)
            yield gauge
        yield GaugeMetricFamily(
            f"{NS}_counted_until_seconds", "The counters hold hops that ended before this instant.",
            value=s.counted_until_ms / 1000,
        )  # fmt: skip
        yield GaugeMetricFamily(f"{NS}_as_of_seconds", "The instant the gauges describe.", value=s.as_of_ms / 1000)
        yield GaugeMetricFamily(f"{NS}_window_seconds", "The gauges' trailing window.", value=s.window_ms / 1000)
        yield GaugeMetricFamily(
            f"{NS}_truncated",
            "1 when the transaction gauges hit the store's row limit (they undercount).",
            value=int(s.truncated),
        )
        dropped = CounterMetricFamily(
            f"{NS}_series_dropped", "Label sets left out by the cap (LEDGERLINE_BUSINESS_METRICS_MAX_SERIES)."
        )
        dropped.add_metric([], s.dropped, created=s.created_s)
        yield dropped


def render(snap: Snapshot) -> bytes:
    """The snapshot in OpenMetrics text."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(snap))
    return bytes(generate_latest(registry))  # type: ignore[no-untyped-call]


@router.get("/metrics/business")
async def business_metrics(request: Request, scope: CurrentScope) -> Response:
    """OpenMetrics text of the caller's scope (queries off the event loop)."""
    metrics: BusinessMetrics = request.app.state.business_metrics
    snap = await to_thread.run_sync(metrics.scrape, scope)
    return Response(render(snap), media_type=CONTENT_TYPE_LATEST)
