"""The close gate's business dates (``biz.posting_date`` / ``biz.period``), reconciliation
breaks and expected batch journals, on hand-built hops around the last month end."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from lineage.api.app import create_app
from lineage.close import service
from lineage.close.config import parse_close
from lineage.close.errors import CloseConfigError
from lineage.core.flows import load_flows
from lineage.core.scope import EVERYTHING
from lineage.evidence.sealer import Sealer
from tests.lineage.close.helpers import World, emitting_store, invoice, month_end, ns, post
from tests.lineage.conftest import make_lineage
from tests.lineage.helpers import Emitter
from tests.principals import Principal, bearer, install

CALENDAR = """
deadline_business_days: 5
materiality: {EUR: 100, USD: 100, GBP: 100}
flows: [support_credit]
reconciliations: [invoice_to_ledger]
legal_entities:
  DE01: {time_zone: Europe/Berlin, currency: EUR}
  US01: {time_zone: America/New_York, currency: USD}
  GB01: {time_zone: Europe/London, currency: GBP}
expected_journals:
  accruals: {entity_type: ledger, step: ledger.posted, entity_id: "ACCR-{legal_entity}-{period}",
             legal_entities: [GB01], amount: 5000}
  payroll: {entity_type: ledger, step: ledger.posted, entity_id: "PAY-{legal_entity}-{period}",
            legal_entities: [GB01]}
"""


def _journal(em: Emitter, entity_id: str, le: str, at: datetime, amount: float, currency: str) -> None:
    em.hop(f"J-{entity_id}", "ledger", entity_id, "ledger.posted", ns(at), system="erp", amount=amount,
           currency=currency, legal_entity=le, region="eu-west", flow="erp_journal")  # fmt: skip


@pytest.fixture(scope="module")
def world(chdb_path: Path) -> Iterator[World]:
    m = month_end()
    end_utc, period, last_day, nxt = m.end_utc, m.period, m.last_day, m.next_period
    h = timedelta(hours=1)
    with emitting_store(chdb_path, "close_biz") as (store, em):
        # DE01: H issued two hours into the next month, dated the period's last day: the period's.
        # I issued in the period's last hours, declared the next period: not the period's. J
        # posted after the end, the posting dated the last day: posted in time. K posted after
        # the end with no date: a cut-off break. M's posting date is no date: by hop time, named.
        invoice(em, "H", "DE01", "eu-west", end_utc + 2 * h, 300.0, "EUR", biz_posting_date=last_day)
        invoice(em, "I", "DE01", "eu-west", end_utc - 2 * h, 40.0, "EUR", biz_period=nxt)
        invoice(em, "J", "DE01", "eu-west", end_utc - 3 * h, 200.0, "EUR")
        post(em, "J", "DE01", "eu-west", end_utc + 5 * h, 200.0, "EUR", biz_posting_date=last_day)
        invoice(em, "K", "DE01", "eu-west", end_utc - 4 * h, 150.0, "EUR")
        post(em, "K", "DE01", "eu-west", end_utc + 6 * h, 150.0, "EUR")
        invoice(em, "M", "DE01", "eu-west", end_utc - 5 * h, 70.0, "EUR", biz_posting_date="31/11/2026")
        post(em, "M", "DE01", "eu-west", end_utc - 4 * h, 70.0, "EUR")
        # US01: everything posted, but N's posting is 250 short and P's 5 over: breaks of 255 USD.
        invoice(em, "N", "US01", "us-east", end_utc - 48 * h, 1000.0, "USD")
        post(em, "N", "US01", "us-east", end_utc - 47 * h, 750.0, "USD")
        invoice(em, "P", "US01", "us-east", end_utc - 30 * h, 100.0, "USD")
        post(em, "P", "US01", "us-east", end_utc - 29 * h, 105.0, "USD")
        # GB01: one invoice posted; the payroll journal came, the accruals journal did not.
        invoice(em, "Q", "GB01", "eu-west", end_utc - 50 * h, 80.0, "GBP")
        post(em, "Q", "GB01", "eu-west", end_utc - 49 * h, 80.0, "GBP")
        _journal(em, f"PAY-GB01-{period}", "GB01", end_utc - 24 * h, 42000.0, "GBP")
        em.wait(30)
        close = parse_close(CALENDAR, "calendar", load_flows())
        yield World(store, make_lineage(store), close, period, nxt, end_utc, em, Ed25519PrivateKey.generate())


def _keys(group: dict) -> set[str]:
    return {i["business_key"] for i in group["items"]}


def _money(group: dict) -> dict[str | None, float]:
    return {m["currency"]: m["amount"] for m in group["money"]}


def test_a_posting_date_or_period_sent_by_the_system_decides_the_period(world: World) -> None:
    gate = service.gate(world.lineage, world.close, EVERYTHING, "DE01", world.period)
    g = gate["groups"]
    # H (dated the last day, issued after the end) waits in the period; I (declared next month) does not
    assert _keys(g["not_posted"]) == {"invoice:INV-H"} and _money(g["not_posted"]) == {"EUR": 300.0}
    # J's posting arrived after the end dated the last day: in time; K's did not
    assert _keys(g["cut_off"]) == {"invoice:INV-K"} and _money(g["cut_off"]) == {"EUR": 150.0}
    following = service.gate(world.lineage, world.close, EVERYTHING, "DE01", world.next_period)
    assert _keys(following["groups"]["not_posted"]) == {"invoice:INV-I"}


def test_a_malformed_business_date_is_named_and_the_hop_time_decides(world: World) -> None:
    gate = service.gate(world.lineage, world.close, EVERYTHING, "DE01", world.period)
    bad = gate["malformed_business_dates"]
    assert bad["count"] == 1 and bad["truncated"] is False
    (item,) = bad["items"]
    assert item["business_key"] == "invoice:INV-M" and item["correlation_id"] == "C-M"
    assert item["problems"] == ["biz.posting_date '31/11/2026' is not a date (YYYY-MM-DD)"]
    # counted in the period by its hop time: posted in it, so it blocks nothing
    assert "invoice:INV-M" not in _keys(gate["groups"]["not_posted"]) | _keys(gate["groups"]["cut_off"])
    de = {"de": Principal("de@test.example", "viewer", EVERYTHING.narrowed("DE01", ""))}
    app = install(create_app(world.lineage.settings, world.store, close=world.close), de)
    with TestClient(app, headers=bearer("de")) as client:
        answer = client.get(f"/api/v1/close/DE01/{world.period}").json()
        assert answer["malformed_business_dates"]["items"][0]["problems"] == item["problems"]
        assert answer["groups"]["missing_journals"]["count"] == 0  # expected of GB01 only


def test_reconciliation_breaks_above_materiality_block_the_period(world: World) -> None:
    Sealer(world.store, world.key, margin_s=0).seal_now()
    gate = service.gate(world.lineage, world.close, EVERYTHING, "US01", world.period)
    breaks = gate["groups"]["reconciliation_breaks"]
    assert breaks["count"] == 2 and _money(breaks) == {"USD": 255.0}
    by_key = {b["business_key"]: b for b in breaks["items"]}
    assert by_key["invoice:INV-N"]["kind"] == "amount_mismatch" and by_key["invoice:INV-N"]["amount"] == 250.0
    assert by_key["invoice:INV-N"]["correlation_id"] == "C-N"
    assert by_key["invoice:INV-P"]["reconciliation"] == "invoice_to_ledger"
    # nothing else blocks: the breaks alone keep the period from being ready
    assert gate["status"] == "blocked" and gate["blocking"] == ["reconciliation_breaks"]
    lenient = parse_close(CALENDAR.replace("USD: 100", "USD: 300"), "calendar", load_flows())
    assert service.gate(world.lineage, lenient, EVERYTHING, "US01", world.period)["status"] == "ready"


def test_an_expected_journal_that_has_not_arrived_blocks_until_it_does(world: World) -> None:
    Sealer(world.store, world.key, margin_s=0).seal_now()
    gate = service.gate(world.lineage, world.close, EVERYTHING, "GB01", world.period)
    journals = gate["groups"]["missing_journals"]
    assert _keys(journals) == {f"ledger:ACCR-GB01-{world.period}"}  # payroll arrived
    assert _money(journals) == {"GBP": 5000.0} and journals["items"][0]["journal"] == "accruals"
    assert gate["status"] == "blocked" and gate["blocking"] == ["missing_journals"]
    # the next period expects its own journals; only this period's payroll arrived
    following = service.gate(world.lineage, world.close, EVERYTHING, "GB01", world.next_period)
    assert following["groups"]["missing_journals"]["count"] == 2
    _journal(world.em, f"ACCR-GB01-{world.period}", "GB01", world.end_utc + timedelta(hours=30), 5100.0, "GBP")
    world.em.wait(30)
    Sealer(world.store, world.key, margin_s=0).seal_now()
    after = service.gate(world.lineage, world.close, EVERYTHING, "GB01", world.period)
    assert after["groups"]["missing_journals"]["count"] == 0 and after["status"] == "ready", after["blocking"]


def test_the_calendar_checks_reconciliations_and_journals() -> None:
    flows = load_flows()
    base = "legal_entities: {GB01: {time_zone: Europe/London, currency: GBP}}\n"
    for text, words in (
        ("reconciliations: [nope]", "unknown reconciliation 'nope'"),
        ("expected_journals: {a: {entity_type: ledger, step: ledger.posted, entity_id: 'X-{day}'}}", "may only name"),
        ("expected_journals: {a: {entity_type: ledger, step: nope, entity_id: X}}", "no flow has a stage"),
        (
            "expected_journals: {a: {entity_type: ledger, step: ledger.posted, entity_id: X, legal_entities: [FR01]}}",
            "unknown legal entity 'FR01'",
        ),
        (
            "expected_journals: {a: {entity_type: ledger, step: ledger.posted, entity_id: X, periods: [2026-13]}}",
            "YYYY-MM",
        ),
    ):
        with pytest.raises(CloseConfigError, match=words) as err:
            parse_close(base + text, "close.yaml", flows)
        assert str(err.value).startswith("close.yaml, line ") and "\n" not in str(err.value)
