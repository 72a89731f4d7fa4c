"""Prometheus metrics of the collector, on the registry it is given (no process globals).

``serve`` passes its process-wide registry (ledgerline/server.py), so ``/metrics`` on the OTLP/HTTP
port shows every component running in the process; alone, the collector makes a registry of its own.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class CollectorMetrics:
    """Counters for spans and requests, commit latency and queue depth."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.spans_received = Counter(
            "ledgerline_spans_received",
            "Spans received in export requests.",
            ["transport"],
            registry=self.registry,
        )
        self.spans_accepted = Counter(
            "ledgerline_spans_accepted",
            "Spans committed to the store and acknowledged.",
            ["transport"],
            registry=self.registry,
        )
        self.spans_rejected = Counter(
            "ledgerline_spans_rejected",
            "Spans refused as invalid (partial success).",
            ["transport"],
            registry=self.registry,
        )
        self.requests = Counter(
            "ledgerline_export_requests",
            "Export requests by transport and outcome.",
            ["transport", "outcome"],
            registry=self.registry,
        )
        self.commit_seconds = Histogram(
            "ledgerline_batch_commit_seconds",
            "Time to commit one group of payloads.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.commit_spans = Counter(
            "ledgerline_batch_commit_spans", "Spans per commit outcome.", ["outcome"], registry=self.registry
        )
        self.queue_spans = Gauge(
            "ledgerline_queue_spans", "Spans queued and not yet committed.", registry=self.registry
        )

    def watch_queue(self, depth: Callable[[], int]) -> None:
        """Report the writer's queue depth at scrape time."""
        self.queue_spans.set_function(lambda: float(depth()))

    def on_commit(self, spans: int, seconds: float, ok: bool) -> None:
        """Writer callback: one group commit finished."""
        self.commit_seconds.observe(seconds)
        self.commit_spans.labels("ok" if ok else "error").inc(spans)

    def render(self) -> bytes:
        """The text exposition format of the whole registry."""
        return generate_latest(self.registry)
