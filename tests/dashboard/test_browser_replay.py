"""Issue 13's replay loop in headless Chromium against the app ``serve`` runs: operator A
requests a replay of a dead-lettered ERP posting from the exception backlog, is refused
approving it, operator B approves it on the Replays page, the worker sends it to the
simulator's ERP adapter on loopback, whose retried hop comes back through the collector and
confirms it; the exception is resolved with the replay in its audit trail. And a viewer sees
the pages but no action form.

Three dashboards, one per person (each with that person's API token as its credential).
Screenshots go to artifacts/dashboard/replay_*.png."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.dashboard.browser import BROWSER_MARKS, Dashboard, api, drawn, metric, open_page, pick_row, shot
from tests.dashboard.stack import Stack, running_stack
from tests.lineage.auth.helpers import bearer, issue

with contextlib.suppress(ImportError):  # without playwright the tests are skipped
    from playwright.sync_api import Page, expect

pytestmark = BROWSER_MARKS

OPERATOR_B = "ops-b@test.example"
VIEWER = "vera@test.example"
FORM = '[data-testid="stForm"]'
ACTIONS = re.compile("^(Replay|Approve|Cancel|Acknowledge|Resolve|Create silence|Expire silence)")
CONFIRM_S = 60  # the whole replay loop is bounded: sent, delivered and confirmed within this


@pytest.fixture(scope="module")
def stack(chdb_path: Path) -> Iterator[Stack]:
    with running_stack(chdb_path, count=200, seed=7, alerts=True, replay=True) as running:
        yield running


@pytest.fixture(scope="module")
def dashboards(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Dashboard]]:
    """Operator A (the stack's token), operator B and a viewer; answers cached for 1 s only."""
    tokens = {
        "a": stack.token,
        "b": issue(stack.store, "operator", OPERATOR_B),
        "viewer": issue(stack.store, "viewer", VIEWER),
    }
    started: dict[str, Dashboard] = {}
    try:
        for name, token in tokens.items():
            workdir = tmp_path_factory.mktemp(f"streamlit_{name}")
            started[name] = Dashboard(stack.api_url, workdir, token, LEDGERLINE_DASHBOARD_CACHE_TTL_S="1")
        for running in started.values():
            running.wait_ready()
        yield started
    finally:
        for running in started.values():
            running.stop()


def _post(stack: Stack, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(stack.api_url + path, json=body, headers=bearer(stack.token), timeout=30)


def _pick_replay(page: Page, replay_id: str) -> None:
    """Choose ``replay_id`` in the approval form's select box."""
    page.locator(f'{FORM} input[aria-label="Replay"]').click()
    page.get_by_role("option", name=replay_id).click()


def _open_fresh(page: Page, dashboard: Dashboard, query: str, heading: str, ready: Callable[[], bool]) -> None:
    """Open the page until ``ready`` (answers are cached for a second), for at most 15 s."""
    deadline = time.monotonic() + 15
    open_page(page, dashboard, query, heading)
    while not ready():
        assert time.monotonic() < deadline, f"{query} did not show the new state"
        time.sleep(0.5)
        open_page(page, dashboard, query, heading)


def test_operator_a_requests_b_approves_and_the_retried_hop_confirms(
    stack: Stack, dashboards: dict[str, Dashboard], page: Page
) -> None:
    started = time.monotonic()
    query = "?page=exceptions&system=erp&category=unmatched_account"
    listed = api(stack, "/api/v1/exceptions", state="open", since="30d", system="erp", category="unmatched_account")
    oldest = max(listed["exceptions"], key=lambda e: e["age_ms"])  # the table's first row (oldest first)

    # Operator A: pick the dead-lettered posting in the backlog and ask for a replay.
    a, b = dashboards["a"], dashboards["b"]
    open_page(page, a, query, "Exception backlog")
    drawn(page)
    pick_row(page, 0)
    form = page.locator(FORM).filter(has_text="Replay a failed hop")
    expect(form.locator('input[aria-label="Exception"]')).to_have_value(re.compile(f"^{oldest['id']} · "))
    form.locator('input[aria-label="Reason"]').fill("account mapping fixed in the ERP")
    form.get_by_role("button", name="Replay").click()
    done = page.get_by_text(re.compile(r"Replay [0-9a-f]{32} is awaiting_approval\."))
    expect(done).to_be_visible()
    replay_id = re.findall(r"[0-9a-f]{32}", done.inner_text())[0]
    replay = api(stack, f"/api/v1/replays/{replay_id}")
    assert (replay["exception_id"], replay["requested_by"]) == (oldest["id"], stack.subject)
    assert replay["amount"] > 10  # over the target's approval_over: four eyes
    shot(page, "replay_requested")

    # Operator A may not approve their own request: the page shows the API's reason (403).
    open_page(page, a, "?page=replays", "Replays")
    _pick_replay(page, replay_id)
    page.get_by_role("button", name="Approve").click()
    expect(
        page.get_by_text("Not allowed: four-eyes: the approver must be someone other than the requester")
    ).to_be_visible()
    assert api(stack, f"/api/v1/replays/{replay_id}")["state"] == "awaiting_approval"
    shot(page, "replay_own_approval_refused")

    # Operator B approves; the worker sends it, the ERP adapter re-posts, the hop confirms it.
    open_page(page, b, "?page=replays", "Replays")
    expect(page.get_by_text(f"Signed in as {OPERATOR_B} (operator)")).to_be_visible()
    _pick_replay(page, replay_id)
    page.locator(f'{FORM} input[aria-label="Note"]').fill("checked the mapping")
    page.get_by_role("button", name="Approve").click()
    expect(
        page.get_by_text(re.compile(f"Replay {replay_id} is (approved|sent|delivered|confirmed)\\."))
    ).to_be_visible()
    deadline = started + CONFIRM_S
    while api(stack, f"/api/v1/replays/{replay_id}")["state"] != "confirmed":
        assert time.monotonic() < deadline, f"replay not confirmed within {CONFIRM_S}s"
        time.sleep(0.5)
    _open_fresh(page, b, "?page=replays", "Replays", lambda: metric(page, "confirmed") == "1")
    assert metric(page, "awaiting approval") == "0"
    shot(page, "replay_confirmed")

    doc = api(stack, f"/api/v1/replays/{replay_id}")
    states = [h["state"] for h in doc["history"]]
    assert states == ["awaiting_approval", "approved", "sent", "delivered", "confirmed"], states
    assert doc["approved_by"] == OPERATOR_B and doc["confirmed_by_span"]
    txn = api(stack, f"/api/v1/transactions/{oldest['correlation_id']}")
    [posting] = [h for h in txn["hops"] if h["step"] == "ledger.posted"]
    assert posting["outcome"] == "ok" and posting["attempts"] == 2  # the retried hop arrived

    # The exception is resolved, with the replay's entries in its audit trail.
    exc = api(stack, f"/api/v1/exceptions/{oldest['id']}")
    actions = [(h["action"], h["actor"]) for h in exc["history"]]
    assert exc["state"] == "resolved"
    assert actions == [
        ("replay_requested", stack.subject),
        ("replay_approved", OPERATOR_B),
        ("resolve", "ledgerline:replay"),
    ], actions
    resolved = "?page=exceptions&state=resolved&system=erp&category=unmatched_account"
    _open_fresh(page, a, resolved, "Exception backlog", lambda: metric(page, "Exceptions (resolved)") == "1")
    drawn(page)
    pick_row(page, 0)
    expect(page.get_by_text(re.compile(f"Audit trail of {oldest['id']} .*now resolved"))).to_be_visible()
    for action, actor in actions:
        expect(page.get_by_text(re.compile(f"{action}\\s+by {re.escape(actor)}"))).to_be_visible()
    shot(page, "replay_exception_resolved")


def test_a_viewer_sees_states_but_no_action_form(stack: Stack, dashboards: dict[str, Dashboard], page: Page) -> None:
    # Something awaits approval (a billing dead letter), so the queue would offer its form.
    tax = api(stack, "/api/v1/exceptions", state="open", since="30d", system="billing", category="tax_error")
    exc = tax["exceptions"][0]
    answer = _post(stack, f"/api/v1/exceptions/{exc['id']}/replay", {"reason": "tax code fixed"})
    assert answer.status_code == 201 and answer.json()["state"] == "awaiting_approval", answer.text
    pages = {
        "exceptions": ("?page=exceptions&system=billing", "Exception backlog", "acknowledge, resolve or replay"),
        "lineage": (f"?page=lineage&q={exc['correlation_id']}", "Lineage explorer", "request replays"),
        "replays": ("?page=replays", "Replays", "approve or cancel replays"),
        "alerts": ("?page=alerts", "Alerts", "create or expire silences"),
    }
    viewer, operator = dashboards["viewer"], dashboards["a"]
    for name, (query, heading, note) in pages.items():
        open_page(page, viewer, query, heading)
        if name != "replays":
            drawn(page)
        if name == "exceptions":
            pick_row(page, 0)  # a picked row would bring up the forms for an operator
            expect(page.get_by_text(re.compile("Audit trail of"))).to_be_visible()
        expect(page.get_by_text(f"Signed in as {VIEWER} (viewer)")).to_be_visible()
        expect(page.get_by_text(re.compile(f"Read only: your role \\(viewer\\) cannot {note}"))).to_be_visible()
        expect(page.locator(FORM)).to_have_count(0)
        expect(page.get_by_role("button", name=ACTIONS)).to_have_count(0)
        if name == "replays":  # the states are shown
            waiting = api(stack, "/api/v1/replays", state="awaiting_approval")["replays"]
            assert metric(page, "awaiting approval") == str(len(waiting)) != "0"
        shot(page, f"replay_viewer_{name}")
    # The same pages offer the forms to an operator: the check above can see a form.
    for name in ("lineage", "replays", "alerts"):
        query, heading, _ = pages[name]
        open_page(page, operator, query, heading)
        expect(page.locator(FORM).first).to_be_visible()
        expect(page.get_by_text(re.compile("Read only: your role"))).to_have_count(0)


def test_the_lineage_page_says_why_a_replay_is_refused_and_b_cancels(
    stack: Stack, dashboards: dict[str, Dashboard], page: Page
) -> None:
    tax = api(stack, "/api/v1/exceptions", state="open", since="30d", system="billing", category="tax_error")
    exc = tax["exceptions"][-1]
    first = _post(stack, f"/api/v1/exceptions/{exc['id']}/replay", {"reason": "tax code fixed"})
    assert first.status_code == 201, first.text
    replay_id = first.json()["id"]
    # Operator A asks again from the lineage page: the API's 409 reason is on the page.
    open_page(page, dashboards["a"], f"?page=lineage&q={exc['correlation_id']}", "Lineage explorer")
    drawn(page)
    form = page.locator(FORM).filter(has_text="Replay a failed hop")
    expect(form.locator('input[aria-label="Exception"]')).to_have_value(re.compile(f"^{exc['id']} · "))
    form.locator('input[aria-label="Reason"]').fill("again")
    form.get_by_role("button", name="Replay").click()
    refused = f"The lineage API answered 409: replay {replay_id} of this exception is already in flight"
    expect(page.get_by_text(refused)).to_be_visible()
    shot(page, "replay_lineage_refused")
    # Operator B cancels it in the approval queue; it leaves the queue.
    open_page(page, dashboards["b"], "?page=replays", "Replays")
    _pick_replay(page, replay_id)
    page.locator(f'{FORM} input[aria-label="Note"]').fill("wrong tax code after all")
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text(f"Replay {replay_id} is cancelled.")).to_be_visible()
    doc = api(stack, f"/api/v1/replays/{replay_id}")
    assert [h["state"] for h in doc["history"]] == ["awaiting_approval", "cancelled"]
    waiting = api(stack, "/api/v1/replays", state="awaiting_approval")["replays"]
    assert replay_id not in {r["id"] for r in waiting}
    shot(page, "replay_cancelled")
