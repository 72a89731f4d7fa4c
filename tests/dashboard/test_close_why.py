"""The close page's periods and rows, and the "Why?" bars (pure parts)."""

from __future__ import annotations

from datetime import UTC, datetime

import plotly.graph_objects as go

from dashboard import why_figures
from dashboard.state import Filters
from dashboard.views.close import GROUPS, changed_hops, gate_rows, recent_periods
from dashboard.views.common import lineage_link
from dashboard.views.replays import replay_rows
from dashboard.views.why import finding_rows


def test_recent_periods_cross_the_year_and_end_with_the_open_month() -> None:
    assert recent_periods(datetime(2027, 1, 15, tzinfo=UTC)) == ["2026-12", "2026-11", "2026-10", "2027-01"]


def _group(count: int, money: list[dict[str, object]], blocking: bool = False) -> dict[str, object]:
    return {"count": count, "money": money, "blocking": blocking, "items": [], "truncated": False}


def test_a_gate_row_names_status_blocking_groups_and_money_per_currency() -> None:
    groups = {n: _group(0, []) for n in GROUPS}
    groups["not_posted"] = _group(
        2, [{"currency": "BHD", "amount": 1.2346}, {"currency": "JPY", "amount": 1000.0}], True
    )
    gate = {"legal_entity": "DE01", "status": "blocked", "deadline": "2026-12-07T23:00:00Z", "days_to_deadline": 1,
            "blocking": ["not_posted"], "groups": groups}  # fmt: skip
    row = gate_rows([gate])[0]
    assert row["status"].endswith("blocked") and row["blocking"] == "issued, not posted to the ledger"
    assert row["not posted"] == "2 · 1.235 BHD, 1,000 JPY" and row["cut off"] == "0 · —"


def test_why_bars_show_selection_against_baseline_and_say_when_nothing_stands_out() -> None:
    doc = {"subject": "failed", "baseline": "rest", "findings": [], "pairs": []}
    assert why_figures.why_bars(doc).layout.annotations[0].text == "Nothing stands out at the stated level"
    finding = {"dimensions": [{"dimension": "region", "value": "amer"}], "share_selection": 0.75,
               "share_baseline": 0.23, "p_value": 2e-19, "selection_count": 71,
               "money_at_risk": [{"currency": "EUR", "amount": 10.0}]}  # fmt: skip
    doc["findings"] = [finding]
    fig = why_figures.why_bars(doc)
    assert [t.name for t in fig.data] == ["rest", "failed"] and fig.data[1].x == (0.75,)
    assert finding_rows(doc)[0] == {"what": "region=amer", "failed": "75%", "rest": "23%", "p-value": "2e-19",
                                    "count": 71, "money at risk": "10.00 EUR"}  # fmt: skip


def test_hops_changed_since_sign_off_are_listed_with_their_lineage() -> None:
    hops = {
        "added": {"count": 2, "items": [{"trace_id": "t1", "span_id": "s1", "correlation_id": "C-L"},
                                        {"trace_id": "t1", "span_id": "s2", "correlation_id": "C-L"}]},
        "removed": {"count": 1, "items": [{"trace_id": "t9", "span_id": "s9", "correlation_id": ""}]},
        "altered": {"count": 0, "items": []},
    }  # fmt: skip
    f = Filters(page="close", legal_entity="DE01")
    rows = changed_hops(f, hops)
    assert [(r["change"], r["hop"]) for r in rows] == [("added", "t1/s1"), ("added", "t1/s2"), ("removed", "t9/s9")]
    assert "correlation_id=C-L" in rows[0]["lineage"] and "legal_entity=DE01" in rows[0]["lineage"]
    assert rows[2]["lineage"] is None  # a removed hop's correlation ID may be gone with it
    assert changed_hops(f, {}) == []


def test_replay_rows_link_to_lineage_with_the_pages_context() -> None:
    replay = {"id": "R1", "state": "sent", "entity_type": "ledger", "entity_id": "L-1", "step": "ledger.posted",
              "system": "erp", "amount": 1.0, "currency": "EUR", "requested_by": "a", "approved_by": "",
              "attempts": 1, "reason": "r", "last_error": None, "correlation_id": "C-1"}  # fmt: skip
    assert replay_rows([replay])[0]["lineage"] == "?page=lineage&correlation_id=C-1"
    f = Filters(page="replays", range="6h", region="eu-west")
    linked = replay_rows([replay], lambda cid: lineage_link(f, cid))[0]["lineage"]
    assert "correlation_id=C-1" in linked and "range=6h" in linked and "region=eu-west" in linked


def _explained(change_point: dict[str, object] | None) -> dict[str, object]:
    series = [{"at": f"2026-12-07T{h:02d}:00:00Z", "subject": 2 if h < 3 else 9, "units": 20} for h in range(6)]
    return {"subject": "failed", "unit": "entity_step", "series": series, "change_point": change_point}


def test_why_rate_draws_the_subjects_share_and_marks_the_change_point() -> None:
    cp = {"at": "2026-12-07T03:00:00Z", "rate_before": 0.1, "rate_after": 0.45}
    fig = why_figures.why_rate(_explained(cp))
    assert list(fig.data[0].y) == [0.1, 0.1, 0.1, 0.45, 0.45, 0.45]
    line = fig.layout.shapes[0]
    assert line.x0 == line.x1 == datetime(2026, 12, 7, 3, tzinfo=UTC) and (line.y0, line.y1) == (0, 1)
    assert fig.layout.annotations[0].text == "started 03:00 (10.0% → 45.0%)"
    unmarked = why_figures.why_rate(_explained(None))
    assert not unmarked.layout.shapes and not unmarked.layout.annotations
    assert why_figures.mark_change(go.Figure(), None).layout.shapes == ()


def test_a_slow_finding_shows_its_median_and_p90_beside_the_baselines() -> None:
    finding = {"dimensions": [{"dimension": "legal_entity", "value": "LE-2"}], "share_selection": 0.5,
               "share_baseline": 0.2, "p_value": 1e-9, "selection_count": 20, "money_at_risk": [],
               "latency": {"median_ms": 190_000, "median_baseline_ms": 120_000, "p90_ms": 300_000,
                           "p90_baseline_ms": 180_000, "sampled": 50, "sampled_baseline": 200}}  # fmt: skip
    row = finding_rows({"subject": "slow", "baseline": "rest", "findings": [finding], "pairs": []})[0]
    assert row["median"] == "3m 10s vs 2m 00s" and row["p90"] == "5m 00s vs 3m 00s"
