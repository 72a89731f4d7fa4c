"""The hops a signed period commits to are the period's by its business date, whenever they
arrive: a late invoice and posting dated into a signed period decertify it and are named; a
certificate signed by hop time (the previous release) is still read by hop time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from alerts.kinds import run_rule
from alerts.rules import Rule
from lineage.api.app import create_app
from lineage.auth.principal import Principal
from lineage.close import certificate, service, signoff
from lineage.close import queries as q
from lineage.close.audit import verify_certificates
from lineage.close.config import parse_close
from lineage.close.periods import period as period_of
from lineage.core.flows import load_flows
from lineage.core.scope import EVERYTHING
from lineage.core.timeparse import to_ms, utcnow
from lineage.evidence import merkle
from lineage.evidence.sealer import Sealer
from tests.lineage.close.helpers import World, emitting_store, invoice, month_end, post
from tests.lineage.conftest import make_lineage
from tests.principals import bearer, install

CALENDAR = """
deadline_business_days: 5
materiality: {EUR: 100, USD: 100}
flows: [support_credit]
legal_entities:
  DE01: {time_zone: Europe/Berlin, currency: EUR}
  FR01: {time_zone: Europe/Berlin, currency: EUR}
  US01: {time_zone: America/New_York, currency: USD}
"""
ALICE = Principal("alice@corp.example", "controller", EVERYTHING)
BOB = Principal("bob@corp.example", "controller", EVERYTHING)
H = timedelta(hours=1)

# The previous release's set of a period's hops: those that ended in it (test-local on purpose).
_BY_HOP_TIME = """
SELECT TraceId, SpanId FROM hops WHERE LegalEntity = {le:String}
    AND EndTime >= fromUnixTimestamp64Milli({start_ms:Int64}) AND EndTime < fromUnixTimestamp64Milli({end_ms:Int64})
"""


@pytest.fixture(scope="module")
def world(chdb_path: Path) -> Iterator[World]:
    m = month_end()
    end = m.end_utc
    with emitting_store(chdb_path, "close_hops") as (store, em):
        # DE01 and FR01 (Berlin): one invoice each, posted in the period. US01 (New York): V
        # posted in the period; U and its posting ended in it but are dated the next period.
        invoice(em, "A", "DE01", "eu-west", end - 60 * H, 120.0, "EUR")
        post(em, "A", "DE01", "eu-west", end - 59 * H, 120.0, "EUR")
        invoice(em, "Z", "FR01", "eu-west", end - 50 * H, 80.0, "EUR")
        post(em, "Z", "FR01", "eu-west", end - 49 * H, 80.0, "EUR")
        invoice(em, "V", "US01", "us-east", end - 40 * H, 60.0, "USD")
        post(em, "V", "US01", "us-east", end - 39 * H, 60.0, "USD")
        invoice(em, "U", "US01", "us-east", end - 30 * H, 70.0, "USD", biz_period=m.next_period)
        post(em, "U", "US01", "us-east", end - 29 * H, 70.0, "USD", biz_period=m.next_period)
        em.wait(30)
        close = parse_close(CALENDAR, "calendar", load_flows())
        w = World(store, make_lineage(store), close, m.period, m.next_period, end, em, Ed25519PrivateKey.generate())
        Sealer(store, w.key, margin_s=0).seal_now()
        for le in ("DE01", "FR01"):
            signoff.prepare(w.lineage, close, ALICE, le, m.period)
            assert signoff.review(w.lineage, close, BOB, w.key, le, m.period)["status"] == "signed"
        yield w


def _status(world: World, le: str) -> dict:
    return signoff.status(world.lineage, world.close, ALICE, le, world.period)


def _hops_of(world: World, cid: str) -> set[tuple[str, str]]:
    rows = world.store.query("SELECT TraceId, SpanId FROM hops WHERE CorrelationId = {c:String}", {"c": cid})
    return {(r[0], r[1]) for r in rows}


def _verify(world: World) -> tuple[list[str], list[str]]:
    report = verify_certificates(world.store, [world.key.public_key()], world.close, lambda _: None)
    return report.failures, report.decertified


def test_a_late_pair_dated_into_the_signed_period_decertifies_it_naming_its_hops(world: World) -> None:
    # L and its posting arrive after the end (and after sign-off), both dated the period's last day:
    # posted in time, no break, nothing waits. Only the period's hops change.
    last_day = month_end().last_day
    invoice(world.em, "L", "DE01", "eu-west", world.end_utc + 2 * H, 90.0, "EUR", biz_posting_date=last_day)
    post(world.em, "L", "DE01", "eu-west", world.end_utc + 3 * H, 90.0, "EUR", biz_posting_date=last_day)
    world.em.wait(30)
    unsealed = _status(world, "DE01")
    assert unsealed["status"] == "decertified" and unsealed["sign_off"]["changed"] == ["unsealed"]
    assert unsealed["groups"]["unsealed"]["count"] == 2
    Sealer(world.store, world.key, margin_s=0).seal_now()
    after = _status(world, "DE01")
    assert after["status"] == "decertified" and after["sign_off"]["changed"] == ["hops"], after["sign_off"]
    added = after["sign_off"]["hops"]["added"]
    late = _hops_of(world, "C-L")
    assert added["count"] == 2 and {(i["trace_id"], i["span_id"]) for i in added["items"]} == late
    assert {i["correlation_id"] for i in added["items"]} == {"C-L"}
    assert after["sign_off"]["hops"]["removed"]["count"] == after["sign_off"]["hops"]["altered"]["count"] == 0
    assert [r["action"] for r in after["sign_off"]["rounds"]] == ["prepared", "reviewed"]  # on record
    # the API answers the same names (its response model keeps them)
    de = {"de": Principal("de@test.example", "viewer", EVERYTHING.narrowed("DE01", ""))}
    app = install(create_app(world.lineage.settings, world.store, close=world.close), de)
    with TestClient(app, headers=bearer("de")) as client:
        answer = client.get(f"/api/v1/close/DE01/{world.period}").json()
    assert answer["sign_off"]["hops"]["added"] == added, answer["sign_off"]
    # scope: another entity's period (same zone) is untouched
    assert _status(world, "FR01")["status"] == "signed"
    # verify --store names the hops added since sign-off, for DE01 only
    failures, decertified = _verify(world)
    assert failures == []
    (line,) = [d for d in decertified if f" DE01 {world.period} " in d]
    assert "2 hop(s) added since sign-off" in line and all(f"{t}/{s}" in line for t, s in late)
    assert not [d for d in decertified if " FR01 " in d]
    # the alert names the late transaction
    rule = Rule.model_validate(
        {"name": "Close", "kind": "close", "expr": {"check": "decertified"}, "team": "finance-ops"}
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEDGERLINE_CLOSE", CALENDAR)
        fired = {s.labels["legal_entity"]: s for s in run_rule(world.store, rule, to_ms(utcnow()), flows=load_flows(),
                                                                timeout_s=30)}  # fmt: skip
    assert "DE01" in fired and "C-L" in fired["DE01"].examples and "FR01" not in fired
    cert = signoff.latest_certificate(world.lineage, "DE01", world.period)
    assert cert is not None and cert["figures"]["hops_rule"] == "business_date"  # read again by its rule


def test_a_pair_dated_into_the_next_period_leaves_the_signed_one_alone(world: World) -> None:
    # Y ended in the period but is dated the next one; X ended after the period with no date.
    invoice(world.em, "Y", "FR01", "eu-west", world.end_utc - 2 * H, 40.0, "EUR", biz_period=world.next_period)
    post(world.em, "Y", "FR01", "eu-west", world.end_utc - H, 40.0, "EUR", biz_period=world.next_period)
    invoice(world.em, "X", "FR01", "eu-west", world.end_utc + 2 * H, 30.0, "EUR")
    post(world.em, "X", "FR01", "eu-west", world.end_utc + 3 * H, 30.0, "EUR")
    world.em.wait(30)
    before = _status(world, "FR01")
    assert before["status"] == "signed" and before["groups"]["unsealed"]["count"] == 0, before.get("sign_off")
    following = service.gate(world.lineage, world.close, EVERYTHING.narrowed("FR01", ""), "FR01", world.next_period)
    assert following["groups"]["unsealed"]["count"] == 4  # the next period's: Y's pair by date, X's by time
    Sealer(world.store, world.key, margin_s=0).seal_now()
    after = _status(world, "FR01")
    assert after["status"] == "signed" and after["sign_off"]["changed"] == []
    _, decertified = _verify(world)
    assert not [d for d in decertified if " FR01 " in d]


def test_a_certificate_signed_by_hop_time_is_still_read_by_hop_time(world: World) -> None:
    """A certificate of the previous release (no hops_rule: committed over the hops that ended
    in the period) neither decertifies nor fails verify --store after the upgrade."""
    le, tz = "US01", "America/New_York"
    p = period_of(world.period, tz, world.close.deadline_business_days)
    bounds = {"le": le, "start_ms": p.start_ms, "end_ms": p.end_ms}
    leaves = world.store.query_dicts(
        f"SELECT hex(LeafHash) AS leaf FROM seal_leaves WHERE (TraceId, SpanId) IN ({_BY_HOP_TIME})"
        " ORDER BY TraceId, SpanId LIMIT 1 BY TraceId, SpanId",
        bounds,
    )
    assert len(leaves) == 4  # V's pair and U's (dated the next period, ended in this one)
    gate = service.gate(world.lineage, world.close, EVERYTHING, le, world.period)
    assert gate["status"] == "ready", gate["blocking"]
    groups = {g: {"count": gate["groups"][g]["count"], "money": gate["groups"][g]["money"]} for g in certificate.GROUPS}
    root = merkle.root([bytes.fromhex(r["leaf"]) for r in leaves]).hex()
    figures = {"groups": groups, "hops": 4, "hops_root": root}  # as the previous release froze them
    at = datetime.now(UTC)
    cert = certificate.sign({"legal_entity": le, "period": world.period, "time_zone": tz, "figures": figures,
                             "prepared_by": ALICE.subject, "prepared_at": at.isoformat(), "reviewed_by": BOB.subject,
                             "reviewed_at": at.isoformat()}, world.key)  # fmt: skip
    world.store.command(
        "INSERT INTO close_certified_hops (LegalEntity, Period, Round, TraceId, SpanId, LeafHash) "
        f"SELECT {{le:String}}, {{period:String}}, 1, TraceId, SpanId, LeafHash FROM seal_leaves "
        f"WHERE (TraceId, SpanId) IN ({_BY_HOP_TIME}) LIMIT 1 BY TraceId, SpanId",
        bounds | {"period": world.period},
    )
    rows = [[le, world.period, 1, "prepared", ALICE.subject, at, json.dumps(figures), ""],
            [le, world.period, 1, "reviewed", BOB.subject, at, json.dumps(figures), json.dumps(cert)]]  # fmt: skip
    world.store.insert(q.INSERT_SIGNOFF, rows, q.SIGNOFF_COLUMNS)
    doc = _status(world, le)
    assert doc["status"] == "signed" and doc["sign_off"]["changed"] == [], doc["sign_off"]
    failures, decertified = _verify(world)
    assert not [f for f in failures if f" {le} " in f], failures
    assert not [d for d in decertified if f" {le} " in d]


def test_figures_name_their_rule_and_another_rule_is_a_change_of_hops() -> None:
    gate = {"groups": {g: {"count": 0, "money": []} for g in certificate.GROUPS}}
    leaf = bytes(32)
    now = certificate.figures(gate, [leaf], "business_date")
    assert now["hops_rule"] == "business_date" and certificate.changes(now, now) == []
    # a round prepared by the previous release (no hops_rule: by hop time), reviewed after the
    # upgrade: the same hops by another rule are not the same commitment, so prepare again
    before = {k: v for k, v in now.items() if k != "hops_rule"}
    assert certificate.changes(before, now) == ["hops"]
    kept = [{"trace_id": "t", "span_id": "a", "leaf": "00"}, {"trace_id": "t", "span_id": "b", "leaf": "01"}]
    today = [{"trace_id": "t", "span_id": "b", "leaf": "02", "correlation_id": "C-1"},
             {"trace_id": "t", "span_id": "c", "leaf": "03", "correlation_id": "C-2"}]  # fmt: skip
    assert certificate.hop_changes(kept, today) == {
        "added": [{"trace_id": "t", "span_id": "c", "correlation_id": "C-2"}],
        "removed": [{"trace_id": "t", "span_id": "a", "correlation_id": ""}],
        "altered": [{"trace_id": "t", "span_id": "b", "correlation_id": "C-1"}],
    }


def test_a_certificate_naming_a_rule_this_release_does_not_know_is_named_not_trusted(world: World) -> None:
    """A validly signed certificate whose figures name an unknown ``hops_rule`` (a newer release's)
    cannot be read again here: the gate shows the period decertified with ``hops_rule`` as the
    change, and verify --store fails it with the rule's name, never reading it by another rule."""
    le, tz = "FR01", "Europe/Berlin"
    period = (datetime.strptime(world.period + "-01", "%Y-%m-%d") - timedelta(days=1)).strftime("%Y-%m")
    groups = {g: {"count": 0, "money": []} for g in certificate.GROUPS}
    figures = {"groups": groups, "hops": 0, "hops_root": merkle.root([]).hex(), "hops_rule": "ledger_date"}
    at = datetime.now(UTC)
    cert = certificate.sign({"legal_entity": le, "period": period, "time_zone": tz, "figures": figures,
                             "prepared_by": ALICE.subject, "prepared_at": at.isoformat(), "reviewed_by": BOB.subject,
                             "reviewed_at": at.isoformat()}, world.key)  # fmt: skip
    assert certificate.verify(cert, world.key.public_key()) == []  # the signature itself is sound
    rows = [[le, period, 1, "prepared", ALICE.subject, at, json.dumps(figures), ""],
            [le, period, 1, "reviewed", BOB.subject, at, json.dumps(figures), json.dumps(cert)]]  # fmt: skip
    world.store.insert(q.INSERT_SIGNOFF, rows, q.SIGNOFF_COLUMNS)
    try:
        doc = signoff.status(world.lineage, world.close, ALICE, le, period)
        assert doc["status"] == "decertified", doc.get("sign_off")
        assert doc["sign_off"]["changed"] == ["hops_rule"]
        assert all(doc["sign_off"]["hops"][k]["count"] == 0 for k in ("added", "removed", "altered"))
        failures, _ = _verify(world)
        (line,) = [f for f in failures if f" {le} {period} " in f]
        assert "unknown hops_rule 'ledger_date'" in line and "known: hop_time, business_date" in line
    finally:  # the module's other tests read this entity's certificates
        drop = "DELETE FROM close_signoffs WHERE LegalEntity = {le:String} AND Period = {p:String}"
        world.store.command(drop, {"le": le, "p": period})
    assert not [f for f in _verify(world)[0] if f" {le} {period} " in f]
