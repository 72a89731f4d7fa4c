"""Issue 15 in headless Chromium against a real stack: alert links open their page, filters
are applied or the panel says so, like-with-like headline figures, the histogram of every
posting, status colours, exceptions by state with picking, bulk acknowledge and audit trail,
drill-down lists, money at risk, a custom range, the lineage timeline and bare business keys.

Screenshots go to artifacts/dashboard/ (one per check)."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, timedelta
from io import BytesIO
from typing import Any
from urllib.parse import urlsplit

import pytest
from PIL import Image

from alerts.evaluator import Evaluator
from alerts.model import Sample
from alerts.routing import load_receivers
from alerts.rules import load_rules
from dashboard import formats
from dashboard.state import PAGES, link_to
from dashboard.views.alerts import ADD_RECEIVER
from lineage.core.flows import load_flows
from tests.dashboard.browser import (
    BROWSER_MARKS,
    Dashboard,
    api,
    drawn,
    drill_card,
    metric,
    open_page,
    pick_row,
    shot,
)
from tests.dashboard.stack import Stack

with contextlib.suppress(ImportError):  # without playwright the tests are skipped
    from playwright.sync_api import Page, expect

pytestmark = BROWSER_MARKS

HEADINGS = {
    "overview": "Overview",
    "latency": "Posting latency",
    "exceptions": "Exception backlog",
    "sla": "SLA breaches",
    "replays": "Replays",
    "lineage": "Lineage explorer",
    "flows": "Flows",
    "reconciliation": "Reconciliation",
}
LABELS = {"system": "erp", "flow": "support_credit", "stage": "ledger", "region": "eu-west", "state": "failed"}
RED, PURPLE = (198, 40, 40), (106, 27, 154)


class _NoStore:
    def load_alerts(self) -> dict[str, dict[str, object]]:
        return {}


def _alert_link(rule: Any) -> str:
    evaluator = Evaluator(_NoStore(), [rule], load_flows(), dashboard_url="http://dash.test", link=link_to)  # type: ignore[arg-type]
    notes = evaluator._annotate(rule)(LABELS, Sample(LABELS, 1.0, ("C-1",)))
    url = urlsplit(notes["dashboard_url"])
    return f"?{url.query}"


def _has_color(png: bytes, rgb: tuple[int, int, int], tolerance: int = 12) -> bool:
    colors = Image.open(BytesIO(png)).convert("RGB").getcolors(1 << 24) or []
    return any(all(abs(a - b) <= tolerance for a, b in zip(pixel, rgb, strict=True)) for _, pixel in colors)


@pytest.mark.parametrize("rule", [r for r in load_rules() if r.dashboard], ids=lambda r: r.name)
def test_every_default_alert_link_opens_the_page_it_names(dashboard: Dashboard, page: Page, rule: Any) -> None:
    query = _alert_link(rule)
    name = rule.dashboard["page"]
    assert name in PAGES
    open_page(page, dashboard, query, HEADINGS[name])
    radio = page.locator('[data-testid="stSidebar"] [role="radiogroup"]').first
    expect(radio.get_by_role("radio", name=PAGES[name])).to_be_checked()
    for key, template in rule.dashboard.items():  # every filter the link names survives the page load
        if key == "page":
            continue
        value = LABELS[template.split("$labels.")[1].split()[0]] if "$labels." in template else template
        expect(page).to_have_url(re.compile(f"{key}={re.escape(value)}"))
        if key in ("system", "flow", "region"):  # the sidebar control shows it
            sidebar = page.locator('[data-testid="stSidebar"]')
            expect(sidebar.get_by_role("combobox", name=key.title())).to_have_value(value)
        if key == "stage":
            expect(page.get_by_text(f"Only stage {value}", exact=False)).to_be_visible()
    shot(page, f"alert_link_{rule.name}")


def test_the_system_filter_narrows_the_latency_distribution(stack: Stack, dashboard: Dashboard, page: Page) -> None:
    every = api(stack, "/api/v1/metrics/posting-latency/histogram", since="24h")
    erp = api(stack, "/api/v1/metrics/posting-latency/histogram", since="24h", system="erp")
    assert 0 < erp["count"] <= every["count"]
    open_page(page, dashboard, "?page=latency&system=erp", "Posting latency")
    expect(page.locator(".gtitle", has_text="Posting latency distribution (every posting)")).to_be_visible()
    share = formats.percent(erp["over_sla"] / erp["count"])
    caption = f"{formats.count(erp['count'])} postings; {formats.count(erp['over_sla'])} over the SLA ({share})"
    expect(page.get_by_text(caption)).to_be_visible()
    expect(page.locator(".legendtext", has_text=re.compile(r"^p99 "))).to_be_visible()  # the tail line
    drawn(page)
    shot(page, "latency_system_erp")
    both = api(stack, "/api/v1/metrics/posting-latency/histogram", since="24h", system="erp", region="eu-west")
    assert 0 < both["count"] < erp["count"]
    open_page(page, dashboard, "?page=latency&system=erp&region=eu-west", "Posting latency")  # every filter applies
    expect(page.get_by_text(f"{formats.count(both['count'])} postings; ", exact=False)).to_be_visible()


def test_the_overview_narrows_every_card_and_says_what_it_does_not_filter(
    stack: Stack, dashboard: Dashboard, page: Page
) -> None:
    open_page(page, dashboard, "?page=overview&region=eu-west&flow=order_to_cash", "Overview")
    drawn(page)
    reason = "applied to transactions only: exceptions belong to an entity and step, not to a flow"
    expect(page.get_by_text(f"Not filtered by flow order_to_cash: {reason}.")).to_be_visible()
    open_page(page, dashboard, "?page=overview&region=eu-west", "Overview")
    drawn(page)
    expect(page.get_by_text(re.compile(r"newest hop \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"))).to_be_visible()
    stuck = api(stack, "/api/v1/transactions", status="stuck", since="24h", region="eu-west", limit=5000)
    assert metric(page, "Stuck transactions") == str(len(stuck["transactions"]))
    expect(page.get_by_role("heading", name="Money at risk")).to_be_visible()
    shot(page, "overview_region")


def test_headline_figures_open_the_list_behind_them(stack: Stack, dashboard: Dashboard, page: Page) -> None:
    open_page(page, dashboard, "?page=overview", "Overview")
    drawn(page)
    # the headline figure's link (the money-at-risk tables below link per system and region)
    headline = page.locator('a[href*="drill=stuck"]:not([href*="system="]):not([href*="region="])').first
    with page.context.expect_page() as opened:  # the dashboard's links open a new tab
        headline.click()
    page = opened.value
    expect(page.get_by_role("heading", name="Drill-down: stuck transactions")).to_be_visible(timeout=30_000)
    expect(page).to_have_url(re.compile(r"page=drill.*drill=stuck|drill=stuck.*page=drill"))
    drawn(page)
    doc = api(stack, "/api/v1/at-risk", kind="stuck", since="24h", limit=2000)
    stuck = api(stack, "/api/v1/transactions", status="stuck", since="24h", limit=5000)["transactions"]
    assert {i["correlation_id"] for i in doc["items"]} == {t["correlation_id"] for t in stuck}
    for total in (t for t in doc["totals"] if t["kind"] == "stuck"):
        label, value = drill_card(total)
        assert metric(page, label) == value
    shot(page, "drill_stuck")


def test_status_colours_show_failed_and_dead_lettered(stack: Stack, dashboard: Dashboard, page: Page) -> None:
    open_page(page, dashboard, "?page=exceptions", "Exception backlog")
    drawn(page)
    grid = page.locator('[data-testid="stDataFrame"]').first
    expect(grid).to_be_visible()
    page.wait_for_timeout(500)  # the grid paints its canvas after it is attached
    png = grid.screenshot()
    assert _has_color(png, RED) and _has_color(png, PURPLE)  # open state, dead_letter outcome
    dead = next(
        e
        for e in api(stack, "/api/v1/exceptions", state="open", since="30d", limit=5000)["exceptions"]
        if e["last_outcome"] == "dead_letter" and e["step"] == "ledger.posted"
    )
    open_page(page, dashboard, f"?page=lineage&q={dead['correlation_id']}", "Lineage explorer")
    drawn(page)
    doc = api(stack, f"/api/v1/transactions/{dead['correlation_id']}")
    attempts = sum(len(h["attempt_list"]) for h in doc["hops"])
    expect(page.locator(".gtitle", has_text="Hop timeline")).to_be_visible()
    assert page.locator(".plot-container").first.locator("g.point").count() == attempts  # one bar per attempt
    expect(page.get_by_text(re.compile(r"waited \d")).first).to_be_attached()
    sla = page.locator('[data-testid="stDataFrame"]').nth(1)
    assert _has_color(sla.screenshot(), PURPLE)  # the ledger stage says DEAD-LETTERED, not "on time so far"
    shot(page, "lineage_dead_letter")


def test_a_bare_business_key_is_found_with_a_hint(stack: Stack, dashboard: Dashboard, page: Page) -> None:
    exc = api(stack, "/api/v1/exceptions", state="open", since="30d")["exceptions"][0]
    open_page(page, dashboard, f"?page=lineage&q={exc['entity_id']}", "Lineage explorer")
    expect(page.get_by_text(f"as the business key {exc['entity_type']}:{exc['entity_id']}")).to_be_visible()
    expect(page.get_by_text(f"Transaction {exc['correlation_id']}")).to_be_visible()
    open_page(page, dashboard, "?page=lineage&q=NO-SUCH-KEY-1", "Lineage explorer")
    expect(page.get_by_text(re.compile("Business keys take a type prefix"))).to_be_visible()


def test_exceptions_are_picked_acknowledged_together_and_keep_their_trail(
    stack: Stack, dashboard: Dashboard, page: Page
) -> None:
    before = api(stack, "/api/v1/exceptions", state="open", since="30d", limit=5000)["exceptions"]
    assert len(before) >= 3
    open_page(page, dashboard, "?page=exceptions", "Exception backlog")
    drawn(page)
    expect(page.get_by_text("Pick exceptions in the table")).to_be_visible()  # nothing picked by default
    expect(page.get_by_role("button", name=re.compile("^Acknowledge"))).to_have_count(0)
    pick_row(page, 0)
    pick_row(page, 1)
    expect(page.get_by_role("button", name="Acknowledge 2")).to_be_visible()
    page.locator('input[aria-label="Note"]').fill("batch: ERP team on it")
    page.get_by_role("button", name="Acknowledge 2").click()
    expect(page.get_by_text(re.compile(r"^2 exception\(s\) now acknowledged"))).to_be_visible()
    after = api(stack, "/api/v1/exceptions", state="open", since="30d", limit=5000)["exceptions"]
    acked = {e["id"] for e in before} - {e["id"] for e in after}
    oldest = sorted(before, key=lambda e: -e["age_ms"])[:2]
    assert acked == {e["id"] for e in oldest}  # exactly the two picked rows, oldest first
    shot(page, "exceptions_bulk_ack")
    open_page(page, dashboard, "?page=exceptions&state=acknowledged", "Exception backlog")
    drawn(page)
    assert metric(page, "Exceptions (acknowledged)") == str(len(acked))
    pick_row(page, 0)
    expect(page.get_by_text(re.compile(r"Audit trail of [0-9a-f]{16}"))).to_be_visible()
    expect(page.get_by_text(re.compile(f"ack by {re.escape(stack.subject)}: batch: ERP team on it"))).to_be_visible()
    shot(page, "exceptions_acknowledged_trail")


def test_a_custom_absolute_range(stack: Stack, dashboard: Dashboard, page: Page) -> None:
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(hours=12)
    q = f"?page=drill&drill=open_exceptions&range=custom&start={start:%Y-%m-%dT%H:%M}&end={end:%Y-%m-%dT%H:%M}"
    open_page(page, dashboard, q, "Drill-down: open exceptions")
    drawn(page)
    expect(page.get_by_text(re.compile(f"^{start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC"))).to_be_visible()
    expect(page).to_have_url(re.compile("range=custom"))
    doc = api(
        stack,
        "/api/v1/at-risk",
        kind="open_exceptions",
        since=f"{start:%Y-%m-%dT%H:%M}Z",
        until=f"{end:%Y-%m-%dT%H:%M}Z",
    )
    for total in (t for t in doc["totals"] if t["kind"] == "open_exceptions"):
        label, value = drill_card(total)
        assert metric(page, label) == value
    shot(page, "custom_range")
    open_page(page, dashboard, "?page=overview&range=custom&start=2026-12-02&end=2026-12-01", "Overview")
    expect(page).not_to_have_url(re.compile("range=custom"))  # an impossible range falls back to 24h


def test_the_alerts_page_lists_alerts_and_creates_a_silence(stack: Stack, dashboard: Dashboard, page: Page) -> None:
    doc = api(stack, "/api/v1/alerts")
    held = [a for a in doc["alerts"] if a["state"] in ("firing", "pending")]
    assert held, "the default rules raise alerts on the simulated data"
    open_page(page, dashboard, "?page=alerts", "Alerts")
    drawn(page)
    for state in ("firing", "pending"):
        assert metric(page, state.title()) == str(sum(a["state"] == state for a in doc["alerts"]))
    with_examples = [a for a in held if a["annotations"].get("correlation_ids")]
    if with_examples:  # example transactions open in the lineage explorer
        first = with_examples[0]["annotations"]["correlation_ids"].split(",")[0].strip()
        link = page.locator(f'a[href*="correlation_id={first}"]').first
        expect(link).to_be_attached()
    shot(page, "alerts")
    name = held[0]["labels"]["alertname"]
    page.get_by_role("combobox", name="Alert").click()
    page.get_by_role("option", name=name, exact=True).click()
    page.locator('input[aria-label="Comment"]').fill("known ERP maintenance")
    page.get_by_role("button", name="Create silence").click()
    expect(page.get_by_text(re.compile(r"Silence [0-9a-f-]{36} created"))).to_be_visible()
    silences = api(stack, "/api/v1/silences")
    mine = [s for s in silences if s["comment"] == "known ERP maintenance"]
    assert len(mine) == 1 and mine[0]["createdBy"] == stack.subject
    assert mine[0]["matchers"][0] == {"name": "alertname", "value": name, "isRegex": False, "isEqual": True}
    drawn(page)
    shot(page, "alerts_silenced")


def test_the_alerts_page_says_firing_alerts_go_nowhere_without_a_receiver(
    stack: Stack, dashboard: Dashboard, page: Page
) -> None:
    assert api(stack, "/api/v1/alerts")["receivers"] == []  # the stack configures none, as the demo
    open_page(page, dashboard, "?page=alerts", "Alerts")
    drawn(page)
    warning = page.locator('[data-testid="stAlert"]').filter(has_text="No alert receiver is configured")
    expect(warning).to_contain_text("firing alerts are listed here and sent nowhere")
    # the line that adds one, ready to paste; it is a receivers config the server accepts
    line = warning.locator("code").inner_text().strip()
    assert line == f"{ADD_RECEIVER} ledgerline serve"
    setting = line.removeprefix("LEDGERLINE_ALERT_RECEIVERS=").removesuffix(" ledgerline serve").strip("'")
    assert [r.name for r in load_receivers(setting).receivers] == ["hook"]
    shot(page, "alerts_no_receiver")


def test_api_docs_render_without_any_other_host(stack: Stack, page: Page) -> None:
    asked: list[str] = []

    def only_loopback(route: Any) -> None:
        url = route.request.url
        asked.append(url)
        if url.startswith(stack.api_url):
            route.continue_()
        else:
            route.abort()

    page.route("**/*", only_loopback)
    page.goto(f"{stack.api_url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("ledgerline lineage", timeout=30_000)
    expect(page.locator(".opblock-summary-path").filter(has_text="/api/v1/at-risk")).to_be_visible()
    assert all(u.startswith(stack.api_url) for u in asked), [u for u in asked if not u.startswith(stack.api_url)]
    shot(page, "api_docs_offline")
