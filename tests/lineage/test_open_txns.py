"""The open-transactions index against the raw hops: generated transactions with duplicate
deliveries, completions days late, replays that succeed, batch journals completing another
correlation ID's stage and hops of several legal entities and regions; the stuck list and the
stuck alert rule's transactions read through the index must equal the raw computation
(``domain.assess`` over every hop of the window) for every scope and filter."""

from __future__ import annotations

import itertools
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.store import Store
from ledgerline.schema import migrate_all
from lineage.core import domain, open_txns
from lineage.core.flows import load_flows
from lineage.core.scope import EVERYTHING, Scope
from tests.lineage.flow_helpers import DAY, HOUR, MIN, T0, Spans
from tests.lineage.test_rollups import write_and_verify

STAGES = {
    "order_to_cash": (("order", "order.booked"), ("invoice", "invoice.issued"), ("ledger", "ledger.posted")),
    "payment_sync": (("payment", "payment.received"), ("payment", "payment.applied"), ("cash", "cash.applied")),
}
_DAYS = itertools.count(1)
_SPAN_IDS = itertools.count(1)


def _ids() -> tuple[str, str]:
    n = next(_SPAN_IDS)
    return (f"{n:032x}", f"{n:016x}")


@st.composite
def _txn(draw: Any, n: int) -> list[dict[str, Any]]:
    """One transaction's hops: its first stages done, the next one failed or missing."""
    flow = draw(st.sampled_from(sorted(STAGES)))
    le, rg = draw(st.sampled_from(("LE-1", "LE-2"))), draw(st.sampled_from(("emea", "apac")))
    at = draw(st.integers(-DAY, 2 * DAY))  # ms from the window's start: some before it
    hops = []
    for i, (etype, step) in enumerate(STAGES[flow][: draw(st.integers(1, 3))]):
        at += draw(st.integers(MIN, 6 * HOUR))
        other = draw(st.integers(0, 5)) == 0  # now and then a hop of another legal entity or region
        outcome = draw(st.sampled_from(("ok", "ok", "ok", "failed", "dead_letter"))) if i else "ok"
        hops.append(
            {
                "cid": f"C{n}",
                "entity": f"{etype}:{n}",
                "step": step,
                "at": at,
                "outcome": outcome,
                "flow": flow,
                "le": "LE-2" if other else le,
                "rg": "apac" if other else rg,
                "system": draw(st.sampled_from(("erp", "billing"))),
                "ids": _ids(),
            }
        )
    return hops


def _completion(h: dict[str, Any], delay: int) -> dict[str, Any]:
    """The success of an attempt that failed or of the stage after the last one (a late hop or a
    replay), or, for a journal, posted under a correlation ID of its own with the entity as parent."""
    return h | {"outcome": "ok", "at": h["at"] + delay, "ids": _ids()}


@st.composite
def deliveries(draw: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Hops delivered first, and later: duplicates, completions (late, replayed), journals."""
    first = [h for n in range(draw(st.integers(1, 8))) for h in draw(_txn(n))]
    later = [dict(h) for h in draw(st.lists(st.sampled_from(first), max_size=4))]  # duplicates
    for h in draw(st.lists(st.sampled_from(first), max_size=3)):
        if h["outcome"] != "ok":  # a replay that succeeds
            later.append(_completion(h, draw(st.integers(MIN, DAY))))
        else:  # the transaction's terminal stage, late (maybe days after it was due)
            etype, step = STAGES[h["flow"]][-1]
            done = _completion(h, draw(st.integers(MIN, 2 * DAY)))
            later.append(done | {"entity": f"{etype}:{h['entity'].split(':')[1]}", "step": step})
    for h in draw(st.lists(st.sampled_from(first), max_size=2)):  # a batch journal posts an invoice
        if h["step"] == "invoice.issued":
            later.append(
                _completion(h, HOUR)
                | {"cid": "J1", "entity": "ledger:J1", "step": "ledger.posted", "parent": h["entity"]}
            )
    return first, later


def _write(store: Store, base: int, hops: list[dict[str, Any]]) -> None:
    spans = Spans()
    for h in hops:
        ptype, _, pid = h.get("parent", "").partition(":")
        spans.add(
            f"{base}-{h['cid']}",
            h["entity"],
            h["step"],
            base + h["at"],
            system=h["system"],
            outcome=h["outcome"],
            legal_entity=h["le"],
            region=h["rg"],
            flow=h["flow"],
            parent=(ptype, pid) if pid else None,
            amount=h.get("amount"),
            currency=h.get("currency", "EUR"),
            compensates=h.get("compensates", ""),
            ids=(f"{base:013x}{h['ids'][0][13:]}", h["ids"][1]),
        )
    spans.write(store)


def _seen(listed: domain.Listed) -> tuple[list[tuple[Any, ...]], bool]:
    items, truncated = listed
    rows = [
        (a.facts.correlation_id, a.verdict.status, a.facts.started_ms, a.facts.last_ms, a.facts.last_system)
        for a in items
    ]
    return rows, truncated


SCOPES = [EVERYTHING, Scope(legal_entities=("LE-2",)), Scope(regions=("apac",)), Scope(("LE-1",), ("emea",))]
# (scope, filters, max_rows) of each comparison: every scope, every filter, a truncated answer
CASES = [
    (EVERYTHING, {}, 1000),
    (SCOPES[1], {}, 1000),
    (SCOPES[2], {"flow": "payment_sync"}, 1000),
    (SCOPES[3], {"system": "erp"}, 1000),
    (EVERYTHING, {"region": "emea"}, 2),
]


@pytest.fixture(autouse=True)
def _index_whatever_the_share(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests compare the index's answers with the raw ones: take the index even where the
    window's query would be cheaper (a test store's few transactions are mostly candidates)."""
    monkeypatch.setattr(open_txns, "_SHARE", 0)


def test_dense_candidates_leave_the_answer_to_the_window_query(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the share as shipped
    # a stuck list's few candidates among a day's transactions: by correlation ID
    assert open_txns.by_index(171, 18_000)
    # a 1M-span week of which 10,040 transactions are candidates among 36,000: the window's query
    assert not open_txns.by_index(10_040, 36_000)
    assert not open_txns.by_index(open_txns.MAX_CANDIDATES + 1, 10**9)


def _same_as_raw(store: Store, base: int) -> None:
    config = load_flows()
    window = {"since_ms": base, "until_ms": base + 2 * DAY, "scan_until_ms": base + 4 * DAY, "now_ms": base + 2 * DAY}
    for scope, filters, max_rows in CASES:
        kw: dict[str, Any] = window | filters | {"max_rows": max_rows}
        raw = domain.assess(store, config, scope, keep="stuck", **kw)
        assert _seen(open_txns.assess_stuck(store, config, scope, **kw)) == _seen(raw), (scope, filters)
        raw_list = domain.listing(store, config, scope, status="stuck", limit=2, **kw)
        indexed = open_txns.stuck_listing(store, config, scope, limit=2, **kw)
        assert _seen(indexed) == _seen(raw_list), (scope, filters)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(deliveries())
def test_the_stuck_list_from_the_index_equals_the_raw_one(
    lineage_store: Store, case: tuple[list[dict[str, Any]], list[dict[str, Any]]]
) -> None:
    store = lineage_store
    first, later = case
    base = T0 + next(_DAYS) * 10 * DAY  # each example in days of its own
    _write(store, base, first)
    _same_as_raw(store, base)
    _write(store, base, later)
    _same_as_raw(store, base)
    report = open_txns.verify(store, base - 2 * DAY, base + 6 * DAY)
    assert report.first is None and report.rows > 0, report


def _stuck_one(store: Store, base: int) -> None:
    """C1 booked and invoiced in LE-1, its posting never came: stuck a day later."""
    spans = Spans()
    spans.add(f"{base}-C1", "order:1", "order.booked", base + HOUR, ids=("1" * 32, "1" * 16))
    spans.add(f"{base}-C1", "invoice:1", "invoice.issued", base + 2 * HOUR, ids=("2" * 32, "2" * 16))
    spans.write(store)


def _tamper(store: Store, base: int) -> None:
    """The index claims C1's posting succeeded."""
    store.command(
        "INSERT INTO open_txns SELECT Day, CorrelationId, Flow, LegalEntity, Region, FirstStart, LastStart,"
        " (['ledger|ledger.posted'], [LastStart]) FROM open_txns FINAL WHERE CorrelationId = {c:String}",
        {"c": f"{base}-C1"},
    )


def _stuck_ids(store: Store, base: int) -> list[str]:
    window = {"since_ms": base, "until_ms": base + DAY, "scan_until_ms": base + 3 * DAY, "now_ms": base + DAY}
    items, _ = open_txns.stuck_listing(store, load_flows(), EVERYTHING, limit=10, max_rows=100, **window)
    return [a.facts.correlation_id for a in items]


def test_the_stuck_list_reads_the_index_and_verify_names_a_difference(lineage_store: Store) -> None:
    store = lineage_store
    base = T0 + 900 * DAY
    _stuck_one(store, base)
    assert _stuck_ids(store, base) == [f"{base}-C1"]
    _tamper(store, base)
    assert _stuck_ids(store, base) == []  # the answer changed: the list read the index
    report = open_txns.verify(store, base, base + DAY)
    assert report.mismatches == 1 and report.first is not None
    assert report.first.key["CorrelationId"] == f"{base}-C1" and report.first.key["LegalEntity"] == "LE-1"
    assert report.first.index is not None and report.first.raw is not None
    assert "ledger|ledger.posted" in report.first.index["completed"]
    assert "ledger|ledger.posted" not in report.first.raw["completed"]


def test_a_store_from_the_previous_release_migrates_to_the_same_stuck_list(lineage_store: Store) -> None:
    store, config = lineage_store, load_flows()
    base = T0 + 950 * DAY
    # the store as the previous release left it: no index, no view, migration 107 not recorded
    store.command("DROP VIEW IF EXISTS open_txns_mv")
    store.command("DROP TABLE IF EXISTS open_txns")
    store.command("DELETE FROM schema_migrations WHERE version = 107")
    _stuck_one(store, base)
    spans = Spans()  # C2 complete, C3 stuck in LE-2
    for n, le in ((2, "LE-1"), (3, "LE-2")):
        spans.add(f"{base}-C{n}", f"order:{n}", "order.booked", base + HOUR, legal_entity=le)
        spans.add(f"{base}-C{n}", f"invoice:{n}", "invoice.issued", base + 2 * HOUR, legal_entity=le)
    spans.add(f"{base}-C2", "ledger:2", "ledger.posted", base + 3 * HOUR)
    spans.write(store)
    window = {"since_ms": base, "until_ms": base + DAY, "scan_until_ms": base + 3 * DAY, "now_ms": base + DAY}
    raw = {s: _seen(domain.assess(store, config, s, keep="stuck", max_rows=100, **window)) for s in SCOPES}
    assert migrate_all(store) == [107]
    for scope in SCOPES:
        assert _seen(open_txns.assess_stuck(store, config, scope, max_rows=100, **window)) == raw[scope]
    assert [r[0] for r in raw[EVERYTHING][0]] == [f"{base}-C1", f"{base}-C3"]  # started together
    assert open_txns.verify(store, base, base + DAY).first is None


def test_verify_rollups_checks_the_open_transactions(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        from pathlib import Path
        from collector.store import StoreSettings, open_store
        from ledgerline.schema import migrate_all
        from tests.lineage.test_open_txns import _stuck_one, _tamper
        from lineage.core.timeparse import to_ms, utcnow
        store = open_store(StoreSettings(data_dir=Path({str(tmp_path)!r})))
        migrate_all(store)
        base = to_ms(utcnow()) // 3600_000 * 3600_000 - 6 * 3600_000
        _stuck_one(store, base)
        if {{tamper}}:
            _tamper(store, base)
        store.close()
    """)
    for tamper, code in ((False, 0), (True, 1)):
        out = write_and_verify(tmp_path, script.replace("{tamper}", str(tamper)))
        assert out.returncode == code, out.stdout + out.stderr
        if tamper:
            assert "FAILED open transactions: 1 row(s) differ; first: open transactions, day " in out.stdout
            assert "ledger|ledger.posted" in out.stdout
        else:
            assert re.search(r"^OK open transactions: [1-9]\d* row\(s\) recomputed$", out.stdout, re.M), out.stdout


@pytest.mark.parametrize("scope", SCOPES)
def test_a_late_completion_closes_and_a_duplicate_changes_nothing(lineage_store: Store, scope: Scope) -> None:
    store = lineage_store
    base = T0 + (1000 + SCOPES.index(scope)) * DAY
    _stuck_one(store, base)
    _stuck_one(store, base)  # delivered twice
    assert (
        store.query("SELECT count() FROM open_txns FINAL WHERE CorrelationId = {c:String}", {"c": f"{base}-C1"})[0][0]
        == 1
    )
    want = [f"{base}-C1"] if scope.allows("LE-1", "emea") else []
    assert _stuck_ids(store, base) == [f"{base}-C1"] and _scoped(store, base, scope) == want
    spans = Spans()  # the posting arrives a day and a half after it was due
    spans.add(f"{base}-C1", "ledger:1", "ledger.posted", base + 2 * DAY)
    spans.write(store)
    assert _stuck_ids(store, base) == [] and _scoped(store, base, scope) == []


def _scoped(store: Store, base: int, scope: Scope) -> list[str]:
    window = {"since_ms": base, "until_ms": base + DAY, "scan_until_ms": base + 3 * DAY, "now_ms": base + DAY}
    items, _ = open_txns.stuck_listing(store, load_flows(), scope, limit=10, max_rows=100, **window)
    return [a.facts.correlation_id for a in items]
