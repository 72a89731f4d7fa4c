"""The status of every legal entity read together (service.gates: the reads grouped by legal
entity in one pass per time zone) equals the gates read entity by entity, on hand-built hops
across legal entities sharing a time zone and not, with breaks, cut-offs, exceptions and a
reconciliation key shared by two entities (which must not match across them), and replays in
flight (one of another entity under the same exception ID, which must not count for either)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.store import Store
from lineage.close import service
from lineage.close.config import parse_close
from lineage.core.flows import load_flows
from lineage.core.scope import EVERYTHING, Scope
from lineage.core.window import Window
from lineage.replay.repo import ReplayRepo
from tests.lineage.close.helpers import World, emitting_store, invoice, month_end, post
from tests.lineage.conftest import make_lineage

CALENDAR = """
deadline_business_days: 5
materiality: {EUR: 100, USD: 100}
flows: [support_credit]
reconciliations: [invoice_to_ledger]
legal_entities:
  DE01: {time_zone: Europe/Berlin, currency: EUR}
  AT01: {time_zone: Europe/Berlin, currency: EUR}
  FR01: {time_zone: Europe/Paris, currency: EUR}
  US01: {time_zone: America/New_York, currency: USD}
"""


@pytest.fixture(scope="module")
def world(chdb_path: Path) -> Iterator[World]:
    m = month_end()
    end_utc, period = m.end_utc, m.period
    h = timedelta(hours=1)
    with emitting_store(chdb_path, "close_every") as (store, em):
        # DE01 (Berlin): A posted; B never posted; C posted 50 short; D's posting failed (an
        # open exception); X issued here and "posted" by AT01 (below): not a match for either.
        invoice(em, "A", "DE01", "eu-west", end_utc - 60 * h, 120.0, "EUR")
        post(em, "A", "DE01", "eu-west", end_utc - 59 * h, 120.0, "EUR")
        invoice(em, "B", "DE01", "eu-west", end_utc - 30 * h, 500.0, "EUR")
        invoice(em, "C", "DE01", "eu-west", end_utc - 40 * h, 500.0, "EUR")
        post(em, "C", "DE01", "eu-west", end_utc - 39 * h, 450.0, "EUR")
        invoice(em, "D", "DE01", "eu-west", end_utc - 20 * h, 300.0, "EUR")
        post(em, "D", "DE01", "eu-west", end_utc - 19 * h, 300.0, "EUR", outcome="failed")
        invoice(em, "X", "DE01", "eu-west", end_utc - 10 * h, 700.0, "EUR")
        # D's posting retried from AT01 and ok there: it resolves nothing in DE01 (AT01: a posting alone).
        post(em, "D", "AT01", "eu-west", end_utc - 18 * h, 300.0, "EUR")
        # AT01 (Berlin too: read in the same pass): X's posting; G issued in the period's last
        # hour, posted after its end (a cut-off break); Y posted in time, its posting date no date.
        em.hop("C-X2", "ledger", "LED-X", "ledger.posted", int((end_utc - 9 * h).timestamp() * 1e9), system="erp",
               parent=("invoice", "INV-X"), legal_entity="AT01", region="eu-west", amount=700.0,
               currency="EUR")  # fmt: skip
        invoice(em, "G", "AT01", "eu-west", end_utc - h / 2, 250.0, "EUR")
        post(em, "G", "AT01", "eu-west", end_utc + 10 * h, 250.0, "EUR")
        invoice(em, "Y", "AT01", "eu-west", end_utc - 50 * h, 90.0, "EUR", biz_posting_date="31/11/2026")
        post(em, "Y", "AT01", "eu-west", end_utc - 49 * h, 90.0, "EUR")
        # FR01 (Paris: the same hour as Berlin, its own pass): K never posted, L posted.
        invoice(em, "K", "FR01", "eu-west", end_utc - 5 * h, 800.0, "EUR")
        invoice(em, "L", "FR01", "eu-west", end_utc - 45 * h, 60.0, "EUR")
        post(em, "L", "FR01", "eu-west", end_utc - 44 * h, 60.0, "EUR")
        # US01 (New York): N issued after the Berlin end (still the period there), posted short.
        invoice(em, "N", "US01", "us-east", end_utc + 3 * h, 1000.0, "USD")
        post(em, "N", "US01", "us-east", end_utc + 4 * h, 750.0, "USD")
        em.wait(30)
        close = parse_close(CALENDAR, "calendar", load_flows())
        key = Ed25519PrivateKey.generate()
        svc = make_lineage(store)
        # Replays of D's open exception: one awaiting approval and one cancelled in DE01, and one
        # in AT01 under the same exception ID (an exception's ID names its entity and step only).
        window = Window(int((end_utc - 40 * h).timestamp() * 1000), int(end_utc.timestamp() * 1000), 10)
        (exc,) = svc.exceptions(Scope(("DE01",)), window, "open", "", "")["exceptions"]
        for n, (le, state) in enumerate([("DE01", "awaiting_approval"), ("DE01", "cancelled"), ("AT01", "approved")]):
            _replay(store, f"R-{n}", exc, le, state)
        # ... and a ticket opened for it: listed with it, read together or entity by entity.
        store.insert("exception_tickets", [[exc["id"], "jira", "OPS-7", "7", "https://jira.example/OPS-7", end_utc]],
                     ["ExceptionId", "Receiver", "TicketKey", "TicketId", "TicketUrl", "CreatedAt"])  # fmt: skip
        yield World(store, svc, close, period, m.next_period, end_utc, em, key)


def _replay(store: Store, replay_id: str, exc: dict[str, Any], legal_entity: str, state: str) -> None:
    at_ms = int(time.time() * 1000)
    row = {"id": replay_id, "exception_id": exc["id"], "correlation_id": exc["correlation_id"],
           "flow": "support_credit", "entity_type": exc["entity_type"], "entity_id": exc["entity_id"],
           "step": exc["step"], "system": "erp", "category": "tax_error", "amount": 300.0, "currency": "EUR",
           "region": "eu-west", "legal_entity": legal_entity, "state": state, "requested_by": "op",
           "approved_by": "", "reason": "test", "attempts": 0, "next_attempt_ms": at_ms, "created_ms": at_ms,
           "updated_ms": at_ms, "last_error": "", "trace_id": "", "confirmed_span": ""}  # fmt: skip
    ReplayRepo(store).write(row, "op", "test", at_ms)


def _steady(doc: Any) -> Any:
    """The document without the ages (they run to the moment each gate was read)."""
    if isinstance(doc, dict):
        return {k: _steady(v) for k, v in doc.items() if k != "age_ms"}
    if isinstance(doc, list):
        return [_steady(v) for v in doc]
    return doc


ENTITIES = ["AT01", "DE01", "FR01", "US01"]


@pytest.mark.parametrize(
    "scope",
    [EVERYTHING, Scope(("DE01",)), Scope(("AT01", "DE01")), Scope((), ("eu-west",))],
    ids=["everything", "DE01", "AT01+DE01", "eu-west"],
)
def test_every_entity_together_equals_entity_by_entity(world: World, scope: Scope) -> None:
    one_by_one = [service.gate(world.lineage, world.close, scope, le, world.period) for le in ENTITIES]
    together = service.gates(world.lineage, world.close, scope, ENTITIES, world.period)
    assert [g["legal_entity"] for g in together] == ENTITIES
    assert _steady(together) == _steady(one_by_one)
    if scope.allows("DE01", "eu-west"):
        de01 = together[ENTITIES.index("DE01")]
        [listed] = de01["groups"]["open_exceptions"]["items"]
        assert listed["tickets"] == [{"receiver": "jira", "key": "OPS-7", "url": "https://jira.example/OPS-7"}]


def test_a_key_shared_by_two_entities_matches_in_neither(world: World) -> None:
    """INV-X (DE01) and its posting (AT01) share a key: each entity's reconciliation sees only
    its own side, so DE01 has the invoice alone and AT01 the posting alone."""
    together = {
        g["legal_entity"]: g for g in service.gates(world.lineage, world.close, EVERYTHING, ENTITIES, world.period)
    }

    def breaks(le: str) -> dict[str, str]:
        return {i["business_key"]: i["kind"] for i in together[le]["groups"]["reconciliation_breaks"]["items"]}

    assert breaks("DE01") == {"invoice:INV-B": "left_only", "invoice:INV-C": "amount_mismatch",
                              "invoice:INV-D": "left_only", "invoice:INV-X": "left_only"}  # fmt: skip
    assert breaks("AT01") == {"ledger:LED-D": "right_only", "ledger:LED-X": "right_only"}
    assert breaks("FR01") == {"invoice:INV-K": "left_only"}
    assert breaks("US01") == {"invoice:INV-N": "amount_mismatch"}
    assert [e["business_key"] for e in together["DE01"]["groups"]["open_exceptions"]["items"]] == ["ledger:LED-D"]
    assert together["AT01"]["groups"]["open_exceptions"]["count"] == 0
    replays = {le: [r["id"] for r in g["groups"]["replays"]["items"]] for le, g in together.items()}
    assert replays == {"AT01": [], "DE01": ["R-0"], "FR01": [], "US01": []}
    assert together["DE01"]["groups"]["replays"]["money"] == [{"currency": "EUR", "amount": 300.0}]
    assert {i["business_key"] for i in together["AT01"]["groups"]["cut_off"]["items"]} == {"invoice:INV-G"}
    assert all(g["status"] == "blocked" for g in together.values())
    malformed = {le: [i["business_key"] for i in g["malformed_business_dates"]["items"]] for le, g in together.items()}
    assert malformed == {"AT01": ["invoice:INV-Y"], "DE01": [], "FR01": [], "US01": []}


def test_an_entity_outside_the_scope_reads_nothing(world: World) -> None:
    """A DE01 controller asking for every entity sees nothing of the others'."""
    together = service.gates(world.lineage, world.close, Scope(("DE01",)), ENTITIES, world.period)
    for g in together:
        counts = {name: group["count"] for name, group in g["groups"].items()}
        if g["legal_entity"] == "DE01":
            assert counts["reconciliation_breaks"] == 4
        else:
            assert set(counts.values()) == {0}, g["legal_entity"]
