"""Layout helpers shared by the pages."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from dashboard import data
from dashboard.api import ApiError
from dashboard.kpis import Kpi

DEFAULT_POSTING_SLA_MS = 4 * 3_600_000
LINK = st.column_config.LinkColumn("lineage", display_text="open ↗", help="Open in the lineage explorer")


def kpi(column: Any, item: Kpi) -> None:
    """One headline figure with its trend."""
    column.metric(
        item.label,
        item.value,
        item.delta,
        delta_color="inverse" if item.inverse else "normal",
        help=item.help,
        border=True,
        chart_data=item.trend or None,
        chart_type="area",
    )


def chart(fig: go.Figure, key: str) -> None:
    """A Plotly chart at full width."""
    st.plotly_chart(fig, key=key, config={"displaylogo": False})


def table(rows: Sequence[dict[str, Any]], key: str, empty: str, **config: Any) -> None:
    """A sortable table, or a note when empty."""
    if not rows:
        st.info(empty)
        return
    st.dataframe(list(rows), key=key, hide_index=True, column_config=config)


def posting_sla_ms() -> int:
    """The posting SLA for reference lines: from a recent ledger breach, else $LEDGERLINE_POSTING_SLA_MS."""
    try:
        doc = data.fetch("breaches", since="7d", stage="ledger", limit=1)
        if doc["breaches"] and doc["breaches"][0]["sla_ms"]:
            return int(doc["breaches"][0]["sla_ms"])
    except ApiError:
        pass
    return int(os.environ.get("LEDGERLINE_POSTING_SLA_MS", DEFAULT_POSTING_SLA_MS))
