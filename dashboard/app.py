"""The Streamlit entry point: shared controls in the sidebar, one page at a time.

Run with ``streamlit run dashboard/app.py`` (see :mod:`dashboard.launch`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import streamlit as st

from dashboard import data
from dashboard.api import ApiError
from dashboard.state import (
    CUSTOM,
    PAGES,
    RANGES,
    REFRESH,
    Filters,
    custom_span,
    from_params,
    link,
    problems,
    to_params,
)
from dashboard.views import (
    alerts,
    close,
    drill,
    exceptions,
    flows,
    latency,
    lineage,
    overview,
    reconciliation,
    replays,
    sla,
)
from dashboard.views.common import style

VIEWS: dict[str, Callable[[Filters], None]] = {
    "overview": overview.render,
    "latency": latency.render,
    "exceptions": exceptions.render,
    "sla": sla.render,
    "lineage": lineage.render,
    "replays": replays.render,
    "drill": drill.render,
    "alerts": alerts.render,
    "flows": flows.render,
    "reconciliation": reconciliation.render,
    "close": close.render,
}


def _seed(initial: Filters) -> None:
    """Widgets start from the URL on a fresh session."""
    for name, value in (
        ("page", initial.page),
        ("range", initial.range),
        ("flow", initial.flow),
        ("system", initial.system),
        ("region", initial.region),
        ("legal_entity", initial.legal_entity),
        ("refresh", initial.refresh),
        ("start", initial.start),
        ("end", initial.end),
        ("q", initial.correlation_id or initial.q),
    ):
        st.session_state.setdefault(name, value)


def _choices(group_by: str) -> list[str]:
    try:
        return ["", *data.group_values(group_by)]
    except ApiError:
        return [""]


def _select(label: str, options: list[str], key: str) -> str:
    current = st.session_state.get(key, "")
    if current not in options:
        options = [*options, current]
    value: str = st.sidebar.selectbox(label, options, key=key, format_func=lambda v: v or "all")
    return value


def sidebar() -> Filters:
    """The shared controls; returns what they say."""
    st.sidebar.title("ledgerline")
    page = st.sidebar.radio("Page", list(PAGES), key="page", format_func=PAGES.__getitem__)
    st.sidebar.divider()
    rng = st.sidebar.selectbox(
        "Time range",
        [*RANGES, CUSTOM],
        key="range",
        format_func=lambda r: "custom (absolute, UTC)" if r == CUSTOM else f"last {r}",
    )
    start, end = _custom_range() if rng == CUSTOM else ("", "")
    if rng == CUSTOM and not (start and end):
        rng = "24h"
    filters = Filters(
        page=page,
        range=rng,
        start=start,
        end=end,
        flow=_select("Flow", ["", *data.flow_names()], "flow"),
        system=_select("System", ["", *data.systems()], "system"),
        region=_select("Region", _choices("region"), "region"),
        legal_entity=_select("Legal entity", _choices("legal_entity"), "legal_entity"),
        refresh=st.sidebar.selectbox("Auto-refresh", list(REFRESH), key="refresh"),
        q=st.session_state.get("q", "") if page == "lineage" else "",
        state=st.query_params.get("state", "") if page == "exceptions" else "",
        category=st.query_params.get("category", "") if page == "exceptions" else "",
        drill=st.query_params.get("drill", "") if page == "drill" else "",
        stage=st.query_params.get("stage", "") if page == "sla" else "",
        rec=st.query_params.get("rec", "") if page == "reconciliation" else "",
        heat_by=st.query_params.get("heat_by", "") if page == "latency" else "",
        period=st.query_params.get("period", "") if page == "close" else "",
    )
    st.sidebar.markdown(f"[Link to this view]({link(filters)})")
    if st.sidebar.button("Refresh now"):
        data.invalidate()
    st.sidebar.caption(f"API: {data.client().base_url}")
    _signed_in()
    return filters


def _custom_range() -> tuple[str, str]:
    """The absolute range's two ends, or empty strings (with a message) when they do not parse."""
    start = st.sidebar.text_input("From (UTC, e.g. 2026-12-01T08:00)", key="start")
    end = st.sidebar.text_input("To (UTC)", key="end")
    if not (start and end):
        st.sidebar.info("Enter both ends of the range; until then the last 24h are shown.")
        return "", ""
    try:
        custom_span(start, end)
    except ValueError as exc:
        st.sidebar.error(f"Range not used: {exc}")
        return "", ""
    return start.strip(), end.strip()


def _signed_in() -> None:
    """Who the API sees: the person behind the proxy, or the dashboard's service credential."""
    try:
        me = data.whoami()
    except ApiError as exc:
        if exc.status in (401, 403):  # an unreachable API is reported once, by the page
            st.sidebar.warning(str(exc))
        return
    scope = ", ".join(me["scope"]["legal_entities"] + me["scope"]["regions"]) or "everything"
    st.sidebar.caption(f"Signed in as {me['subject']} ({me['role']}); sees {scope}")


def _render(filters: Filters) -> None:
    try:
        VIEWS[filters.page](filters)
    except ApiError as exc:
        st.error(f"{exc}")
    except Exception as exc:  # a page never shows a stack trace
        st.error(f"This page could not be drawn: {type(exc).__name__}: {exc}")


def _known_flow(filters: Filters) -> Filters:
    """An unknown flow (a typo in a link) is named and dropped, never shown as an API error."""
    if not filters.flow:
        return filters
    try:
        known = data.flow_names()
    except ApiError:
        return filters  # the page reports an unreachable API
    if filters.flow in known:
        return filters
    st.warning(f"Unknown flow {filters.flow!r}; known: {', '.join(known)}. Showing every flow instead.")
    return replace(filters, flow="")


def main() -> None:
    """One run of the script."""
    st.set_page_config(page_title="ledgerline · finance operations", page_icon="📒", layout="wide")
    style()
    if "url_problems" not in st.session_state:  # what the opening link asked for and could not be shown
        asked = st.query_params.to_dict()
        st.session_state["url_problems"] = (from_params(asked).page, problems(asked))
    _seed(from_params(st.query_params.to_dict()))
    filters = _known_flow(sidebar())
    page, shown = st.session_state["url_problems"]
    for problem in shown if filters.page == page else ():  # until the user moves on
        st.warning(problem)
    st.query_params.from_dict(to_params(replace(filters, correlation_id="")))
    seconds = REFRESH[filters.refresh]
    if seconds:
        st.fragment(run_every=seconds)(_render)(filters)
    else:
        _render(filters)


main()
