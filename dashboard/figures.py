"""Pure figure builders: API documents in, Plotly figures out (no Streamlit, no network)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import plotly.graph_objects as go

Row = dict[str, Any]
AGE_LABELS = {"lt_1h": "< 1 h", "h1_to_4h": "1–4 h", "h4_to_24h": "4–24 h", "gt_24h": "> 24 h"}
OUTCOME_COLORS = {"ok": "#2e7d32", "retry": "#f9a825", "error": "#c62828", "dead_letter": "#6a1b9a"}
ENTITY_ORDER = ("case", "credit", "invoice", "ledger")
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


def format_ms(ms: float | None) -> str:
    """``1h 05m``, ``4m 10s``, ``850 ms``; an em dash for None."""
    if ms is None:
        return "—"
    sign, ms = ("-" if ms < 0 else ""), abs(ms)
    if ms < 1000:
        return f"{sign}{ms:.0f} ms"
    seconds = int(ms // 1000)
    if seconds < 60:
        return f"{sign}{ms / 1000:.1f} s"
    if seconds < 3600:
        return f"{sign}{seconds // 60}m {seconds % 60:02d}s"
    if seconds < 86400:
        return f"{sign}{seconds // 3600}h {seconds % 3600 // 60:02d}m"
    return f"{sign}{seconds // 86400}d {seconds % 86400 // 3600:02d}h"


def _figure(title: str, x_title: str, y_title: str, **extra: Any) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title={"text": title}, xaxis_title=x_title, yaxis_title=y_title, **{**LAYOUT, **extra})
    return fig


def _empty(fig: go.Figure, message: str = "No data in this time range") -> go.Figure:
    fig.add_annotation(text=message, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5, font={"size": 16})
    return fig


def latency_over_time(buckets: Sequence[Row], sla_ms: int | None) -> go.Figure:
    """p50/p95/p99 posting latency per bucket, with the SLA as a dashed reference line."""
    peak = max([b["p99_ms"] for b in buckets] + [sla_ms or 0, 1])
    per, unit = duration_unit(peak)
    fig = _figure("Posting latency, invoice issued → ledger posted", "Time (UTC)", f"Latency ({unit})")
    if not buckets:
        return _empty(fig)
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
    if sla_ms:
        fig.add_hline(
            y=sla_ms / per,
            line_dash="dash",
            line_color="#c62828",
            annotation_text=f"SLA {format_ms(sla_ms)}",
            annotation_position="top left",
        )
    return fig


def latency_histogram(buckets: Sequence[Row], sla_ms: int | None) -> go.Figure:
    """Distribution of posting latency from fine buckets (each bucket's median, weighted by count)."""
    peak = max([b["p50_ms"] for b in buckets] + [sla_ms or 0, 1])
    per, unit = duration_unit(peak)
    fig = _figure("Posting latency distribution", f"Latency ({unit})", "Postings (log scale)", bargap=0.05)
    fig.update_yaxes(type="log")
    if not buckets:
        return _empty(fig)
    fig.add_trace(
        go.Histogram(
            x=[b["p50_ms"] / per for b in buckets],
            y=[b["count"] for b in buckets],
            histfunc="sum",
            nbinsx=40,
            name="postings",
            marker_color="#1565c0",
            hovertemplate=f"%{{x}} {unit}<br>%{{y}} postings<extra></extra>",
        )
    )
    if sla_ms:
        fig.add_vline(
            x=sla_ms / per,
            line_dash="dash",
            line_color="#c62828",
            annotation_text=f"SLA {format_ms(sla_ms)}",
            annotation_position="top right",
        )
    return fig


def latency_heatmap(buckets: Sequence[Row], group_label: str) -> go.Figure:
    """Count-weighted p95 posting latency by hour of day (UTC) × group."""
    fig = _figure(f"p95 posting latency by hour of day × {group_label}", "Hour of day (UTC)", group_label.title())
    if not buckets:
        return _empty(fig)
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
    fig = _figure("Open exceptions over time, by category", "Time (UTC)", "Open exceptions")
    if not series:
        return _empty(fig, "No open exceptions in this time range")
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
                hovertemplate="%{x}<br>%{y} open<extra>" + cat + "</extra>",
            )
        )
    return fig


def age_bars(age_now: Sequence[Row]) -> go.Figure:
    """Open exceptions now by age bucket, stacked by category."""
    fig = _figure("Open exceptions by age", "Age", "Open exceptions", barmode="stack")
    if not age_now:
        return _empty(fig, "No open exceptions")
    labels = list(AGE_LABELS.values())
    for row in sorted(age_now, key=lambda r: r["category"] or ""):
        fig.add_trace(go.Bar(x=labels, y=[row[k] for k in AGE_LABELS], name=row["category"] or "uncategorised"))
    return fig


def floor_time(at: datetime, bucket: timedelta) -> datetime:
    """``at`` rounded down to a multiple of ``bucket`` since the epoch."""
    seconds = int(bucket.total_seconds())
    return datetime.fromtimestamp(int(at.timestamp()) // seconds * seconds, tz=at.tzinfo)


def breaches_over_time(breaches: Sequence[Row], bucket: timedelta) -> go.Figure:
    """SLA breaches per time bucket (by due time), stacked by flow and stage."""
    fig = _figure("SLA breaches by flow and stage (by due time)", "Due time (UTC)", "Breaches", barmode="stack")
    counts: dict[str, dict[datetime, int]] = defaultdict(lambda: defaultdict(int))
    for b in breaches:
        if b.get("due_at"):
            counts[f"{b['flow']} · {b['stage']}"][floor_time(parse_time(b["due_at"]), bucket)] += 1
    if not counts:
        return _empty(fig, "No SLA breaches in this time range")
    for name in sorted(counts):
        xs = sorted(counts[name])
        fig.add_trace(go.Bar(x=xs, y=[counts[name][x] for x in xs], name=name))
    return fig


def throughput_lines(buckets: Sequence[Row]) -> go.Figure:
    """Completed stages per bucket, one line per stage."""
    fig = _figure("Throughput: completed stages per bucket", "Time (UTC)", "Completed")
    if not buckets:
        return _empty(fig)
    by_stage: dict[str, list[Row]] = defaultdict(list)
    for b in buckets:
        by_stage[b["stage"]].append(b)
    for stage, rows in by_stage.items():
        fig.add_trace(
            go.Scatter(
                x=[parse_time(r["bucket"]) for r in rows], y=[r["completed"] for r in rows], name=stage, mode="lines"
            )
        )
    return fig


def hop_timeline(hops: Sequence[Row]) -> go.Figure:
    """A Gantt chart of a transaction's hops, one row per system, coloured by outcome."""
    fig = _figure("Hops by system", "Time (UTC)", "System", barmode="overlay")
    if not hops:
        return _empty(fig, "No hops")
    starts = [parse_time(h["start_time"]) for h in hops]
    ends = [parse_time(h["end_time"]) for h in hops]
    span_ms = max((max(ends) - min(starts)).total_seconds() * 1000, 1000)
    min_ms = span_ms / 150  # keep sub-second hops visible on an hours-long axis
    for outcome in sorted({h["outcome"] for h in hops}):
        picked = [i for i, h in enumerate(hops) if h["outcome"] == outcome]
        fig.add_trace(
            go.Bar(
                base=[starts[i] for i in picked],
                x=[max(hops[i]["duration_ms"], min_ms) for i in picked],
                y=[hops[i]["system"] for i in picked],
                orientation="h",
                name=outcome,
                marker_color=OUTCOME_COLORS.get(outcome, "#546e7a"),
                text=[f"{hops[i]['entity_type']} {hops[i]['step']}" for i in picked],
                textposition="outside",
                customdata=[
                    [hops[i]["entity_id"], format_ms(hops[i]["duration_ms"]), hops[i]["attempts"]] for i in picked
                ],
                hovertemplate="%{text}<br>%{customdata[0]}<br>%{base}<br>duration %{customdata[1]}, "
                "attempts %{customdata[2]}<extra>%{fullData.name}</extra>",
            )
        )
    pad = timedelta(milliseconds=span_ms)
    fig.update_xaxes(type="date", range=[min(starts) - pad * 0.03, max(ends) + pad * 0.25])
    fig.update_yaxes(categoryorder="array", categoryarray=_systems_in_order(hops)[::-1])
    return fig


def _systems_in_order(hops: Iterable[Row]) -> list[str]:
    seen: list[str] = []
    for h in sorted(hops, key=lambda h: h["start_time"]):
        if h["system"] not in seen:
            seen.append(h["system"])
    return seen


def _layer(entity_type: str) -> int:
    return ENTITY_ORDER.index(entity_type) if entity_type in ENTITY_ORDER else len(ENTITY_ORDER)


def entity_graph(doc: Row) -> go.Figure:
    """Entities (left → right by type) with their edges; stitched transactions in a last column."""
    fig = _figure(f"Entity graph of {doc['correlation_id']}", "", "", showlegend=False)
    nodes = [(n["entity_type"], n["entity_id"]) for n in doc["nodes"]]
    related = [(f"txn ({r['via']})", r["correlation_id"]) for r in doc.get("related", [])]
    layers: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for node in nodes:
        layers[_layer(node[0])].append(node)
    last = max(layers, default=0) + 1
    layers[last].extend(related)
    pos = {node: (x, -i + (len(col) - 1) / 2) for x, col in layers.items() for i, node in enumerate(col)}
    ex, ey = [], []
    for e in doc["edges"]:
        a, b = (e["parent_type"], e["parent_id"]), (e["child_type"], e["child_id"])
        if a in pos and b in pos:
            ex += [pos[a][0], pos[b][0], None]
            ey += [pos[a][1], pos[b][1], None]
    fig.add_trace(go.Scatter(x=ex, y=ey, mode="lines", line={"color": "#90a4ae"}, hoverinfo="skip"))
    for group, color in ((nodes, "#1565c0"), (related, "#ef6c00")):
        fig.add_trace(
            go.Scatter(
                x=[pos[n][0] for n in group],
                y=[pos[n][1] for n in group],
                mode="markers+text",
                marker={"size": 18, "color": color},
                text=[f"{t}<br>{i}" for t, i in group],
                textposition="bottom center",
                hovertemplate="%{text}<extra></extra>",
            )
        )
    fig.update_xaxes(visible=False, range=[-0.6, last + 0.6])
    fig.update_yaxes(visible=False)
    return fig
