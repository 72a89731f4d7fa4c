"""Sealing: every hop sealed exactly once, late hops in the next seal, seals chained and
signed; ``verify --store`` names the seal and hop of every change behind the sealer's back."""

from __future__ import annotations

import pytest

from collector.store import Store
from lineage.core.service import Lineage
from lineage.evidence.audit import verify_store
from lineage.evidence.errors import VerificationFailed
from lineage.evidence.keys import public_pem
from lineage.evidence.record import GENESIS
from lineage.evidence.service import EvidenceService
from lineage.evidence.verify import verify_pack
from tests.lineage.helpers import HOUR, Emitter, complete_txn, now_ns

_COPY = "INSERT INTO hops SELECT * REPLACE (now64(3) AS IngestedAt) FROM hops WHERE SpanId = {span:String} LIMIT 1"
_LATE = (
    "INSERT INTO hops (CorrelationId, TraceId, SpanId, EntityType, EntityId, Step, StartTime, EndTime, IngestedAt) "
    "VALUES ('C-1', 'late-trace', 'late-span', 'case', 'CASE-L', 'case.opened', now64(9), now64(9), "
    "fromUnixTimestamp64Milli({at_ms:Int64}))"
)


def _leaves(store: Store) -> list[tuple[str, str, int]]:
    return [tuple(r) for r in store.query("SELECT TraceId, SpanId, Sequence FROM sealed_spans ORDER BY Sequence")]


def test_each_hop_is_sealed_once_and_late_hops_land_in_the_next_seal(
    emitter: Emitter, evidence: EvidenceService, evidence_store: Store
) -> None:
    store = evidence_store
    complete_txn(emitter, "C-1", now_ns() - 2 * HOUR)
    emitter.wait()
    first = evidence.sealer.seal_now()
    assert first is not None and first.leaf_count == 4 and first.sequence == 1 and first.prev_hash == GENESIS
    assert evidence.sealer.seal_now() is None  # nothing new
    span = store.query("SELECT SpanId FROM hops ORDER BY SpanId LIMIT 1")[0][0]
    # A duplicate delivery of a sealed span is never a second leaf.
    store.command(_COPY, {"span": span})
    assert evidence.sealer.seal_now() is None
    # A row committed after the seal but stamped before its cutoff (an insert in flight).
    store.command(_LATE, {"at_ms": first.window_end_ms - 500})
    second = evidence.sealer.seal_now()
    assert second is not None and second.leaf_count == 1 and second.prev_hash == first.hash
    leaves = _leaves(store)
    assert len(leaves) == len({(t, s) for t, s, _ in leaves}) == 5
    assert [s for _, s, q in leaves if q == 2] == ["late-span"]
    assert verify_store(store, evidence.public).hops == 5


def test_leaves_of_an_unfinished_seal_are_replaced(
    emitter: Emitter, evidence: EvidenceService, evidence_store: Store, lineage: Lineage
) -> None:
    emitter.hop("C-2", "case", "CASE-2", "case.opened", now_ns() - HOUR)
    emitter.wait()
    # A crash after writing leaves of seal 1 but before its seal row.
    evidence_store.command(
        "INSERT INTO seal_leaves (Sequence, LeafIndex, TraceId, SpanId, CorrelationId, LeafHash, SealedAt) "
        "SELECT 1, 0, TraceId, SpanId, CorrelationId, unhex(repeat('00', 32)), now64(3) FROM hops"
    )
    seal = evidence.sealer.seal_now()
    assert seal is not None and seal.sequence == 1 and seal.leaf_count == 1
    assert evidence_store.query("SELECT count() FROM seal_leaves") == [(1,)]
    pack = evidence.pack(lineage, "C-2")
    assert pack is not None and verify_pack(pack, public_pem(evidence.public)).hops == 1


@pytest.fixture
def sealed_store(emitter: Emitter, evidence: EvidenceService, evidence_store: Store) -> Store:
    """Two transactions in two seals, verified clean."""
    complete_txn(emitter, "C-A", now_ns() - 3 * HOUR, n="A")
    emitter.wait()
    evidence.sealer.seal_now()
    complete_txn(emitter, "C-B", now_ns() - 2 * HOUR, n="B")
    emitter.wait()
    evidence.sealer.seal_now()
    lines: list[str] = []
    report = verify_store(evidence_store, evidence.public, progress=lines.append, batch_leaves=3)
    assert (report.seals, report.hops, report.latest) == (2, 8, 2) and len(lines) == 2
    return evidence_store


def _fails(store: Store, evidence: EvidenceService, named: str) -> str:
    with pytest.raises(VerificationFailed) as failed:
        verify_store(store, evidence.public)
    assert failed.value.check.startswith(named), str(failed.value)
    return str(failed.value)


def _span(store: Store, entity_id: str) -> str:
    return str(store.query("SELECT SpanId FROM hops WHERE EntityId = {e:String}", {"e": entity_id})[0][0])


def test_store_verification_names_a_changed_hop(sealed_store: Store, evidence: EvidenceService) -> None:
    span = _span(sealed_store, "INV-B")
    sealed_store.command(
        "ALTER TABLE hops UPDATE Amount = 1.0 WHERE SpanId = {s:String} SETTINGS mutations_sync = 2", {"s": span}
    )
    assert "changed since it was sealed" in _fails(sealed_store, evidence, "seal 2, hop ")
    assert span in _fails(sealed_store, evidence, "seal 2")


def test_store_verification_names_a_deleted_hop(sealed_store: Store, evidence: EvidenceService) -> None:
    span = _span(sealed_store, "CASE-A")
    sealed_store.command("ALTER TABLE hops DELETE WHERE SpanId = {s:String} SETTINGS mutations_sync = 2", {"s": span})
    message = _fails(sealed_store, evidence, "seal 1, hop ")
    assert span in message and "deleted" in message


def test_store_verification_names_a_hop_inserted_into_a_sealed_window(
    sealed_store: Store, evidence: EvidenceService
) -> None:
    sealed_store.command(
        "INSERT INTO hops SELECT * REPLACE ('forged' AS SpanId, now64(3) - INTERVAL 1 HOUR AS IngestedAt) "
        "FROM hops WHERE EntityId = 'LED-A' LIMIT 1"
    )
    message = _fails(sealed_store, evidence, "seal ")
    assert "forged" in message and "in no seal" in message


def test_store_verification_names_a_forged_seal(sealed_store: Store, evidence: EvidenceService) -> None:
    sealed_store.command("ALTER TABLE seals UPDATE LeafCount = 5 WHERE Sequence = 1 SETTINGS mutations_sync = 2")
    _fails(sealed_store, evidence, "signature of seal 1")


def test_store_verification_names_a_changed_leaf_table(sealed_store: Store, evidence: EvidenceService) -> None:
    sealed_store.command(
        "ALTER TABLE seal_leaves DELETE WHERE Sequence = 2 AND LeafIndex = 0 SETTINGS mutations_sync = 2"
    )
    _fails(sealed_store, evidence, "seal 2")


def test_store_verification_reads_the_copy_of_a_hop_ingested_last(
    sealed_store: Store, evidence: EvidenceService
) -> None:
    """A sealed hop delivered again unchanged verifies; a later copy that differs is the hop now,
    and fails naming it (the leaf is recomputed from the copy ingested last)."""
    span = _span(sealed_store, "INV-A")
    sealed_store.command(_COPY, {"span": span})
    assert verify_store(sealed_store, evidence.public).hops == 8
    sealed_store.command(
        "INSERT INTO hops SELECT * REPLACE (now64(3) + INTERVAL 1 SECOND AS IngestedAt, 2.0 AS Amount) "
        "FROM hops WHERE SpanId = {span:String} LIMIT 1",
        {"span": span},
    )
    message = _fails(sealed_store, evidence, "seal 1, hop ")
    assert span in message and "changed since it was sealed" in message


def test_store_verification_names_a_leaf_listed_twice(sealed_store: Store, evidence: EvidenceService) -> None:
    sealed_store.command("INSERT INTO seal_leaves SELECT * FROM seal_leaves WHERE Sequence = 1 AND LeafIndex = 0")
    assert "no longer give the signed root" in _fails(sealed_store, evidence, "seal 1")
