"""The insights routes over HTTP against a real stack with simulated data: flows and systems
for pickers, the posting-latency histogram from every posting, money at risk and its lists."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lineage.core.flows import load_flows
from tests.dashboard.stack import Stack, running_stack
from tests.lineage.auth.helpers import issue


@pytest.fixture(scope="module")
def stack(chdb_path: Path) -> Iterator[Stack]:
    with running_stack(chdb_path, count=150, seed=11) as running:
        yield running


def _get(stack: Stack, path: str, token: str = "", **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {token or stack.token}"}
    response = httpx.get(stack.api_url + path, params=params, headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def test_flows_come_from_the_loaded_flows_file(stack: Stack) -> None:
    doc = _get(stack, "/api/v1/flows")
    config = load_flows()
    assert next(f["name"] for f in doc["flows"]) == config.default_flow
    assert {f["name"] for f in doc["flows"]} == set(config.flows)
    credit = next(f for f in doc["flows"] if f["name"] == "support_credit")
    assert [s["name"] for s in credit["stages"]] == ["case", "credit", "invoice", "ledger"]
    assert credit["stages"][3]["sla_ms"] == 4 * 3_600_000 and credit["end_to_end_sla_ms"] == 86_400_000


def test_systems_are_those_seen_in_scope_plus_those_named(stack: Stack) -> None:
    doc = _get(stack, "/api/v1/systems", since="30d")
    seen = {s["system"]: s for s in doc["systems"]}
    assert set(load_flows().systems) <= set(seen)
    assert all(seen[s]["hops"] > 0 and seen[s]["last_seen"] for s in ("support", "billing", "erp"))
    assert doc["truncated"] is False
    one = _get(stack, "/api/v1/systems", since="30d", limit=1)
    assert one["truncated"] is True
    # a scope with no hops sees only the systems the flows file names, none with hops
    nowhere = issue(stack.store, "viewer", "nowhere@test.example", regions=["mars-1"])
    scoped = _get(stack, "/api/v1/systems", token=nowhere, since="30d")
    assert {s["hops"] for s in scoped["systems"]} == {0}


def _count(buckets: list[dict[str, Any]], group: str | None = None) -> int:
    return sum(b["count"] for b in buckets if group is None or b["group"] == group)


def test_histogram_counts_every_posting_and_keeps_the_tail(stack: Stack) -> None:
    lat = _get(stack, "/api/v1/metrics/posting-latency", since="48h", bucket="1h")["buckets"]
    hist = _get(stack, "/api/v1/metrics/posting-latency/histogram", since="48h")
    assert hist["count"] == _count(lat) > 0
    assert sum(b["count"] for b in hist["bins"]) == hist["count"]
    assert hist["p50_ms"] <= hist["p95_ms"] <= hist["p99_ms"] <= hist["max_ms"]
    top = max(i for i, b in enumerate(hist["bins"]) if b["count"])  # the slowest posting has its bin
    assert hist["bins"][top]["lower_ms"] <= hist["max_ms"]
    assert hist["bins"][top]["upper_ms"] is None or hist["max_ms"] < hist["bins"][top]["upper_ms"]
    assert hist["sla_ms"] == 4 * 3_600_000


@pytest.mark.parametrize("group_by", ["system", "region", "legal_entity"])
def test_histogram_filters_match_the_grouped_metric(stack: Stack, group_by: str) -> None:
    lat = _get(stack, "/api/v1/metrics/posting-latency", since="48h", bucket="1h", group_by=group_by)["buckets"]
    groups = sorted({b["group"] for b in lat if b["group"]})
    assert groups
    for group in groups:
        hist = _get(stack, "/api/v1/metrics/posting-latency/histogram", since="48h", **{group_by: group})
        assert hist["count"] == _count(lat, group), group
    none = _get(stack, "/api/v1/metrics/posting-latency/histogram", since="48h", **{group_by: "no-such"})
    assert none["count"] == 0 and none["p95_ms"] is None


def test_at_risk_lists_what_the_headline_figures_count(stack: Stack) -> None:
    doc = _get(stack, "/api/v1/at-risk", since="7d", limit=5000)
    opened = _get(stack, "/api/v1/exceptions", state="open", since="7d", limit=5000)["exceptions"]
    stuck = _get(stack, "/api/v1/transactions", status="stuck", since="7d", limit=5000)["transactions"]
    kinds: dict[str, set[str]] = {}
    for item in doc["items"]:
        kinds.setdefault(item["kind"], set()).add(item["exception_id"] or item["correlation_id"])
    assert kinds.get("open_exceptions", set()) == {e["id"] for e in opened}
    assert kinds.get("stuck", set()) == {t["correlation_id"] for t in stuck}
    assert any(i["amount"] and i["currency"] for i in doc["items"])
    assert all(":" in i["business_key"] and i["system"] and i["age_ms"] >= 0 for i in doc["items"])
    ages = [i["age_ms"] for i in doc["items"]]
    assert ages == sorted(ages, reverse=True)
    for total in doc["totals"]:  # totals add up the listed amounts per kind and currency
        mine = [i for i in doc["items"] if i["kind"] == total["kind"] and i["currency"] == total["currency"]]
        assert total["count"] == len(mine)
        assert total["amount"] == pytest.approx(sum(i["amount"] or 0 for i in mine), abs=0.05)


def test_at_risk_filters_apply_to_every_part(stack: Stack) -> None:
    everything = _get(stack, "/api/v1/at-risk", since="7d", limit=5000)
    system = next(i["system"] for i in everything["items"] if i["kind"] == "open_exceptions")
    narrow = _get(stack, "/api/v1/at-risk", since="7d", limit=5000, kind="open_exceptions", system=system)
    assert narrow["items"] and {i["system"] for i in narrow["items"]} == {system}
    assert {i["kind"] for i in narrow["items"]} == {"open_exceptions"}
    region = next(i["region"] for i in everything["items"] if i["region"])
    by_region = _get(stack, "/api/v1/at-risk", since="7d", limit=5000, region=region)
    assert by_region["items"] and {i["region"] for i in by_region["items"]} == {region}
    limited = _get(stack, "/api/v1/at-risk", since="7d", limit=1)
    assert len(limited["items"]) == 1 and limited["truncated"] is True
    # the limit cuts the list, never the totals
    assert limited["totals"] == everything["totals"] and limited["totals_truncated"] is False


def test_docs_are_served_with_local_assets_only(stack: Stack) -> None:
    html = httpx.get(f"{stack.api_url}/docs", timeout=30).text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: ?["']([^"']+)["']""", html)
    found = [a or b for a, b in urls]
    assert found and all(u.startswith("/") for u in found), found  # nothing from another host
    for url in found:
        assert httpx.get(f"{stack.api_url}{url}", timeout=30).status_code == 200, url
    assert "swagger-ui-bundle.js" in html and "cdn" not in html.lower()
    assert httpx.get(f"{stack.api_url}/redoc", timeout=30).status_code == 404  # ReDoc needs a CDN


def test_known_is_flows_systems_values_and_caller_in_one_answer(stack: Stack) -> None:
    """The dashboard's sidebar and freshness line in one call: the same as the routes it replaces."""
    known = _get(stack, "/api/v1/known")
    assert known["flows"] == _get(stack, "/api/v1/flows")["flows"]
    assert known["systems"] == _get(stack, "/api/v1/systems", since="30d", limit=1000)["systems"]
    assert known["me"] == _get(stack, "/api/v1/whoami")
    assert known["newest_hop"] == max(s["last_seen"] for s in known["systems"] if s["last_seen"])
    regions = {
        b["group"]
        for b in _get(stack, "/api/v1/metrics/posting-latency", since="7d", bucket="1d", group_by="region")["buckets"]
    }
    assert regions - {None} <= set(known["regions"]) and known["regions"]
    # the known values are those the figure routes accept: none is reported unknown
    for region in known["regions"]:
        assert _get(stack, "/api/v1/overview", region=region)["context"]["unknown"] == []
    # scoped: a credential of one region knows only that region, and who it is
    region = known["regions"][0]
    scoped = issue(stack.store, "viewer", "one-region@test.example", regions=[region])
    mine = _get(stack, "/api/v1/known", token=scoped)
    assert mine["regions"] == [region] and mine["me"]["scope"]["regions"] == [region]
    assert mine["me"]["subject"] == "one-region@test.example"


def test_breaches_of_every_flow_in_one_answer(stack: Stack) -> None:
    """``every_flow=true`` is the breaches of each flow together (one scan, not one call per flow)."""
    every = _get(stack, "/api/v1/sla/breaches", since="24h", every_flow="true", limit=5000)
    per_flow = [_get(stack, "/api/v1/sla/breaches", since="24h", flow=name, limit=5000) for name in load_flows().flows]

    def keys(docs: list[Any]) -> list[tuple[str, str, str, str]]:
        return sorted((b["correlation_id"], b["flow"], b["stage"], b["kind"]) for d in docs for b in d["breaches"])

    assert every["breaches"] and keys([every]) == keys(per_flow)
    for kind in ("late_complete", "open_overdue", "end_to_end"):
        assert every[kind] == sum(d[kind] for d in per_flow)
    assert every["context"]["flow"] is None
    ledger = _get(stack, "/api/v1/sla/breaches", since="24h", every_flow="true", stage="ledger", limit=5000)
    assert {b["stage"] for b in ledger["breaches"]} <= {"ledger"}
    headers = {"Authorization": f"Bearer {stack.token}"}
    for params in ({"every_flow": "true", "flow": "support_credit"}, {"every_flow": "true", "stage": "nope"}):
        response = httpx.get(f"{stack.api_url}/api/v1/sla/breaches", params=params, headers=headers, timeout=60)
        assert response.status_code == 422, response.text
