"""Pure computations of the headline figures and tables from API documents."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dashboard.figures import parse_time
from dashboard.formats import UNKNOWN_AMOUNT, format_ms, total
from dashboard.formats import count as fmt_count

Row = dict[str, Any]
RISK_LABELS = {
    "open_exceptions": "open exceptions",
    "stuck": "stuck transactions",
    "failed": "failed transactions",
    "breached": "SLA-breached transactions",
}

CARD_LABELS = {
    "open_exceptions": "Open exceptions",
    "stuck": "Stuck transactions",
    "failed": "Failed transactions",
    "breached": "SLA-breached transactions",
}
CARD_HELP = {
    "open_exceptions": "Open (not acknowledged, not resolved) exceptions seen in the time range.",
    "stuck": "Transactions started in the time range whose next hop never arrived.",
    "failed": "Transactions started in the time range that failed or were dead-lettered.",
    "breached": "Transactions started in the time range with a stage or end-to-end SLA breached.",
}


@dataclass
class Kpi:
    """One headline figure: its value, the change against the previous period and a trend."""

    label: str
    value: str
    delta: str | None = None
    trend: list[float] = field(default_factory=list)
    help: str = ""
    inverse: bool = True  # a rise is bad
    note: str = ""  # one short line under the figure: what exactly it counts


def complete(buckets: Sequence[Row], width: timedelta, now: datetime) -> list[Row]:
    """The buckets that have ended by ``now`` (the last one is still filling until then)."""
    return [b for b in buckets if parse_time(b["bucket"]) + width <= now]


def latency_p95(buckets: Sequence[Row], width: timedelta, now: datetime) -> Kpi:
    """p95 posting latency of the last complete bucket with postings, against the one before.

    The bucket still filling is left out: its p95 over a few postings jumps between reloads.
    """
    rows = [b for b in complete(buckets, width, now) if b["count"]]
    trend = [round(b["p95_ms"] / 60_000, 2) for b in rows]
    label = "Posting p95"
    if not rows:
        return Kpi(label, "—", None, [], "No postings in a complete bucket of this time range.")
    last = rows[-1]
    delta = format_ms(last["p95_ms"] - rows[-2]["p95_ms"]) if len(rows) > 1 else None
    start = parse_time(last["bucket"])
    return Kpi(
        label,
        format_ms(last["p95_ms"]),
        delta,
        trend,
        f"p95 of invoice issued → ledger posted over the {last['count']} postings of "
        f"{start:%Y-%m-%d %H:%M}–{start + width:%H:%M} UTC (the bucket still filling is left out); "
        "change against the bucket before; trend in minutes.",
        note=f"last complete bucket, {start:%H:%M}–{start + width:%H:%M} UTC",
    )


def _lineage(correlation_id: str) -> str:
    return f"?page=lineage&correlation_id={correlation_id}"


def exception_rows(exceptions: Sequence[Row], lineage: Callable[[str], str] = _lineage) -> list[Row]:
    """Exceptions as table rows, oldest first; the lineage link (``lineage`` of the correlation
    ID, which may carry the page's context) and state come first so a narrow window never cuts
    them off; business key, amount and currency next, so finance can rank by money."""
    rows = [
        {
            "lineage": lineage(e["correlation_id"]),
            "state": e["state"],
            "business key": e.get("business_key") or f"{e['entity_type']}:{e['entity_id']}",
            "amount": e.get("amount"),
            "currency": e.get("currency"),
            "age": e["age_ms"],
            "category": e["category"],
            "system": e["system"],
            "region": e["region"],
            "step": e["step"],
            "last_outcome": e.get("last_outcome"),
            "attempts": e["attempts"],
            "ticket": ", ".join(t["key"] for t in e.get("tickets") or []),
            "id": e["id"],
        }
        for e in exceptions
    ]
    return sorted(rows, key=lambda r: -r["age"])


def breach_rows(breaches: Sequence[Row], lineage: Callable[[str], str] = _lineage) -> list[Row]:
    """Breached and overdue transactions as table rows (business key, amount, currency), most overdue first."""
    rows = [
        {
            "lineage": lineage(b["correlation_id"]),
            "business key": b.get("business_key"),
            "amount": b.get("amount"),
            "currency": b.get("currency"),
            "correlation_id": b["correlation_id"],
            "flow": b["flow"],
            "stage": b["stage"],
            "kind": b["kind"],
            "SLA": b["sla_ms"],
            "due": b["due_at"],
            "completed": b["completed_at"],
            "overdue": b["overdue_ms"],
        }
        for b in breaches
    ]
    return sorted(rows, key=lambda r: -(r["overdue"] or 0))


def _verdict(breached: bool, state: str, failure: str = "") -> str:
    if state != "done" and failure in ("dead_letter", "error"):
        return ("DEAD-LETTERED" if failure == "dead_letter" else "FAILED") + (" · BREACHED" if breached else "")
    if breached:
        return "BREACHED"
    return {"done": "ok", "open": "on time so far"}.get(state, "—")


def sla_rows(sla: Row, hops: Sequence[Row] = ()) -> list[Row]:
    """A transaction's SLA verdict per stage, plus end to end. A stage not done whose hop's
    latest attempt failed or was dead-lettered says so (never "on time so far")."""
    failures = {(h["entity_type"], h["step"]): h["outcome"] for h in hops if h["outcome"] in ("error", "dead_letter")}
    rows = [
        {
            "stage": s["stage"],
            "state": s["state"],
            "verdict": _verdict(s["breached"], s["state"], failures.get((s.get("entity_type"), s.get("step")), "")),
            "SLA": s["sla_ms"],
            "took": s["duration_ms"],
            "due": s["due_at"],
            "time left": s["time_left_ms"],
        }
        for s in sla["stages"]
    ]
    e2e = sla["end_to_end"]
    rows.append(
        {
            "stage": "end_to_end",
            "state": "",
            "verdict": "BREACHED" if e2e["breached"] else "ok",
            "SLA": e2e["sla_ms"],
            "took": e2e["elapsed_ms"],
            "due": None,
            "time left": None,
        }
    )
    return rows


def hop_rows(hops: Sequence[Row]) -> list[Row]:
    """A transaction's hops flattened for a table or CSV."""
    keys = (
        "start_time",
        "end_time",
        "system",
        "entity_type",
        "entity_id",
        "step",
        "outcome",
        "attempts",
        "duration_ms",
        "error_category",
        "amount",
        "currency",
        "trace_id",
        "span_id",
        "correlation_id",
    )
    return [{k: h.get(k) for k in keys} for h in sorted(hops, key=lambda h: h["start_time"])]


def money_line(amounts: Sequence[Row]) -> str:
    """A card's money per currency (``/api/v1/overview`` cards): ``1,234.00 EUR · 3 amount unknown``."""
    parts = [
        total(a["amount"], a["currency"]) if a["currency"] else f"{fmt_count(a['count'])} {UNKNOWN_AMOUNT}"
        for a in amounts
    ]
    return " · ".join(parts) or "no money at risk"


def risk_card(kind: str, card: Row, window: str) -> Kpi:
    """A headline card of the overview: the count of one at-risk kind and its money per currency,
    exactly the totals of the drill-down list of the same context."""
    return Kpi(
        CARD_LABELS[kind],
        fmt_count(card["count"]),
        help=f"{CARD_HELP[kind]} The list behind it has exactly these items ({window}).",
        note=money_line(card["amounts"]),
    )


def posting_p95(doc: Row, width: timedelta, now: datetime) -> Kpi:
    """p95 posting latency over the whole window (every posting), trend per complete bucket."""
    posting = doc["posting"]
    rows = [b for b in complete(doc["series"], width, now) if b["count"] and b["p95_ms"] is not None]
    trend = [round(b["p95_ms"] / 60_000, 2) for b in rows]
    if not posting["count"] or posting["p95_ms"] is None:
        return Kpi("Posting p95", "—", None, trend, "No postings in this time range.")
    over = f"{fmt_count(posting['over_sla'])} of {fmt_count(posting['count'])} over the SLA"
    return Kpi(
        "Posting p95",
        format_ms(posting["p95_ms"]),
        None,
        trend,
        f"p95 posting latency of the {posting['flow']} flow over every posting of the time range; "
        "trend per complete bucket, in minutes.",
        note=over if posting["sla_ms"] else f"{fmt_count(posting['count'])} postings",
    )


def postings(doc: Row, bucket: str, width: timedelta, now: datetime) -> Kpi:
    """Postings completed in the window, with the count per complete bucket as the trend."""
    trend = [float(b["count"]) for b in complete(doc["series"], width, now)]
    return Kpi(
        "Postings",
        fmt_count(doc["posting"]["count"]),
        None,
        trend,
        f"Postings completed in the time range; trend per complete {bucket} bucket.",
        inverse=False,
    )
