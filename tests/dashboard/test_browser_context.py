"""Every figure reconciles (issue 22), in headless Chromium against a real stack: each headline card
of the overview and each money-at-risk row opens a list whose count and money per currency equal
the card's, for several contexts (ranges, a custom range, each filter); an unknown filter value, page
or date is named on the page; the page pickers round-trip through the URL."""

from __future__ import annotations

import contextlib
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import pytest

from dashboard import formats, kpis
from dashboard.state import Filters, from_params, link
from tests.dashboard.browser import BROWSER_MARKS, Dashboard, api, drawn, drill_card, metric, open_page, shot
from tests.dashboard.stack import Stack

with contextlib.suppress(ImportError):  # without playwright the tests are skipped
    from playwright.sync_api import Locator, Page, expect

pytestmark = BROWSER_MARKS
CONTEXT = ("since", "until", "flow", "system", "region", "legal_entity")


def _query(href: str) -> dict[str, str]:
    return dict(parse_qsl(href.lstrip("/?")))


def _overview(stack: Stack, f: Filters) -> dict[str, Any]:
    return api(stack, "/api/v1/overview", **{k: v for k, v in f.context().items() if v}, bucket=f.bucket)  # type: ignore[no-any-return]


def _card(page: Page, label: str) -> Locator:
    """The column of a headline card (its metric, its money line and its list link)."""
    label_box = page.locator('[data-testid="stMetricLabel"]').filter(has_text=re.compile(rf"^{label}$"))
    return page.locator('[data-testid="stColumn"]').filter(has=label_box).first


def _rows(table: Locator) -> list[dict[str, str]]:
    names = [th.inner_text().strip() for th in table.locator("thead th").all()]
    rows = []
    for tr in table.locator("tbody tr").all():
        row = {n: td.inner_text().strip() for n, td in zip(names, tr.locator("td").all(), strict=True)}
        link = tr.locator("td a")
        row["list"] = (link.get_attribute("href") or "") if link.count() else ""
        rows.append(row)
    return rows


@pytest.fixture(scope="module")
def contexts(stack: Stack) -> dict[str, Filters]:
    """The contexts every card is checked in; the filter values are ones the stack's data carries."""
    [unknown] = api(stack, "/api/v1/overview", since="24h", legal_entity="no-such-entity")["context"]["unknown"]
    risk = api(stack, "/api/v1/overview", since="24h")["money_at_risk"]
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return {
        "6h": Filters(range="6h"),
        "24h": Filters(),
        "custom": Filters(
            range="custom",
            start=f"{now - timedelta(hours=20):%Y-%m-%dT%H:%M}",
            end=f"{now - timedelta(hours=3):%Y-%m-%dT%H:%M}",
        ),
        "region": Filters(region=next(t["group"] for t in risk["by_region"] if t["group"])),
        "legal_entity": Filters(legal_entity=unknown["known"][0]),
        "system": Filters(system=next(t["group"] for t in risk["by_system"] if t["group"])),
    }


@pytest.mark.parametrize("name", ["6h", "24h", "custom", "region", "legal_entity", "system"])
def test_every_card_and_money_row_equals_the_list_it_opens(
    stack: Stack, dashboard: Dashboard, page: Page, contexts: dict[str, Filters], name: str
) -> None:
    f = contexts[name]
    asked = {k: v for k, v in f.context().items() if v}
    doc = _overview(stack, f)
    assert doc["money_at_risk"]["totals"], "a context with money at risk"  # so the first table is its money
    query = link(replace(f, page="overview"))
    open_page(page, dashboard, query, "Overview")
    drawn(page)
    links: dict[str, str] = {}
    for kind in ("open_exceptions", "stuck", "failed", "breached"):
        card, column = doc["cards"][kind], _card(page, kpis.CARD_LABELS[kind])
        assert metric(page, kpis.CARD_LABELS[kind]) == formats.count(card["count"])
        expect(column.get_by_text(kpis.money_line(card["amounts"]), exact=True)).to_be_visible()
        href = column.get_by_role("link", name="list ↗").get_attribute("href") or ""
        linked = from_params(_query(href))
        assert (linked.page, linked.drill) == ("drill", kind)
        assert {k: v for k, v in linked.context().items() if v} == asked  # the whole context, nothing lost
        links[kind] = href
    shot(page, f"context_overview_{name}")
    totals = _rows(page.locator('[data-testid="stMarkdown"] table').first)
    assert len(totals) == len(doc["money_at_risk"]["totals"])
    for row, t in zip(totals, doc["money_at_risk"]["totals"], strict=True):
        assert (row["what"], row["amount"], row["items"]) == (
            kpis.RISK_LABELS[t["kind"]],
            formats.total(t["amount"], t["currency"]),
            formats.count(t["count"]),
        )
        assert row["list"] == links[t["kind"]]  # the row opens the card's list
    by_system = _rows(
        page.locator('[data-testid="stColumn"]').filter(has_text="Money at risk by system").locator("table")
    )
    for row, t in zip(by_system, doc["money_at_risk"]["by_system"], strict=True):
        if t["group"]:
            linked = from_params(_query(row["list"]))
            assert (linked.drill, linked.system) == (t["kind"], t["group"])
            assert {k: v for k, v in linked.context().items() if v and k != "system"} == {
                k: v for k, v in asked.items() if k != "system"
            }
    for kind, href in links.items():  # each card's list: the same count and money per currency
        page.goto(f"{dashboard.url}/{href}")
        expect(page.get_by_role("heading", name=f"Drill-down: {kpis.RISK_LABELS[kind]}")).to_be_visible()
        drawn(page)
        card = doc["cards"][kind]
        assert metric(page, "Items in this list") == formats.count(card["count"]), kind
        for amount in card["amounts"]:
            label, value = drill_card(amount)
            assert metric(page, label) == value, (kind, label)
        expect(page.get_by_text(re.compile(rf"^{re.escape(f.label)}.*Oldest first\.$"))).to_be_visible()
    row = next((r for r in by_system if r["list"]), None)
    if row is not None:  # a by-system row: its list has the row's money
        page.goto(f"{dashboard.url}/{row['list']}")
        linked = from_params(_query(row["list"]))
        expect(page.get_by_role("heading", name=f"Drill-down: {kpis.RISK_LABELS[linked.drill]}")).to_be_visible()
        drawn(page)
        t = next(
            t
            for t in doc["money_at_risk"]["by_system"]
            if (t["group"], t["kind"]) == (linked.system, linked.drill)
            and formats.total(t["amount"], t["currency"]) == row["amount"]
        )
        assert metric(page, drill_card(t)[0]) == row["amount"]
        shot(page, f"context_drill_{name}")


def test_an_unknown_value_page_or_date_is_named_never_all_clear(stack: Stack, dashboard: Dashboard, page: Page) -> None:
    known = api(stack, "/api/v1/overview", since="24h", region="eu-wset")["context"]["unknown"][0]["known"]
    assert known
    open_page(page, dashboard, "?page=overview&region=eu-wset", "Overview")
    drawn(page)
    expect(page.get_by_text(f"Unknown region eu-wset; known: {', '.join(known)}.", exact=False)).to_be_visible()
    expect(page.get_by_text("Nothing at risk: no open exceptions")).to_have_count(0)
    expect(page.get_by_text("this is not an all clear").first).to_be_visible()
    shot(page, "context_unknown_region")
    open_page(page, dashboard, "?page=drill&drill=stuck&system=erp-typo", "Drill-down: stuck transactions")
    expect(page.get_by_text("Unknown system erp-typo; known:", exact=False)).to_be_visible()
    open_page(page, dashboard, "?page=overveiw", "Overview")
    expect(page.get_by_text("Unknown page 'overveiw' in the link", exact=False)).to_be_visible()
    open_page(
        page,
        dashboard,
        "?page=exceptions&range=custom&start=2026-13-01T06:00&end=2026-12-01T12:00",
        "Exception backlog",
    )
    expect(page.get_by_text("Custom range 2026-13-01T06:00 → 2026-12-01T12:00 not used", exact=False)).to_be_visible()


def _picker(page: Page, label: str, where: str = "stMain") -> Locator:
    return page.locator(f'[data-testid="{where}"]').get_by_role("combobox", name=label)


def _choose(page: Page, label: str, option: str) -> None:
    _picker(page, label).click()
    page.get_by_role("option", name=option, exact=True).click()


def test_page_pickers_and_a_stage_round_trip_through_the_url(stack: Stack, dashboard: Dashboard, page: Page) -> None:
    recs = [r["name"] for r in api(stack, "/api/v1/reconciliations")["reconciliations"]]
    assert len(recs) > 1
    open_page(page, dashboard, f"?page=reconciliation&range=6h&rec={recs[-1]}", "Reconciliation")
    expect(_picker(page, "Reconciliation")).to_have_value(recs[-1])
    _choose(page, "Reconciliation", recs[0])
    expect(page).to_have_url(re.compile(rf"rec={recs[0]}"))
    expect(page).to_have_url(re.compile(r"range=6h"))
    open_page(page, dashboard, "?page=latency&heat_by=region", "Posting latency")
    expect(_picker(page, "Heatmap by")).to_have_value("region")
    _choose(page, "Heatmap by", "legal_entity")
    expect(page).to_have_url(re.compile(r"heat_by=legal_entity"))
    page.reload()
    expect(_picker(page, "Heatmap by")).to_have_value("legal_entity")
    open_page(page, dashboard, "?page=flows&flow=disputes&range=6h", "Flows")
    expect(_picker(page, "Flow")).to_have_value("disputes")
    _choose(page, "Flow", "payment_sync")
    expect(page).to_have_url(re.compile(r"flow=payment_sync"))
    expect(_picker(page, "Flow", "stSidebar")).to_have_value("payment_sync")  # the page's picker is the filter
    open_page(page, dashboard, "?page=sla&flow=order_to_cash&stage=posting&range=6h", "SLA breaches")
    expect(page.get_by_text("Only stage posting", exact=False)).to_be_visible()
    page.get_by_role("button", name="Show every stage").click()
    expect(page.get_by_text("Only stage posting", exact=False)).to_have_count(0)
    expect(page).not_to_have_url(re.compile(r"stage="))
    expect(page).to_have_url(re.compile(r"range=6h"))


def test_the_exception_backlog_follows_the_range_and_every_filter(
    stack: Stack, dashboard: Dashboard, page: Page, contexts: dict[str, Filters]
) -> None:
    for name in ("6h", "custom", "region"):
        f = contexts[name]
        doc = api(stack, "/api/v1/exceptions", state="open", limit=5000, **{k: v for k, v in f.context().items() if v})
        month = api(stack, "/api/v1/exceptions", state="open", since="30d", limit=5000)
        open_page(page, dashboard, link(replace(f, page="exceptions")), "Exception backlog")
        drawn(page)
        assert metric(page, f"Open exceptions seen in the {f.label}") == formats.count(len(doc["exceptions"]))
        if name == "6h":  # not the 30 days it used to count whatever the range
            assert len(doc["exceptions"]) < len(month["exceptions"])
    shot(page, "context_exceptions_region")
