"""Dashboard page timings: each page's time to fully rendered in headless Chromium, on demo data.

    python -m bench.dashboard [--transactions 2000] [--runs 5] [--pages overview,drill]
                              [--baseline DIR ...] [--browser-cache] [--json]

Starts the same real stack as the browser tests (embedded store, collector, lineage API over
simulated data; tests/dashboard/stack.py) and a Streamlit server, then opens every page
``--runs`` times in a fresh tab. "Fully rendered" is the moment the page's last element (the
freshness line, drawn after every figure and table) is visible and Streamlit's running
indicator is gone. Before any page is measured, each server draws the lineage explorer once (no
figures, not counted), so the first page measured does not pay for the browser's start and the
server's first session; then the benchmark waits for the dashboard's answer cache to expire
(``LEDGERLINE_DASHBOARD_CACHE_TTL_S``), so the sidebar's answer is cold again. The first load
of a page is cold (no cached API answer); the later ones may hit the dashboard's answer cache,
like a user who switches pages. Prints per page the cold time, median and p95 (of all runs) to fully rendered,
and the median to first content (the page's heading on screen); the API requests of each page's
cold load (the API's ``ledgerline_api_requests_total`` on ``GET /metrics``, before and after); and
the time to switch to each page with a click on the sidebar in one open session (median, p95);
JSON with --json.

``--browser-cache`` keeps one browser profile per checkout, so loads after the first find the
dashboard's scripts in the HTTP cache, as a returning user does; without it every load starts
from an empty profile. ``--baseline DIR`` (repeatable) also serves another checkout of the
dashboard (e.g. ``git archive HEAD~1 | tar -x -C DIR``) from its own Streamlit server against
the same stack and loads each page from every server in turn, run by run, so a before/after
shares the machine's load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize

PAGES = {
    "overview": "?page=overview",
    "latency": "?page=latency",
    "exceptions": "?page=exceptions",
    "sla": "?page=sla",
    "drill": "?page=drill&drill=open_exceptions",
    "flows": "?page=flows",
    "reconciliation": "?page=reconciliation",
    "lineage": "?page=lineage&q={cid}",
}


VIEWPORT: ViewportSize = {"width": 1440, "height": 1800}
# The sidebar's label of each page (dashboard/state.py PAGES) and the heading it draws.
SWITCH = {
    "overview": ("Overview", "Overview"),
    "latency": ("Posting latency", "Posting latency"),
    "exceptions": ("Exception backlog", "Exception backlog"),
    "sla": ("SLA breaches", "SLA breaches"),
    "drill": ("Drill-down", "Drill-down: open exceptions"),
    "flows": ("Flows", "Flows"),
    "reconciliation": ("Reconciliation", "Reconciliation"),
}  # not the lineage explorer: switched to, it shows an empty search (its search is not kept)


def _calls(api_url: str) -> dict[str, float]:
    """The API's request counters per route (``GET /metrics``), but the scrape itself."""
    import httpx

    counts: dict[str, float] = {}
    for line in httpx.get(f"{api_url}/metrics", timeout=30).text.splitlines():
        if line.startswith("ledgerline_api_requests_total{") and 'route="/metrics"' not in line:
            labels, _, value = line.rpartition(" ")
            counts[labels] = float(value)
    return counts


def _diff(before: dict[str, float], after: dict[str, float]) -> int:
    return int(sum(v - before.get(k, 0.0) for k, v in after.items()))


def _switch(page: Any, name: str) -> float:
    """Seconds from a click on the sidebar's page ``name`` (an open session) to fully rendered."""
    label, heading = SWITCH[name]
    started = time.perf_counter()
    page.locator('[data-testid="stSidebar"]').get_by_text(label, exact=True).first.click()
    page.get_by_role("heading", name=heading, exact=True).first.wait_for(timeout=120_000)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=120_000)
    page.get_by_text("page drawn").first.wait_for(timeout=120_000)
    return time.perf_counter() - started


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _load(context: Any, url: str) -> tuple[float, float]:
    """Seconds from opening ``url`` in a new tab of a browser context to its first content and
    to fully rendered."""
    page = context.new_page()
    started = time.perf_counter()
    page.goto(url)
    page.locator('[data-testid="stMain"] [data-testid="stHeading"]').first.wait_for(timeout=120_000)
    first = time.perf_counter() - started
    page.get_by_text("page drawn").first.wait_for(timeout=120_000)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=120_000)
    done = time.perf_counter() - started
    page.close()
    return first, done


def _warm_up(browser: Any, url: str) -> None:
    """Draw the empty lineage explorer once (its heading and the sidebar; no figures)."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(f"{url}/?page=lineage")
    page.get_by_role("heading", name="Lineage explorer", exact=True).first.wait_for(timeout=120_000)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=120_000)
    context.close()


def _figures(times: list[tuple[float, float]]) -> dict[str, Any]:
    done = [t[1] for t in times]
    return {
        "cold_s": round(done[0], 2),
        "median_s": round(statistics.median(done), 2),
        "p95_s": round(_p95(done), 2),
        "first_median_s": round(statistics.median(t[0] for t in times), 2),
    }


def measure(
    transactions: int,
    runs: int,
    pages: list[str] | None = None,
    baselines: list[Path] | None = None,
    browser_cache: bool = False,
) -> dict[str, Any]:
    """Timings per checkout (``current`` and each baseline's directory name) and page, in seconds.

    Each load is a fresh browser profile (nothing cached: the first visit); with
    ``browser_cache`` the loads of one checkout share a profile, so its HTTP cache holds the
    scripts (a returning user)."""
    import httpx
    from playwright.sync_api import sync_playwright

    from dashboard.settings import DashboardSettings
    from tests.dashboard.browser import ARGS, CHROMIUM, ROOT, Dashboard
    from tests.dashboard.stack import running_stack

    roots = {"current": ROOT, **{b.name: b.resolve() for b in baselines or []}}
    chosen = {n: q for n, q in PAGES.items() if not pages or n in pages}
    results: dict[str, Any] = {
        "transactions": transactions,
        "runs": runs,
        "browser_cache": browser_cache,
        "checkouts": {},
    }
    with tempfile.TemporaryDirectory() as tmp, running_stack(Path(tmp) / "chdb", count=transactions) as stack:
        headers = {"Authorization": f"Bearer {stack.token}"}
        listing = httpx.get(f"{stack.api_url}/api/v1/exceptions", params={"since": "30d"}, headers=headers).json()
        cid = listing["exceptions"][0]["correlation_id"] if listing["exceptions"] else "none"
        servers = {name: Dashboard(stack.api_url, Path(tmp), stack.token, root) for name, root in roots.items()}
        try:
            for server in servers.values():
                server.wait_ready()
            times: dict[str, dict[str, list[tuple[float, float]]]] = {n: {p: [] for p in chosen} for n in servers}
            calls: dict[str, dict[str, int]] = {n: {} for n in servers}
            switches: dict[str, dict[str, list[float]]] = {n: {p: [] for p in chosen} for n in servers}
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                shared = {n: browser.new_context(viewport=VIEWPORT) for n in servers} if browser_cache else {}
                for server in servers.values():  # not counted: the browser's and server's one-time start
                    _warm_up(browser, server.url)
                time.sleep(DashboardSettings().dashboard_cache_ttl_s + 1)  # the sidebar's answer expires: cold again
                for page_name, query in chosen.items():
                    for run in range(runs):
                        for name, server in servers.items():  # in turn: a before/after shares the load
                            context = shared.get(name) or browser.new_context(viewport=VIEWPORT)
                            before = _calls(stack.api_url) if run == 0 else {}
                            times[name][page_name].append(_load(context, f"{server.url}/{query.format(cid=cid)}"))
                            if run == 0:  # the cold load: every call the page makes
                                calls[name][page_name] = _diff(before, _calls(stack.api_url))
                            if name not in shared:
                                context.close()
                sessions = {n: browser.new_context(viewport=VIEWPORT).new_page() for n in servers}
                for name, tab in sessions.items():
                    tab.goto(f"{servers[name].url}/?page=lineage&q={cid}")
                    tab.get_by_text("page drawn").first.wait_for(timeout=120_000)
                for _ in range(runs):  # page after page in one open session, as a user switches
                    for page_name in (p for p in chosen if p in SWITCH):
                        for name, tab in sessions.items():
                            switches[name][page_name].append(_switch(tab, page_name))
                browser.close()
            for name in servers:
                results["checkouts"][name] = {
                    p: _figures(t)
                    | {
                        "api_calls_cold": calls[name][p],
                        "switch_median_s": round(statistics.median(switches[name][p]), 2)
                        if switches[name][p]
                        else None,
                        "switch_p95_s": round(_p95(switches[name][p]), 2) if switches[name][p] else None,
                    }
                    for p, t in times[name].items()
                }
        finally:
            for server in servers.values():
                server.stop()
    return results


def _s(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.2f}s"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=2000, help="simulated transactions (default 2000)")
    parser.add_argument("--runs", type=int, default=5, help="loads of each page (default 5)")
    parser.add_argument("--pages", default="", help=f"comma-separated pages (default all: {','.join(PAGES)})")
    parser.add_argument("--baseline", type=Path, action="append", default=[], help="another checkout to compare")
    parser.add_argument(
        "--browser-cache", action="store_true", help="loads of a checkout share one browser profile (HTTP cache)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    pages = [p for p in args.pages.split(",") if p]
    unknown = sorted(set(pages) - set(PAGES))
    if unknown:
        parser.error(f"unknown page(s) {', '.join(unknown)}; known: {', '.join(PAGES)}")
    results = measure(args.transactions, args.runs, pages, args.baseline, args.browser_cache)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    profile = "one browser profile per checkout" if args.browser_cache else "a fresh browser profile per load"
    print(f"dashboard on {results['transactions']} simulated transactions, {results['runs']} loads per page, {profile}")
    print("new tab: cold, median, p95 to fully rendered, median to first content; switch: a click on the")
    print("sidebar in an open session, median and p95; calls: API requests of the page's cold load")
    print(
        f"{'checkout':<14}{'page':<12}{'cold':>8}{'median':>9}{'p95':>8}{'first':>8}{'switch':>9}{'p95':>8}{'calls':>7}"
    )
    for checkout, figures in results["checkouts"].items():
        for name, t in figures.items():
            print(
                f"{checkout:<14}{name:<12}{t['cold_s']:>7.2f}s{t['median_s']:>8.2f}s{t['p95_s']:>7.2f}s"
                f"{t['first_median_s']:>7.2f}s{_s(t['switch_median_s']):>9}{_s(t['switch_p95_s']):>8}"
                f"{t['api_calls_cold']:>7}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
