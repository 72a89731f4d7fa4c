"""``GET /metrics/business`` over a store the simulator filled: the scrape and the API agree
(counters against the throughput and latency-histogram routes over the counters' interval,
gauges against the at-risk and listing routes over the gauges' window), it is authenticated and
scoped, apart from the platform's ``/metrics``, and its counters only grow."""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from collector.store.errors import StoreError
from lineage.core.flows import load_flows
from lineage.core.scope import Scope
from lineage.core.service import Lineage
from lineage.insights import scrape as scrape_module
from lineage.insights.scrape import BusinessMetrics, Limits, Snapshot
from lineage.settings import LineageSettings
from tests.dashboard.stack import FlowsStack, running_flows_stack
from tests.lineage.auth.helpers import bearer, issue

pytestmark = pytest.mark.timeout(600)
FLOWS = load_flows()
Samples = dict[str, list[tuple[dict[str, str], float]]]


@pytest.fixture(scope="module")
def world(chdb_path: Path) -> Iterator[FlowsStack]:
    with running_flows_stack(
        chdb_path, "bizmetrics", count=160, seed=11, business_metrics_refresh="0s", business_metrics_window="25h"
    ) as stack:
        yield stack


def scrape(world: FlowsStack, token: str | None = None) -> Samples:
    headers = bearer(token or world.token)
    response = httpx.get(world.api_url + "/metrics/business", headers=headers, timeout=120)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    out: Samples = defaultdict(list)
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            out[sample.name].append((dict(sample.labels), float(sample.value)))
    return out


def one(samples: Samples, name: str) -> float:
    ((_, value),) = samples[name]
    return value


def _iso(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def api(world: FlowsStack, path: str, token: str | None = None, **params: Any) -> Any:
    response = httpx.get(world.api_url + path, params=params, headers=bearer(token or world.token), timeout=120)
    assert response.status_code == 200, response.text
    return response.json()


def by(samples: Samples, name: str, label: str) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for labels, value in samples[name]:
        out[labels[label]] += value
    return dict(out)


def test_the_scrape_agrees_with_the_api(world: FlowsStack) -> None:
    s = scrape(world)
    window_ms = one(s, "ledgerline_business_window_seconds") * 1000
    until = one(s, "ledgerline_business_counted_until_seconds") * 1000
    as_of = one(s, "ledgerline_business_as_of_seconds") * 1000
    counted = {"since": _iso(until - window_ms), "until": _iso(until)}  # the first scrape's interval
    # counters: completed stages per flow, the throughput route over the counters' interval
    completed = by(s, "ledgerline_business_hops_completed_total", "flow")
    for flow in FLOWS.flows:
        doc = api(world, "/api/v1/metrics/throughput", flow=flow, bucket="1d", limit=10000, **counted)
        assert not doc["truncated"]
        assert completed.get(flow, 0) == sum(b["completed"] for b in doc["buckets"]), flow
    assert sum(completed.values()) > 100 and sum(by(s, "ledgerline_business_hops_failed_total", "flow").values()) > 0
    # the latency histogram: the histogram route's count and bins per flow
    counts = by(s, "ledgerline_business_posting_latency_seconds_count", "flow")
    buckets = [(labels, v) for labels, v in s["ledgerline_business_posting_latency_seconds_bucket"]]
    for flow in FLOWS.flows:
        doc = api(world, "/api/v1/metrics/posting-latency/histogram", flow=flow, **counted)
        assert counts.get(flow, 0) == doc["count"], flow
        if doc["count"]:
            cumulative = 0
            mine = {labels["le"]: v for labels, v in buckets if labels["flow"] == flow}
            for b in doc["bins"][:-1]:
                cumulative += b["count"]
                assert mine[f"{b['upper_ms'] / 1000:g}"] == cumulative, (flow, b)
            assert mine["+Inf"] == doc["count"]
    assert sum(counts.values()) > 0
    # gauges: the at-risk route and the listings over the gauges' window
    window = {"since": _iso(as_of - window_ms), "until": _iso(as_of)}
    risk = api(world, "/api/v1/at-risk", limit=10000, **window)
    money = {(t["kind"], t["currency"] or ""): t["amount"] for t in risk["totals"]}
    mine_money = {(labels["kind"], labels["currency"]): v for labels, v in s["ledgerline_business_money_at_risk"]}
    assert mine_money == pytest.approx(money) and money
    opened = api(world, "/api/v1/exceptions", state="open", limit=10000, **window)["exceptions"]
    assert sum(v for _, v in s["ledgerline_business_open_exceptions"]) == len(opened) > 0
    stuck = api(world, "/api/v1/transactions", status="stuck", limit=10000, **window)["transactions"]
    per_flow: dict[str, int] = defaultdict(int)
    for t in stuck:
        per_flow[t["flow"]] += 1
    assert by(s, "ledgerline_business_stuck_transactions", "flow") == per_flow and per_flow
    assert one(s, "ledgerline_business_series_dropped_total") == 0


def test_labels_are_only_the_documented_ones(world: FlowsStack) -> None:
    allowed = {"flow", "stage", "system", "region", "legal_entity", "kind", "currency", "le"}
    for name, samples in scrape(world).items():
        for labels, _ in samples:
            assert set(labels) <= allowed, name


def test_counters_only_grow_and_their_interval_advances(world: FlowsStack) -> None:
    first = scrape(world)
    second = scrape(world)
    assert one(second, "ledgerline_business_counted_until_seconds") > one(
        first, "ledgerline_business_counted_until_seconds"
    )
    for name in ("ledgerline_business_hops_completed_total", "ledgerline_business_posting_latency_seconds_count"):
        before = {tuple(sorted(labels.items())): v for labels, v in first[name]}
        after = {tuple(sorted(labels.items())): v for labels, v in second[name]}
        assert set(before) <= set(after)
        assert all(after[k] >= v for k, v in before.items()), name


def test_it_needs_a_credential_and_the_platform_metrics_stay_apart(world: FlowsStack) -> None:
    anonymous = httpx.get(world.api_url + "/metrics/business", timeout=30)
    assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"].startswith("Bearer")
    wrong = httpx.get(world.api_url + "/metrics/business", headers=bearer("llt_nope"), timeout=30)
    assert wrong.status_code == 401
    platform = httpx.get(world.api_url + "/metrics", timeout=30)
    assert platform.status_code == 200 and "ledgerline_business_" not in platform.text


def test_a_scoped_token_sees_only_its_legal_entities(world: FlowsStack) -> None:
    token = issue(world.store, "viewer", "scoped-scraper@test.example", legal_entities=["LL-DE-GmbH"])
    s = scrape(world, token)
    entities = {labels["legal_entity"] for labels, _ in s["ledgerline_business_hops_completed_total"]}
    assert entities == {"LL-DE-GmbH"}
    everyone = by(scrape(world), "ledgerline_business_hops_completed_total", "legal_entity")
    assert 0 < sum(by(s, "ledgerline_business_hops_completed_total", "legal_entity").values()) <= everyone["LL-DE-GmbH"]
    as_of, window_ms = one(s, "ledgerline_business_as_of_seconds") * 1000, 25 * 3600_000
    opened = api(world, "/api/v1/exceptions", token, state="open", limit=10000, since=_iso(as_of - window_ms),
                 until=_iso(as_of))["exceptions"]  # fmt: skip
    assert sum(v for _, v in s["ledgerline_business_open_exceptions"]) == len(opened)


def _metrics(world: FlowsStack, **limits: Any) -> BusinessMetrics:
    settings = LineageSettings(clickhouse_url=world.store.dsn, clickhouse_database=world.store.database)
    return BusinessMetrics(Lineage(settings, world.store, FLOWS), Limits(**({"refresh_s": 0.0} | limits)))


def test_each_hop_is_counted_once_across_scrapes(world: FlowsStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two scrapes 13 h apart count exactly the hops of [first start, second end): the second adds
    what ended between them, nothing twice and nothing skipped."""
    metrics = _metrics(world, window_ms=6 * 3600_000, lag_ms=60_000)
    now = datetime.now(UTC)
    clock = iter((now - timedelta(hours=12), now + timedelta(hours=1)))
    monkeypatch.setattr(scrape_module, "utcnow", lambda: next(clock))
    first = metrics.scrape(Scope())
    second = metrics.scrape(Scope())
    start = first.counted_until_ms - 6 * 3600_000
    assert second.counted_until_ms - first.counted_until_ms == 13 * 3600_000
    for flow in FLOWS.flows:
        doc = api(world, "/api/v1/metrics/throughput", flow=flow, bucket="1d", limit=10000, since=_iso(start),
                  until=_iso(second.counted_until_ms))  # fmt: skip
        mine = sum(n for labels, n in second.completed.items() if labels[0] == flow)
        assert mine == sum(b["completed"] for b in doc["buckets"]), flow
        hist = api(world, "/api/v1/metrics/posting-latency/histogram", flow=flow, since=_iso(start),
                   until=_iso(second.counted_until_ms))  # fmt: skip
        assert (sum(second.latency[flow].bins) if flow in second.latency else 0) == hist["count"], flow
    assert sum(second.completed.values()) > sum(first.completed.values()) > 0


def test_the_series_cap_drops_and_counts(world: FlowsStack) -> None:
    capped = _metrics(world, window_ms=25 * 3600_000, max_series=3).scrape(Scope())
    series = len(capped.completed) + len(capped.latency) + len(capped.open_exceptions) + len(capped.stuck)
    assert series + len(capped.money) <= 3
    full = _metrics(world, window_ms=25 * 3600_000).scrape(Scope())
    every = len(full.completed) + len(full.latency) + len(full.open_exceptions) + len(full.stuck) + len(full.money)
    assert capped.dropped == every - 3 > 0 and full.dropped == 0


def test_every_metric_the_docs_name_is_served_and_their_rules_parse(world: FlowsStack) -> None:
    page = (Path(__file__).resolve().parents[3] / "docs" / "prometheus.md").read_text()
    served = set(scrape(world))
    suffixes = ("", "_total", "_bucket", "_count", "_sum")
    named = set(re.findall(r"ledgerline_business_\w+", page))
    assert named and {n for n in named if not any(n + s in served for s in suffixes)} == set()
    (rules,) = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", page, re.S) if "groups:" in block]
    assert all(rule["alert"] and rule["expr"] for group in rules["groups"] for rule in group["rules"])


def _completed_agree(world: FlowsStack, snap: Snapshot, since_ms: int) -> None:
    for flow in FLOWS.flows:
        doc = api(world, "/api/v1/metrics/throughput", flow=flow, bucket="1d", limit=10000, since=_iso(since_ms),
                  until=_iso(snap.counted_until_ms))  # fmt: skip
        mine = sum(n for labels, n in snap.completed.items() if labels[0] == flow)
        assert mine == sum(b["completed"] for b in doc["buckets"]), flow


def test_a_failed_computation_counts_nothing_twice(world: FlowsStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hops of an interval whose postings could not be read are counted once, by the next scrape."""
    metrics = _metrics(world, window_ms=6 * 3600_000)
    now = datetime.now(UTC)
    clock = iter((now - timedelta(hours=12), now - timedelta(hours=6), now + timedelta(hours=1)))
    monkeypatch.setattr(scrape_module, "utcnow", lambda: next(clock))
    first = metrics.scrape(Scope())
    real = metrics._postings

    def unavailable(*args: Any) -> Any:
        raise StoreError("the store is unavailable")

    monkeypatch.setattr(metrics, "_postings", unavailable)
    with pytest.raises(StoreError):
        metrics.scrape(Scope())
    monkeypatch.setattr(metrics, "_postings", real)
    third = metrics.scrape(Scope())
    _completed_agree(world, third, first.counted_until_ms - 6 * 3600_000)


def test_a_stale_snapshot_is_served_while_one_refresh_runs(world: FlowsStack, monkeypatch: pytest.MonkeyPatch) -> None:
    metrics = _metrics(world, window_ms=6 * 3600_000, refresh_s=0.01)
    first = metrics.scrape(Scope())
    started, release, calls = threading.Event(), threading.Event(), []
    real = metrics._compute

    def held(scope: Scope, tally: Any) -> Snapshot:
        calls.append(1)
        started.set()
        assert release.wait(120)
        return real(scope, tally)

    monkeypatch.setattr(metrics, "_compute", held)
    threading.Event().wait(0.02)  # older than refresh_s
    assert metrics.scrape(Scope()) is first  # stale: served as is, a refresh starts
    assert started.wait(60)
    assert metrics.scrape(Scope()) is first and len(calls) == 1  # one refresh at a time
    release.set()
    newer = first
    for _ in range(600):
        newer = metrics.scrape(Scope())
        if newer is not first:
            break
        threading.Event().wait(0.1)
    metrics.close()  # a refresh the polling started ends before the store goes
    assert newer is not first and newer.counted_until_ms > first.counted_until_ms
    _completed_agree(world, newer, first.counted_until_ms - 6 * 3600_000)
