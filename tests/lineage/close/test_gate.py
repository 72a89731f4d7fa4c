"""The close gate on hand-built hops around a month end, in two time zones: known answers for
each blocking group, the period cut in the legal entity's zone, sealing, scope, and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from alerts.kinds import run_rule
from alerts.model import Sample
from alerts.rules import Rule
from collector.service import UvicornThread
from ledgerline.cli import main
from lineage.api.app import create_app
from lineage.close import certificate, service
from lineage.close.audit import verify_certificates
from lineage.close.config import parse_close
from lineage.close.errors import CloseConfigError
from lineage.core.flows import load_flows
from lineage.core.scope import EVERYTHING
from lineage.core.timeparse import to_ms
from lineage.evidence.keys import public_pem
from lineage.evidence.sealer import Sealer
from tests.lineage.auth.helpers import issue
from tests.lineage.close.helpers import World, emitting_store, invoice, month_end, post
from tests.lineage.conftest import make_lineage
from tests.lineage.evidence.conftest import make_service
from tests.principals import Principal, bearer, install

CALENDAR = """
deadline_business_days: 5
materiality: {EUR: 100, USD: 100}
flows: [support_credit]
legal_entities:
  DE01: {time_zone: Europe/Berlin, currency: EUR}
  US01: {time_zone: America/New_York, currency: USD}
"""


@pytest.fixture(scope="module")
def world(chdb_path: Path) -> Iterator[World]:
    m = month_end()
    end_utc, prev = m.end_utc, m.period
    h = timedelta(hours=1)
    with emitting_store(chdb_path, "close") as (store, em):
        # DE01 (Berlin): A posted in the period; B never posted; C issued in the period's last
        # local hour, posted after its end (a cut-off break); D issued 30 minutes after the
        # end in Berlin (still the old month in UTC): next period; E's posting failed (an
        # exception), below materiality.
        invoice(em, "A", "DE01", "eu-west", end_utc - 60 * h, 120.0, "EUR")
        post(em, "A", "DE01", "eu-west", end_utc - 59 * h, 120.0, "EUR")
        invoice(em, "B", "DE01", "eu-west", end_utc - 30 * h, 500.0, "EUR")
        invoice(em, "C", "DE01", "eu-west", end_utc - h / 2, 250.0, "EUR")
        post(em, "C", "DE01", "eu-west", end_utc + 10 * h, 250.0, "EUR")
        invoice(em, "D", "DE01", "eu-west", end_utc + h / 2, 75.0, "EUR")
        invoice(em, "E", "DE01", "eu-west", end_utc - 20 * h, 50.0, "EUR")
        post(em, "E", "DE01", "eu-west", end_utc - 19 * h, 50.0, "EUR", outcome="failed")
        # US01 (New York): F issued and posted in the period's last local hours, after the
        # Berlin end: November in New York.
        invoice(em, "F", "US01", "us-east", end_utc + 3 * h, 900.0, "USD")
        post(em, "F", "US01", "us-east", end_utc + 4 * h, 900.0, "USD")
        em.wait(30)
        close = parse_close(CALENDAR, "calendar", load_flows())
        key = Ed25519PrivateKey.generate()
        yield World(store, make_lineage(store), close, prev, m.next_period, end_utc, em, key)


def _money(group: dict) -> dict[str | None, float]:
    return {m["currency"]: m["amount"] for m in group["money"]}


def test_known_answers_of_every_group_in_the_entitys_time_zone(world: World) -> None:
    gate = service.gate(world.lineage, world.close, EVERYTHING, "DE01", world.period)
    g = gate["groups"]
    assert (g["not_posted"]["count"], _money(g["not_posted"])) == (2, {"EUR": 550.0})  # B and E, not D
    assert {i["business_key"] for i in g["not_posted"]["items"]} == {"invoice:INV-B", "invoice:INV-E"}
    assert (g["cut_off"]["count"], _money(g["cut_off"])) == (1, {"EUR": 250.0})
    assert [i["business_key"] for i in g["cut_off"]["items"]] == ["invoice:INV-C"]
    excs = g["open_exceptions"]
    assert excs["count"] == 1 and excs["by_category"][0]["category"] == "tax_error"
    assert excs["by_category"][0]["recoverable"] is False and _money(excs) == {"EUR": 50.0}
    assert g["unsealed"]["count"] == 6  # A, A's posting, B, C, E, E's posting: D is December's
    # invoice_to_ledger (the flows file's reconciliation) breaks on B and E: issued, not on the ledger
    breaks = g["reconciliation_breaks"]
    assert (breaks["count"], _money(breaks)) == (2, {"EUR": 550.0})
    assert {(b["business_key"], b["kind"]) for b in breaks["items"]} == {
        ("invoice:INV-B", "left_only"),
        ("invoice:INV-E", "left_only"),
    }
    assert g["missing_journals"]["count"] == 0  # the calendar expects none
    assert gate["status"] == "blocked"
    assert set(gate["blocking"]) == {"not_posted", "cut_off", "reconciliation_breaks", "unsealed"}
    assert gate["end"] == world.end_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    following = service.gate(world.lineage, world.close, EVERYTHING, "DE01", world.next_period)
    assert following["status"] == "open"
    assert {i["business_key"] for i in following["groups"]["not_posted"]["items"]} == {"invoice:INV-D"}


def test_an_entity_with_nothing_material_left_is_ready_once_sealed(world: World) -> None:
    before = service.gate(world.lineage, world.close, EVERYTHING, "US01", world.period)
    assert before["status"] == "blocked" and before["blocking"] == ["unsealed"]
    assert before["groups"]["unsealed"]["count"] == 2  # New York's month ends five hours after Berlin's
    Sealer(world.store, world.key, margin_s=0).seal_now()
    after = service.gate(world.lineage, world.close, EVERYTHING, "US01", world.period)
    assert after["status"] == "ready" and after["blocking"] == [] and after["groups"]["unsealed"]["count"] == 0
    assert after["days_to_deadline"] == before["days_to_deadline"]


def test_scope_and_bad_questions_over_http(world: World) -> None:
    de = {"de": Principal("de@test.example", "viewer", EVERYTHING.narrowed("DE01", ""))}
    app = install(create_app(world.lineage.settings, world.store, close=world.close), de)
    with TestClient(app, headers=bearer("de")) as client:
        listed = client.get("/api/v1/close", params={"period": world.period}).json()
        assert [g["legal_entity"] for g in listed["gates"]] == ["DE01"]
        assert client.get(f"/api/v1/close/US01/{world.period}").status_code == 404
        assert client.get(f"/api/v1/close/DE01/{world.period}").json()["groups"]["cut_off"]["count"] == 1
        for path, word in (("/api/v1/close/DE01/2026-13", "YYYY-MM"), ("/api/v1/close?period=nov", "YYYY-MM")):
            bad = client.get(path)
            assert bad.status_code == 422 and word in bad.text, bad.text


def test_the_calendar_is_checked_with_one_line_per_problem() -> None:
    flows = load_flows()
    for text, words in (
        ("legal_entities: {DE01: {time_zone: Europe/Berlinn, currency: EUR}}", "unknown time zone 'Europe/Berlinn'"),
        ("legal_entities: {DE01: {time_zone: UTC, currency: EURO}}", "ISO 4217"),
        ("legal_entities: {DE01: {time_zone: UTC, currency: EUR}}\nflows: [nope]", "unknown flow 'nope'"),
        ("legal_entities: {}", "at least one legal entity"),
    ):
        with pytest.raises(CloseConfigError, match=words) as err:
            parse_close(text, "close.yaml", flows)
        assert str(err.value).startswith("close.yaml, line ") and "\n" not in str(err.value)


def test_the_cli_prints_the_gates(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    server = UvicornThread(create_app(world.lineage.settings, world.store, close=world.close), "127.0.0.1", 0)
    server.start()
    token = issue(world.store, "viewer", "cli@test.example")
    api = ["--api", f"http://127.0.0.1:{server.port}", "--token", token]
    try:
        assert main(["close", "status", "--period", world.period, *api]) == 0
        out = capsys.readouterr().out
        de = next(line for line in out.splitlines() if line.startswith("DE01"))
        assert "blocked" in de and "cut_off" in de
        assert main(["close", "status", "--period", world.period, "--legal-entity", "US01", "--json", *api]) == 0
        assert '"legal_entity": "US01"' in capsys.readouterr().out
    finally:
        server.stop()


PEOPLE = {
    "alice": Principal("alice@corp.example", "controller", EVERYTHING),
    "alice-again": Principal("Alice@Corp.Example", "controller", EVERYTHING),
    "bob": Principal("bob@corp.example", "controller", EVERYTHING),
    "viewer": Principal("vic@corp.example", "viewer", EVERYTHING),
    "olga": Principal("olga@corp.example", "operator", EVERYTHING),
}


def test_sign_off_four_eyes_certificate_and_decertification(world: World, tmp_path: Path) -> None:
    Sealer(world.store, world.key, margin_s=0).seal_now()
    evidence = make_service(world.store, world.key, margin_s=0)
    app = install(create_app(world.lineage.settings, world.store, close=world.close, evidence=evidence), PEOPLE)
    us, de = f"/api/v1/close/US01/{world.period}", f"/api/v1/close/DE01/{world.period}"
    with TestClient(app) as client:
        assert client.post(f"{de}/prepare", headers=bearer("alice")).status_code == 409  # blocked
        assert client.post(f"{us}/prepare", headers=bearer("viewer")).status_code == 403  # viewers do not act
        # operators act on exceptions and replays; signing the period is the controllers'
        refused = client.post(f"{us}/prepare", headers=bearer("olga"))
        assert refused.status_code == 403 and "close" in refused.text, refused.text
        prepared = client.post(f"{us}/prepare", headers=bearer("alice"))
        assert prepared.status_code == 200 and prepared.json()["status"] == "ready", prepared.text
        for same in ("alice", "alice-again"):  # four-eyes, whatever the spelling of the subject
            refused = client.post(f"{us}/review", headers=bearer(same))
            assert refused.status_code == 403 and "four-eyes" in refused.text
        signed = client.post(f"{us}/review", headers=bearer("bob"))
        assert signed.status_code == 200 and signed.json()["status"] == "signed", signed.text
        cert = client.get(f"{us}/certificate", headers=bearer("viewer")).json()
        assert (cert["prepared_by"], cert["reviewed_by"]) == ("alice@corp.example", "bob@corp.example")
        assert cert["figures"]["hops"] == 2 and cert["figures"]["groups"]["not_posted"]["count"] == 0
        # offline: the certificate verifies with the seal public key; any altered field is named
        pem = tmp_path / "seal.pub"
        pem.write_text(public_pem(world.key.public_key()))
        path = tmp_path / "cert.json"
        path.write_text(json.dumps(cert))
        assert main(["close", "verify", str(path), "--public-key", str(pem)]) == 0
        for field, value in (("reviewed_by", "mallory@corp.example"), ("figures", {**cert["figures"], "hops": 1})):
            path.write_text(json.dumps(cert | {field: value}))
            assert main(["close", "verify", str(path), "--public-key", str(pem)]) == 1
        assert certificate.verify(cert | {"prepared_by": "x"}, world.key.public_key()) == [
            "prepared_by: altered since signing"
        ]
        other = Ed25519PrivateKey.generate().public_key()
        assert certificate.verify(cert, other)[0].startswith("key_fingerprint")
        # a late invoice of the signed period decertifies it; the sign-off stays on record
        late = world.end_utc + timedelta(hours=4, minutes=30)  # 23:30 in New York on the last day
        invoice(world.em, "G", "US01", "us-east", late, 300.0, "USD")
        world.em.wait(30)
        after = client.get(us, headers=bearer("alice")).json()
        assert after["status"] == "decertified" and "not_posted" in after["sign_off"]["changed"]
        assert [r["action"] for r in after["sign_off"]["rounds"]] == ["prepared", "reviewed"]
        assert client.get(f"{us}/certificate", headers=bearer("viewer")).json() == cert


def test_close_rules_fire_for_a_blocked_period_and_a_decertified_one(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # After the sign-off test: DE01 is blocked, US01 was signed, then decertified by a late invoice.
    monkeypatch.setenv("LEDGERLINE_CLOSE", CALENDAR)
    # The days left depend on the clock: on and past the deadline day no lead is "not yet". The
    # gate's clock is set 2.5 days before DE01's deadline (after every hop of the world, still in
    # the month after the period), so both answers are checked whatever day the tests run.
    deadline = service.gate(world.lineage, world.close, EVERYTHING, "DE01", world.period)["deadline"]
    now = to_ms(datetime.fromisoformat(deadline)) - int(2.5 * 86_400_000)
    monkeypatch.setattr(service, "utcnow", lambda: datetime.fromtimestamp(now / 1000, UTC))
    flows = load_flows()

    def fired(expr: dict[str, object]) -> dict[str, Sample]:
        rule = Rule.model_validate({"name": "Close", "kind": "close", "expr": expr, "team": "finance-ops"})
        return {s.labels["legal_entity"]: s for s in run_rule(world.store, rule, now, flows=flows, timeout_s=30)}

    at_risk = fired({"check": "at_risk", "days_before": 400})
    assert set(at_risk) == {"DE01"} and at_risk["DE01"].labels["period"] == world.period
    de = service.gate(world.lineage, world.close, EVERYTHING, "DE01", world.period)
    assert de["days_to_deadline"] == 3 and at_risk["DE01"].value == 3 and "C-B" in at_risk["DE01"].examples
    assert fired({"check": "at_risk", "days_before": de["days_to_deadline"] - 1}) == {}  # not yet
    decertified = fired({"check": "decertified"})
    assert set(decertified) == {"US01"} and decertified["US01"].examples == ("C-G",)
    with pytest.raises(ValueError, match="not in the close calendar"):
        fired({"check": "decertified", "legal_entity": "XX01"})


def test_verify_store_names_hops_added_since_sign_off_and_fails_on_removed_ones(world: World) -> None:
    # Runs last: it deletes a certified hop. US01 was signed, then a late invoice (C-G) came in.
    Sealer(world.store, world.key, margin_s=0).seal_now()
    lines: list[str] = []
    report = verify_certificates(world.store, [world.key.public_key()], world.close, lines.append)
    assert report.checked == 1 and report.failures == [], report.failures
    assert len(report.decertified) == 1 and "1 hop(s) added since sign-off" in report.decertified[0]
    late = world.store.query("SELECT TraceId, SpanId FROM hops WHERE EntityId = 'INV-G'")[0]
    assert f"{late[0]}/{late[1]}" in report.decertified[0]
    posted = world.store.query("SELECT TraceId, SpanId FROM hops WHERE EntityId = 'LED-F'")[0]
    world.store.command("ALTER TABLE hops DELETE WHERE EntityId = 'LED-F' SETTINGS mutations_sync = 2")
    tampered = verify_certificates(world.store, [world.key.public_key()], world.close, lines.append)
    assert tampered.failures == [
        f"close certificate US01 {world.period} round 1: 1 certified hop(s) removed: {posted[0]}/{posted[1]}"
    ]
    other = verify_certificates(world.store, [Ed25519PrivateKey.generate().public_key()], world.close, lines.append)
    assert other.failures == [
        f"close certificate US01 {world.period} round 1: key_fingerprint: not a key of the seal key chain"
    ]
