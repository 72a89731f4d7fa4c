"""The "Why?" figures: findings beside their baseline, the subject's rate over the window, and
the change point marked on any time series of the pages (pure: documents in, figures out)."""

from __future__ import annotations

import plotly.graph_objects as go

from dashboard.figures import Row, empty, figure, parse_time


def why_bars(doc: Row, top: int = 6) -> go.Figure:
    """ "Why?": each finding's share in the selection beside its share in the baseline."""
    findings = doc["findings"][:top]
    fig = figure("What the selection has in common (share of units)", "Share", "", barmode="group", height=320)
    if not findings:
        return empty(fig, "Nothing stands out at the stated level")
    names = [" AND ".join(f"{d['dimension']}={d['value']}" for d in f["dimensions"]) for f in reversed(findings)]
    for key, label, color in (
        ("share_baseline", doc["baseline"], "#90a4ae"),
        ("share_selection", doc["subject"], "#c62828"),
    ):
        fig.add_trace(
            go.Bar(
                y=names,
                x=[f[key] for f in reversed(findings)],
                orientation="h",
                name=label,
                marker_color=color,
                hovertemplate="%{y}<br>%{x:.0%}<extra>" + label + "</extra>",
            )
        )
    fig.update_xaxes(tickformat=".0%", range=[0, 1])
    return fig


CHANGE_MARK = "started"  # the change point's label on a time series


def mark_change(fig: go.Figure, change_point: Row | None) -> go.Figure:
    """The "Why?" change point on a time series: a vertical line where the subject's rate rose,
    labelled with when and the rates before and after (nothing when there is none)."""
    if not change_point:
        return fig
    at = parse_time(change_point["at"])
    rates = f"{change_point['rate_before']:.1%} → {change_point['rate_after']:.1%}"
    fig.add_shape(
        type="line", x0=at, x1=at, xref="x", y0=0, y1=1, yref="paper", line={"color": "#6a1b9a", "dash": "dot"}
    )
    fig.add_annotation(
        x=at, y=1, xref="x", yref="paper", showarrow=False, xanchor="left", yanchor="top",
        text=f"{CHANGE_MARK} {at:%H:%M} ({rates})", font={"color": "#6a1b9a"},
    )  # fmt: skip
    return fig


def why_rate(doc: Row) -> go.Figure:
    """ "Why?": the subject's share of units per bucket of the window, the series the explanation
    is about, with its change point marked."""
    series = doc.get("series") or []
    fig = figure(
        f"{doc['subject'].capitalize()} share of {doc['unit'].replace('_', '-')}s", "Time (UTC)", "Share", height=260
    )
    if not any(p["units"] for p in series):
        return empty(fig)
    fig.add_trace(
        go.Scatter(
            x=[parse_time(p["at"]) for p in series],
            y=[p["subject"] / p["units"] if p["units"] else None for p in series],
            customdata=[[p["subject"], p["units"]] for p in series],
            mode="lines+markers",
            name=doc["subject"],
            line={"color": "#c62828", "shape": "hv"},
            hovertemplate="%{x}<br>%{y:.1%} (%{customdata[0]} of %{customdata[1]})<extra></extra>",
        )
    )
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return mark_change(fig, doc.get("change_point"))
