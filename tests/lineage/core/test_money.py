"""The money of exceptions read for several legal entities in one query
(money.of_exceptions_by_legal_entity) is each entity's own reading (money.of_exceptions with
the scope narrowed to it): an entity's amount comes from its own hops under its own
exceptions' correlation IDs, never from another entity's hop of the same business entity or
correlation ID."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from collector.store import Store
from lineage.core import money
from lineage.core.scope import EVERYTHING, Scope
from tests.lineage.flow_helpers import HOUR, T0, Spans


def _exc(cid: str, entity: str) -> dict[str, Any]:
    entity_type, entity_id = entity.split(":")
    return {"correlation_id": cid, "entity_type": entity_type, "entity_id": entity_id}


@pytest.fixture
def hops(store: Store) -> Store:
    s = Spans()
    # LED-1 failed in DE01 (100) under C-1; the same posting ok in AT01 later (250), same ID.
    s.add("C-1", "ledger:LED-1", "ledger.posted", T0, outcome="failed", amount=100, legal_entity="DE01")
    s.add("C-1", "ledger:LED-1", "ledger.posted", T0 + HOUR, amount=250, legal_entity="AT01")
    # LED-1 again in DE01, latest of all (999), but under C-2: an AT01 exception's ID, not DE01's.
    s.add("C-2", "ledger:LED-1", "ledger.posted", T0 + 2 * HOUR, amount=999, legal_entity="DE01")
    s.add("C-2", "ledger:LED-2", "ledger.posted", T0, outcome="failed", amount=40, currency="USD", legal_entity="AT01")
    s.write(store)
    return store


def _amounts(found: dict[str, list[dict[str, Any]]]) -> dict[str, list[tuple[Any, ...]]]:
    return {le: [(e["entity_id"], e["amount"], e["currency"]) for e in excs] for le, excs in found.items()}


@pytest.mark.parametrize(
    "scope", [EVERYTHING, Scope(("AT01", "DE01")), Scope((), ("emea",))], ids=["everything", "two", "region"]
)
def test_each_entity_reads_its_own_hops_under_its_own_ids(hops: Store, scope: Scope) -> None:
    excs = {
        "DE01": [_exc("C-1", "ledger:LED-1")],
        "AT01": [_exc("C-1", "ledger:LED-1"), _exc("C-2", "ledger:LED-2")],
        "FR01": [_exc("C-1", "ledger:LED-1")],  # no hop of its own
        "": [_exc("C-1", "ledger:LED-1")],  # no legal entity: the scope's reading
    }
    one_by_one = {le: money.of_exceptions(hops, scope.narrowed(le, ""), copy.deepcopy(e)) for le, e in excs.items()}
    together = money.of_exceptions_by_legal_entity(hops, scope, copy.deepcopy(excs))
    assert _amounts(together) == _amounts(one_by_one)
    assert _amounts(together)["DE01"] == [("LED-1", 100.0, "EUR")]
    assert _amounts(together)["AT01"] == [("LED-1", 250.0, "EUR"), ("LED-2", 40.0, "USD")]
    assert _amounts(together)["FR01"] == [("LED-1", None, None)]
