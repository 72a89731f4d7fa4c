"""Seal key changes: another or a recreated key is refused at start, an explicit rotation
(signed by the old key and the new) hands over and the chain verifies across it, a forged
rotation is refused at start and by verification; truncation is caught with an anchor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from collector.store import Store
from collector.store.errors import ConfigError
from ledgerline.cli import main
from ledgerline.schema import migrate_all
from lineage.api.app import create_app
from lineage.auth.principal import Principal
from lineage.core.service import Lineage
from lineage.evidence.audit import verify_store
from lineage.evidence.errors import VerificationFailed, WrongSealKey
from lineage.evidence.keyring import rotate, write_rotation
from lineage.evidence.keys import KEY_FILE, fingerprint, init_keys, public_pem, raw_public
from lineage.evidence.record import GENESIS
from lineage.evidence.rotation import Rotation, SignedRotation
from lineage.evidence.sealer import latest_seal
from lineage.evidence.service import EvidenceService
from lineage.evidence.settings import EvidenceSettings
from lineage.evidence.verify import verify_pack
from tests.lineage.evidence.conftest import make_service
from tests.lineage.helpers import HOUR, Emitter, complete_txn, now_ns
from tests.principals import as_principal

_SYNC = "SETTINGS mutations_sync = 2"


def _seal_txn(emitter: Emitter, evidence: EvidenceService, cid: str, n: str, hours_ago: int = 3) -> str:
    complete_txn(emitter, cid, now_ns() - hours_ago * HOUR, n=n)
    emitter.wait()
    seal = evidence.sealer.seal_now()
    assert seal is not None
    return seal.hash.hex()


@pytest.fixture
def sealed(emitter: Emitter, evidence: EvidenceService, evidence_store: Store) -> Store:
    """Two transactions in two seals under the ``evidence`` fixture's key."""
    _seal_txn(emitter, evidence, "C-A", "A", 3)
    _seal_txn(emitter, evidence, "C-B", "B", 2)
    return evidence_store


def _refusal(store: Store, key: Ed25519PrivateKey) -> str:
    with pytest.raises(ConfigError) as refused:
        make_service(store, key)
    message = str(refused.value)
    assert "\n" not in message
    return message


def test_another_key_on_a_sealed_store_is_refused(sealed: Store, key: Ed25519PrivateKey) -> None:
    other = Ed25519PrivateKey.generate()
    message = _refusal(sealed, other)
    assert f"{fingerprint(other.public_key())[:16]}… is not the store's seal key" in message
    assert f"{fingerprint(key.public_key())[:16]}… (which signed the latest seal 2)" in message
    assert "ledgerline keys rotate --old-key OLD.key --new-key NEW.key" in message
    make_service(sealed, key)  # the key that signed it starts


def test_a_missing_or_recreated_key_file_is_refused(sealed: Store, key: Ed25519PrivateKey, tmp_path: Path) -> None:
    settings = EvidenceSettings(
        clickhouse_url=sealed.dsn, clickhouse_database=sealed.database, data_dir=tmp_path, seal_interval_s=3600
    )
    with pytest.raises(ConfigError, match=r"^no seal key at .*seal\.key, but the store's seals are signed by key "):
        EvidenceService(settings, sealed)
    assert not (tmp_path / KEY_FILE).exists()  # no fresh key made behind the operator's back
    init_keys(tmp_path)  # recreated by hand
    with pytest.raises(ConfigError, match=r"^seal key .*seal\.key \(.*\) is not the store's seal key"):
        EvidenceService(settings, sealed)


def test_rotation_hands_over_and_the_chain_verifies_across_it(
    emitter: Emitter, evidence: EvidenceService, sealed: Store, key: Ed25519PrivateKey, lineage: Lineage
) -> None:
    new = Ed25519PrivateKey.generate()
    signed = rotate(sealed, key, new)
    r = signed.rotation
    assert (r.rotation, r.after_sequence, r.prev_hash) == (1, 2, GENESIS)
    latest = latest_seal(sealed)
    assert latest is not None and r.seal_hash == latest.seal.hash
    # The old key no longer starts, nor seals in a process that still holds it.
    assert "(named by rotation record 1 after seal 2)" in _refusal(sealed, key)
    emitter.hop("C-STALE", "case", "CASE-S", "case.opened", now_ns() - HOUR)
    emitter.wait()
    with pytest.raises(WrongSealKey, match="is not the store's seal key"):
        evidence.sealer.seal_now()
    # The new key starts and seals on the same chain.
    successor = make_service(sealed, new)
    third = successor.sealer.seal_now()
    assert third is not None and third.prev_hash == latest.seal.hash
    assert third.key_fingerprint.hex() == fingerprint(new.public_key())
    # The store verifies across the change with either key, not with a stranger's.
    for trusted in (new, key):
        report = verify_store(sealed, trusted.public_key())
        assert (report.seals, report.rotations, report.latest) == (3, 1, 3)
    with pytest.raises(VerificationFailed, match=r"^public key"):
        verify_store(sealed, Ed25519PrivateKey.generate().public_key())
    # Packs: one sealed under the old key, one under the new; both verify with either public key.
    for cid in ("C-A", "C-STALE"):
        pack = json.loads(json.dumps(successor.pack(lineage, cid)))
        assert pack["key_fingerprint"] == fingerprint(new.public_key()) and len(pack["rotations"]) == 1
        for trusted in (key, new):
            summary = verify_pack(pack, public_pem(trusted.public_key()))
            assert summary.rotations == 1 and "across 1 key rotation(s)" in summary.text()
    # A second rotation chains to the first; the retired key cannot rotate again.
    with pytest.raises(ConfigError, match="is not the store's seal key"):
        rotate(sealed, key, Ed25519PrivateKey.generate())
    third_key = Ed25519PrivateKey.generate()
    assert rotate(sealed, new, third_key).rotation.prev_hash == r.hash
    make_service(sealed, third_key)
    assert verify_store(sealed, key.public_key()).rotations == 2


def test_a_pack_across_a_rotation_without_its_record_is_refused(
    evidence: EvidenceService, sealed: Store, key: Ed25519PrivateKey, lineage: Lineage, emitter: Emitter
) -> None:
    new = Ed25519PrivateKey.generate()
    rotate(sealed, key, new)
    successor = make_service(sealed, new)
    _seal_txn(emitter, successor, "C-C", "C", 1)
    pack = successor.pack(lineage, "C-A")
    assert pack is not None
    stripped = {**pack, "rotations": []}
    with pytest.raises(VerificationFailed, match=r"^public key"):  # the old key is not the pack's key
        verify_pack(stripped, public_pem(key.public_key()))
    with pytest.raises(VerificationFailed, match=r"^key of seal 1"):  # the old seals are not the new key's
        verify_pack(stripped, public_pem(new.public_key()))


def _forge(store: Store, old: bytes, signer_old: Ed25519PrivateKey, new: Ed25519PrivateKey) -> None:
    """A rotation record after the latest seal claiming to hand over from ``old``, signed by ``signer_old``."""
    latest = latest_seal(store)
    assert latest is not None
    rotation = Rotation(1, latest.seal.sequence, latest.seal.hash, GENESIS, old, raw_public(new.public_key()), 0)
    write_rotation(store, SignedRotation.make(rotation, signer_old, new))


def test_a_forged_rotation_is_refused_at_start_and_by_verification(
    evidence: EvidenceService, sealed: Store, key: Ed25519PrivateKey, lineage: Lineage
) -> None:
    forger = Ed25519PrivateKey.generate()
    _forge(sealed, raw_public(key.public_key()), forger, forger)  # names the real key, signed by another
    message = _refusal(sealed, forger)
    assert message.startswith("the store's seal key rotation records do not verify (rotation 1: is not signed by")
    assert "rotation records do not verify" in _refusal(sealed, key)  # loud for the real key too
    with pytest.raises(VerificationFailed, match=r"^rotation 1: is not signed by the key it hands over from"):
        verify_store(sealed, key.public_key())
    pack = evidence.pack(lineage, "C-A")  # a pack carries the store's rotation records
    with pytest.raises(VerificationFailed, match=r"^rotation 1: is not signed by the key it hands over from"):
        verify_pack(pack, public_pem(key.public_key()))
    with pytest.raises(WrongSealKey, match="rotation records do not verify"):
        evidence.sealer.seal_now()
    with pytest.raises(ConfigError, match="rotation records do not verify"):
        rotate(sealed, key, Ed25519PrivateKey.generate())


def test_a_rotation_from_a_key_that_never_sealed_is_refused(sealed: Store, key: Ed25519PrivateKey) -> None:
    forger = Ed25519PrivateKey.generate()
    _forge(sealed, raw_public(forger.public_key()), forger, Ed25519PrivateKey.generate())  # self-consistent
    assert "seal 2: is not signed by the key the rotation records put in force" in _refusal(sealed, forger)
    with pytest.raises(VerificationFailed, match=r"^public key"):
        verify_store(sealed, key.public_key())
    with pytest.raises(VerificationFailed, match=r"^signature of seal 1"):
        verify_store(sealed, forger.public_key())


def _truncate(store: Store, sequence: int) -> None:
    """Delete seal ``sequence`` and everything it sealed, as an intruder covering tracks would."""
    spans = [
        tuple(r)
        for r in store.query("SELECT TraceId, SpanId FROM seal_leaves WHERE Sequence = {q:UInt64}", {"q": sequence})
    ]
    assert spans
    store.command(
        f"ALTER TABLE hops DELETE WHERE (TraceId, SpanId) IN {{s:Array(Tuple(String, String))}} {_SYNC}", {"s": spans}
    )
    for table in ("seals", "seal_leaves", "sealed_spans"):
        store.command(f"ALTER TABLE {table} DELETE WHERE Sequence >= {{q:UInt64}} {_SYNC}", {"q": sequence})


def test_truncation_passes_alone_but_not_against_an_anchor(
    emitter: Emitter, evidence: EvidenceService, evidence_store: Store, key: Ed25519PrivateKey
) -> None:
    first = _seal_txn(emitter, evidence, "C-A", "A", 3)
    anchor = _seal_txn(emitter, evidence, "C-B", "B", 2)
    assert verify_store(evidence_store, key.public_key(), anchors=[anchor, first]).anchored == (1, 2)
    _truncate(evidence_store, 2)
    # The limit: what is left is a valid, shorter chain.
    assert verify_store(evidence_store, key.public_key()).latest == 1
    with pytest.raises(VerificationFailed) as failed:
        verify_store(evidence_store, key.public_key(), anchors=[anchor])
    assert failed.value.check == "anchor"
    assert anchor in failed.value.detail and "the latest seal is 1" in failed.value.detail
    assert verify_store(evidence_store, key.public_key(), anchors=[first.upper()]).anchored == (1,)


def test_an_anchor_before_since_extends_the_walk(
    emitter: Emitter, evidence: EvidenceService, evidence_store: Store, key: Ed25519PrivateKey
) -> None:
    first = _seal_txn(emitter, evidence, "C-A", "A", 3)
    latest = _seal_txn(emitter, evidence, "C-B", "B", 2)
    since = latest_seal(evidence_store)
    assert since is not None
    only_latest = verify_store(evidence_store, key.public_key(), since_ms=since.seal.window_end_ms)
    assert (only_latest.first, only_latest.seals) == (2, 1)
    report = verify_store(evidence_store, key.public_key(), since_ms=since.seal.window_end_ms, anchors=[first])
    assert (report.first, report.seals, report.anchored) == (1, 2, (1,)) and report.latest_hash == latest
    # A seal row claiming the anchored hash does not pass: the walk recomputes it.
    evidence_store.command(f"ALTER TABLE seals UPDATE LeafCount = 9 WHERE Sequence = 1 {_SYNC}")
    with pytest.raises(VerificationFailed, match=r"^signature of seal 1"):
        verify_store(evidence_store, key.public_key(), since_ms=since.seal.window_end_ms, anchors=[first])


def test_a_store_sealed_before_rotation_records_opens_and_verifies(
    emitter: Emitter, evidence: EvidenceService, evidence_store: Store, key: Ed25519PrivateKey, lineage: Lineage
) -> None:
    _seal_txn(emitter, evidence, "C-A", "A", 3)
    # As the release before rotation records left it: no table, no migration 162.
    evidence_store.command("DROP TABLE seal_rotations")
    evidence_store.command(f"ALTER TABLE schema_migrations DELETE WHERE version = 162 {_SYNC}")
    assert verify_store(evidence_store, key.public_key()).seals == 1
    service = make_service(evidence_store, key)
    pack = service.pack(lineage, "C-A")
    assert pack is not None and pack["rotations"] == []
    del pack["rotations"]  # a pack written before rotation records
    assert verify_pack(pack, public_pem(key.public_key())).rotations == 0
    assert "is not the store's seal key" in _refusal(evidence_store, Ed25519PrivateKey.generate())
    with pytest.raises(ConfigError, match="run `ledgerline migrate` first"):
        rotate(evidence_store, key, Ed25519PrivateKey.generate())
    assert migrate_all(evidence_store) == [162]
    assert verify_store(evidence_store, key.public_key()).seals == 1
    rotate(evidence_store, key, Ed25519PrivateKey.generate())


def test_rotation_needs_a_chain_and_two_keys(evidence_store: Store, key: Ed25519PrivateKey) -> None:
    with pytest.raises(ConfigError, match="nothing is sealed yet"):
        rotate(evidence_store, key, Ed25519PrivateKey.generate())
    with pytest.raises(ConfigError, match="the new key is the old key"):
        rotate(evidence_store, key, key)


def _key_file(key: Ed25519PrivateKey, directory: Path) -> Path:
    directory.mkdir()
    path = directory / KEY_FILE
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)
    (directory / "seal.pub").write_text(public_pem(key.public_key()))
    return path


def test_cli_anchors_and_rotation(
    sealed: Store,
    key: Ed25519PrivateKey,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LEDGERLINE_CLICKHOUSE_URL", sealed.dsn)
    monkeypatch.setenv("LEDGERLINE_CLICKHOUSE_DATABASE", sealed.database)
    old = _key_file(key, tmp_path / "old")
    monkeypatch.setenv("LEDGERLINE_SEAL_KEY", str(old))
    latest = latest_seal(sealed)
    assert latest is not None
    anchor = latest.stored_hash
    kept = tmp_path / "anchors"  # what a cron job appends: /api/v1/seals/latest, one JSON per line
    kept.write_text(json.dumps(latest.to_json()) + "\n")

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = run("verify", "--store", "--anchor", anchor)
    assert code == 0 and out.startswith("OK 2 seals (1-2)") and "anchored seal(s) 2 in the chain" in out
    assert run("verify", "--store", "--anchor-file", str(kept))[0] == 0
    for argv, expected in (
        (("verify", "--store", "--anchor", "beef"), "ledgerline verify: --anchor 'beef' is not a seal hash"),
        (("verify", "pack.json", "--anchor", anchor), "ledgerline verify: --anchor and --anchor-file check"),
        (("verify", "--store", "--anchor-file", str(tmp_path / "none")), "ledgerline verify: cannot read"),
    ):
        code, out, err = run(*argv)
        assert (code, out) == (2, "") and err.startswith(expected) and len(err.strip().splitlines()) == 1, err

    _truncate(sealed, 2)
    code, out, _ = run("verify", "--store")
    assert code == 0 and out.startswith("OK 1 seals (1-1)")  # the documented limit
    code, out, err = run("verify", "--store", "--anchor-file", str(kept))
    assert code == 1 and out.startswith(f"FAILED anchor: no seal in the store has the anchored hash {anchor}")
    assert "Traceback" not in err

    new = tmp_path / "new"
    init_keys(new)
    code, _, err = run("keys", "rotate", "--old-key", str(new / KEY_FILE), "--new-key", str(old))
    assert code == 2 and err.startswith("ledgerline: error: the old key (") and len(err.strip().splitlines()) == 1
    code, out, _ = run("keys", "rotate", "--old-key", str(old), "--new-key", str(new / KEY_FILE))
    assert code == 0 and out.startswith(f"rotation 1: seal key {fingerprint(key.public_key())} hands over to ")
    assert "after seal 1" in out
    for pub in (new / "seal.pub", tmp_path / "old" / "seal.pub"):
        code, out, _ = run("verify", "--store", "--public-key", str(pub))
        assert code == 0 and "across 1 key rotation(s)" in out, out


def test_a_retired_key_gets_409_from_the_seal_route(
    sealed: Store, evidence: EvidenceService, key: Ed25519PrivateKey, lineage: Lineage
) -> None:
    rotate(sealed, key, Ed25519PrivateKey.generate())
    app = create_app(lineage.settings, lineage.store, evidence=evidence)
    with TestClient(as_principal(app, Principal("root@ops", "admin"))) as client:
        answer = client.post("/api/v1/seals")
    assert answer.status_code == 409 and "is not the store's seal key" in answer.json()["detail"]
    evidence.final_seal()  # at stop: logged, not raised
