"""Layout helpers shared by the pages: figures, tables (readable times, no "None", status
colours), drill-down links and the freshness line."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from pandas.io.formats.style import Styler

from dashboard import data, formats, sparkline
from dashboard.api import ApiError
from dashboard.figures import STATUS_COLORS, parse_time
from dashboard.kpis import Kpi
from dashboard.state import Filters, link

LINK = st.column_config.LinkColumn("lineage", display_text="open ↗", help="Open in the lineage explorer", width="small")
STATUS_COLUMNS = ("status", "state", "outcome", "verdict", "kind", "last_outcome")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")


# Headline figures never end in an ellipsis: a value too wide for its card gets a smaller font
# and wraps (between amount and currency first) rather than being cut to "276,512…".
STYLE = """<style>
[data-testid="stMetricValue"] { font-size: clamp(1.25rem, 0.75rem + 1.2vw, 2.25rem); line-height: 1.2; height: auto; }
[data-testid="stMetricValue"] *, [data-testid="stMetricLabel"] * {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
  overflow-wrap: anywhere;
}
</style>"""


def style() -> None:
    """The page's own CSS (once per run)."""
    st.html(STYLE)


def kpi(column: Any, item: Kpi, link: str = "") -> None:
    """One headline figure with its trend; ``link`` opens the list behind it.

    The trend is an inline SVG, not ``st.metric``'s chart: a page of headline figures then loads
    no chart library (docs/benchmarks.md).
    """
    box = column.container(border=True)
    box.metric(
        item.label,
        item.value,
        item.delta,
        delta_color="inverse" if item.inverse else "normal",
        help=item.help,
    )
    if trend := sparkline.svg(item.trend, sparkline.color(item.delta, item.inverse), f"{item.label} trend"):
        box.markdown(trend, unsafe_allow_html=True)
    if item.note:
        column.caption(item.note)
    if link:
        column.markdown(f"[list ↗]({link})")


def chart(fig: go.Figure, key: str) -> None:
    """A Plotly chart at full width."""
    st.plotly_chart(fig, key=key, config={"displaylogo": False})


def when(text: str | None) -> str:
    """An API timestamp as ``2026-12-04 16:53:04`` (UTC, no fraction); an em dash for none."""
    if not text:
        return "—"
    return f"{parse_time(text).astimezone(UTC):%Y-%m-%d %H:%M:%S}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def readable(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for display: ISO timestamps shortened; a missing text shown as an em dash. Numbers
    stay numbers (a table sorts them as numbers) and a missing one stays missing: the table
    draws its placeholder there, never "None"."""
    numeric = {k for row in rows for k, v in row.items() if _is_number(v)}
    numeric -= {k for row in rows for k, v in row.items() if v is not None and not _is_number(v)}
    out = []
    for row in rows:
        clean: dict[str, Any] = {}
        for k, v in row.items():
            if v is None:
                clean[k] = None if k in numeric else formats.NONE
            elif isinstance(v, str) and _ISO.match(v):
                clean[k] = when(v)
            else:
                clean[k] = v
        out.append(clean)
    return out


def _color(value: Any) -> str:
    color = STATUS_COLORS.get(str(value))
    return f"color: white; background-color: {color}; font-weight: 600" if color else ""


def _formatted(frame: pd.DataFrame, money: Mapping[str, str], durations: Sequence[str]) -> Styler:
    """The frame with its status columns coloured and its numbers shown through
    :mod:`dashboard.formats`: a money column in the currency (named by ``money``) of its row,
    a duration (milliseconds) as ``4h 05m``, other numbers with thousands separators. The
    cells keep their numbers, so they sort as such."""
    styled = frame.style.map(_color, subset=[c for c in STATUS_COLUMNS if c in frame.columns])
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column]):
            continue
        if column in money:
            currencies = frame[money[column]].fillna("").astype(str)
            for currency in currencies.unique():
                rows = frame.index[currencies == currency]
                styled = styled.format(
                    functools.partial(_money, currency=currency), subset=pd.IndexSlice[rows, [column]]
                )
        else:
            shown = formats.format_ms if column in durations else formats.number
            styled = styled.format(shown, subset=[column])
    return styled


def _money(value: float, currency: str) -> str:
    return formats.money(value, None if currency == formats.NONE else currency)


def table(
    rows: Sequence[dict[str, Any]],
    key: str,
    empty: str,
    select: bool = False,
    money: Mapping[str, str] | None = None,
    durations: Sequence[str] = (),
    missing: str = formats.NONE,
    **config: Any,
) -> list[int]:
    """A sortable full-width table (status columns coloured, numbers formatted and sorted as
    numbers), or a note when empty. ``money`` maps an amount column to the column naming its
    currency; ``durations`` names columns of milliseconds; ``missing`` is what a missing number
    reads (e.g. "amount unknown").

    With ``select`` the rows can be picked; returns the picked row positions (in ``rows``).
    """
    if not rows:
        st.info(empty)
        return []
    frame = pd.DataFrame(readable(rows))
    money = money or {}
    helps = {c: f"An amount in the currency of its row ({money[c]}); sorts by amount" for c in money}
    helps |= dict.fromkeys(durations, "A duration; sorts by length")
    for column, text in helps.items():
        if column in frame.columns:
            config.setdefault(column, st.column_config.NumberColumn(help=text))
    answer = st.dataframe(
        _formatted(frame, money, durations),
        key=key,
        hide_index=True,
        column_config=config,
        width="stretch",
        on_select="rerun" if select else "ignore",
        selection_mode="multi-row",
        placeholder=missing,
    )
    if not select:
        return []
    return list(answer.selection.rows)  # type: ignore[union-attr]


_MARKDOWN = re.compile(r"([\\`*_\[\]<>|~$#])")
# a number or an amount (formats.money) reads right-aligned
_NUMBER = re.compile(r"^(-?[\d,]+(\.\d+)?( [A-Z]{3}| \(no currency\))?|amount unknown)$")


def _cell(value: Any) -> str:
    """A value as Markdown text (numbers through :mod:`dashboard.formats`): every character
    Markdown (or LaTeX) would read, escaped."""
    text = formats.number(value) if _is_number(value) or value is None else str(value)
    return _MARKDOWN.sub(r"\\\1", text).replace("\n", " ")


def small_table(rows: Sequence[dict[str, Any]], empty: str, height: int | None = None, **links: str) -> None:
    """A short table as plain HTML (a Markdown table): no data grid to load and lay out, so a
    page of several small tables draws quickly. ``links`` names the columns holding relative
    URLs and the text to show for them (``list="list ↗"``); ``height`` (pixels) makes a long
    table scroll."""
    if not rows:
        st.info(empty)
        return
    shown = readable(rows)
    names = list(shown[0])
    right = {n for n in names if n not in links and all(_NUMBER.match(_cell(r[n])) for r in shown)}
    lines = [
        "| " + " | ".join(_cell(n) for n in names) + " |",
        "| " + " | ".join("---:" if n in right else "---" for n in names) + " |",
    ]
    for row in shown:
        cells = [(f"[{links[n]}]({row[n]})" if row[n] else "") if n in links else _cell(row[n]) for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    box = st.container(height=height, border=False) if height else st.container()
    box.markdown("\n".join(lines))


def posting_sla_ms(flow: str = "") -> int:
    """The posting SLA for reference lines: the flows API's SLA of the stage ending in the
    flow's posting step, else ``LEDGERLINE_POSTING_SLA_MS``."""
    try:
        flows = data.flows()
    except ApiError:
        flows = []
    chosen = next((f for f in flows if f["name"] == flow), None) or next((f for f in flows if f["default"]), None)
    if chosen is not None:
        stage = next((s for s in chosen["stages"] if s["step"] == chosen["latency_to"]), None)
        if stage is not None and stage["sla_ms"]:
            return int(stage["sla_ms"])
    return data.settings().posting_sla_ms


def freshness(*docs: dict[str, Any]) -> None:
    """When the figures were fetched and when the newest hop arrived (from the sidebar's answer)."""
    fetched = [d["_fetched_at"] for d in docs if d.get("_fetched_at")]
    try:
        newest = data.known()["newest_hop"]
    except ApiError:
        newest = None
    parts = []
    if fetched:
        parts.append(f"figures fetched {when(min(fetched))} UTC (cached up to {data.TTL_S:.0f} s)")
    parts.append(f"newest hop {when(newest)} UTC" if newest else "no hops in the last 30 days")
    st.caption("Data: " + "; ".join(parts) + f"; page drawn {datetime.now(UTC):%H:%M:%S} UTC.")


def unknown_values(*docs: dict[str, Any]) -> list[str]:
    """Warnings for filter values the API does not know (``context.unknown`` of its answers), each
    naming the value and the known ones: an empty figure is then the filter's doing, not "all clear"."""
    seen: dict[tuple[str, str], str] = {}
    for doc in docs:
        for u in (doc.get("context") or {}).get("unknown") or []:
            name = u["filter"].replace("_", " ")
            known = ", ".join(u["known"]) or "none"
            seen[(u["filter"], u["value"])] = (
                f"Unknown {name} {u['value']}; known: {known}. No hop in your scope carries it, so the "
                "figures below are empty because of this filter, not because all is clear."
            )
    return list(seen.values())


def not_applied(*docs: dict[str, Any]) -> list[str]:
    """Captions for the filters a figure route could not apply (``context.not_applied``), with why."""
    seen: dict[tuple[str, str], str] = {}
    for doc in docs:
        for n in (doc.get("context") or {}).get("not_applied") or []:
            name = n["filter"].replace("_", " ")
            seen[(n["filter"], n["reason"])] = f"Not filtered by {name} {n['value']}: {n['reason']}."
    return list(seen.values())


UNKNOWN_EMPTY = "Nothing to show for a filter value no hop carries (see the warning above); this is not an all clear."


def empty_text(text: str, *docs: dict[str, Any]) -> str:
    """``text`` for an empty table, unless a filter value is unknown: then never an "all clear"."""
    return UNKNOWN_EMPTY if unknown_values(*docs) else text


def context_notes(*docs: dict[str, Any], what: str = "") -> None:
    """Show what the API said of the context it applied: a warning per unknown value, a caption per
    filter it could not apply (``what`` names the figures, e.g. "Money at risk")."""
    for text in unknown_values(*docs):
        st.warning(text)
    for text in not_applied(*docs):
        st.caption(f"{what}: {text}" if what else text)


def lineage_link(f: Filters, correlation_id: str) -> str:
    """The lineage explorer's link for one transaction, carrying the page's whole context."""
    return link(f, page="lineage", correlation_id=correlation_id)


def narrowed(f: Filters) -> str:
    """The filters of the context in words: ``; region eu-west, legal entity acme-de`` (or nothing)."""
    shown = [
        f"{n.replace('_', ' ')} {getattr(f, n)}" for n in ("flow", "system", "region", "legal_entity") if getattr(f, n)
    ]
    return f"; {', '.join(shown)}" if shown else ""


def url_picker(label: str, options: list[str], param: str, current: str, **kwargs: Any) -> str:
    """A page's own picker kept in the URL (``param=``), starting from ``current`` (the URL's value
    when it is one of ``options``, else the first option). The callback writes the URL before the
    next script run, so the sidebar reads the new value."""
    key = f"pick_{param}"

    def follow() -> None:
        st.query_params[param] = st.session_state[key]

    st.session_state[key] = current if current in options else options[0]
    picked: str = st.selectbox(label, options, key=key, on_change=follow, **kwargs)
    return picked
