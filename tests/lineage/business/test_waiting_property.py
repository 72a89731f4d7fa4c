"""The waiting queues against a recomputation from the hops themselves: generated transactions
(tests/lineage/test_open_txns.py's: duplicate deliveries, completions days late, replays that
succeed, batch journals posting another correlation ID's invoice, hops of several legal entities
and regions) with each stage naming its previous stage's entity as parent, compensations and
amounts in two currencies; every queue (count, amounts, oldest age, the oldest entities,
truncation) must be the one computed here in Python, for every scope and filter (flow, stage,
``as_of``, business period, a cut list)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.store import Store
from lineage.business import waiting
from lineage.core.currency import round_money
from lineage.core.flows import Flow, load_flows
from lineage.core.scope import EVERYTHING, Scope
from tests.lineage.flow_helpers import DAY, HOUR, MIN, Spans
from tests.lineage.test_open_txns import SCOPES, STAGES, _write, deliveries

_MONTHS = itertools.count(0)
_IDS = itertools.count(10**9)  # span IDs of the reversals (the deliveries' own count from 1)


def _tagged(hops: list[dict[str, Any]], tag: int) -> list[dict[str, Any]]:
    """Entity IDs of this example only; each stage's hop names the previous stage's entity (the
    same ID) as parent, as a real invoice names its order, unless it is that entity itself; an
    amount (or none) and a currency of its own per hop."""
    out = []
    for h in hops:
        etype, n = h["entity"].split(":")
        steps = [step for _, step in STAGES[h["flow"]]]
        h = h | {"entity": f"{etype}:{tag}.{n}"}
        at = steps.index(h["step"]) if h["step"] in steps else 0
        prev_type = STAGES[h["flow"]][at - 1][0] if at else ""
        if h.get("compensates"):
            ctype, cid = h["compensates"].split(":")
            h["compensates"] = f"{ctype}:{tag}.{cid}"
        if h.get("parent"):
            ptype, pid = h["parent"].split(":")
            h["parent"] = f"{ptype}:{tag}.{pid}"
        elif prev_type and prev_type != etype:
            h["parent"] = f"{prev_type}:{tag}.{n}"
        k = int(h["ids"][1], 16)
        h["amount"] = None if k % 4 == 0 else float(k % 37) + 0.25
        h["currency"] = "EUR" if k % 3 else "USD"
        out.append(h)
    return out


@st.composite
def with_compensations(draw: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """tests/lineage/test_open_txns.py's deliveries, and later a few of their entities reversed
    (in or out of the window and of a scope)."""
    first, later = draw(deliveries())
    for h in draw(st.lists(st.sampled_from(first), max_size=3)):
        other = draw(st.booleans())
        later.append(
            h
            | {
                "entity": f"reversal:{h['entity'].split(':')[1]}",
                "step": "reversal.posted",
                "at": h["at"] + draw(st.integers(-DAY, DAY)),
                "outcome": "ok",
                "compensates": h["entity"],
                "le": "LE-2" if other else h["le"],
                "ids": (f"{next(_IDS):032x}", f"{next(_IDS):016x}"),
            }
        )
    return first, later


def _base(k: int) -> int:
    """The k-th example's window start: a day before the first of a month of its own (7:13 UTC),
    so its window (two days) and its hops straddle the month's end (the business period)."""
    first = datetime(2031 + k // 12, k % 12 + 1, 1, tzinfo=UTC)
    return int(first.timestamp() * 1000) - DAY + 7 * HOUR + 13 * MIN


def _month(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m")


def _expected(hops: list[dict[str, Any]], base: int, scope: Scope, flow: Flow, **kw: Any) -> list[dict[str, Any]]:
    """The queues of ``flow`` computed from the hops as lineage/business/waiting.py defines them."""
    since, until, now, limit = kw["since_ms"], kw["until_ms"], kw["now_ms"], kw["limit"]
    as_of, period, only = kw.get("as_of_ms", waiting.NO_END_MS), kw.get("period", ""), kw.get("stage", "")
    rows = [h | {"end": base + h["at"], "type": h["entity"].split(":")[0]} for h in hops]
    seen = [h for h in rows if scope.allows(h["le"], h["rg"])]
    reversed_ = {h["compensates"] for h in seen if h.get("compensates") and h["end"] >= since}
    ok = [h for h in seen if h["outcome"] == "ok" and not h.get("compensates")]
    out = []
    for prev, cur in zip(flow.stages, flow.stages[1:], strict=False):
        if only and cur.name != only:
            continue
        reached = set()
        for h in ok:
            if h["step"] == cur.step and h["type"] == cur.entity_type and since <= h["end"] < as_of:
                reached |= {h["entity"], h.get("parent", "")}
        done: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for h in ok:
            if (h["step"], h["type"], h["flow"]) == (prev.step, prev.entity_type, flow.name) and since <= h[
                "end"
            ] < until:
                done[h["entity"]].append(h)
        items = []
        for entity, hs in done.items():
            first = min(hs, key=lambda h: h["end"])
            if entity in reached or entity in reversed_ or (period and _month(first["end"]) != period):
                continue
            priced = [h for h in hs if h["amount"] is not None]
            last = max(priced, key=lambda h: h["end"]) if priced else {"amount": None, "currency": ""}
            eid, cid = entity.split(":")[1], f"{base}-{first['cid']}"
            items.append(
                (first["end"], eid, last["amount"], last["currency"] or None, first["system"], first["le"], cid)
            )
        items.sort()
        sums: dict[str, float] = defaultdict(float)
        for item in items:
            if item[2] is not None:
                sums[item[3] or ""] += item[2]
        out.append(
            {
                "stage": cur.name,
                "count": len(items),
                "amounts": [(c or None, round_money(sums[c], c)) for c in sorted(sums)],
                "oldest_age_ms": max(0, now - items[0][0]) if items else None,
                "items": [(now - i[0], *i[1:]) for i in items[:limit]],
                "truncated": len(items) > limit,
            }
        )
    return out


_ITEM = ("age_ms", "entity_id", "amount", "currency", "system", "legal_entity", "correlation_id")


def _got(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "stage": s["stage"],
            "count": s["count"],
            "amounts": [(a["currency"], a["amount"]) for a in s["amounts"]],
            "oldest_age_ms": s["oldest_age_ms"],
            "items": [tuple(i[k] for k in _ITEM) for i in s["items"]],
            "truncated": s["truncated"],
        }
        for s in doc["stages"]
    ]


def _cases(base: int) -> list[tuple[Scope, str, dict[str, Any]]]:
    """(scope, flow, filters) of each comparison: every scope, both flows, a stage, a queue as of
    an earlier time, a business period (as the close gate asks), a list cut at two."""
    return [
        (EVERYTHING, "order_to_cash", {}),
        (SCOPES[1], "payment_sync", {}),
        (SCOPES[2], "order_to_cash", {"stage": "posting"}),
        (EVERYTHING, "payment_sync", {"as_of_ms": base + DAY}),
        (SCOPES[3], "order_to_cash", {"as_of_ms": base + DAY}),
        (EVERYTHING, "order_to_cash", {"period": _month(base + DAY), "as_of_ms": base + 2 * DAY, "limit": 2}),
        (SCOPES[1], "payment_sync", {"stage": "cash", "period": _month(base), "limit": 1}),
        # a month's end within the window (base is a day before the first): reached after it or not
        (EVERYTHING, "order_to_cash", {"period": _month(base), "as_of_ms": base + DAY - 7 * HOUR - 13 * MIN}),
        (SCOPES[1], "payment_sync", {"period": _month(base), "as_of_ms": base + DAY - 7 * HOUR - 13 * MIN}),
    ]


def _same_as_recomputed(store: Store, base: int, hops: list[dict[str, Any]]) -> None:
    config = load_flows()
    window = {"since_ms": base, "until_ms": base + 2 * DAY, "now_ms": base + 3 * DAY, "limit": 100}
    for scope, name, filters in _cases(base):
        kw = window | filters
        flow = config.flows[name]
        if "period" not in kw:
            got = waiting.waiting(store, config, scope, flow, **kw)
            assert _got(got) == _expected(hops, base, scope, flow, **kw), (scope, name, filters)
            continue
        # the close gate's: each legal entity's queues apart, as a caller scoped to it alone
        by_le = waiting.waiting_in_period(store, config, scope, flow, time_zone="UTC", **kw)
        assert _by_le(by_le) == _wanted(hops, base, scope, flow, kw), (scope, filters)
        if "as_of_ms" in kw:  # the gate's one pass for the period's end and now: each as recomputed
            rest = {k: v for k, v in kw.items() if k != "as_of_ms"}
            period_window = waiting.PeriodWindow(time_zone="UTC", **rest)
            at_end, now = waiting.waiting_at_end_and_now(store, config, scope, flow, period_window, kw["as_of_ms"])
            assert at_end == by_le, (scope, filters)
            assert _by_le(now) == _wanted(hops, base, scope, flow, rest), (scope, filters)


def _by_le(found: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    return {le: _got(doc) for le, doc in found.items()}


def _wanted(
    hops: list[dict[str, Any]], base: int, scope: Scope, flow: Any, kw: dict[str, Any]
) -> dict[str, list[dict[str, Any]]]:
    """Each legal entity's queues recomputed as a caller scoped to it alone; none waiting: absent."""
    want = {}
    for le in ("LE-1", "LE-2"):
        if scope.allows(le, scope.regions[0] if scope.regions else ""):
            alone = _expected(hops, base, Scope((le,), scope.regions), flow, **kw)
            want[le] = [q for q in alone if q["count"]]
    return {le: q for le, q in want.items() if q}


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(with_compensations())
def test_the_waiting_queues_equal_a_recomputation_from_the_hops(
    lineage_store: Store, case: tuple[list[dict[str, Any]], list[dict[str, Any]]]
) -> None:
    store = lineage_store
    base = _base(next(_MONTHS))
    first, later = (_tagged(hops, base) for hops in case)
    _write(store, base, first)
    _same_as_recomputed(store, base, first)
    _write(store, base, later)
    _same_as_recomputed(store, base, first + later)


def test_the_end_and_now_pass_tells_a_cut_off_break_from_what_still_waits(lineage_store: Store) -> None:
    """Known answers at a month's end: A posted after it waits at the end but not now (a cut-off
    break), B never posted waits at both, C posted before it waits at neither; each side equals
    the period's own pass as of then."""
    end = int(datetime(2032, 2, 1, tzinfo=UTC).timestamp() * 1000)
    spans = Spans()
    for name, issued, posted in (("A", end - 2 * HOUR, end + 2 * HOUR), ("B", end - 3 * HOUR, None),
                                 ("C", end - 4 * HOUR, end - HOUR)):  # fmt: skip
        spans.add(f"C-{name}", f"invoice:{name}", "invoice.issued", issued, amount=10.0, legal_entity="LE-1")
        if posted is not None:
            spans.add(f"C-{name}", f"ledger:P{name}", "ledger.posted", posted, system="erp",
                      parent=("invoice", name), legal_entity="LE-1")  # fmt: skip
    spans.write(lineage_store)
    config = load_flows()
    flow = config.flows["order_to_cash"]
    kw: dict[str, Any] = {"since_ms": end - DAY, "until_ms": end + DAY, "now_ms": end + 3 * HOUR, "limit": 100,
                          "period": "2032-01", "time_zone": "UTC", "stage": "posting"}  # fmt: skip
    at_end, now = waiting.waiting_at_end_and_now(
        lineage_store, config, EVERYTHING, flow, waiting.PeriodWindow(**kw), end
    )

    def ids(found: dict[str, dict[str, Any]]) -> list[str]:
        return sorted(i["entity_id"] for doc in found.values() for s in doc["stages"] for i in s["items"])

    assert ids(at_end) == ["A", "B"] and ids(now) == ["B"]
    assert at_end == waiting.waiting_in_period(lineage_store, config, EVERYTHING, flow, as_of_ms=end, **kw)
    assert now == waiting.waiting_in_period(lineage_store, config, EVERYTHING, flow, **kw)
