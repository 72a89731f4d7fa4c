"""Dashboard page timings: each page's time to fully rendered in headless Chromium, on demo data.

    python -m bench.dashboard [--transactions 2000] [--runs 5] [--json]

Starts the same real stack as the browser tests (embedded store, collector, lineage API over
simulated data; tests/dashboard/stack.py) and a Streamlit server, then opens every page
``--runs`` times in a fresh tab. "Fully rendered" is the moment the page's last element (the
freshness line, drawn after every figure and table) is visible and Streamlit's running
indicator is gone. The first load of a page is cold (no cached API answer); the later ones
may hit the dashboard's answer cache (``LEDGERLINE_DASHBOARD_CACHE_TTL_S``), like a user who
switches pages. Prints per page the cold time, median and p95 (of all runs); JSON with --json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

PAGES = {
    "overview": "?page=overview",
    "latency": "?page=latency",
    "exceptions": "?page=exceptions",
    "sla": "?page=sla",
    "drill": "?page=drill&drill=open_exceptions",
    "lineage": "?page=lineage&q={cid}",
}


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(transactions: int, runs: int) -> dict[str, Any]:
    """Timings per page, in seconds."""
    import httpx
    from playwright.sync_api import sync_playwright

    from tests.dashboard.browser import ARGS, CHROMIUM, Dashboard
    from tests.dashboard.stack import running_stack

    results: dict[str, Any] = {"transactions": transactions, "runs": runs, "pages": {}}
    with tempfile.TemporaryDirectory() as tmp, running_stack(Path(tmp) / "chdb", count=transactions) as stack:
        headers = {"Authorization": f"Bearer {stack.token}"}
        listing = httpx.get(f"{stack.api_url}/api/v1/exceptions", params={"since": "30d"}, headers=headers).json()
        cid = listing["exceptions"][0]["correlation_id"] if listing["exceptions"] else "none"
        dashboard = Dashboard(stack.api_url, Path(tmp), stack.token)
        try:
            dashboard.wait_ready()
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                for name, query in PAGES.items():
                    times = []
                    for _ in range(runs):
                        page = browser.new_page(viewport={"width": 1440, "height": 1800})
                        started = time.perf_counter()
                        page.goto(f"{dashboard.url}/{query.format(cid=cid)}")
                        page.get_by_text("page drawn").first.wait_for(timeout=120_000)
                        page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=120_000)
                        times.append(time.perf_counter() - started)
                        page.close()
                    results["pages"][name] = {
                        "cold_s": round(times[0], 2),
                        "median_s": round(statistics.median(times), 2),
                        "p95_s": round(_p95(times), 2),
                    }
                browser.close()
        finally:
            dashboard.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=2000, help="simulated transactions (default 2000)")
    parser.add_argument("--runs", type=int, default=5, help="loads of each page (default 5)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    results = measure(args.transactions, args.runs)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"dashboard on {results['transactions']} simulated transactions, {results['runs']} loads per page")
    print(f"{'page':<12}{'cold':>8}{'median':>9}{'p95':>8}")
    for name, t in results["pages"].items():
        print(f"{name:<12}{t['cold_s']:>7.2f}s{t['median_s']:>8.2f}s{t['p95_s']:>7.2f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
