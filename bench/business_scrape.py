"""A Prometheus scrape of ``GET /metrics/business`` (``python -m bench.lineage --scrape``).

    .venv/bin/python -m bench.lineage --scrape --spans 10000000 --runs 50 [--data-dir D --reuse] [--json]

Over the --spans history of bench/history.py (transactions spread over --days ending now), the
route is called through the real API app (in-process, FastAPI's TestClient) with a viewer token:

* ``first``: the first scrape of a scope, which starts the counters with the whole trailing
  window (24 h: completed and failed hops from hop_times by step and end time, and every
  posting of the window, postings_cte) and reads the gauges (``at_risk`` over 24 h: the
  exceptions CTE from hop_failures, the transaction listing's facts, amounts from hops);
* ``computed``: every scrape computes and waits (``LEDGERLINE_BUSINESS_METRICS_REFRESH=0s``): the
  counters advance by what ended since the previous scrape (hop_times and postings of those
  seconds) and the gauges are read again over 24 h: the cost of one background refresh;
* ``served``: a scrape answering from the scope's latest snapshot (memory; refresh 1 h, so no
  refresh runs meanwhile): what a scrape costs when the refreshes keep up with the scrape interval;
* ``served_while_refreshing``: a 2 s refresh (the default is 30 s), scrapes 0.2 s apart: a stale
  snapshot starts a refresh in the background that no scrape waits for, but the runs overlap it
  and share the machine (and the GIL) with it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from bench.lineage import loaded
from bench.stats import p50_p95, settle
from lineage.api.app import create_app
from lineage.auth.settings import AuthSettings
from lineage.auth.tokens import TokenStore


def _scrapes(client: TestClient, runs: int, pause_s: float = 0.0) -> list[float]:
    times = []
    for _ in range(runs):
        time.sleep(pause_s)
        started = time.perf_counter()
        response = client.get("/metrics/business")
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text
    return times


def run(spans: int, days: float, runs: int, data_dir: Path, reuse: bool) -> dict[str, Any]:
    """Load (unless reusing), then time the scrapes; print them; return the figures."""
    settings, store, seconds = loaded(spans, days, data_dir, reuse)
    settle(store, settings.clickhouse_database)
    stored = int(store.query("SELECT count() FROM otel_traces")[0][0])
    hops = int(store.query("SELECT count() FROM hops")[0][0])
    print(f"{stored:,} spans, {hops:,} hops (loaded in {seconds:.1f}s)")
    token = TokenStore(store).create("bench-scraper@ledgerline", "viewer")[1]
    out: dict[str, Any] = {"spans": stored, "hops": hops, "load_s": seconds}
    for name, refresh in (("computed", "0s"), ("served", "1h"), ("served_while_refreshing", "2s")):
        app = create_app(settings.model_copy(update={"business_metrics_refresh": refresh}), store, AuthSettings())
        with TestClient(app) as client:
            client.headers["Authorization"] = f"Bearer {token}"
            first = _scrapes(client, 1)[0]
            n = runs if refresh == "0s" else runs * 4
            p50, p95 = p50_p95(_scrapes(client, n, pause_s=0.2 if refresh == "2s" else 0.0))
        out[name] = {"runs": n, "p50_ms": p50, "p95_ms": p95, "first_ms": first}
        print(f"scrape {name:<24} first {first:>9.1f} ms, then {n} runs: p50 {p50:>8.1f} ms  p95 {p95:>8.1f} ms")
    return out
