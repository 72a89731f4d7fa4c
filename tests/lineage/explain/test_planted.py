"""Planted causes are found: postings fail in one region from a given time (an ERP outage), for
one ``service.version`` (a bad deploy) and for one currency; "why?" names the planted value at
rank 1 with its exact money, and the change point lands within two buckets of the fault's start.
Hops go through the real SDK and collector into the embedded store; the service answers."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from collector.service import UvicornThread
from ledgerline.cli import main
from lineage.api.app import create_app
from lineage.core.scope import EVERYTHING, Scope
from lineage.core.shape import iso
from lineage.core.window import Window
from lineage.explain import queries as q
from lineage.explain import service
from lineage.explain.cli import render
from lineage.explain.errors import ExplainError
from tests.lineage.auth.helpers import issue
from tests.lineage.explain.planted import Plant, World
from tests.lineage.helpers import HOUR
from tests.principals import bearer, install


def _ask(world: World, plant: Plant, scope: Scope = EVERYTHING, **kw: str) -> dict:
    question = service.Question(
        kw.get("subject", "failed"), kw.get("baseline", "rest"), "support_credit", kw.get("stage", "ledger"), "",
        plant.window(),
    )  # fmt: skip
    return service.explain(world.lineage, scope, question)


def _top(doc: dict) -> tuple[str, str]:
    first = doc["findings"][0]["dimensions"][0]
    return first["dimension"], first["value"]


def _money(finding: dict) -> dict[str, float]:
    return {m["currency"]: m["amount"] for m in finding["money_at_risk"]}


def _near(doc: dict, plant: Plant) -> None:
    cp = doc["change_point"]
    assert cp is not None, "no change point found"
    at_ns = int(datetime.fromisoformat(cp["at"].replace("Z", "+00:00")).timestamp()) * 10**9
    assert abs(at_ns - plant.fault_ns) <= 2 * cp["bucket_ms"] * 1_000_000, (cp["at"], plant.fault_ns)


def test_an_outage_in_one_region_is_found_with_its_money_and_start(world: World) -> None:
    doc = _ask(world, world.outage)
    assert _top(doc) == ("region", "amer")
    top = doc["findings"][0]
    assert top["share_selection"] > top["share_baseline"] and top["p_value"] <= doc["level"]
    # Every failed amer posting of the window: the planted ones and the background ones before.
    assert _money(top) == {c: round(a, 2) for c, a in world.outage.failed["amer"].items()}
    assert top["listing"]["exact"] and "region=amer" in top["listing"]["url"]
    _near(doc, world.outage)
    jumped = {(v["dimension"], v["value"]) for v in doc["change_point"]["values"] if v["how"] == "jumped"}
    assert ("region", "amer") in jumped and ("region", "emea") not in jumped


def test_a_bad_deploy_is_found_by_its_service_version_and_start(world: World) -> None:
    doc = _ask(world, world.deploy)
    assert _top(doc) == ("resource.service.version", "2.5.0")
    assert doc["findings"][0]["listing"]["exact"] is False  # no list takes a version: said, not hidden
    _near(doc, world.deploy)
    assert {"dimension": "resource.service.version", "value": "2.5.0"} in [
        {"dimension": v["dimension"], "value": v["value"]} for v in doc["change_point"]["values"]
    ]


def test_a_rejected_currency_is_found_with_exactly_its_money(world: World) -> None:
    doc = _ask(world, world.currency)
    assert _top(doc) == ("currency", "GBP")
    top = doc["findings"][0]
    total = sum(m["amount"] for m in doc["selection"]["money_at_risk"] if m["currency"] == "GBP")
    assert _money(top) == {"GBP": round(total, 2)} == {"GBP": round(world.currency.failed["GBP"]["GBP"], 2)}
    assert doc["change_point"] is None  # GBP failed all along: nothing started in the window


def test_the_previous_window_as_baseline_names_what_changed(world: World) -> None:
    # The three hours after the deploy against the three hours before: the new version.
    since = world.deploy.fault_ns // 1_000_000
    window = Window(since, since + 3 * HOUR // 1_000_000, 100)
    question = service.Question("failed", "previous", "support_credit", "ledger", "", window)
    doc = service.explain(world.lineage, EVERYTHING, question)
    assert doc["baseline"] == "previous" and doc["baseline_count"] > 0
    assert _top(doc) == ("resource.service.version", "2.5.0")
    assert doc["findings"][0]["share_baseline"] == 0.0  # it did not exist before


def test_scope_applies_in_sql(world: World) -> None:
    emea = Scope(regions=("emea",))
    doc = _ask(world, world.outage, scope=emea)
    assert all(f["dimensions"][0] != {"dimension": "region", "value": "amer"} for f in doc["findings"])
    everything = _ask(world, world.outage)
    assert doc["selection"]["count"] < everything["selection"]["count"]


def test_unknown_subject_baseline_or_stage_is_refused(world: World) -> None:
    for kw, word in (({"subject": "sad"}, "subject"), ({"baseline": "last"}, "baseline"), ({"stage": "nope"}, "stage")):
        with pytest.raises(ExplainError, match=word):
            _ask(world, world.outage, **kw)


@pytest.mark.parametrize("subject", ["slow", "stuck", "breached"])
def test_every_subject_answers_with_its_unit_and_consistent_counts(world: World, subject: str) -> None:
    doc = _ask(world, world.outage, subject=subject, stage="" if subject != "slow" else "ledger")
    assert doc["unit"] == ("entity_step" if subject == "slow" else "transaction")
    for f in doc["findings"]:
        assert 0 < f["selection_count"] <= doc["selection"]["count"] and f["p_value"] <= doc["level"]
        assert f["baseline_count"] <= doc["baseline_count"]
    if subject == "stuck":
        w = world.outage.window()
        window = Window(w.since_ms, w.until_ms, service.MAX_SELECTION)
        listed = world.lineage.transactions(EVERYTHING, window, "stuck", "support_credit", "", "")
        assert doc["selection"]["count"] == len(listed["transactions"])


def test_the_route_answers_with_its_context_and_refuses_bad_questions(world: World) -> None:
    app = install(create_app(world.lineage.settings, world.store))
    w = world.outage.window()
    window = {"since": iso(w.since_ms), "until": iso(w.until_ms)}
    with TestClient(app, headers=bearer("admin")) as client:
        ok = client.get("/api/v1/explain", params={"subject": "failed", "stage": "ledger", **window})
        assert ok.status_code == 200, ok.text
        doc = ok.json()
        assert doc["context"]["flow"] == "support_credit" and doc["findings"][0]["dimensions"][0]["value"] == "amer"
        for params, word in (({"subject": "sad"}, "subject"), ({"subject": "failed", "stage": "x"}, "stage"),
                             ({"subject": "failed", "flow": "nope"}, "flow"), ({}, "subject")):  # fmt: skip
            bad = client.get("/api/v1/explain", params={**window, **params})
            assert bad.status_code == 422 and word in bad.text, bad.text
        # a viewer scoped to emea gets findings over emea's hops only
        emea = client.get(
            "/api/v1/explain", params={"subject": "failed", "stage": "ledger", **window}, headers=bearer("emea")
        )
        assert emea.status_code == 200
        assert all(f["dimensions"][0]["value"] != "amer" for f in emea.json()["findings"])
        assert emea.json()["selection"]["count"] < doc["selection"]["count"]


def test_slow_postings_are_explained_by_the_version_that_made_them_slow(world: World) -> None:
    doc = _ask(world, world.deploy, subject="slow")
    assert doc["selection"]["count"] > 0 and _top(doc) == ("resource.service.version", "2.5.0")


def test_the_cli_prints_the_findings_from_a_real_api(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    server = UvicornThread(create_app(world.lineage.settings, world.store), "127.0.0.1", 0)
    server.start()
    token = issue(world.store, "viewer", "cli@test.example")
    w = world.outage.window()
    api = [
        "--api",
        f"http://127.0.0.1:{server.port}",
        "--token",
        token,
        "--since",
        iso(w.since_ms),
        "--until",
        iso(w.until_ms),
    ]
    try:
        assert main(["explain", "failed", "--stage", "ledger", *api]) == 0
        out = capsys.readouterr().out
        first = next(line for line in out.splitlines() if line.lstrip().startswith("1 "))
        assert "region=amer" in first and "EUR" in first and "started " in out
        assert main(["explain", "failed", "--stage", "ledger", "--json", *api]) == 0
        assert json.loads(capsys.readouterr().out)["findings"][0]["dimensions"][0]["value"] == "amer"
        assert main(["explain", "failed", "--stage", "nope", *api]) == 2
        assert "unknown stage 'nope'" in capsys.readouterr().err
    finally:
        server.stop()


def test_a_pair_that_explains_more_than_either_part_is_named(world: World) -> None:
    doc = _ask(world, world.pair)
    named = [{(d["dimension"], d["value"]) for d in p["dimensions"]} for p in doc["pairs"]]
    assert {("region", "apac"), ("currency", "USD")} in named, doc["pairs"]
    pair = doc["pairs"][named.index({("region", "apac"), ("currency", "USD")})]
    singles = {f["dimensions"][0]["value"]: f for f in doc["findings"]}
    lift = pair["share_selection"] / max(pair["share_baseline"], 1e-9)
    for part in ("apac", "USD"):
        assert lift >= 1.5 * singles[part]["share_selection"] / singles[part]["share_baseline"]
    assert _money(pair) == {"USD": round(world.pair.failed["apac/USD"]["USD"], 2)}


def test_slow_compares_durations_and_finds_the_legal_entity_that_grew_slower(world: World) -> None:
    # LE-2's postings are half again slower from the fault on (a shift of about one spread):
    # a two-sample test of its durations against the rest's names it, with both distributions.
    doc = _ask(world, world.latency, subject="slow")
    assert doc["test"].startswith("Kolmogorov-Smirnov two-sample test")
    assert _top(doc) == ("legal_entity", "LE-2"), doc["findings"]
    top = doc["findings"][0]
    assert top["p_value"] <= doc["level"]
    lat = top["latency"]
    assert lat["median_ms"] > 1.2 * lat["median_baseline_ms"] and lat["sampled"] > 100 and lat["sampled_baseline"] > 100
    assert {f["dimensions"][0]["value"] for f in doc["findings"]}.isdisjoint({"LE-1", "LE-3", "emea", "amer", "apac"})
    first = next(line for line in render(doc).splitlines() if line.lstrip().startswith("1 "))
    assert "legal_entity=LE-2" in first and f"(median {lat['median_ms']:,.0f} vs" in first
    # against the previous window (the same six hours before): LE-2 again, against its own past
    before = _ask(world, world.latency, subject="slow", baseline="previous")
    assert before["findings"] == [] or _top(before) == ("legal_entity", "LE-2")


def test_a_calm_window_has_no_finding_and_no_change_point(world: World) -> None:
    for subject in ("failed", "slow"):
        doc = _ask(world, world.calm, subject=subject)
        assert doc["selection"]["count"] > 0
        assert doc["findings"] == [] and doc["pairs"] == [], (subject, doc["findings"])
        assert doc["change_point"] is None, subject


def test_the_answer_carries_the_subjects_series_the_change_point_is_drawn_on(world: World) -> None:
    doc = _ask(world, world.outage)
    series = doc["series"]
    assert len(series) == 24 and doc["bucket_ms"] == 6 * HOUR // 1_000_000 // 24
    assert sum(p["subject"] for p in series) == doc["selection"]["count"]
    assert sum(p["units"] for p in series) == doc["selection"]["count"] + doc["baseline_count"]
    assert doc["change_point"]["at"] in [p["at"] for p in series]
    at = [p["at"] for p in series].index(doc["change_point"]["at"])
    before = sum(p["subject"] for p in series[:at]) / sum(p["units"] for p in series[:at])
    assert before == pytest.approx(doc["change_point"]["rate_before"], abs=1e-4)


def test_pairs_read_the_attributes_only_when_a_pair_names_one(world: World) -> None:
    question = service.Question("failed", "rest", "support_credit", "ledger", "", world.deploy.window())
    params, kind, subject, _ = service._params(world.lineage, EVERYTHING, question)
    version = (("resource.service.version", "2.5.0"), ("step", "ledger.posted"))
    region = (("region", "amer"), ("step", "ledger.posted"))
    counts = {}
    for attrs in (True, False):
        rows = world.store.query_dicts(q.pairs(kind, subject, "rest", attrs), params | {"pairs": [version, region]})
        counts[attrs] = {(r["dim_a"], r["value_a"]): (int(r["sel_n"]), int(r["base_n"])) for r in rows}
    assert counts[True][("region", "amer")] == counts[False][("region", "amer")]  # fixed dims: the same answer
    assert counts[True][("resource.service.version", "2.5.0")][0] > 0
    assert ("resource.service.version", "2.5.0") not in counts[False]  # which is why a pair naming one asks for them


def test_pairs_computing_only_the_dimensions_they_name_count_as_with_every_dimension(world: World) -> None:
    question = service.Question("failed", "rest", "support_credit", "ledger", "", world.deploy.window())
    params, kind, subject, _ = service._params(world.lineage, EVERYTHING, question)
    version = ("resource.service.version", "2.5.0")
    wanted = [(version, ("step", "ledger.posted")), (("region", "amer"), ("currency", "USD")), (version, version)]

    def counts(dims: set[str] | None, pairs: list) -> dict:
        rows = world.store.query_dicts(q.pairs(kind, subject, "rest", True, dims), params | {"pairs": pairs})
        return {
            (r["dim_a"], r["value_a"], r["dim_b"], r["value_b"]): (r["sel_n"], r["base_n"], r["money"]) for r in rows
        }

    every = counts(None, wanted)
    assert len(every) == 3 and all(sel for sel, _, _ in every.values())
    assert counts({"step", "region", "currency", version[0]}, wanted) == every
    assert counts(set(), wanted[2:]) == {k: v for k, v in every.items() if k[0] == k[2]}  # attributes only


def test_slow_samples_do_not_depend_on_how_the_aggregation_is_split(world: World) -> None:
    """The same question gets the same samples (so the same KS findings) whether ClickHouse
    aggregates in one thread or in many small blocks merged in any order."""
    question = service.Question("slow", "rest", "support_credit", "", "", world.latency.window())
    params, kind, subject, _ = service._params(world.lineage, EVERYTHING, question)
    sql = q.grid(kind, subject, "rest") + ", max_threads = {threads:UInt32}, max_block_size = {block:UInt64}"
    bound = params | {"bucket_ms": 15 * 60_000}

    def samples(threads: int, block: int) -> dict[tuple[str, str], tuple[list[float], list[float]]]:
        rows = world.store.query_dicts(sql, bound | {"threads": threads, "block": block})
        return {(r["dim"], r["value"]): (r["durs"], r["durs_prev"]) for r in rows if r["part"] == 3}

    one = samples(1, 65_536)
    assert len(one[("*", "*")][0]) == q.SAMPLE  # more units than a sample holds: the choice matters
    for _ in range(3):
        assert samples(8, 16) == one
