"""Which key may seal a store: the check at start, and explicit rotation (``keys rotate``).

A seal chain has one key at a time. A process whose key is not the one that signed the
latest seal (or that a rotation record after it names) would sign seals no auditor's key
verifies, so it is refused before anything listens; a new key takes over only through a
rotation record signed by the old key and the new one (lineage/evidence/rotation.py).
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.store import Store
from collector.store.errors import ConfigError
from lineage.evidence import queries
from lineage.evidence.errors import VerificationFailed
from lineage.evidence.keys import fingerprint
from lineage.evidence.rotation import Expected, SignedRotation, expected_signer, key_chain, rotation_for
from lineage.evidence.sealer import StoredSeal, latest_seal, stored_rotations

ROTATE = "ledgerline keys rotate --old-key OLD.key --new-key NEW.key"


def _expected(records: list[SignedRotation], last: StoredSeal | None) -> Expected | None:
    try:
        return expected_signer(key_chain(records), last.seal if last else None)
    except VerificationFailed as exc:
        raise ConfigError(
            f"the store's seal key rotation records do not verify ({exc}); run `ledgerline verify --store`"
        ) from None


def check_key(store: Store, key_fingerprint: str | None, path: Path | None) -> None:
    """Refuse a seal key that is not the store's current one (``key_fingerprint`` None: no key file yet)."""
    expected = _expected(stored_rotations(store), latest_seal(store))
    if expected is None or expected.fingerprint == key_fingerprint:
        return
    theirs = f"{expected.fingerprint[:16]}… ({expected.reason})"
    if key_fingerprint is None:
        raise ConfigError(
            f"no seal key at {path}, but the store's seals are signed by key {theirs}: restore that key "
            f"(or point LEDGERLINE_SEAL_KEY at it); to change keys create one with `ledgerline keys init --dir DIR` "
            f"and hand over to it with `{ROTATE}`"
        )
    ours = f"seal key {path} ({key_fingerprint[:16]}…)" if path else f"seal key {key_fingerprint[:16]}…"
    raise ConfigError(
        f"{ours} is not the store's seal key {theirs}; sealing with it would break the seal chain: use that key "
        f"(LEDGERLINE_SEAL_KEY), or hand over to this one with `{ROTATE}` while serve is stopped"
    )


def rotate(store: Store, old: Ed25519PrivateKey, new: Ed25519PrivateKey) -> SignedRotation:
    """Write the record handing sealing from ``old`` (the current key) to ``new``, after the latest seal."""
    old_fp, new_fp = fingerprint(old.public_key()), fingerprint(new.public_key())
    if old_fp == new_fp:
        raise ConfigError("the new key is the old key")
    if not store.query(queries.TABLE_EXISTS, {"name": "seal_rotations"})[0][0]:
        raise ConfigError("the store lacks the rotation records table (migration 162): run `ledgerline migrate` first")
    last = latest_seal(store)
    if last is None:
        raise ConfigError("nothing is sealed yet, so nothing to hand over: set LEDGERLINE_SEAL_KEY to the new key")
    records = stored_rotations(store)
    expected = _expected(records, last)
    if expected is not None and expected.fingerprint != old_fp:
        current = f"{expected.fingerprint[:16]}… ({expected.reason})"
        raise ConfigError(f"the old key ({old_fp[:16]}…) is not the store's seal key {current}")
    now_ms = int(store.query(queries.NOW_MS)[0][0])
    signed = rotation_for(records, last.seal, old, new, now_ms)
    write_rotation(store, signed)
    return signed


def write_rotation(store: Store, signed: SignedRotation) -> None:
    """Append a rotation record as it is (``rotate`` checks it first)."""
    r = signed.rotation
    store.command(
        queries.INSERT_ROTATION,
        {
            "rotation": r.rotation,
            "after": r.after_sequence,
            "seal_hash": r.seal_hash.hex(),
            "prev": r.prev_hash.hex(),
            "old_key": r.old_key.hex(),
            "new_key": r.new_key.hex(),
            "at_ms": r.rotated_at_ms,
            "hash": r.hash.hex(),
            "old_sig": signed.old_signature.hex(),
            "new_sig": signed.new_signature.hex(),
        },
    )
