"""Hand-built hops across two legal entities (LE-1, LE-2) and two regions (emea, amer).

:func:`build` emits the same world into any emitter; :class:`KeepEmitter` drops the hops
outside a scope, so "the unrestricted answer over only the in-scope hops" can be computed
from a second store and compared with the scoped answer over the whole world.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from opentelemetry.trace import SpanContext

from collector.settings import StoreSettings
from collector.store import Store, open_store
from ledgerline.schema import migrate_all
from lineage.api.app import create_app
from lineage.core.scope import Scope
from lineage.core.service import Lineage
from tests.conftest import start_collector
from tests.lineage.conftest import make_lineage
from tests.lineage.helpers import HOUR, MIN, Emitter
from tests.principals import bearer, install

_SEQ = itertools.count()


class KeepEmitter(Emitter):
    """An emitter that only sends the hops ``keep`` allows."""

    def __init__(self, endpoint: str, store: Any, keep: Scope) -> None:
        super().__init__(endpoint, store)
        self.keep = keep

    def hop(self, cid: str, entity_type: str, entity_id: str, step: str, start_ns: int, **kw: Any) -> SpanContext:
        le, region = kw.get("legal_entity", "LE-1"), kw.get("region", "emea")
        if not self.keep.allows(le, region):
            return SpanContext(0, 0, False)
        return super().hop(cid, entity_type, entity_id, step, start_ns, **kw)


@dataclass
class World:
    """A built world: its store, the lineage service over it, and an API client (admin)."""

    store: Store
    lineage: Lineage
    client: TestClient


def serve(chdb_path: Path, keep: Scope, t0: int) -> Iterator[World]:
    """The world anchored at ``t0`` (only the hops ``keep`` allows) on a database of its own,
    ingested through the real SDK and collector, behind the API."""
    database = f"scope_{os.getpid()}_{next(_SEQ)}"
    store = open_store(StoreSettings(clickhouse_url=f"chdb://{chdb_path}", clickhouse_database=database))
    migrate_all(store)
    running = start_collector(store)
    em = KeepEmitter(f"http://127.0.0.1:{running.http_port}/v1/traces", store, keep)
    try:
        build(em, t0)
        lineage = make_lineage(store)
        with TestClient(install(create_app(lineage.settings, store)), headers=bearer("admin")) as client:
            yield World(store, lineage, client)
    finally:
        em.close()
        running.stop()
        store.command("DROP DATABASE IF EXISTS {db:Identifier}", {"db": database})


def _issued(em: Emitter, cid: str, n: str, t0: int, le: str, region: str, amount: float = 100.0) -> None:
    """case -> credit -> invoice of one transaction, all in one legal entity and region."""
    kw: dict[str, Any] = {"legal_entity": le, "region": region}
    em.hop(cid, "case", f"CASE-{n}", "case.opened", t0, system="zendesk", **kw)
    em.hop(
        cid,
        "credit",
        f"CR-{n}",
        "credit.approved",
        t0 + 20 * MIN,
        system="billing",
        parent=("case", f"CASE-{n}"),
        amount=amount,
        currency="EUR",
        **kw,
    )
    em.hop(
        cid,
        "invoice",
        f"INV-{n}",
        "invoice.issued",
        t0 + 40 * MIN,
        system="billing",
        parent=("credit", f"CR-{n}"),
        amount=amount,
        currency="EUR",
        **kw,
    )


def _posted(em: Emitter, cid: str, n: str, at: int, le: str, region: str, **kw: Any) -> None:
    em.hop(
        cid,
        "ledger",
        f"LED-{n}",
        "ledger.posted",
        at,
        system="sap",
        parent=("invoice", f"INV-{n}"),
        legal_entity=le,
        region=region,
        **kw,
    )


def build(em: Emitter, t0: int) -> None:
    """Emit the world, anchored at ``t0`` (epoch ns; pass the same one to compare worlds)."""
    # One transaction per legal entity, completed by their own posting.
    _issued(em, "S-A1", "A1", t0, "LE-1", "emea")
    _posted(em, "S-A1", "A1", t0 + 2 * HOUR, "LE-1", "emea", amount=100.0, currency="EUR")
    _issued(em, "S-B1", "B1", t0, "LE-2", "amer")
    _posted(em, "S-B1", "B1", t0 + 3 * HOUR, "LE-2", "amer", amount=100.0, currency="EUR")
    # Two transactions (LE-1, LE-2) whose invoices one journal posts, one line per invoice,
    # each line in its invoice's legal entity: the journal spans both scopes.
    _issued(em, "S-A2", "A2", t0 + 10 * MIN, "LE-1", "emea")
    _issued(em, "S-B2", "B2", t0 + 10 * MIN, "LE-2", "amer")
    for n, le, region in (("A2", "LE-1", "emea"), ("B2", "LE-2", "amer")):
        em.hop(
            "S-J",
            "ledger",
            f"JL-{n}",
            "ledger.posted",
            t0 + 5 * HOUR,
            system="sap",
            flow="erp_journal",
            parent=("invoice", f"INV-{n}"),
            legal_entity=le,
            region=region,
        )
    # Failed postings (open exceptions), one per legal entity; the LE-2 one is a dead letter.
    _issued(em, "S-A3", "A3", t0 + 20 * MIN, "LE-1", "emea")
    _posted(em, "S-A3", "A3", t0 + 90 * MIN, "LE-1", "emea", outcome="failed", category="timeout")
    _issued(em, "S-B3", "B3", t0 + 20 * MIN, "LE-2", "amer")
    _posted(em, "S-B3", "B3", t0 + 90 * MIN, "LE-2", "amer", outcome="dead_letter", category="tax_error")
    # One transaction across both regions of LE-1 (case in emea, the rest in amer), late.
    em.hop("S-M", "case", "CASE-M", "case.opened", t0, system="zendesk", legal_entity="LE-1", region="emea")
    em.hop(
        "S-M",
        "credit",
        "CR-M",
        "credit.approved",
        t0 + 6 * HOUR,
        system="billing",
        parent=("case", "CASE-M"),
        legal_entity="LE-1",
        region="amer",
    )
    # A hop with no legal entity: outside every scope limited on legal entities.
    em.hop("S-N", "case", "CASE-N", "case.opened", t0 + 30 * MIN, system="zendesk", legal_entity="", region="emea")
    _across_entities(em, t0)
    em.wait()


def _across_entities(em: Emitter, t0: int) -> None:
    """Links between legal entities (all in emea), where a careless walk would leak."""
    le1: dict[str, Any] = {"legal_entity": "LE-1", "region": "emea"}
    le2: dict[str, Any] = {"legal_entity": "LE-2", "region": "emea"}
    # An LE-2 posting of an LE-1 invoice, earlier than the invoice's own posting: not a
    # neighbour, an edge, or an (adopted) completion of S-A1 for LE-1.
    em.hop("S-X", "ledger", "LED-X", "ledger.posted", t0 + HOUR, system="sap", parent=("invoice", "INV-A1"), **le2)
    # ... and an LE-1 note on S-A1's case, so S-A1 has an in-scope relative (and adoption runs).
    em.hop("S-V", "note", "NOTE-V", "case.noted", t0 + 5 * MIN, parent=("case", "CASE-A1"), **le1)
    # S-C: an LE-1 case whose credit and invoice are LE-2's; S-Y (LE-1) posts that invoice.
    # LE-1 must not pair the posting with the LE-2 issue time, nor complete S-C with it.
    em.hop("S-C", "case", "CASE-C", "case.opened", t0, system="zendesk", **le1)
    em.hop("S-C", "credit", "CR-C", "credit.approved", t0 + 20 * MIN, parent=("case", "CASE-C"), **le2)
    em.hop("S-C", "invoice", "INV-C", "invoice.issued", t0 + 40 * MIN, parent=("credit", "CR-C"), **le2)
    em.hop("S-Y", "ledger", "LED-Y", "ledger.posted", t0 + 2 * HOUR, system="sap", parent=("invoice", "INV-C"), **le1)
    # S-D: a recent LE-1 case whose LE-2 credit dead-lettered; S-W (LE-1) notes the case.
    # Seen from S-W, LE-1 sees S-D in flight; only LE-2's hop makes it failed.
    now = t0 + 10 * HOUR
    em.hop("S-D", "case", "CASE-D", "case.opened", now - 30 * MIN, system="zendesk", **le1)
    em.hop(
        "S-D",
        "credit",
        "CR-D",
        "credit.approved",
        now - 20 * MIN,
        parent=("case", "CASE-D"),
        outcome="dead_letter",
        category="tax_error",
        **le2,
    )
    em.hop("S-W", "note", "NOTE-W", "case.noted", now - 25 * MIN, parent=("case", "CASE-D"), **le1)
    # S-T: an LE-1 hop on the LE-2 invoice the journal S-J posts: reachable from S-J only
    # through S-J's LE-2 line, so LE-1 must not find it by walking from S-A2.
    em.hop("S-T", "invoice", "INV-B2", "invoice.viewed", t0 + 6 * HOUR, system="billing", **le1)
