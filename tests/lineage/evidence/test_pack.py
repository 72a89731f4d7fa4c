"""Evidence packs from hops sent through the real SDK and collector, verified offline; every
class of tampering is caught and named."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.settings import StoreSettings
from collector.store import Store, open_store
from ledgerline.schema import migrate_all
from lineage.core.service import Lineage
from lineage.evidence.audit import verify_store
from lineage.evidence.canonical import UNSEALED_HOP_FIELDS
from lineage.evidence.errors import NotSealed, VerificationFailed
from lineage.evidence.keys import public_pem
from lineage.evidence.record import Seal
from lineage.evidence.service import EvidenceService
from lineage.evidence.verify import verify_pack
from tests.conftest import start_collector
from tests.lineage.conftest import make_lineage
from tests.lineage.evidence.conftest import make_service
from tests.lineage.helpers import HOUR, MIN, Emitter, complete_txn, now_ns

Pack = dict[str, Any]


@dataclass
class World:
    """Three sealed transactions (one failed with retries, one completed by a batch journal)
    in three seals, their packs, and the services that made them."""

    store: Store
    lineage: Lineage
    evidence: EvidenceService
    packs: dict[str, Pack]


def _build(em: Emitter, evidence: EvidenceService, lineage: Lineage) -> dict[str, Pack]:
    t0 = now_ns() - 6 * HOUR
    complete_txn(em, "C-OK", t0, n="OK", amount=120.5)
    em.wait()
    assert evidence.sealer.seal_now() is not None
    em.hop("C-BAD", "case", "CASE-B", "case.opened", t0, system="zendesk")
    for i in range(2):
        em.hop("C-BAD", "ledger", "LED-B", "ledger.posted", t0 + (i + 1) * MIN, system="sap",
               outcome="failed", category="tax_error", amount=9.99, currency="EUR")  # fmt: skip
    em.hop("C-ADOPT", "case", "CASE-A", "case.opened", t0, system="zendesk")
    em.hop("C-ADOPT", "credit", "CR-A", "credit.approved", t0 + MIN, parent=("case", "CASE-A"))
    em.hop("C-ADOPT", "invoice", "INV-A", "invoice.issued", t0 + 2 * MIN, parent=("credit", "CR-A"))
    em.wait()
    assert evidence.sealer.seal_now() is not None
    # The posting of C-ADOPT's invoice happens in a batch journal with its own correlation ID.
    em.hop("J-A", "ledger", "JNL-A", "ledger.posted", t0 + 3 * MIN, parent=("invoice", ["INV-A"]),
           flow="erp_journal", system="sap")  # fmt: skip
    em.wait()
    assert evidence.sealer.seal_now() is not None
    packs = {cid: evidence.pack(lineage, cid) for cid in ("C-OK", "C-BAD", "C-ADOPT")}
    return {k: json.loads(json.dumps(v)) for k, v in packs.items() if v is not None}  # as a file carries it


@pytest.fixture(scope="module")
def world(chdb_path: Path) -> Iterator[World]:
    """Built once per module on a database of its own."""
    database = f"evidence_pack_{os.getpid()}"
    store = open_store(StoreSettings(clickhouse_url=f"chdb://{chdb_path}", clickhouse_database=database))
    migrate_all(store)
    running = start_collector(store)
    em = Emitter(f"http://127.0.0.1:{running.http_port}/v1/traces", store)
    try:
        lineage, evidence = make_lineage(store), make_service(store, Ed25519PrivateKey.generate())
        yield World(store, lineage, evidence, _build(em, evidence, lineage))
    finally:
        em.close()
        running.stop()
        store.command("DROP DATABASE IF EXISTS {db:Identifier}", {"db": database})


@pytest.fixture
def sealed(world: World) -> dict[str, Pack]:
    """The packs of the module's world."""
    assert set(world.packs) == {"C-OK", "C-BAD", "C-ADOPT"}
    return world.packs


@pytest.fixture
def evidence(world: World) -> EvidenceService:
    """The module's evidence service."""
    return world.evidence


def _trusted(evidence: EvidenceService) -> str:
    return public_pem(evidence.public)


def test_valid_packs_verify_offline(sealed: dict[str, Pack], evidence: EvidenceService) -> None:
    ok = verify_pack(sealed["C-OK"], _trusted(evidence))
    assert (ok.hops, ok.seals, ok.status, ok.latest_sequence) == (4, 1, "complete", 3)
    assert [s["sequence"] for s in sealed["C-OK"]["seals"]] == [1, 2, 3]  # the chain to the latest seal
    bad = verify_pack(sealed["C-BAD"], _trusted(evidence))
    assert (bad.hops, bad.status) == (3, "failed")
    adopted = verify_pack(sealed["C-ADOPT"], _trusted(evidence))
    assert adopted.status == "complete" and len(sealed["C-ADOPT"]["adopted_hops"]) == 1
    assert ok.fingerprint == evidence.fingerprint and "OK C-OK: 4 hops in 1 seal(s)" in ok.text()


def _seal_resigned(pack: Pack, index: int, key: Ed25519PrivateKey, **changes: Any) -> None:
    seal, _ = Seal.from_json(pack["seals"][index])
    seal = Seal(**{**seal.__dict__, **changes})
    pack["seals"][index] = seal.to_json(seal.sign(key))


def _flip(value: str) -> str:
    return ("1" if value[0] == "0" else "0") + value[1:]


def _hop(pack: Pack, entity_type: str) -> dict[str, Any]:
    return next(h for h in pack["hops"] if h["record"]["EntityType"] == entity_type)


def _doc_hop(pack: Pack, entity_type: str) -> dict[str, Any]:
    return next(h for h in pack["document"]["hops"] if h["entity_type"] == entity_type)


TAMPERING: dict[str, tuple[Callable[[Pack], None], str]] = {
    "hop amount": (lambda p: _hop(p, "credit")["record"].update(Amount=1205.0), "inclusion proof of hop"),
    "hop entity": (lambda p: _hop(p, "case")["record"].update(EntityId="CASE-X"), "inclusion proof of hop"),
    "hop time": (lambda p: _hop(p, "ledger")["record"].update(EndTime=1), "inclusion proof of hop"),
    "hop parent list": (lambda p: _hop(p, "credit")["record"]["ParentIds"].append("X"), "inclusion proof of hop"),
    "proof node": (
        lambda p: _hop(p, "case")["proof"].__setitem__(0, _flip(_hop(p, "case")["proof"][0])),
        "inclusion proof of hop",
    ),
    "leaf index": (
        lambda p: _hop(p, "case").update(leaf_index=_hop(p, "case")["leaf_index"] ^ 1),
        "inclusion proof of hop",
    ),
    "seal root": (lambda p: p["seals"][0].update(root=_flip(p["seals"][0]["root"])), "signature of seal 1"),
    "seal count": (lambda p: p["seals"][0].update(leaf_count=p["seals"][0]["leaf_count"] + 1), "signature of seal 1"),
    "signature": (lambda p: p["seals"][1].update(signature=_flip(p["seals"][1]["signature"])), "signature of seal 2"),
    "seal hash": (lambda p: p["seals"][1].update(seal_hash=_flip(p["seals"][1]["seal_hash"])), "chain link 2"),
    "missing link": (lambda p: p["seals"].pop(1), "chain link 3"),
    "document status": (lambda p: p["document"].update(status="in_flight"), "status is 'in_flight'"),
    "document amount": (lambda p: _doc_hop(p, "invoice").update(amount=1.0), "amount of invoice INV-OK"),
    "document outcome": (lambda p: _doc_hop(p, "ledger").update(outcome="failed"), "outcome of ledger LED-OK"),
    "document duration": (
        lambda p: _doc_hop(p, "ledger").update(duration_ms=_doc_hop(p, "ledger")["duration_ms"] + 1),
        "duration_ms of ledger LED-OK",
    ),
    "document attempt": (
        lambda p: _doc_hop(p, "case")["attempt_list"][0].update(span_id="0" * 16),
        "attempt_list of case CASE-OK",
    ),
    "document unsealed field": (
        lambda p: _doc_hop(p, "case").update(approved_by="auditor"),
        "approved_by of case CASE-OK",
    ),
    "document extra hop": (
        lambda p: p["document"]["hops"].append(dict(_doc_hop(p, "case"), entity_id="CASE-Z")),
        "document disagrees",
    ),
    "hop left out": (lambda p: p["hops"].remove(_hop(p, "ledger")), "document disagrees with the sealed hops: hops"),
    "format": (lambda p: p.update(format="v0"), "format"),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_each_kind_of_tampering_is_named(sealed: dict[str, Pack], evidence: EvidenceService, case: str) -> None:
    pack = copy.deepcopy(sealed["C-OK"])
    tamper, named = TAMPERING[case]
    tamper(pack)
    with pytest.raises(VerificationFailed) as failed:
        verify_pack(pack, _trusted(evidence))
    assert str(failed.value).startswith(named) or named in str(failed.value), str(failed.value)


def _changed(value: Any) -> Any:
    return (
        value + "x" if isinstance(value, str)
        else [*value, "x"] if isinstance(value, list)
        else 7.0 if value is None
        else value + 1
    )  # fmt: skip


def test_every_field_of_every_hop_and_seal_is_covered(sealed: dict[str, Pack], evidence: EvidenceService) -> None:
    pack = sealed["C-OK"]
    for i, hop in enumerate(pack["document"]["hops"]):
        assert set(hop) >= {"duration_ms", "attempt_list"}
        for field, value in hop.items():
            changed = copy.deepcopy(pack)
            changed["document"]["hops"][i][field] = _changed(value)
            with pytest.raises(VerificationFailed, match="document disagrees"):
                verify_pack(changed, _trusted(evidence))
        for j, attempt in enumerate(hop["attempt_list"]):
            for field, value in attempt.items():
                changed = copy.deepcopy(pack)
                changed["document"]["hops"][i]["attempt_list"][j][field] = _changed(value)
                with pytest.raises(VerificationFailed, match="document disagrees"):
                    verify_pack(changed, _trusted(evidence))
    for i, hop in enumerate(pack["hops"]):
        for field, value in hop["record"].items():
            changed = copy.deepcopy(pack)
            changed["hops"][i]["record"][field] = _changed(value)
            with pytest.raises(VerificationFailed, match="inclusion proof"):
                verify_pack(changed, _trusted(evidence))
    for i, seal in enumerate(pack["seals"]):
        for field, value in seal.items():
            changed = copy.deepcopy(pack)
            changed["seals"][i][field] = value + 1 if isinstance(value, int) else _flip(value)
            with pytest.raises(VerificationFailed):
                verify_pack(changed, _trusted(evidence))


def test_another_key_is_refused(sealed: dict[str, Pack], evidence: EvidenceService) -> None:
    other = Ed25519PrivateKey.generate()
    with pytest.raises(VerificationFailed, match=r"^public key"):
        verify_pack(sealed["C-OK"], public_pem(other.public_key()))
    # A forger re-signing with their own key and shipping their public key is still refused.
    forged = copy.deepcopy(sealed["C-OK"])
    forged["public_key"] = public_pem(other.public_key())
    for i in range(len(forged["seals"])):
        _seal_resigned(forged, i, other)
    with pytest.raises(VerificationFailed, match=r"^public key"):
        verify_pack(forged, _trusted(evidence))


def test_adoption_and_failures_are_checked(sealed: dict[str, Pack], evidence: EvidenceService) -> None:
    without = copy.deepcopy(sealed["C-ADOPT"])
    without["adopted_hops"] = []  # the journal that completed the ledger stage is withheld
    with pytest.raises(VerificationFailed, match="status is 'complete'"):
        verify_pack(without, _trusted(evidence))
    hidden = copy.deepcopy(sealed["C-BAD"])
    hidden["document"]["status"] = "complete"
    with pytest.raises(VerificationFailed, match="status"):
        verify_pack(hidden, _trusted(evidence))


def test_unsealed_hops_are_not_exported(emitter: Emitter, lineage: Lineage, evidence_store: Store) -> None:
    evidence = make_service(evidence_store, Ed25519PrivateKey.generate())
    emitter.hop("C-NEW", "case", "CASE-N", "case.opened", now_ns() - HOUR)
    emitter.wait()
    with pytest.raises(NotSealed, match="1 hop"):
        evidence.pack(lineage, "C-NEW")
    assert evidence.pack(lineage, "NO-SUCH") is None
    evidence.sealer.seal_now()
    pack = evidence.pack(lineage, "C-NEW")
    assert pack is not None and verify_pack(pack, _trusted(evidence)).hops == 1


def test_evidence_survives_raw_span_expiry(world: World) -> None:
    world.store.command("TRUNCATE TABLE otel_traces")
    assert world.store.query("SELECT count() FROM otel_traces") == [(0,)]
    pack = world.evidence.pack(world.lineage, "C-OK")
    assert pack is not None
    assert verify_pack(json.loads(json.dumps(pack)), _trusted(world.evidence)).status == "complete"
    assert verify_store(world.store, world.evidence.public).hops == 11


def test_unsealed_compensation_links_are_left_out_and_refused(
    sealed: dict[str, Pack], evidence: EvidenceService
) -> None:
    """Compensation links are not in the canonical record yet: a pack leaves them out, and a
    pack that carries one is refused, so it never shows what its seals do not prove."""
    pack = copy.deepcopy(sealed["C-OK"])
    assert all(not set(UNSEALED_HOP_FIELDS) & set(h) for h in pack["document"]["hops"])
    pack["document"]["hops"][0]["compensates"] = "ledger:LED-1"
    with pytest.raises(VerificationFailed, match=r"compensates of .* is not sealed"):
        verify_pack(pack, _trusted(evidence))
