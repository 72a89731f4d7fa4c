"""Data scope (issue 9): every answer is computed from the caller's in-scope hops only.

The main check compares, route by route, a scoped caller's answer over the whole world
with an unrestricted caller's answer over a second store holding only the in-scope hops
(tests/lineage/scope_world.py builds both). Route calls authenticate through the
test-only principals of tests/principals.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from collector.store import Store
from lineage import cli
from lineage.api.app import create_app
from lineage.core import service
from lineage.core.scope import EVERYTHING, Scope
from lineage.core.service import Lineage
from lineage.sql import queries
from tests.lineage.helpers import HOUR, MIN, Emitter, now_ns
from tests.lineage.scope_world import World, serve
from tests.principals import LE1, LE1_AMER, Principal, bearer, install

pytestmark = pytest.mark.timeout(180)
NOW = datetime.now(UTC).replace(microsecond=0)
T0 = int(NOW.timestamp()) * 1_000_000_000 - 10 * HOUR  # every world's anchor
SINCE, UNTIL = (NOW - timedelta(hours=24)).isoformat(), NOW.isoformat()
WINDOW = {"since": SINCE, "until": UNTIL}


@pytest.fixture(scope="module")
def full(chdb_path: Path) -> Iterator[World]:
    yield from serve(chdb_path, EVERYTHING, T0)


@pytest.fixture(scope="module")
def only_le1(chdb_path: Path) -> Iterator[World]:
    yield from serve(chdb_path, LE1.scope, T0)


@pytest.fixture(scope="module")
def only_le1_amer(chdb_path: Path) -> Iterator[World]:
    yield from serve(chdb_path, LE1_AMER.scope, T0)


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """One "now" for every request, so answers over two stores compare exactly."""
    modules = ("lineage.api.deps", "lineage.business.metrics", "lineage.core.service", "lineage.core.shape")
    for module in (*modules, "lineage.insights.service", "lineage.business.api"):
        monkeypatch.setattr(f"{module}.utcnow", lambda: NOW)


def _get(world: World, url: str, who: str = "admin", **params: Any) -> tuple[int, Any]:
    response = world.client.get(url, params=params, headers=bearer(who))
    assert response.status_code in (200, 404), response.text
    return response.status_code, response.json()


def _norm(doc: Any) -> Any:
    """Drop what differs between two stores holding the same hops: span ids, and the count
    of withheld hops (checked on its own)."""
    if isinstance(doc, dict):
        return {k: _norm(v) for k, v in doc.items() if k not in ("trace_id", "span_id", "withheld_hops")}
    if isinstance(doc, list):
        return [_norm(v) for v in doc]
    return doc


def _cids(world: World) -> list[str]:
    return [str(r[0]) for r in world.store.query("SELECT DISTINCT CorrelationId FROM hops ORDER BY 1")]


def _entities(world: World) -> list[tuple[str, str]]:
    rows = world.store.query("SELECT DISTINCT toString(EntityType), EntityId FROM hops ORDER BY 1, 2")
    return [(str(t), str(i)) for t, i in rows]


ROUTES: list[tuple[str, dict[str, str]]] = [
    ("/api/v1/transactions", WINDOW),
    ("/api/v1/exceptions", WINDOW),
    ("/api/v1/metrics/posting-latency", WINDOW | {"bucket": "1h"}),
    ("/api/v1/metrics/posting-latency", WINDOW | {"bucket": "1h", "group_by": "legal_entity"}),
    ("/api/v1/metrics/throughput", WINDOW | {"bucket": "1h", "group_by": "region"}),
    ("/api/v1/metrics/exception-backlog", WINDOW | {"bucket": "1h"}),
    ("/api/v1/sla/breaches", WINDOW),
]


@pytest.mark.usefixtures("frozen")
@pytest.mark.parametrize(("who", "subset"), [("le1", "only_le1"), ("le1-amer", "only_le1_amer")])
def test_scoped_answers_are_the_answers_over_in_scope_hops(
    full: World, who: str, subset: str, request: pytest.FixtureRequest
) -> None:
    sub: World = request.getfixturevalue(subset)
    seen = 0
    for cid in [*_cids(full), "NO-SUCH"]:
        code, doc = _get(full, f"/api/v1/transactions/{cid}", who)
        sub_code, sub_doc = _get(sub, f"/api/v1/transactions/{cid}")
        assert code == sub_code, cid
        if code == 404:  # out of scope and unknown look the same
            assert doc["detail"] == f"no hops stored for correlation ID {cid!r}"
            continue
        seen += 1
        assert _norm(doc) == _norm(sub_doc), cid
        all_hops = _get(full, f"/api/v1/transactions/{cid}")[1]["hops"]
        assert doc["withheld_hops"] == len(all_hops) - len(doc["hops"]), cid
    assert 0 < seen < len(_cids(full))
    for etype, eid in _entities(full):
        code, doc = _get(full, f"/api/v1/entities/{etype}/{eid}", who)
        sub_code, sub_doc = _get(sub, f"/api/v1/entities/{etype}/{eid}")
        assert (code, _norm(doc)) == (sub_code, _norm(sub_doc)), (etype, eid)
    for exc in _get(full, "/api/v1/exceptions", **WINDOW)[1]["exceptions"]:
        code, doc = _get(full, f"/api/v1/exceptions/{exc['id']}", who)
        assert (code, doc) == _get(sub, f"/api/v1/exceptions/{exc['id']}"), exc["entity_id"]
    for url, params in ROUTES:
        scoped, unrestricted = _get(full, url, who, **params), _get(sub, url, **params)
        assert scoped == unrestricted, url
        assert scoped != _get(full, url, **params), f"{url}: the world should differ out of scope"


def test_cross_scope_journal_shows_in_scope_hops_and_counts_the_rest(full: World) -> None:
    everything = _get(full, "/api/v1/transactions/S-J")[1]
    assert everything["withheld_hops"] == 0 and len(everything["hops"]) == 2
    assert sorted(everything["related_correlation_ids"]) == ["S-A2", "S-B2", "S-T"]  # S-T: via INV-B2
    for who, mine, other in (("le1", "A2", "B2"), ("le2", "B2", "A2")):
        doc = _get(full, "/api/v1/transactions/S-J", who)[1]
        assert [h["entity_id"] for h in doc["hops"]] == [f"JL-{mine}"]
        assert doc["withheld_hops"] == 1
        # The other legal entity's line, invoice and transaction leave no trace but the count.
        assert doc["related_correlation_ids"] == [f"S-{mine}"] and doc["related_omitted"] == 0
        assert {n["entity_id"] for n in doc["nodes"]} == {f"JL-{mine}", f"INV-{mine}"}
        assert other not in str(doc)
    text = cli.render(_get(full, "/api/v1/transactions/S-J", "le1")[1])
    assert "1 hop withheld (outside your scope)" in text
    assert "withheld" not in cli.render(everything)


@pytest.mark.usefixtures("frozen")
def test_big_frontier_variant_is_scoped_the_same(full: World, monkeypatch: pytest.MonkeyPatch) -> None:
    cids = _cids(full)
    small = {c: full.lineage.transaction(LE1.scope, c) for c in cids}
    monkeypatch.setattr(service, "_MAX_KEY_PARAMS", 0)
    assert {c: full.lineage.transaction(LE1.scope, c) for c in cids} == small
    assert small["S-J"] is not None and small["S-J"]["related_correlation_ids"] == ["S-A2"]


def test_transactions_out_of_scope_are_404_like_unknown_ones(full: World) -> None:
    assert _get(full, "/api/v1/transactions/S-B1", "le1") == _get(full, "/api/v1/transactions/S-B1", "le1-amer")
    code, doc = _get(full, "/api/v1/transactions/S-B1", "le1")
    assert code == 404 and doc == {"detail": "no hops stored for correlation ID 'S-B1'"}
    assert _get(full, "/api/v1/entities/invoice/INV-B1", "le1") == (
        404,
        {"detail": "no hops stored for entity invoice:INV-B1"},
    )
    # No legal entity: outside a scope limited on legal entities, inside one limited on regions.
    assert _get(full, "/api/v1/transactions/S-N", "le1")[0] == 404
    assert _get(full, "/api/v1/transactions/S-N", "emea")[0] == 200
    # Two dimensions: LE-1 and amer sees the amer half of S-M only.
    doc = _get(full, "/api/v1/transactions/S-M", "le1-amer")[1]
    assert [h["entity_id"] for h in doc["hops"]] == ["CR-M"] and doc["withheld_hops"] == 1


def _counts(world: World, who: str) -> dict[str, int]:
    """Per-hop counts of every aggregate route."""
    tp = _get(world, "/api/v1/metrics/throughput", who, bucket="1h", **WINDOW)[1]
    lat = _get(world, "/api/v1/metrics/posting-latency", who, bucket="1h", **WINDOW)[1]
    backlog = _get(world, "/api/v1/metrics/exception-backlog", who, bucket="1h", **WINDOW)[1]
    exceptions = _get(world, "/api/v1/exceptions", who, **WINDOW)[1]["exceptions"]
    out = {"postings": sum(b["count"] for b in lat["buckets"]), "exceptions": len(exceptions)}
    for b in tp["buckets"]:
        out[f"completed {b['stage']}"] = out.get(f"completed {b['stage']}", 0) + b["completed"]
    for a in backlog["age_now"]:
        out[f"open {a['category']}"] = a["lt_1h"] + a["h1_to_4h"] + a["h4_to_24h"] + a["gt_24h"]
    return out


@pytest.mark.usefixtures("frozen")
def test_metrics_differ_by_exactly_the_out_of_scope_hops(full: World) -> None:
    # Every hop is in emea or amer, and no posting or exception pairs hops of two regions:
    # the regional answers add up to the whole, each differs from it, and a scope matching
    # nothing sees nothing.
    everything, emea, amer = _counts(full, "admin"), _counts(full, "emea"), _counts(full, "amer")
    assert everything["postings"] > 0 and everything["exceptions"] > 0
    for key in everything:
        assert emea.get(key, 0) + amer.get(key, 0) == everything[key], key
    assert emea != everything and amer != everything
    nobody = install(create_app(full.lineage.settings, full.store), {"x": Principal("x", "viewer", Scope(("LE-9",)))})
    with TestClient(nobody, headers=bearer("x")) as client:
        assert client.get("/api/v1/transactions", params=WINDOW).json()["transactions"] == []
        assert client.get("/api/v1/exceptions", params=WINDOW).json()["exceptions"] == []
        assert client.get("/api/v1/metrics/throughput", params=WINDOW).json()["buckets"] == []


def test_ack_and_resolve_out_of_scope_are_404_and_record_nothing(emitter: Emitter, lineage: Lineage) -> None:
    t = now_ns() - 60 * MIN
    emitter.hop("X-1", "ledger", "LED-X1", "ledger.posted", t, outcome="failed", category="timeout")
    emitter.hop(
        "X-2", "ledger", "LED-X2", "ledger.posted", t, outcome="failed", category="timeout", legal_entity="LE-2"
    )
    emitter.wait()
    with TestClient(install(create_app(lineage.settings, lineage.store)), headers=bearer("admin")) as client:
        ids = {e["entity_id"]: e["id"] for e in client.get("/api/v1/exceptions").json()["exceptions"]}
        mine, theirs = ids["LED-X1"], ids["LED-X2"]
        le1 = bearer("le1")
        assert [e["id"] for e in client.get("/api/v1/exceptions", headers=le1).json()["exceptions"]] == [mine]
        assert client.get(f"/api/v1/exceptions/{theirs}", headers=le1).json() == {"detail": f"no exception {theirs}"}
        for action in ("ack", "resolve"):
            refused = client.post(f"/api/v1/exceptions/{theirs}/{action}", headers=le1, json={"actor": "le1"})
            assert refused.status_code == 404
        assert client.get(f"/api/v1/exceptions/{theirs}").json()["history"] == []
        done = client.post(f"/api/v1/exceptions/{mine}/ack", headers=le1, json={"actor": "le1"})
        assert done.status_code == 200 and done.json()["state"] == "acknowledged"


def test_routes_without_a_principal_are_refused(full: World) -> None:
    bare = TestClient(create_app(full.lineage.settings, full.store))
    for url in ("/api/v1/transactions/S-A1", "/api/v1/transactions", "/api/v1/metrics/throughput"):
        response = bare.get(url)
        assert response.status_code == 401 and response.headers["www-authenticate"].startswith("Bearer")


def _explain(store: Store, sql: str, params: dict[str, Any]) -> str:
    return "\n".join(str(row[0]) for row in store.query(f"EXPLAIN indexes = 1 {sql}", params))


@pytest.mark.parametrize("scope", [EVERYTHING, LE1.scope, LE1_AMER.scope], ids=["unrestricted", "le", "le+region"])
def test_scoped_lookups_are_primary_key_seeks(full: World, scope: Scope) -> None:
    for sql in (queries.ATTEMPTS, queries.ATTEMPTS_OF_FIRST_HOPS):
        plan = _explain(full.store, sql, {"cid": "S-J", "limit": 10, "hops": 10} | scope.params())
        assert "Condition: (CorrelationId in ['S-J'" in plan.split("PrimaryKey", 1)[1]
    params = {"entity_type": "invoice", "entity_id": "INV-A1", "limit": 5} | scope.params()
    plan = _explain(full.store, queries.ENTITY_CORRELATIONS, params)
    assert "(KeyId in ['INV-A1'" in plan.split("PrimaryKey", 1)[1]


def test_scope_filters_key_tables_in_place(full: World) -> None:
    """The key tables carry the scope columns: no subquery; unrestricted, the predicate folds away."""
    edges = {"ents": [("invoice", "INV-A2")], "limit": 10}
    unrestricted = _explain(full.store, queries.EDGES, edges | EVERYTHING.params())
    scoped = _explain(full.store, queries.EDGES, edges | LE1.scope.params())
    assert "CreatingSets" not in scoped and "has(['LE-1'], toString(LegalEntity))" in scoped
    assert "LegalEntity" not in unrestricted


# -- the query context (issue 22): a legal-entity or region filter is a scope the user chose -----
CONTEXT_ROUTES: list[tuple[str, dict[str, str]]] = [
    *ROUTES,
    ("/api/v1/at-risk", WINDOW),
    ("/api/v1/overview", WINDOW | {"bucket": "1h"}),
    ("/api/v1/metrics/posting-latency/histogram", WINDOW),
    ("/api/v1/kpis", WINDOW | {"bucket": "1h"}),
    ("/api/v1/flows/order_to_cash/waiting", WINDOW),
]
# What each route cannot apply (the echo names it with a reason, only when the filter was set).
NOT_APPLIED = {
    "/api/v1/exceptions": {"flow"},
    "/api/v1/metrics/exception-backlog": {"flow"},
    "/api/v1/at-risk": {"flow"},
    "/api/v1/overview": {"flow"},
    "/api/v1/flows/order_to_cash/waiting": {"system"},
}
# Routes whose flow is their own: the echo names the flow they used.
FLOW_OF = {"/api/v1/flows/order_to_cash/waiting": "order_to_cash"}


@pytest.mark.usefixtures("frozen")
@pytest.mark.parametrize(
    ("filters", "subset"),
    [({"legal_entity": "LE-1"}, "only_le1"), ({"legal_entity": "LE-1", "region": "amer"}, "only_le1_amer")],
)
def test_a_filter_answers_what_the_filtered_hops_answer(
    full: World, filters: dict[str, str], subset: str, request: pytest.FixtureRequest
) -> None:
    sub: World = request.getfixturevalue(subset)
    for url, params in CONTEXT_ROUTES:
        filtered = _get(full, url, **params, **filters)[1]
        over_subset = _get(sub, url, **params)[1]
        echo = filtered.pop("context")
        over_subset.pop("context")
        assert filtered == over_subset, url
        assert (echo["legal_entity"], echo["region"]) == (filters["legal_entity"], filters.get("region")), url
        assert echo["unknown"] == [] and echo["not_applied"] == [], url


@pytest.mark.usefixtures("frozen")
def test_every_figure_route_echoes_its_context(full: World) -> None:
    flows = {"flow": "support_credit", "system": "sap", "region": "emea", "legal_entity": "LE-2"}
    for url, params in CONTEXT_ROUTES:
        for name, value in [*flows.items(), ("all", "")]:
            asked = flows if name == "all" else {name: value}
            if url in FLOW_OF and "flow" in asked:  # a route naming its flow in the path: the same again
                asked = asked | {"flow": FLOW_OF[url]}
            code, doc = _get(full, url, **params, **asked)
            assert code == 200, (url, asked)
            echo = doc["context"]
            assert echo["since"] == params["since"].replace("+00:00", "Z") and echo["until"] == params["until"].replace(
                "+00:00", "Z"
            ), url
            skipped = {n["filter"]: n for n in echo["not_applied"]}
            assert set(skipped) == NOT_APPLIED.get(url, set()) & set(asked), (url, asked)
            assert all(n["reason"] and n["value"] == asked[n["filter"]] for n in skipped.values())
            for key in ("system", "region", "legal_entity"):
                assert echo[key] == asked.get(key), (url, key)
            assert echo["flow"] == FLOW_OF.get(url, asked.get("flow") or echo["flow"]), url
            assert echo["unknown"] == [], (url, asked)
    for url, own in FLOW_OF.items():  # ... and another flow contradicts the path: refused, not ignored
        params = dict(CONTEXT_ROUTES)[url]
        refused = full.client.get(url, params={**params, "flow": "support_credit"}, headers=bearer("admin"))
        assert refused.status_code == 422 and refused.json()["detail"] == (
            f"the path names flow {own!r}; the flow parameter 'support_credit' contradicts it"
        ), refused.text


@pytest.mark.usefixtures("frozen")
def test_an_unknown_value_is_named_never_an_all_clear(full: World) -> None:
    for url, params in CONTEXT_ROUTES:
        doc = _get(full, url, **params, region="emae", legal_entity="LE-1")[1]
        [unknown] = doc["context"]["unknown"]
        assert (unknown["filter"], unknown["value"]) == ("region", "emae"), url
        assert "emea" in unknown["known"] and "amer" in unknown["known"]
    # A value outside the caller's scope is unknown to that caller (and shows nothing).
    doc = _get(full, "/api/v1/at-risk", "le1", **WINDOW, legal_entity="LE-2")[1]
    assert [u["value"] for u in doc["context"]["unknown"]] == ["LE-2"] and doc["items"] == []
    response = full.client.get("/api/v1/overview", params={**WINDOW, "flow": "nope"}, headers=bearer("admin"))
    assert response.status_code == 422 and "unknown flow 'nope'" in response.json()["detail"]


@pytest.mark.usefixtures("frozen")
def test_each_overview_card_is_the_list_behind_it(full: World) -> None:
    """A card and its list are one definition: for several contexts, every card's count and money
    per currency equal the drill-down list (``/at-risk?kind=``) of the same context."""
    half = {"since": (NOW - timedelta(hours=9)).isoformat(), "until": (NOW - timedelta(hours=3)).isoformat()}
    contexts = [WINDOW, WINDOW | {"legal_entity": "LE-2"}, WINDOW | {"region": "amer"}, WINDOW | {"system": "sap"},
                WINDOW | {"flow": "support_credit"}, half]  # fmt: skip
    nonzero = 0
    for ctx in contexts:
        cards = _get(full, "/api/v1/overview", **ctx, bucket="1h")[1]["cards"]
        for kind, card in cards.items():
            items = _get(full, "/api/v1/at-risk", **ctx, kind=kind, limit=10000)[1]["items"]
            assert card["count"] == len(items), (ctx, kind)
            money: dict[str | None, float] = {}
            for i in items:
                money[i["currency"]] = money.get(i["currency"], 0.0) + (i["amount"] or 0.0)
            assert {m["currency"]: m["amount"] for m in card["amounts"]} == pytest.approx(money), (ctx, kind)
            nonzero += card["count"] > 0
    assert nonzero >= 6  # the contexts meet real items, so the comparison is not vacuous


@pytest.mark.parametrize("how", ["keys", "ids", ""])
def test_the_lookup_step_seeks_every_table_by_key_and_keeps_the_scope(full: World, how: str) -> None:
    """Each branch of the one query after the attempts (first stitching step, edges, withheld)
    reads its table by primary key, with the caller's scope in place."""
    params = {"cid": "S-A1", "ids": ["S-A1"], "exclude": ["S-A1"], "limit": 5, "edge_limit": 10}
    params |= {"ents": [("invoice", "INV-A1")], "spans": [("t", "s")], "keys": [("entity", "invoice", "INV-A1")]}
    plan = _explain(full.store, queries.LOOKUP_STEPS[how, True], params | LE1.scope.params())
    reads = plan.split("ReadFromMergeTree")[1:]
    assert len(reads) >= 2
    for read in reads:
        assert "Condition: true" not in read.split("PrimaryKey", 1)[1].split("Granules", 1)[0], read
        if not read.lstrip(" (").split(")", 1)[0].endswith(".hops"):  # withheld: scope in its count
            assert "has(['LE-1'], toString(LegalEntity))" in read.split("PrimaryKey", 1)[0], read
