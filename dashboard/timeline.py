"""Figures of one transaction: a proportional hop timeline (every attempt its own bar, the
waiting between hops drawn) and an entity graph that stays readable at any fan-in."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import plotly.graph_objects as go

from dashboard.figures import LAYOUT, OUTCOME_COLORS, empty, figure, parse_time
from dashboard.formats import format_ms

Row = dict[str, Any]
ENTITY_ORDER = ("case", "credit", "invoice", "ledger")
MAX_NODES = 12  # more entities of one type than this are drawn as one node with a count
WAIT_COLOR = "#90a4ae"


def _attempts(hop: Row) -> list[Row]:
    return hop.get("attempt_list") or [
        {"outcome": hop["outcome"], "start_time": hop["start_time"], "end_time": hop["end_time"]}
    ]


def hop_label(hop: Row) -> str:
    """The row label of a hop: entity, step and system."""
    return f"{hop['entity_type']} {hop['entity_id']} · {hop['step']} @ {hop['system']}"


def hop_timeline(hops: Sequence[Row]) -> go.Figure:
    """One row per hop in start order on a true time axis; each attempt is its own bar coloured
    by outcome; a dotted line with its length marks the wait since the previous hop ended."""
    ordered = sorted(hops, key=lambda h: h["start_time"])
    fig = figure("Hop timeline (each attempt a bar; dotted: waiting)", "Time (UTC)", "", barmode="overlay")
    if not ordered:
        return empty(fig, "No hops")
    labels = [f"{i + 1}. {hop_label(h)}" for i, h in enumerate(ordered)]
    starts = [parse_time(a["start_time"]) for h in ordered for a in _attempts(h)]
    ends = [parse_time(a["end_time"]) for h in ordered for a in _attempts(h)]
    first, last = min(starts), max(ends)
    span_ms = max((last - first).total_seconds() * 1000, 1000)
    min_ms = span_ms / 150  # a 200 ms hop stays visible on an hours-long axis
    bars: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for label, hop in zip(labels, ordered, strict=True):
        attempts = _attempts(hop)
        for n, a in enumerate(attempts, 1):
            start, end = parse_time(a["start_time"]), parse_time(a["end_time"])
            took = (end - start).total_seconds() * 1000
            cell = bars[a["outcome"]]
            cell["base"].append(start)
            cell["x"].append(max(took, min_ms))
            cell["y"].append(label)
            cell["custom"].append([f"attempt {n} of {len(attempts)}", format_ms(took), a.get("error_category") or ""])
    for outcome in sorted(bars, key=lambda o: list(OUTCOME_COLORS).index(o) if o in OUTCOME_COLORS else 9):
        cell = bars[outcome]
        fig.add_trace(
            go.Bar(
                base=cell["base"],
                x=cell["x"],
                y=cell["y"],
                orientation="h",
                name=outcome,
                marker={"color": OUTCOME_COLORS.get(outcome, "#546e7a"), "line": {"color": "white", "width": 1}},
                customdata=cell["custom"],
                hovertemplate="%{y}<br>%{customdata[0]}: %{fullData.name}, took %{customdata[1]}"
                "<br>%{customdata[2]}<br>started %{base}<extra></extra>",
            )
        )
    _waits(fig, ordered, labels)
    pad = timedelta(milliseconds=span_ms)
    fig.update_xaxes(type="date", range=[first - pad * 0.02, last + pad * 0.05])
    fig.update_yaxes(categoryorder="array", categoryarray=labels[::-1], automargin=True)
    fig.update_layout(height=140 + 34 * len(labels), margin={**LAYOUT["margin"], "l": 10})
    return fig


def _waits(fig: go.Figure, ordered: Sequence[Row], labels: Sequence[str]) -> None:
    xs: list[datetime | None] = []
    ys: list[str | None] = []
    text_x: list[datetime] = []
    text_y: list[str] = []
    text: list[str] = []
    prev_end: datetime | None = None
    for label, hop in zip(labels, ordered, strict=True):
        start = min(parse_time(a["start_time"]) for a in _attempts(hop))
        if prev_end is not None and start > prev_end:
            xs += [prev_end, start, None]
            ys += [label, label, None]
            text_x.append(prev_end + (start - prev_end) / 2)
            text_y.append(label)
            text.append(f"waited {format_ms((start - prev_end).total_seconds() * 1000)}")
        end = max(parse_time(a["end_time"]) for a in _attempts(hop))
        prev_end = end if prev_end is None else max(prev_end, end)
    if xs:
        fig.add_trace(
            go.Scatter(x=xs, y=ys, mode="lines", line={"color": WAIT_COLOR, "dash": "dot", "width": 2}, name="waiting")
        )
        fig.add_trace(
            go.Scatter(
                x=text_x,
                y=text_y,
                mode="text",
                text=text,
                textposition="top center",
                textfont={"size": 11, "color": "#455a64"},
                showlegend=False,
                hoverinfo="skip",
            )
        )


def _layer(entity_type: str) -> int:
    return ENTITY_ORDER.index(entity_type) if entity_type in ENTITY_ORDER else len(ENTITY_ORDER)


def entity_graph(doc: Row, max_nodes: int = MAX_NODES) -> go.Figure:
    """Entities left → right by type, stitched transactions last. A type with more than
    ``max_nodes`` entities (a journal posting thousands of invoices) is one node with a count,
    and its edges one edge with a count: never dozens of overlapping labels."""
    fig = figure(f"Entity graph of {doc['correlation_id']}", "", "", showlegend=False)
    layers: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for n in doc["nodes"]:
        layers[_layer(n["entity_type"])].append((n["entity_type"], n["entity_id"]))
    last = max(layers, default=0) + 1
    layers[last] = [(f"txn ({r['via']})", r["correlation_id"]) for r in doc.get("related", [])]
    group_of: dict[tuple[str, str], tuple[str, str]] = {}
    drawn: dict[int, list[tuple[str, str]]] = {}
    for x, col in layers.items():
        if len(col) > max_nodes:
            kind = "txn" if x == last else col[0][0]
            node = (kind, f"× {len(col)}")
            group_of |= dict.fromkeys(col, node)
            drawn[x] = [node]
        else:
            group_of |= {n: n for n in col}
            drawn[x] = col
    pos = {node: (x, -i + (len(col) - 1) / 2) for x, col in drawn.items() for i, node in enumerate(col)}
    counts: dict[tuple[tuple[str, str], tuple[str, str]], int] = defaultdict(int)
    for e in doc["edges"]:
        a = group_of.get((e["parent_type"], e["parent_id"]))
        b = group_of.get((e["child_type"], e["child_id"]))
        if a in pos and b in pos:
            counts[(a, b)] += 1
    ex: list[float | None] = []
    ey: list[float | None] = []
    for a, b in counts:
        ex += [pos[a][0], pos[b][0], None]
        ey += [pos[a][1], pos[b][1], None]
    fig.add_trace(go.Scatter(x=ex, y=ey, mode="lines", line={"color": "#90a4ae"}, hoverinfo="skip"))
    labels = [((pos[a][0] + pos[b][0]) / 2, (pos[a][1] + pos[b][1]) / 2, f"{n} edges") for (a, b), n in counts.items()]
    if any(n > 1 for n in counts.values()):
        fig.add_trace(
            go.Scatter(
                x=[x for x, _, _ in labels],
                y=[y for _, y, _ in labels],
                mode="text",
                text=[t for _, _, t in labels],
                textfont={"color": "#546e7a"},
                hoverinfo="skip",
            )
        )
    entities = [n for x in sorted(drawn) if x != last for n in drawn[x]]
    for group, color in ((entities, "#1565c0"), (drawn[last], "#ef6c00")):
        fig.add_trace(
            go.Scatter(
                x=[pos[n][0] for n in group],
                y=[pos[n][1] for n in group],
                mode="markers+text",
                marker={"size": [30 if n[1].startswith("× ") else 18 for n in group], "color": color},
                text=[f"{t}<br>{i}" for t, i in group],
                # alternate above and below so neighbouring long IDs never overlap
                textposition=["bottom center" if k % 2 == 0 else "top center" for k in range(len(group))],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    tallest = max((len(c) for c in drawn.values()), default=1)
    fig.update_xaxes(visible=False, range=[-0.6, last + 0.6])
    fig.update_yaxes(visible=False, range=[-(tallest / 2) - 0.6, tallest / 2 + 0.2])
    fig.update_layout(height=max(320, 70 * tallest))
    return fig
