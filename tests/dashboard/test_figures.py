"""The figure builders and headline computations, from API-shaped data (no browser)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashboard import figures, kpis, timeline
from dashboard.formats import format_ms
from dashboard.views import exceptions as exceptions_view
from lineage.insights.service import EDGES


def _lat(hour: int, p95: float, group: str | None = None, count: int = 2) -> dict[str, object]:
    return {
        "bucket": f"2026-11-23T{hour:02d}:00:00Z",
        "group": group,
        "count": count,
        "p50_ms": p95 / 2,
        "p95_ms": p95,
        "p99_ms": p95 * 1.1,
    }


HOPS = [
    {
        "entity_type": "case",
        "entity_id": "C1",
        "step": "case.opened",
        "system": "support",
        "outcome": "ok",
        "start_time": "2026-11-23T10:00:00Z",
        "end_time": "2026-11-23T10:00:01Z",
        "duration_ms": 1000,
        "attempts": 1,
    },
    {
        "entity_type": "invoice",
        "entity_id": "I1",
        "step": "invoice.issued",
        "system": "billing",
        "outcome": "dead_letter",
        "start_time": "2026-11-23T11:00:00Z",
        "end_time": "2026-11-23T11:00:00.2Z",
        "duration_ms": 200,
        "attempts": 2,
        "attempt_list": [
            {"outcome": "retry", "start_time": "2026-11-23T10:30:00Z", "end_time": "2026-11-23T10:30:00.1Z"},
            {"outcome": "dead_letter", "start_time": "2026-11-23T11:00:00Z", "end_time": "2026-11-23T11:00:00.2Z"},
        ],
    },
]


def test_duration_units_and_format() -> None:
    assert figures.duration_unit(30_000) == (1000.0, "s")
    assert figures.duration_unit(3_600_000) == (60_000.0, "min")
    assert figures.duration_unit(20 * 3_600_000) == (3_600_000.0, "h")
    assert format_ms(850) == "850 ms"
    assert format_ms(250_000) == "4m 10s"
    assert format_ms(3_900_000) == "1h 05m"
    assert format_ms(-90_000_000) == "-1d 01h"
    assert format_ms(None) == "—"


def test_latency_over_time_has_three_percentiles_and_sla_line() -> None:
    fig = figures.latency_over_time([_lat(1, 600_000), _lat(2, 1_200_000)], 4 * 3_600_000)
    assert [t.name for t in fig.data] == ["p50", "p95", "p99"]
    assert list(fig.data[1].y) == [10.0, 20.0]  # minutes
    assert fig.layout.yaxis.title.text == "Latency (min)"
    assert fig.layout.shapes[0].y0 == 240.0 and "SLA 4h 00m" in fig.layout.annotations[0].text
    assert fig.layout.title.text and fig.layout.xaxis.title.text == "Time (UTC)"


def test_empty_data_gives_an_annotated_figure() -> None:
    for fig in (
        figures.latency_over_time([], None),
        figures.backlog_area([]),
        figures.age_bars([]),
        timeline.hop_timeline([]),
        figures.breaches_over_time([], timedelta(hours=1)),
    ):
        assert not fig.data and fig.layout.annotations[0].text.startswith("No ")


def _hist(counts: dict[int, int]) -> dict[str, object]:
    bins = [
        {"lower_ms": e, "upper_ms": EDGES[i + 1] if i + 1 < len(EDGES) else None, "count": counts.get(i, 0)}
        for i, e in enumerate(EDGES)
    ]
    total = sum(counts.values())
    return {"bins": bins, "count": total, "p50_ms": 1_200_000, "p95_ms": 7_200_000, "p99_ms": 36_000_000}


def test_histogram_draws_every_bin_with_postings_and_the_tail_lines() -> None:
    tail = next(i for i, e in enumerate(EDGES) if e >= 10 * 3_600_000)  # a 10-hour posting
    fig = figures.latency_histogram(_hist({20: 500, tail: 1}), 4 * 3_600_000)
    bars = fig.data[0]
    assert sum(bars.y) == 501 and 1 in list(bars.y)  # the single slow posting keeps its bar
    assert fig.layout.xaxis.type == "log"
    names = [t.name for t in fig.data[1:]]
    assert names == ["p50 20m 00s", "p95 2h 00m", "p99 10h 00m", "SLA 4h 00m"]
    assert figures.latency_histogram(_hist({}), None).layout.annotations[0].text.startswith("No ")


def test_heatmap_is_count_weighted_by_hour_and_group() -> None:
    rows = [_lat(1, 60_000, "eu", 1), _lat(1, 180_000, "eu", 3), _lat(5, 60_000, "us", 1)]
    fig = figures.latency_heatmap(rows, "region")
    heat = fig.data[0]
    assert list(heat.y) == ["eu", "us"] and len(heat.x) == 24
    assert heat.z[0][1] == 150.0  # (60*1 + 180*3)/4, in seconds
    assert heat.z[1][5] == 60.0 and heat.z[0][0] is None


def test_backlog_area_stacks_categories_on_common_buckets() -> None:
    series = [
        {"bucket": "2026-11-23T01:00:00Z", "category": "tax_error", "open": 2},
        {"bucket": "2026-11-23T02:00:00Z", "category": "tax_error", "open": 3},
        {"bucket": "2026-11-23T02:00:00Z", "category": None, "open": 1},
    ]
    fig = figures.backlog_area(series)
    assert {t.name: list(t.y) for t in fig.data} == {"tax_error": [2, 3], "uncategorised": [0, 1]}
    assert all(t.stackgroup == "open" for t in fig.data)


def test_age_bars_and_breaches_over_time() -> None:
    fig = figures.age_bars([{"category": "tax_error", "lt_1h": 1, "h1_to_4h": 0, "h4_to_24h": 2, "gt_24h": 0}])
    assert list(fig.data[0].x) == ["< 1 h", "1–4 h", "4–24 h", "> 24 h"] and list(fig.data[0].y) == [1, 0, 2, 0]
    breaches = [{"flow": "f", "stage": "ledger", "due_at": f"2026-11-23T10:{m:02d}:00Z"} for m in (5, 50)]
    breaches.append({"flow": "f", "stage": "invoice", "due_at": "2026-11-23T12:00:00Z"})
    fig = figures.breaches_over_time(breaches, timedelta(hours=1))
    assert {t.name: list(t.y) for t in fig.data} == {"f · invoice": [1], "f · ledger": [2]}


def test_hop_timeline_draws_each_attempt_and_the_waits() -> None:
    fig = timeline.hop_timeline(HOPS)
    by_name = {t.name: t for t in fig.data if t.name}
    assert set(by_name) == {"ok", "retry", "dead_letter", "waiting"}
    invoice = "2. invoice I1 · invoice.issued @ billing"
    assert list(by_name["retry"].y) == [invoice] and list(by_name["dead_letter"].y) == [invoice]
    assert by_name["dead_letter"].x[0] >= 3_600_000 / 150  # widened to stay visible
    assert list(fig.layout.yaxis.categoryarray) == [invoice, "1. case C1 · case.opened @ support"]
    waits = next(t for t in fig.data if getattr(t, "mode", "") == "text")
    assert list(waits.text) == ["waited 29m 59s"]  # case ended 10:00:01, first attempt 10:30


def test_entity_graph_lays_out_types_left_to_right_and_related_last() -> None:
    doc = {
        "correlation_id": "X",
        "nodes": [{"entity_type": "invoice", "entity_id": "I1"}, {"entity_type": "case", "entity_id": "C1"}],
        "edges": [{"parent_type": "case", "parent_id": "C1", "child_type": "invoice", "child_id": "I1"}],
        "related": [{"correlation_id": "B", "via": "link", "depth": 1, "flow": None, "status": None}],
    }
    fig = timeline.entity_graph(doc)
    lines, entities, related = fig.data
    assert list(lines.x) == [0, 2, None]
    assert list(entities.x) == [0, 2] and list(related.x) == [3]


def test_entity_graph_groups_a_large_fan_in() -> None:
    invoices = [{"entity_type": "invoice", "entity_id": f"I{i}"} for i in range(84)]
    doc = {
        "correlation_id": "J",
        "nodes": [{"entity_type": "ledger", "entity_id": "JNL-1"}, *invoices],
        "edges": [
            {"parent_type": "invoice", "parent_id": n["entity_id"], "child_type": "ledger", "child_id": "JNL-1"}
            for n in invoices
        ],
        "related": [],
    }
    fig = timeline.entity_graph(doc)
    entities = next(t for t in fig.data if t.mode == "markers+text")
    assert list(entities.text) == ["invoice<br>× 84", "ledger<br>JNL-1"]
    assert next(t for t in fig.data if t.mode == "text").text == ("84 edges",)


def test_kpis_from_api_documents() -> None:
    hour = timedelta(hours=1)
    at = datetime(2026, 11, 23, 4, 30, tzinfo=UTC)  # the 04:00 bucket is still filling
    filling = _lat(4, 36_000_000, count=1)
    p95 = kpis.latency_p95([_lat(1, 60_000), _lat(2, 0, count=0), _lat(3, 120_000), filling], hour, at)
    assert (p95.value, p95.delta, p95.trend) == ("2m 00s", "1m 00s", [1.0, 2.0])
    assert "03:00–04:00" in p95.help
    assert kpis.complete([_lat(3, 1), filling], hour, at) == [_lat(3, 1)]


def test_overview_cards_are_the_overview_documents_totals() -> None:
    card = {"count": 7, "amounts": [{"currency": "EUR", "amount": 1234.5, "count": 4},
                                    {"currency": "JPY", "amount": 27651234.0, "count": 1},
                                    {"currency": None, "amount": 0.0, "count": 2}]}  # fmt: skip
    shown = kpis.risk_card("breached", card, "last 6h")
    assert (shown.label, shown.value) == ("SLA-breached transactions", "7")
    assert shown.note == "1,234.50 EUR · 27,651,234 JPY · 2 amount unknown"
    assert "last 6h" in shown.help
    assert kpis.money_line([]) == "no money at risk"
    at = datetime(2026, 11, 23, 4, 30, tzinfo=UTC)
    doc = {
        "posting": {"flow": "order_to_cash", "count": 12345, "p95_ms": 120_000.0, "over_sla": 3, "sla_ms": 14_400_000},
        "series": [{"bucket": "2026-11-23T02:00:00Z", "count": 5, "p95_ms": 60_000.0},
                   {"bucket": "2026-11-23T03:00:00Z", "count": 0, "p95_ms": None},
                   {"bucket": "2026-11-23T04:00:00Z", "count": 9, "p95_ms": 3_600_000.0}],  # still filling
    }  # fmt: skip
    p95 = kpis.posting_p95(doc, timedelta(hours=1), at)
    assert (p95.value, p95.trend, p95.note) == ("2m 00s", [1.0], "3 of 12,345 over the SLA")
    posted = kpis.postings(doc, "1h", timedelta(hours=1), at)
    assert (posted.value, posted.trend, posted.inverse) == ("12,345", [5.0, 0.0], False)
    empty = kpis.posting_p95(
        {"posting": {**doc["posting"], "count": 0, "p95_ms": None}, "series": []}, timedelta(hours=1), at
    )
    assert empty.value == "—"


def test_exception_rows_carry_money_and_the_context() -> None:
    exc = [
        {
            "id": str(i),
            "system": s,
            "region": "eu",
            "category": "tax_error",
            "age_ms": i * 3_600_000,
            "entity_type": "invoice",
            "entity_id": f"I{i}",
            "step": "invoice.issued",
            "state": "open",
            "attempts": 1,
            "correlation_id": f"c{i}",
            "business_key": f"invoice:I{i}",
            "amount": 10.5 * i if i else None,
            "currency": "EUR" if i else None,
        }
        for i, s in enumerate(["erp", "billing", "erp"])
    ]
    rows = kpis.exception_rows(exc)
    assert [r["id"] for r in rows] == ["2", "1", "0"]
    assert rows[0]["lineage"] == "?page=lineage&correlation_id=c2"
    assert list(rows[0])[:2] == ["lineage", "state"]  # never cut off at the right
    assert (rows[0]["business key"], rows[0]["amount"], rows[0]["currency"]) == ("invoice:I2", 21.0, "EUR")
    assert rows[-1]["amount"] is None  # the table reads "amount unknown"
    assert kpis.exception_rows(exc, lambda cid: f"?page=lineage&range=6h&correlation_id={cid}")[0]["lineage"] == (
        "?page=lineage&range=6h&correlation_id=c2"
    )


def test_exception_rows_and_trail_name_their_tickets() -> None:
    ticket = {"receiver": "snow", "key": "INC0010001", "url": "https://acme.service-now.com/nav_to.do?uri=x"}
    exc = {"id": "1", "system": "erp", "region": "eu", "category": "c", "age_ms": 1, "entity_type": "invoice"}
    exc |= {"entity_id": "I1", "step": "s", "state": "open", "attempts": 1, "correlation_id": "c1"}
    [row] = kpis.exception_rows([exc | {"tickets": [ticket]}])
    assert row["ticket"] == "INC0010001" and kpis.exception_rows([exc])[0]["ticket"] == ""
    assert exceptions_view.ticket_links({"tickets": [ticket]}) == f"[INC0010001]({ticket['url']}) (snow)"


def test_sla_rows_give_a_verdict_per_stage_and_end_to_end() -> None:
    stage = {"stage": "s", "sla_ms": 3_600_000, "duration_ms": 10, "due_at": None, "time_left_ms": None}
    sla = {
        "end_to_end": {"sla_ms": 86_400_000, "elapsed_ms": 5, "breached": False},
        "stages": [
            {**stage, "state": "done", "breached": False},
            {**stage, "state": "open", "breached": True},
            {**stage, "state": "open", "breached": False},
            {**stage, "state": "pending", "breached": False},
        ],
    }
    assert [r["verdict"] for r in kpis.sla_rows(sla)] == ["ok", "BREACHED", "on time so far", "—", "ok"]
    dead = {**stage, "entity_type": "ledger", "step": "ledger.posted", "state": "open", "breached": False}
    hop = {"entity_type": "ledger", "step": "ledger.posted", "outcome": "dead_letter"}
    sla["stages"] = [dead]
    assert kpis.sla_rows(sla, [hop])[0]["verdict"] == "DEAD-LETTERED"
    assert kpis.sla_rows(sla, [{**hop, "outcome": "error"}])[0]["verdict"] == "FAILED"


def test_a_bucket_changed_by_late_postings_is_marked() -> None:
    late = {**_lat(2, 1_200_000), "late": 3}
    fig = figures.latency_over_time([_lat(1, 600_000), late], None)
    mark = fig.data[-1]
    assert mark.name == figures.LATE and list(mark.y) == [20.0]  # on the p95 of that bucket only
    assert list(mark.text) == ["3 late postings changed this bucket after it closed"]
    points = [
        {"bucket": "2026-11-23T01:00:00Z", "stage": "postings", "completed": 5, "late": 0},
        {"bucket": "2026-11-23T02:00:00Z", "stage": "postings", "completed": 7, "late": 1},
    ]
    marks = [t for t in figures.throughput_lines(points).data if t.name == figures.LATE]
    assert [list(t.y) for t in marks] == [[7]] and marks[0].text == (
        "1 late posting changed this bucket after it closed",
    )
    assert figures.late_summary(points) == (
        "◇ 1 late posting changed 1 bucket(s) after they closed (stored after the lateness grace): 11-23 02:00 (1) UTC."
    )
    # no late postings: no mark and no line
    assert all(t.name != figures.LATE for t in figures.latency_over_time([_lat(1, 600_000)], None).data)
    assert figures.late_summary([_lat(1, 600_000)]) == ""
