"""Every figure reads right at 1440 px in headless Chromium (issue 22): amounts in their
currency's decimals with thousands separators, "amount unknown" where none was reported, rates
as percentages, headline totals in full (no ellipsis), numeric columns sorted as numbers, and
the bucket still filling marked. The stack is a mixed simulation plus a few hand-made
transactions: a large JPY amount, a BHD one (3 decimals) and one with no amount at all."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard import formats
from tests.dashboard.browser import BROWSER_MARKS, Dashboard, drawn, metric, open_page, running_dashboard, shot
from tests.dashboard.stack import FlowsStack, running_flows_stack
from tests.lineage.helpers import HOUR, Emitter

SEC = 10**9

with contextlib.suppress(ImportError):
    from playwright.sync_api import Locator, Page, expect

pytestmark = BROWSER_MARKS
OPEN = "?page=drill&drill=open_exceptions"
DEAD = [("JPY", 27_651_234.0), ("BHD", 1_234.5), ("", None)]  # dead letters: open exceptions


@pytest.fixture(scope="module")
def numbers(chdb_path: Path) -> Iterator[FlowsStack]:
    with running_flows_stack(chdb_path, "numbers") as running:
        emitter = Emitter(running.otlp_http, running.store)
        now = time.time_ns()
        for n, (currency, amount) in enumerate(DEAD):
            cid = f"NUM-{currency or 'NONE'}"
            emitter.hop(cid, "case", f"CASE-{cid}", "case.opened", now - 2 * HOUR, system="zendesk")
            emitter.hop(
                cid,
                "invoice",
                f"INV-{cid}",
                "invoice.issued",
                now - HOUR - n,
                system="billing",
                outcome="dead_letter",
                category="tax_error",
                parent=("case", f"CASE-{cid}"),
                amount=amount,
                currency=currency,
            )
        emitter.wait()
        emitter.close()
        yield running


@pytest.fixture(scope="module")
def dashboard(numbers: FlowsStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    with running_dashboard(numbers.api_url, tmp_path_factory.mktemp("streamlit_numbers"), numbers.token) as running:
        yield running


def _api(stack: FlowsStack, path: str, **params: object) -> dict:  # type: ignore[type-arg]
    import httpx

    headers = {"Authorization": f"Bearer {stack.token}"}
    return httpx.get(stack.api_url + path, params=params, headers=headers, timeout=30).json()  # type: ignore[no-any-return]


def _overflowing(box: Locator) -> bool:
    """True when the element or anything in it is cut (wider than its box, e.g. an ellipsis)."""
    return bool(box.evaluate("e => [e, ...e.querySelectorAll('*')].some(n => n.scrollWidth > n.clientWidth + 1)"))


def test_the_drill_down_headline_shows_every_total_in_full(
    numbers: FlowsStack, dashboard: Dashboard, page: Page
) -> None:
    doc = _api(numbers, "/api/v1/at-risk", kind="open_exceptions", since="24h", limit=2000)
    expected = sorted(
        formats.total(t["amount"], t["currency"]) for t in doc["totals"] if t["kind"] == "open_exceptions"
    )
    assert {"27,651,234 JPY", "1,234.500 BHD", "amount unknown"} <= set(expected), expected
    assert any(re.fullmatch(r"\d{1,3}(,\d{3})+\.\d\d EUR", e) for e in expected), expected  # 2 decimals, grouped
    assert len(expected) >= 6  # more cards than fit one row at 1440 px
    open_page(page, dashboard, OPEN, "Drill-down: open exceptions")
    drawn(page)
    for card in page.locator('[data-testid="stMetric"]').all():  # nothing cut off ("276,512…")
        assert not _overflowing(card), card.inner_text()
    per_currency = page.locator('[data-testid="stMetric"]').filter(has_not_text="Items in this list")
    values = per_currency.locator('[data-testid="stMetricValue"]')
    assert sorted(v.inner_text().strip() for v in values.all()) == expected
    assert metric(page, "Items in this list") == formats.count(
        sum(t["count"] for t in doc["totals"] if t["kind"] == "open_exceptions")
    )
    shot(page, "drill_headline_1440")


def test_the_overview_says_amount_unknown_not_zero(numbers: FlowsStack, dashboard: Dashboard, page: Page) -> None:
    open_page(page, dashboard, "?page=overview", "Overview")
    drawn(page)
    table = page.locator("table").filter(has_text="SLA-breached transactions").first
    rows = [r.inner_text() for r in table.locator("tbody tr").all()]
    unknown = [r for r in rows if "open exceptions" in r and "amount unknown" in r]
    assert len(unknown) == 1, rows
    assert not any(re.search(r"\(none\)|\b0\.00\b", r) for r in rows), rows
    shot(page, "overview_amount_unknown")


def _header_at(page: Page, grid: Locator, tooltip: str) -> float:
    """The x of the grid's column header whose help reads ``tooltip`` (the grid is a canvas:
    hover along the header row until the tooltip shows)."""
    box = grid.bounding_box()
    assert box is not None
    x = box["x"] + 10
    while x < box["x"] + box["width"]:
        page.mouse.move(x, box["y"] + 17)
        page.wait_for_timeout(250)
        tip = page.get_by_text(tooltip)
        if tip.count() and tip.first.is_visible():
            return x
        x += 25
    raise AssertionError(f"no column header with the help {tooltip!r}")


def test_amounts_sort_as_numbers(numbers: FlowsStack, dashboard: Dashboard, page: Page) -> None:
    doc = _api(numbers, "/api/v1/at-risk", kind="open_exceptions", since="24h", limit=2000)
    amounts = sorted(i["amount"] for i in doc["items"] if i["amount"] is not None)
    open_page(page, dashboard, OPEN, "Drill-down: open exceptions")
    drawn(page)
    grid = page.locator('[data-testid="stDataFrame"]').first
    expect(grid).to_be_visible()
    page.wait_for_timeout(500)
    heads = [h.inner_text().strip() for h in grid.locator("thead th").all()]
    column = grid.locator(f"tbody tr td[aria-colindex='{heads.index('amount') + 1}']")
    x = _header_at(page, grid, "An amount in the currency of its row")
    box = grid.bounding_box()
    assert box is not None
    for descending in (False, True):  # one click sorts ascending, the next descending
        page.mouse.click(x, box["y"] + 17)
        page.wait_for_timeout(800)
        cells = [c.inner_text().strip() for c in column.all()]
        shown = [float(c) for c in cells if c]  # the grid's accessible copy holds the numbers
        want = sorted(amounts, reverse=descending)
        assert shown == want[: len(shown)] or shown == want[-len(shown) :], (descending, cells)
        assert len(shown) >= 5
    assert max(amounts) == 27_651_234.0 and shown[0] == max(amounts)  # a big number first, not "999.00"


def test_a_failure_rate_reads_as_a_percentage_and_the_filling_bucket_is_marked(
    numbers: FlowsStack, dashboard: Dashboard, page: Page
) -> None:
    kpis = _api(numbers, "/api/v1/kpis", flow="payment_sync", since="24h", bucket="1h")["kpis"]
    crm = next(k for k in kpis if k["name"] == "crm_failure_rate")
    attempts = sum(b["count"] for b in crm["buckets"])
    failed = sum(b["failed"] for b in crm["buckets"])
    assert 0 < failed < attempts
    # payments received a moment ago: the current hour's bucket is filling (not about to end)
    into_hour = time.time() % 3600
    if into_hour > 3540:
        time.sleep(3605 - into_hour)
    emitter = Emitter(numbers.otlp_http, numbers.store)
    for n in range(3):
        cid = f"NUM-PAY-{n}"
        emitter.hop(cid, "payment", cid, "payment.received", time.time_ns() - 5 * SEC, dur_ns=SEC, flow="payment_sync")
    emitter.wait()
    emitter.close()
    open_page(page, dashboard, "?page=flows&flow=payment_sync", "Flows")
    drawn_kpis = page.locator(".gtitle", has_text="payments_received (throughput)")
    expect(drawn_kpis).to_be_visible()
    text = (
        f"crm_failure_rate: {formats.count(failed)} of {formats.count(attempts)} payment.applied attempts failed "
        f"in the last 24h ({formats.percent(failed / attempts)}); objective at most 2%."
    )
    expect(page.get_by_text(text)).to_be_visible()
    assert re.fullmatch(r"\d+(\.\d+)?%", formats.percent(failed / attempts))
    throughput = page.locator('[data-testid="stPlotlyChart"]').filter(has=drawn_kpis)
    expect(throughput.locator(".legendtext", has_text="still filling (so far)")).to_be_visible()
    expect(throughput.locator(".legendtext", has_text="complete buckets")).to_be_visible()
    shot(page, "flows_filling_bucket")
