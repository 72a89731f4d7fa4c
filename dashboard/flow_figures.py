"""Figures of the Flows and Reconciliation pages (pure: API documents in, Plotly figures out).

The bucket still filling (it ends after "now") is drawn apart from the complete ones: a
hatched, lighter bar or a hollow marker named "still filling", so its low count never reads
as a drop and a burst never as a spike.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import plotly.graph_objects as go

from dashboard.figures import mark_late, parse_time
from dashboard.formats import count, format_ms, number, percent, plural
from dashboard.kpis import complete

Row = dict[str, Any]
FILLING = "still filling"
FILLING_COLOR = "#90a4ae"
HATCH = {"shape": "/", "fgcolor": "#546e7a", "solidity": 0.3}


def split(buckets: Sequence[Row], width: timedelta, now: datetime) -> tuple[list[Row], list[Row]]:
    """(complete buckets, the bucket still filling) in the API's order."""
    done = complete(buckets, width, now)
    return done, [b for b in buckets if b not in done]


def _until(bucket: Row, width: timedelta) -> str:
    return f"{parse_time(bucket['bucket']) + width:%H:%M} UTC"


def per_label(per_ms: int | None) -> str:
    """``1h`` for 3,600,000 ms: the throughput's unit."""
    return format_ms(per_ms).replace(" 00m", "").replace(" 00s", "").replace(" 00h", "")


def kpi_figure(series: Row, width: timedelta, now: datetime) -> go.Figure:
    """One KPI over time: latency p50/p95/p99 (minutes), throughput per its ``per``, or the
    failure rate (%); the bucket still filling is marked as such."""
    done, filling = split(series["buckets"], width, now)
    fig = go.Figure()
    kind = series["kind"]
    objective = series.get("objective") or {}
    if kind == "latency":
        lines = {q: (_minutes(f"{q}_ms"), _took(q)) for q in ("p50", "p95", "p99")}
        _lines(fig, done, filling, lines)
        if objective.get("target_ms"):
            target = objective["target_ms"]
            fig.add_hline(y=target / 60_000, line_dash="dash", annotation_text=f"target {format_ms(target)}")
        unit = "minutes"
    elif kind == "throughput":
        per = per_label(series["per_ms"])
        _bars(fig, done, filling, width, lambda b: f"{number(b['rate'])} per {per} ({count(b['count'])})")
        unit = f"per {per}"
    else:
        _lines(fig, done, filling, {"failure rate": (_rate, _failed)})
        if objective.get("max_rate") is not None:
            fig.add_hline(
                y=100 * objective["max_rate"],
                line_dash="dash",
                annotation_text=f"objective ≤ {percent(objective['max_rate'])}",
            )
        unit = "% of attempts failed"
    mark_late(fig, series["buckets"], LATE_Y[kind])
    fig.update_layout(
        title=f"{series['name']} ({kind})", yaxis_title=unit, height=300, margin={"t": 40, "b": 20}, hovermode="closest"
    )
    return fig


Value = Callable[[Row], float | None]
Text = Callable[[Row], str]


def _late_y(b: Row) -> float:
    return (b.get("p95_ms") or 0) / 60_000


# Where a late mark sits on each kind's chart: the p95 line, the bar's top, the rate line.
LATE_Y: dict[str, Callable[[Row], float]] = {
    "latency": _late_y,
    "throughput": lambda b: b["rate"],
    "failure_rate": lambda b: 100 * (b.get("rate") or 0),
}


def _minutes(key: str) -> Value:
    return lambda b: None if b.get(key) is None else b[key] / 60_000


def _took(q: str) -> Text:
    return lambda b: f"{q} {format_ms(b[f'{q}_ms'])} over {count(b['count'])}"


def _rate(b: Row) -> float | None:
    return None if b.get("rate") is None else 100 * b["rate"]


def _failed(b: Row) -> str:
    return f"{percent(b['rate'])}: {count(b['failed'])} of {count(b['count'])} attempts failed"


def _lines(fig: go.Figure, done: Sequence[Row], filling: Sequence[Row], lines: dict[str, tuple[Value, Text]]) -> None:
    """A line per figure over the complete buckets; the bucket still filling one trace of
    hollow markers (all figures), so its few values never bend a line."""
    for name, (y, text) in lines.items():
        rows = [b for b in done if y(b) is not None]
        fig.add_scatter(
            x=[b["bucket"] for b in rows],
            y=[y(b) for b in rows],
            name=name,
            mode="lines+markers",
            customdata=[text(b) for b in rows],
            hovertemplate="%{x}<br>%{customdata}<extra></extra>",
        )
    points = [(b, y, text) for b in filling for y, text in lines.values() if y(b) is not None]
    if points:
        fig.add_scatter(
            x=[b["bucket"] for b, _, _ in points],
            y=[y(b) for b, y, _ in points],
            name=FILLING,
            mode="markers",
            marker={"symbol": "circle-open", "size": 10, "color": FILLING_COLOR},
            customdata=[text(b) for b, _, text in points],
            hovertemplate="%{x}<br>%{customdata} so far (bucket " + FILLING + ")<extra></extra>",
        )


def _bars(fig: go.Figure, done: Sequence[Row], filling: Sequence[Row], width: timedelta, text: Any) -> None:
    """Bars of the complete buckets; the one still filling hatched and lighter."""
    fig.add_bar(
        x=[b["bucket"] for b in done],
        y=[b["rate"] for b in done],
        name="complete buckets",
        marker_color="#1565c0",
        customdata=[text(b) for b in done],
        hovertemplate="%{x}<br>%{customdata}<extra></extra>",
    )
    if filling:
        fig.add_bar(
            x=[b["bucket"] for b in filling],
            y=[b["rate"] for b in filling],
            name=f"{FILLING} (so far)",
            marker={"color": FILLING_COLOR, "pattern": HATCH},
            customdata=[f"{text(b)} so far: the bucket is {FILLING} until {_until(b, width)}" for b in filling],
            hovertemplate="%{x}<br>%{customdata}<extra></extra>",
        )


def failure_summary(series: Row, label: str) -> str:
    """A failure-rate KPI over the whole window in words: "25 of 48 payment.applied attempts
    failed (52%); objective at most 2%"."""
    attempts = sum(b["count"] or 0 for b in series["buckets"])
    failed = sum(b["failed"] or 0 for b in series["buckets"])
    if not attempts:
        return f"{series['name']}: no {series['step']} attempts in the {label}."
    text = (
        f"{series['name']}: {count(failed)} of {count(attempts)} {series['step']} attempts failed in the {label} "
        f"({percent(failed / attempts)})"
    )
    max_rate = (series.get("objective") or {}).get("max_rate")
    return text + (f"; objective at most {percent(max_rate)}." if max_rate is not None else ".")


def drift_figure(buckets: Sequence[Row], now: datetime) -> go.Figure:
    """Breaks per day, one bar per legal entity; today's bars (the day still filling) hatched."""
    per: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for b in buckets:
        per[b["legal_entity"] or "—"][b["bucket"][:10]] += b["break_count"]
    today = f"{now:%Y-%m-%d}"
    fig = go.Figure()
    for entity, days in sorted(per.items()):
        fig.add_bar(
            x=list(days),
            y=list(days.values()),
            name=entity,
            marker_pattern=dict(HATCH, shape=["/" if d == today else "" for d in days]),
            customdata=[
                plural(n, "break") + (f" so far (today, {FILLING})" if d == today else "") for d, n in days.items()
            ],
            hovertemplate="%{x}<br>%{customdata}<extra>" + entity + "</extra>",
        )
    if any(today in days for days in per.values()):
        fig.add_annotation(
            text=f"hatched: today, {FILLING}", showarrow=False, xref="paper", yref="paper", x=1, y=1.08, xanchor="right"
        )
    fig.update_layout(barmode="stack", title="Breaks per day and legal entity", height=320, margin={"t": 40})
    return fig
