"""Business metrics for Prometheus (``GET /metrics/business``), from the API's own definitions.

Counters and the latency histogram must only grow, so they are kept per scrape identity's
scope and advanced at each scrape by what ended since the previous one: completed and failed
hops (:data:`lineage.insights.queries.HOP_COUNTS`, the throughput route's and the failure-rate
KPI's rules) and postings (:func:`lineage.insights.service.latency_histogram`, the histogram
route), each over ``[counted_until, now - lag)``. The first scrape starts them with the trailing
window. A hop stored more than ``lag`` after it ended is not counted (its interval was read).

Gauges are :func:`lineage.insights.service.at_risk` over the trailing window as of the scrape,
the same answer as ``GET /api/v1/at-risk?since=<as_of - window>&until=<as_of>``: open
exceptions (by system and region), stuck transactions (by flow, system and region), money at
risk (by kind and currency). Open exceptions and their money are SQL aggregates of the same
definition (``lineage.sql.exceptions.OPEN_BY_PLACE``, ``OPEN_MONEY``), not cut at the row cap.

A scrape never waits for the store once a scope has a snapshot: it gets the latest one, and when
that is older than ``refresh_s`` a new one is computed in the background (one at a time per
scope), so Prometheus reads figures at most one refresh plus one computation old
(``ledgerline_business_as_of_seconds`` says when). ``refresh_s`` 0 computes on every scrape and
waits for it. A scope's first scrape always computes.

Cardinality is capped: a scope's counters and gauges hold at most ``max_series`` label sets;
one more is dropped and counted (``ledgerline_business_series_dropped``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from collector.store.errors import StoreError
from lineage.core import domain
from lineage.core.currency import round_money
from lineage.core.scope import Scope
from lineage.core.service import Lineage
from lineage.core.timeparse import to_ms, utcnow
from lineage.core.window import Window
from lineage.insights import queries
from lineage.insights.service import EDGES, at_risk, latency_histogram
from lineage.sql import exceptions as exception_sql

log = logging.getLogger(__name__)
# Label sets one interval's hop counts may have; counting stops (an error, nothing counted) above
# it: far over any cap, it only stops a runaway read.
MAX_GROUPS = 1_000_000
HOP_LABELS = ("flow", "stage", "system", "region", "legal_entity")
Labels = tuple[str, ...]


@dataclass(frozen=True)
class Limits:
    """How far back the gauges look, how late a hop may be stored, how many series, how often."""

    window_ms: int = 86400_000
    lag_ms: int = 60_000
    max_series: int = 5000
    refresh_s: float = 30.0
    max_rows: int = 0  # rows a refresh reads for the gauges; 0: the store's row cap


@dataclass
class Latency:
    """One flow's posting-latency histogram: counts per :data:`EDGES` bin, their sum in ms."""

    bins: list[int] = field(default_factory=lambda: [0] * len(EDGES))
    sum_ms: int = 0


@dataclass
class Snapshot:
    """Everything one scrape shows (plain data; lineage/api/business_metrics.py renders it)."""

    created_s: float
    as_of_ms: int
    counted_until_ms: int
    window_ms: int
    completed: dict[Labels, int]
    failed: dict[Labels, int]
    latency: dict[str, Latency]
    open_exceptions: dict[Labels, int]
    stuck: dict[Labels, int]
    money: dict[Labels, float]
    dropped: int
    truncated: bool


@dataclass
class _Tally:
    """One scope's counters between scrapes."""

    created_s: float
    counted_until_ms: int = 0
    completed: dict[Labels, int] = field(default_factory=lambda: defaultdict(int))
    failed: dict[Labels, int] = field(default_factory=lambda: defaultdict(int))
    latency: dict[str, Latency] = field(default_factory=dict)
    dropped: int = 0
    computing: threading.Lock = field(default_factory=threading.Lock)  # one computation at a time
    latest: tuple[float, Snapshot] | None = None  # (monotonic time computed, snapshot)
    refreshing: bool = False


class BusinessMetrics:
    """The counters of every scope that scraped, and the scrape itself."""

    MAX_SCOPES = 64  # distinct scrape scopes kept; the oldest is forgotten (its counters restart)

    def __init__(self, svc: Lineage, limits: Limits) -> None:
        self.svc = svc
        self.limits = limits
        self._tallies: dict[Scope, _Tally] = {}
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._closed = False

    def _tally(self, scope: Scope) -> _Tally:
        with self._lock:
            tally = self._tallies.get(scope)
            if tally is None:
                if len(self._tallies) >= self.MAX_SCOPES:
                    self._tallies.pop(next(iter(self._tallies)))
                tally = self._tallies[scope] = _Tally(created_s=time.time())
            return tally

    def scrape(self, scope: Scope) -> Snapshot:
        """The latest snapshot of ``scope``; a stale one starts a refresh in the background.
        With ``refresh_s`` 0, and at a scope's first scrape, compute now and wait."""
        tally = self._tally(scope)
        with self._lock:
            latest = tally.latest
            stale = latest is None or time.monotonic() - latest[0] >= self.limits.refresh_s
            background = latest is not None and stale and self.limits.refresh_s > 0 and not tally.refreshing
            background = background and not self._closed
            if background:
                tally.refreshing = True
                thread = threading.Thread(target=self._background, args=(scope, tally), daemon=True)
                self._threads.add(thread)
                thread.start()
        if latest is not None and not (stale and self.limits.refresh_s <= 0):
            return latest[1]
        return self._refresh(scope, tally)

    def _refresh(self, scope: Scope, tally: _Tally) -> Snapshot:
        with tally.computing:
            snapshot = self._compute(scope, tally)
            with self._lock:
                tally.latest = (time.monotonic(), snapshot)
            return snapshot

    def _background(self, scope: Scope, tally: _Tally) -> None:
        """A refresh no scrape waits for: a failure is logged, the next stale scrape tries again."""
        try:
            self._refresh(scope, tally)
        except Exception as exc:  # the store unavailable, a timeout: the old snapshot stays
            log.warning("business metrics: background refresh failed: %s", exc)
        finally:
            with self._lock:
                tally.refreshing = False
                self._threads.discard(threading.current_thread())

    def close(self, timeout_s: float = 30.0) -> None:
        """Start no more refreshes and wait (up to ``timeout_s``) for the running ones: the API
        stops before the store closes."""
        with self._lock:
            self._closed = True
            running = list(self._threads)
        deadline = time.monotonic() + timeout_s
        for thread in running:
            thread.join(max(deadline - time.monotonic(), 0))

    def _compute(self, scope: Scope, tally: _Tally) -> Snapshot:
        lim = self.limits
        now = to_ms(utcnow())
        until = now - lim.lag_ms
        since = tally.counted_until_ms or until - lim.window_ms
        if until > since:
            self._apply(tally, self._hop_rows(scope, since, until), self._postings(scope, since, until))
            tally.counted_until_ms = until
        # every item: the gauges count them; a background read, so it may read past the API's row cap
        rows = lim.max_rows or self.svc.settings.query_max_rows
        risk = at_risk(self.svc, scope, Window(now - lim.window_ms, now, rows), "", "", "", "", max_rows=rows)
        room = max(lim.max_series - len(tally.completed) - len(tally.latency), 0)
        gauges: list[dict[Labels, Any]] = [defaultdict(int), defaultdict(int), defaultdict(float)]
        # Open exceptions and their money: SQL aggregates, not cut at the row cap.
        params = {"since_ms": now - lim.window_ms, "until_ms": now, **scope.params()}
        params |= domain.exception_params(self.svc.config, now)
        for row in self.svc.store.query_dicts(exception_sql.OPEN_BY_PLACE, params):
            gauges[0][(row["system"], row["region"] or "")] += int(row["n"])
        for row in self.svc.store.query_dicts(exception_sql.OPEN_MONEY, params):
            currency = row["currency"] or ""
            gauges[2][("open_exceptions", currency)] += round_money(float(row["amount"]), currency or None)
        for item in risk["items"]:
            if item["kind"] == "stuck":
                gauges[1][(item.get("flow") or "", item["system"], item["region"] or "")] += 1
        for total in risk["totals"]:
            if total["kind"] != "open_exceptions":
                gauges[2][(total["kind"], total["currency"] or "")] += total["amount"]
        kept: list[dict[Labels, Any]] = []
        for gauge in gauges:
            ordered = sorted(gauge.items(), key=lambda kv: (-kv[1], kv[0]))
            kept.append(dict(ordered[:room]))
            tally.dropped += max(len(ordered) - room, 0)
            room = max(room - len(ordered), 0)
        return Snapshot(
            created_s=tally.created_s,
            as_of_ms=now,
            counted_until_ms=tally.counted_until_ms,
            window_ms=lim.window_ms,
            completed=dict(tally.completed),
            failed=dict(tally.failed),
            latency={f: Latency(list(h.bins), h.sum_ms) for f, h in tally.latency.items()},
            open_exceptions=kept[0],
            stuck=kept[1],
            money=kept[2],
            dropped=tally.dropped,
            truncated=bool(risk["truncated"]),
        )

    def _hop_rows(self, scope: Scope, since: int, until: int) -> list[dict[str, Any]]:
        config = self.svc.config
        stages = [(f.name, s) for f in config.flows.values() for s in f.stages]
        page = self.svc.store.query_bounded(
            queries.HOP_COUNTS,
            {
                "since_ms": since,
                "until_ms": until,
                "keys": [f"{name}|{s.entity_type}|{s.step}" for name, s in stages],
                "names": [s.name for _, s in stages],
                "steps": sorted({s.step for _, s in stages}),
                "default_flow": config.default_flow,
                **scope.params(),
            },
            MAX_GROUPS,
        )
        if page.truncated:  # never cut silently: the whole interval is read again next time
            raise StoreError(f"more than {MAX_GROUPS} label sets of hops in one interval")
        return page.rows

    def _postings(self, scope: Scope, since: int, until: int) -> dict[str, dict[str, Any]]:
        window = Window(since, until, 1)
        return {
            f.name: latency_histogram(self.svc, scope, f, window, "", "", "") for f in self.svc.config.flows.values()
        }

    def _room(self, tally: _Tally) -> bool:
        """True when one more counter or histogram series fits under the cap (else it is counted dropped)."""
        if len(tally.completed) + len(tally.latency) < self.limits.max_series:
            return True
        tally.dropped += 1
        return False

    def _apply(self, tally: _Tally, rows: list[dict[str, Any]], postings: dict[str, dict[str, Any]]) -> None:
        """Add one interval's hops and postings (read in full before: nothing half counted)."""
        for r in rows:
            labels = tuple(str(r[k]) for k in HOP_LABELS)
            if labels not in tally.completed:
                if not self._room(tally):
                    continue
                tally.completed[labels] = tally.failed[labels] = 0
            tally.completed[labels] += int(r["completed"])
            tally.failed[labels] += int(r["failed"])
        for flow, doc in postings.items():
            if not doc["count"] or (flow not in tally.latency and not self._room(tally)):
                continue
            h = tally.latency.setdefault(flow, Latency())
            for i, b in enumerate(doc["bins"]):
                h.bins[i] += b["count"]
            h.sum_ms += doc["sum_ms"]
