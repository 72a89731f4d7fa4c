"""Prometheus metrics of sealing: how far behind it is, how long a pass takes, and its failures.

Registered on the registry the caller gives (``serve``'s process-wide one), else on one of their
own: no process globals. Lag and leadership are read from the sealer at scrape time.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

SEAL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
REASONS = ("store", "key", "other")  # the store failed; the seal key is not the store's; anything else


class SealMetrics:
    """Seal pass duration, seals and hops sealed, failures by reason, lag, leadership."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.seconds = Histogram(
            "ledgerline_seal_duration_seconds",
            "Time of one successful seal pass (sealing the hops stored since the last seal).",
            buckets=SEAL_BUCKETS,
            registry=registry,
        )
        self.seals = Counter("ledgerline_seals", "Seals written.", registry=registry)
        self.hops = Counter("ledgerline_sealed_hops", "Hops sealed (leaves of the seals written).", registry=registry)
        self.failures = Counter(
            "ledgerline_seal_failures",
            "Seal passes that failed, by reason (store: a query failed; key: this process's seal key "
            "is not the store's; other).",
            ["reason"],
            registry=registry,
        )
        for reason in REASONS:
            self.failures.labels(reason)
        self.last_success = Gauge(
            "ledgerline_seal_last_success_timestamp_seconds",
            "Cutoff of the last successful seal pass, Unix time on the store's clock: every hop stored "
            "before it is sealed (0: none yet in this process).",
            registry=registry,
        )
        self.lag = Gauge(
            "ledgerline_seal_lag_seconds",
            "Seconds since the cutoff of the last successful seal pass (or since this process began "
            "sealing): no hop stored earlier is unsealed. NaN when this process does not seal.",
            registry=registry,
        )
        self.leading = Gauge(
            "ledgerline_sealer_leading",
            "1 when this process seals (its sealer runs and holds the lease, or needs none).",
            registry=registry,
        )

    def watch(self, lag_s: Callable[[], float], leading: Callable[[], bool]) -> None:
        """Read the lag and leadership at scrape time."""
        self.lag.set_function(lag_s)
        self.leading.set_function(lambda: 1.0 if leading() else 0.0)

    def sealed(self, seconds: float, cutoff_ms: int, hops: int) -> None:
        """A pass succeeded: every hop stored before ``cutoff_ms`` is sealed (``hops`` of them now)."""
        self.seconds.observe(seconds)
        self.last_success.set(cutoff_ms / 1000)
        if hops:
            self.seals.inc()
            self.hops.inc(hops)

    def failed(self, reason: str) -> None:
        """A pass failed (``reason`` one of :data:`REASONS`)."""
        self.failures.labels(reason).inc()
