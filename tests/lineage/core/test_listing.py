"""The transaction listing (``GET /api/v1/transactions``, lineage/core/domain.py ``listing``) chooses its
page before it aggregates any transaction. It answers what the window's facts answer (``assess``
over every transaction of the window, filtered and cut to the limit, as the listing did before),
and a small page costs its own transactions: however large the window's other transactions grow,
their hops are read once, in the one narrow pass that chooses the page."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bench.lineage_fat import load_fat
from collector.settings import StoreSettings
from collector.store import Store, open_store
from ledgerline.schema import migrate_all
from lineage.core import domain
from lineage.core.flows import load_flows
from lineage.core.scope import EVERYTHING, Scope
from lineage.core.window import Window
from lineage.sql import facts_queries
from tests.lineage.conftest import make_lineage
from tests.lineage.core.test_keep import _COLUMNS, _world

H = 3_600_000
_STATUSES = ("", "stuck", "failed", "in_flight", "complete")


def _varied(rows: list[tuple[Any, ...]], rng: random.Random) -> list[tuple[Any, ...]]:
    """Legal entity, region and system per transaction, and now and then per hop."""
    for row in rows:
        attrs, h = row[5], sum(map(ord, row[5]["correlation.id"])) % 4
        attrs["biz.legal_entity"] = ("LE-1", "LE-2", "LE-1", "")[h] if rng.random() > 0.1 else "LE-2"
        attrs["biz.region"] = ("emea", "amer", "amer", "emea")[h] if rng.random() > 0.1 else "amer"
        attrs["biz.system"] = rng.choice(["sap", "billing", "zendesk"])
    return rows


def _before(store: Store, scope: Scope, status: str, limit: int, **kw: Any) -> tuple[list[domain.Assessed], bool]:
    """The listing as it was: every transaction of the window assessed (leaving out in SQL those
    the status cannot match), then filtered by status and cut to the limit."""
    keep: domain.Keep = "stuck" if status == "stuck" else "incomplete" if status in ("failed", "in_flight") else "all"
    assessed, scan_truncated = domain.assess(store, load_flows(), scope, keep=keep, **kw)
    items = [a for a in assessed if not status or a.verdict.status == status]
    return items[:limit], len(items) > limit or scan_truncated


def _shown(answer: tuple[list[domain.Assessed], bool]) -> tuple[list[tuple[Any, ...]], bool]:
    """Every field a listing shows, in order, and its truncated flag."""
    items, truncated = answer
    return [
        (
            a.facts.correlation_id,
            a.facts.flow,
            a.verdict.status,
            a.facts.started_ms,
            a.verdict.completed_ms,
            a.facts.last_ms,
            a.verdict.breached,
        )
        for a in items
    ], truncated


def test_the_listing_answers_what_the_window_facts_answer(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Random windows (some cutting transactions in two), filters, scopes, limits and row limits
    over generated transactions of every flow, batch journals among them. Every listing that
    needs less than the whole window looks its transactions up by correlation ID here (where
    that costs more, the listing aggregates the window, as ``_before`` does)."""
    monkeypatch.setattr(domain, "_IN_WINDOW_COST", 10**9)
    monkeypatch.setattr(domain, "_STATUS_SHARE", 1)
    monkeypatch.setattr(domain, "_LARGE", 0)
    now_ms = time.time_ns() // 1_000_000
    rng = random.Random(28)
    store.insert("otel_traces", _varied(_world(now_ms, 500), rng), _COLUMNS)
    config = load_flows()
    seen: set[tuple[str, bool]] = set()
    ran: list[str] = []
    query_dicts = store.query_dicts
    store.query_dicts = lambda sql, *a, **kw: ran.append(sql) or query_dicts(sql, *a, **kw)  # type: ignore[method-assign]
    by_id = 0
    for _ in range(80):
        since_h = rng.choice([48, 20, 6, 1])
        until_h = rng.choice([0, 0, 2]) if since_h > 2 else 0
        status = rng.choice(_STATUSES)
        scope = rng.choice([EVERYTHING, EVERYTHING, Scope(legal_entities=("LE-1",)), Scope(regions=("emea",))])
        filters = {
            "flow": rng.choice(["", "", "support_credit", "order_to_cash", "no_such_flow"]),
            "system": rng.choice(["", "", "sap"]),
            "region": rng.choice(["", "", "amer"]),
        }
        limit = rng.choice([1, 3, 8, 1000])
        window = {
            "since_ms": now_ms - since_h * H,
            "until_ms": now_ms - until_h * H,
            "scan_until_ms": now_ms + 4 * H,
            "now_ms": now_ms,
            "max_rows": rng.choice([10_000, 10_000, 30]),
        }
        ran.clear()
        got = domain.listing(store, config, scope, status=status, limit=limit, **window, **filters)
        by_id += not {facts_queries.FACTS_IN_WINDOW, facts_queries.FACTS_IN_WINDOW_OPEN} & set(ran)
        want = _before(store, scope, status, limit, **window, **filters)
        assert _shown(got) == _shown(want), (status, scope, limit, window, filters)
        seen |= {(a.verdict.status, got[1]) for a in got[0]}
    # every status was listed, on pages both cut short and complete, mostly by correlation ID
    assert {s for s, _ in seen} == set(_STATUSES[1:]) and {t for _, t in seen} == {True, False}
    assert by_id >= 40, by_id


# -- cost -------------------------------------------------------------------------------------

_SELECTED = "SELECT value FROM system.events WHERE event = 'SelectedRows'"
_WINDOW_PASS = (
    "SELECT count() FROM hop_times "
    "WHERE EndTime >= fromUnixTimestamp64Milli({t:Int64}) AND StartTime >= fromUnixTimestamp64Milli({t:Int64})"
)


def _selected_rows(store: Store, fn: Callable[..., Any], *args: Any) -> tuple[int, Any]:
    """Rows the store selected from its tables (subqueries and sets included) while ``fn`` ran,
    and what it returned."""
    before = int(store.query(_SELECTED)[0][0])
    out = fn(*args)
    return int(store.query(_SELECTED)[0][0]) - before, out


@pytest.fixture
def stores(store: Store, store_settings: StoreSettings) -> Iterator[tuple[Store, Store]]:
    """The test's store and a second database beside it."""
    other = open_store(store_settings.model_copy(update={"clickhouse_database": store.database + "_x10"}))
    migrate_all(other)
    yield store, other
    other.command("DROP DATABASE IF EXISTS {db:Identifier}", {"db": other.database})


def test_a_small_page_reads_the_window_once_however_large_its_transactions(stores: tuple[Store, Store]) -> None:
    """Two stores with the same 300 ordinary transactions (five hops each, the newest of the last
    hour) and 8 older transactions of the hour with 3,000 hops, or ten times as many. Listing the
    newest 5, also by a status the newest match, reads the added hops once (the pass over the
    window that chooses the page, as a count of the window reads), not again to aggregate them."""
    reads: list[dict[str, int]] = []
    pages = []
    for store, fat_hops in zip(stores, (3_000, 30_000), strict=True):
        load_fat(store, 8, fat_hops, "F", ago_min=(55, 35))
        load_fat(store, 300, 5, "N", ago_min=(30, 5))
        for table in ("hops", "hop_times", "entity_edges", "hop_keys"):
            store.command(f"OPTIMIZE TABLE {table} FINAL")
        svc = make_lineage(store)
        now_ms = time.time_ns() // 1_000_000
        hour = Window(now_ms - H, now_ms, 5)
        counts = {"window": _selected_rows(store, store.query, _WINDOW_PASS, {"t": hour.since_ms})[0]}
        for status in ("", "complete", "failed"):
            counts[status], answer = _selected_rows(store, svc.transactions, EVERYTHING, hour, status, "", "", "")
            pages.append([t["correlation_id"] for t in answer["transactions"]])
            assert len(pages[-1]) == 5 and answer["truncated"]
        reads.append(counts)
    assert all(cid.startswith("N-") for page in pages for cid in page)
    assert pages[:3] == pages[3:]  # the same answers in both stores
    small, large = reads
    added = large["window"] - small["window"]
    assert added > 8 * 27_000 * 0.9  # the window reads the added hops
    for status in ("", "complete", "failed"):
        # The pass over the window, plus a few granules (8,192 rows) of slack for the page's
        # lookups landing differently in the two stores; today's full aggregation read the
        # window's hops three times.
        assert large[status] - small[status] <= added + 4 * 8192, (status, small, large)


def test_a_transaction_of_many_hops_aggregates_to_one_entry_per_stage(store: Store) -> None:
    """The facts of a transaction with 1,500 line items (3,000 postings) hold one completion per
    completed stage and one entry per kind of unresolved failure, not one per entity."""
    load_fat(store, 3, 4502, "F", ago_min=(50, 10))  # F-1: every posting still failing (timeout)
    rows = store.query_dicts(
        facts_queries.FACTS_FOR_IDS, {"ids": ["F-0", "F-1"], "default_flow": "support_credit"} | EVERYTHING.params()
    )
    facts = {r["correlation_id"]: r for r in rows}
    assert sorted((e, s) for e, s, _ in facts["F-0"]["done"]) == [
        ("case", "case.opened"),
        ("credit", "credit.approved"),
        ("invoice", "invoice.issued"),
        ("ledger", "ledger.posted"),
    ]
    assert facts["F-0"]["unresolved"] == []
    assert len(facts["F-1"]["done"]) == 3 and facts["F-1"]["unresolved"] == [("failed", "timeout")]
