""" "Why?": what the failed, breached or stuck ones of the page's context have in common
(GET /api/v1/explain), ranked by money, with when it started: marked on the subject's rate over
time in the panel, and on the page's own series where the page asks (``change_point``)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import data, formats, why_figures
from dashboard.api import ApiError
from dashboard.state import Filters
from dashboard.views.common import chart, small_table


def finding_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Findings and pairs as rows: what, shares, p-value, count, money, and the list behind it."""
    return [
        {
            "what": " AND ".join(f"{d['dimension']}={d['value']}" for d in f["dimensions"]),
            doc["subject"]: f"{f['share_selection']:.0%}",
            doc["baseline"]: f"{f['share_baseline']:.0%}",
            "p-value": f"{f['p_value']:.2g}",
            "count": f["selection_count"],
            "money at risk": ", ".join(formats.money(m["amount"], m["currency"]) for m in f["money_at_risk"])
            or formats.NONE,
        }
        | _latency(f.get("latency"))
        for f in [*doc["findings"], *doc["pairs"]]
    ]


def _latency(lat: dict[str, Any] | None) -> dict[str, str]:
    """For "slow": the value's median and p90 beside its baseline's."""
    if not lat:
        return {}
    return {
        "median": f"{formats.format_ms(lat['median_ms'])} vs {formats.format_ms(lat['median_baseline_ms'])}",
        "p90": f"{formats.format_ms(lat['p90_ms'])} vs {formats.format_ms(lat['p90_baseline_ms'])}",
    }


def _ask(f: Filters, subject: str, stage: str, flow: str) -> dict[str, Any]:
    return data.fetch("explain", subject=subject, stage=stage, **(f.context() | ({"flow": flow} if flow else {})))


def change_point(f: Filters, subject: str, stage: str = "", flow: str = "") -> dict[str, Any] | None:
    """The open panel's change point, for the page's own time series (``why_figures.mark_change``);
    None while the panel is closed (the same cached call as the panel's)."""
    if not st.session_state.get(f"why_{subject}"):
        return None
    try:
        return _ask(f, subject, stage, flow).get("change_point")
    except ApiError:
        return None  # the panel says why


def panel(f: Filters, subject: str, stage: str = "", flow: str = "") -> None:
    """The "Why?" panel of a page, closed until opened (it runs one statistical query); ``flow``
    overrides the filters' (the flows page's picker)."""
    with st.expander(f"Why? What the {subject} ones have in common"):
        if not st.toggle("Explain", key=f"why_{subject}"):
            st.caption(
                "Compares the selection with the rest of the range, per system, region, legal entity, step, "
                "category, currency, amount band, service version and attributes (docs/explain.md)."
            )
            return
        try:
            doc = _ask(f, subject, stage, flow)
        except ApiError as exc:
            st.error(str(exc))
            return
        sel = doc["selection"]
        money = ", ".join(formats.money(m["amount"], m["currency"]) for m in sel["money_at_risk"]) or formats.NONE
        st.markdown(
            f"**{formats.count(sel['count'])}** {subject} {doc['unit'].replace('_', '-')}s against "
            f"{formats.count(doc['baseline_count'])} ({doc['baseline']}); money at risk {money}."
        )
        chart(why_figures.why_bars(doc), f"why_chart_{subject}")
        chart(why_figures.why_rate(doc), f"why_rate_{subject}")
        small_table(finding_rows(doc), "Nothing stands out at the stated level: no finding.")
        cp = doc.get("change_point")
        if cp:
            values = ", ".join(f"{v['dimension']}={v['value']} ({v['how']})" for v in cp["values"]) or "none named"
            rates = f"rate {cp['rate_before']:.1%} → {cp['rate_after']:.1%}"
            st.info(f"Started {cp['at'].replace('T', ' ')}: {rates}; {values}.")
        st.caption(f"{doc['test']}; {doc['correction']}; level {doc['level']}.")
