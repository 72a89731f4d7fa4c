"""Pure figure builders: API documents in, Plotly figures out (no Streamlit, no network)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import plotly.graph_objects as go

from dashboard.formats import format_ms

Row = dict[str, Any]
AGE_LABELS = {"lt_1h": "< 1 h", "h1_to_4h": "1–4 h", "h4_to_24h": "4–24 h", "gt_24h": "> 24 h"}
OUTCOME_COLORS = {"ok": "#2e7d32", "retry": "#f9a825", "error": "#c62828", "dead_letter": "#6a1b9a"}
# One colour per state wherever a status, outcome, verdict or exception state is shown.
STATUS_COLORS = {
    "complete": "#2e7d32",
    "ok": "#2e7d32",
    "done": "#2e7d32",
    "resolved": "#2e7d32",
    "in_flight": "#1565c0",
    "on time so far": "#1565c0",
    "acknowledged": "#546e7a",
    "stuck": "#ef6c00",
    "retry": "#f9a825",
    "open": "#c62828",
    "failed": "#c62828",
    "error": "#c62828",
    "BREACHED": "#c62828",
    "breached": "#c62828",
    "dead_letter": "#6a1b9a",
    "DEAD-LETTERED": "#6a1b9a",
    "DEAD-LETTERED · BREACHED": "#6a1b9a",
    "FAILED": "#c62828",
    "FAILED · BREACHED": "#c62828",
    "firing": "#c62828",
    "pending": "#f9a825",
    "firing (silenced)": "#78909c",
    "pending (silenced)": "#78909c",
}
LAYOUT: dict[str, Any] = {"margin": {"l": 60, "r": 20, "t": 60, "b": 50}, "legend": {"orientation": "h", "y": -0.2}}


def parse_time(text: str) -> datetime:
    """An API timestamp (ISO-8601, ``Z``) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def duration_unit(max_ms: float) -> tuple[float, str]:
    """A readable unit for durations up to ``max_ms``: (milliseconds per unit, label)."""
    if max_ms < 5 * 60_000:
        return 1000.0, "s"
    if max_ms < 10 * 3_600_000:
        return 60_000.0, "min"
    return 3_600_000.0, "h"


def figure(title: str, x_title: str, y_title: str, **extra: Any) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title={"text": title}, xaxis_title=x_title, yaxis_title=y_title, **{**LAYOUT, **extra})
    return fig


def empty(fig: go.Figure, message: str = "No data in this time range") -> go.Figure:
    fig.add_annotation(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5, font={"size": 16})
    return fig


LATE = "changed by late postings"


def late_text(n: int) -> str:
    """What a late mark says of its bucket."""
    return f"{n:,} late posting{'' if n == 1 else 's'} changed this bucket after it closed"


def late_summary(rows: Sequence[Row]) -> str:
    """One line naming the closed buckets late postings changed (empty when none did)."""
    late = [r for r in rows if r.get("late")]
    if not late:
        return ""
    when = ", ".join(f"{parse_time(r['bucket']):%m-%d %H:%M} ({r['late']:,})" for r in late[:6])
    more = f" and {len(late) - 6} more" if len(late) > 6 else ""
    total = sum(int(r["late"]) for r in late)
    return (
        f"◇ {total:,} late posting{'' if total == 1 else 's'} changed {len(late)} bucket(s) after they closed "
        f"(stored after the lateness grace): {when}{more} UTC."
    )


def mark_late(fig: go.Figure, rows: Sequence[Row], y: Any) -> None:
    """An open diamond on each bucket late postings changed after it closed (``late`` of the API's
    series), its hover naming how many; ``y`` gives the point's height."""
    late = [r for r in rows if r.get("late")]
    if not late:
        return
    fig.add_trace(
        go.Scatter(
            x=[parse_time(r["bucket"]) for r in late],
            y=[y(r) for r in late],
            text=[late_text(int(r["late"])) for r in late],
            name=LATE,
            mode="markers",
            marker={"symbol": "diamond-open", "size": 13, "color": "#ef6c00", "line": {"width": 2}},
            hovertemplate="%{x}<br>%{text}<extra></extra>",
        )
    )


def latency_over_time(buckets: Sequence[Row], sla_ms: int | None) -> go.Figure:
    """p50/p95/p99 posting latency per bucket, with the SLA as a dashed reference line."""
    peak = max([b["p99_ms"] for b in buckets] + [sla_ms or 0, 1])
    per, unit = duration_unit(peak)
    fig = figure("Posting latency, invoice issued → ledger posted", "Time (UTC)", f"Latency ({unit})")
    if not buckets:
        return empty(fig)
    times = [parse_time(b["bucket"]) for b in buckets]
    for key, width in (("p50_ms", 1.5), ("p95_ms", 2.5), ("p99_ms", 1.5)):
        fig.add_trace(
            go.Scatter(
                x=times,
                y=[b[key] / per for b in buckets],
                mode="lines+markers",
                name=key.removesuffix("_ms"),
                line={"width": width},
                hovertemplate=f"%{{x}}<br>%{{y:.1f}} {unit}<extra>{key[:3]}</extra>",
            )
        )
    mark_late(fig, buckets, lambda b: b["p95_ms"] / per)
    if sla_ms:
        fig.add_hline(
            y=sla_ms / per,
            line_dash="dash",
            line_color="#c62828",
            annotation_text=f"SLA {format_ms(sla_ms)}",
            annotation_position="top left",
        )
    return fig


def latency_histogram(hist: Row, sla_ms: int | None) -> go.Figure:
    """Distribution of posting latency from every posting (the API's log-spaced bins), with the
    p50/p95/p99 and SLA lines: the tail is as visible as the bulk."""
    fig = figure("Posting latency distribution (every posting)", "Latency (log scale)", "Postings", bargap=0.05)
    bins = [b for b in hist["bins"] if b["upper_ms"] is None or b["upper_ms"] > 0]
    if not hist["count"]:
        return empty(fig, "No postings in this time range")
    used = [i for i, b in enumerate(bins) if b["count"]]
    lo, hi = max(used[0] - 1, 0), min(used[-1] + 2, len(bins))
    shown = bins[lo:hi]
    mids = [_mid(b) for b in shown]
    fig.add_trace(
        go.Bar(
            x=mids,
            y=[b["count"] for b in shown],
            width=[_width(b) for b in shown],
            name="postings",
            marker_color="#1565c0",
            customdata=[[format_ms(b["lower_ms"]), format_ms(b["upper_ms"])] for b in shown],
            hovertemplate="%{customdata[0]} – %{customdata[1]}<br>%{y:,} postings<extra></extra>",
        )
    )
    fig.update_xaxes(type="log", tickvals=list(_TICKS), ticktext=list(_TICKS.values()))
    top = max(b["count"] for b in shown)
    lines = [(hist["p50_ms"], "p50", "#2e7d32"), (hist["p95_ms"], "p95", "#ef6c00"), (hist["p99_ms"], "p99", "#6a1b9a")]
    if sla_ms:
        lines.append((sla_ms, "SLA", "#c62828"))
    for ms, name, color in lines:
        if ms:
            fig.add_trace(
                go.Scatter(
                    x=[max(ms, 1), max(ms, 1)],
                    y=[0, top * 1.05],
                    mode="lines",
                    line={"dash": "dash", "color": color, "width": 2},
                    name=f"{name} {format_ms(ms)}",
                    hoverinfo="name",
                )
            )
    return fig


_TICKS = {
    1000: "1 s",
    10_000: "10 s",
    60_000: "1 min",
    600_000: "10 min",
    3_600_000: "1 h",
    4 * 3_600_000: "4 h",
    86_400_000: "1 d",
    7 * 86_400_000: "7 d",
}


def _mid(b: Row) -> float:
    lower = max(b["lower_ms"], 500)
    upper = b["upper_ms"] or lower * 1.5
    return float((lower * upper) ** 0.5)


def _width(b: Row) -> float:
    lower = max(b["lower_ms"], 500)
    return float((b["upper_ms"] or lower * 1.5) - lower)


def latency_heatmap(buckets: Sequence[Row], group_label: str) -> go.Figure:
    """Count-weighted p95 posting latency by hour of day (UTC) × group."""
    fig = figure(f"p95 posting latency by hour of day × {group_label}", "Hour of day (UTC)", group_label.title())
    if not buckets:
        return empty(fig)
    sums: dict[tuple[str, int], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for b in buckets:
        cell = sums[(b["group"] or "(none)", parse_time(b["bucket"]).hour)]
        cell[0] += b["p95_ms"] * b["count"]
        cell[1] += b["count"]
    groups = sorted({g for g, _ in sums})
    peak = max(s / n for s, n in sums.values() if n)
    per, unit = duration_unit(peak)
    z = [
        [(sums[(g, h)][0] / sums[(g, h)][1] / per) if (g, h) in sums and sums[(g, h)][1] else None for h in range(24)]
        for g in groups
    ]
    fig.add_trace(
        go.Heatmap(
            x=list(range(24)),
            y=groups,
            z=z,
            colorscale="YlOrRd",
            colorbar={"title": {"text": f"p95 ({unit})"}},
            hovertemplate=f"%{{y}} @ %{{x}}:00<br>p95 %{{z:.1f}} {unit}<extra></extra>",
        )
    )
    fig.update_xaxes(dtick=2)
    return fig


def backlog_area(series: Sequence[Row]) -> go.Figure:
    """Open exceptions over time, stacked by category."""
    fig = figure("Open exceptions over time, by category", "Time (UTC)", "Open exceptions")
    if not series:
        return empty(fig, "No open exceptions in this time range")
    times = sorted({p["bucket"] for p in series})
    by_cat: dict[str, dict[str, int]] = defaultdict(dict)
    for p in series:
        by_cat[p["category"] or "uncategorised"][p["bucket"]] = p["open"]
    for cat in sorted(by_cat):
        fig.add_trace(
            go.Scatter(
                x=[parse_time(t) for t in times],
                y=[by_cat[cat].get(t, 0) for t in times],
                name=cat,
                stackgroup="open",
                mode="lines",
                hovertemplate="%{x}<br>%{y:,} open<extra>" + cat + "</extra>",
            )
        )
    return fig


def age_bars(age_now: Sequence[Row]) -> go.Figure:
    """Open exceptions now by age bucket, stacked by category."""
    fig = figure("Open exceptions by age", "Age", "Open exceptions", barmode="stack")
    if not age_now:
        return empty(fig, "No open exceptions")
    labels = list(AGE_LABELS.values())
    for row in sorted(age_now, key=lambda r: r["category"] or ""):
        name = row["category"] or "uncategorised"
        fig.add_trace(
            go.Bar(
                x=labels,
                y=[row[k] for k in AGE_LABELS],
                name=name,
                hovertemplate="%{x}: %{y:,} open<extra>" + name + "</extra>",
            )
        )
    return fig


def floor_time(at: datetime, bucket: timedelta) -> datetime:
    """``at`` rounded down to a multiple of ``bucket`` since the epoch."""
    seconds = int(bucket.total_seconds())
    return datetime.fromtimestamp(int(at.timestamp()) // seconds * seconds, tz=at.tzinfo)


def breaches_over_time(breaches: Sequence[Row], bucket: timedelta) -> go.Figure:
    """SLA breaches per time bucket (by due time), stacked by flow and stage."""
    fig = figure("SLA breaches by flow and stage (by due time)", "Due time (UTC)", "Breaches", barmode="stack")
    counts: dict[str, dict[datetime, int]] = defaultdict(lambda: defaultdict(int))
    for b in breaches:
        if b.get("due_at"):
            counts[f"{b['flow']} · {b['stage']}"][floor_time(parse_time(b["due_at"]), bucket)] += 1
    if not counts:
        return empty(fig, "No SLA breaches in this time range")
    for name in sorted(counts):
        xs = sorted(counts[name])
        fig.add_trace(
            go.Bar(
                x=xs,
                y=[counts[name][x] for x in xs],
                name=name,
                hovertemplate="%{x}<br>%{y:,} breaches<extra>" + name + "</extra>",
            )
        )
    return fig


def throughput_lines(buckets: Sequence[Row], filling: Sequence[Row] = ()) -> go.Figure:
    """Completed stages per complete bucket, one line per stage; the bucket still filling
    (``filling``) is a separate hollow marker, not a cliff at the end of the line."""
    fig = figure("Throughput: completed stages per bucket", "Time (UTC)", "Completed")
    if not buckets and not filling:
        return empty(fig)
    by_stage: dict[str, list[Row]] = defaultdict(list)
    for b in buckets:
        by_stage[b["stage"]].append(b)
    for stage, rows in by_stage.items():
        fig.add_trace(
            go.Scatter(
                x=[parse_time(r["bucket"]) for r in rows],
                y=[r["completed"] for r in rows],
                name=stage,
                mode="lines",
                hovertemplate="%{x}<br>%{y:,} completed<extra>" + stage + "</extra>",
            )
        )
    mark_late(fig, buckets, lambda b: b["completed"])
    if filling:
        fig.add_trace(
            go.Scatter(
                x=[parse_time(r["bucket"]) for r in filling],
                y=[r["completed"] for r in filling],
                text=[r["stage"] for r in filling],
                name="bucket still filling",
                mode="markers",
                marker={"symbol": "circle-open", "size": 9, "color": "#78909c"},
                hovertemplate="%{text}: %{y:,} so far (bucket still filling)<extra></extra>",
            )
        )
    return fig
