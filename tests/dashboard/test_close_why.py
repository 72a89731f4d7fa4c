"""The close page's periods and rows, and the "Why?" bars (pure parts)."""

from __future__ import annotations

from datetime import UTC, datetime

from dashboard import figures
from dashboard.state import Filters
from dashboard.views.close import GROUPS, gate_rows, recent_periods
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
    assert figures.why_bars(doc).layout.annotations[0].text == "Nothing stands out at the stated level"
    finding = {"dimensions": [{"dimension": "region", "value": "amer"}], "share_selection": 0.75,
               "share_baseline": 0.23, "p_value": 2e-19, "selection_count": 71,
               "money_at_risk": [{"currency": "EUR", "amount": 10.0}]}  # fmt: skip
    doc["findings"] = [finding]
    fig = figures.why_bars(doc)
    assert [t.name for t in fig.data] == ["rest", "failed"] and fig.data[1].x == (0.75,)
    assert finding_rows(doc)[0] == {"what": "region=amer", "failed": "75%", "rest": "23%", "p-value": "2e-19",
                                    "count": 71, "money at risk": "10.00 EUR"}  # fmt: skip


def test_replay_rows_link_to_lineage_with_the_pages_context() -> None:
    replay = {"id": "R1", "state": "sent", "entity_type": "ledger", "entity_id": "L-1", "step": "ledger.posted",
              "system": "erp", "amount": 1.0, "currency": "EUR", "requested_by": "a", "approved_by": "",
              "attempts": 1, "reason": "r", "last_error": None, "correlation_id": "C-1"}  # fmt: skip
    assert replay_rows([replay])[0]["lineage"] == "?page=lineage&correlation_id=C-1"
    f = Filters(page="replays", range="6h", region="eu-west")
    linked = replay_rows([replay], lambda cid: lineage_link(f, cid))[0]["lineage"]
    assert "correlation_id=C-1" in linked and "range=6h" in linked and "region=eu-west" in linked
