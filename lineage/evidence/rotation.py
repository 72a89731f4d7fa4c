"""Seal key rotation records and the chain of keys they form. Pure.

A rotation hands sealing from one Ed25519 key to the next after a given seal. Signed bytes
(docs/evidence.md), all little-endian::

    b"ledgerline.rotation.v1\\x00" || u64 rotation || u64 after_sequence || seal_hash[32]
    || prev_hash[32] || old_key[32] || new_key[32] || i64 rotated_at_ms

``seal_hash`` is the hash of seal ``after_sequence`` (the latest when rotating), ``prev_hash``
the hash of the previous rotation record (32 zero bytes for the first), the keys their 32
raw bytes. The old key signs (it authorises its successor) and so does the new one (it
accepts the chain as it stood): whichever key an auditor trusts, every other key of the
chain is vouched for by a signature of a trusted key. Seals keep their own chain: seal
``after_sequence + 1`` links to seal ``after_sequence`` and is signed by the new key.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lineage.evidence.errors import RecordError, VerificationFailed
from lineage.evidence.keys import fingerprint, raw_public, verify_signature
from lineage.evidence.record import GENESIS, Seal, hex32, integer

TAG = b"ledgerline.rotation.v1\x00"
_LAYOUT = struct.Struct("<QQ32s32s32s32sq")


@dataclass(frozen=True)
class Rotation:
    """The handover from ``old_key`` to ``new_key`` after seal ``after_sequence``."""

    rotation: int
    after_sequence: int
    seal_hash: bytes
    prev_hash: bytes
    old_key: bytes
    new_key: bytes
    rotated_at_ms: int

    def to_bytes(self) -> bytes:
        """The canonical bytes both keys sign."""
        try:
            body = _LAYOUT.pack(
                self.rotation,
                self.after_sequence,
                self.seal_hash,
                self.prev_hash,
                self.old_key,
                self.new_key,
                self.rotated_at_ms,
            )
        except struct.error as exc:
            raise RecordError(f"rotation {self.rotation} has a field out of range") from exc
        return TAG + body

    @property
    def hash(self) -> bytes:
        """SHA-256 of the canonical bytes: the link the next rotation record carries."""
        return hashlib.sha256(self.to_bytes()).digest()

    @property
    def old_fingerprint(self) -> str:
        """Fingerprint of the key handing over."""
        return hashlib.sha256(self.old_key).hexdigest()

    @property
    def new_fingerprint(self) -> str:
        """Fingerprint of the key taking over."""
        return hashlib.sha256(self.new_key).hexdigest()


@dataclass(frozen=True)
class SignedRotation:
    """A rotation record with the old key's and the new key's signatures."""

    rotation: Rotation
    old_signature: bytes
    new_signature: bytes

    @classmethod
    def make(cls, rotation: Rotation, old: Ed25519PrivateKey, new: Ed25519PrivateKey) -> SignedRotation:
        """Sign ``rotation`` with both keys."""
        data = rotation.to_bytes()
        return cls(rotation, old.sign(data), new.sign(data))

    def to_json(self) -> dict[str, Any]:
        """The record as packs carry it."""
        r = self.rotation
        return {
            "rotation": r.rotation,
            "after_sequence": r.after_sequence,
            "seal_hash": r.seal_hash.hex(),
            "prev_hash": r.prev_hash.hex(),
            "old_key": r.old_key.hex(),
            "new_key": r.new_key.hex(),
            "rotated_at_ms": r.rotated_at_ms,
            "rotation_hash": r.hash.hex(),
            "old_signature": self.old_signature.hex(),
            "new_signature": self.new_signature.hex(),
        }

    @classmethod
    def from_json(cls, doc: Any) -> SignedRotation:
        """A record from :meth:`to_json` output; RecordError when malformed."""
        if not isinstance(doc, dict):
            raise RecordError("a rotation must be an object")
        try:
            old_sig, new_sig = bytes.fromhex(doc["old_signature"]), bytes.fromhex(doc["new_signature"])
        except (KeyError, TypeError, ValueError) as exc:
            raise RecordError("rotation signatures must be hex") from exc
        rotation = Rotation(
            rotation=integer(doc.get("rotation"), "rotation"),
            after_sequence=integer(doc.get("after_sequence"), "after_sequence"),
            seal_hash=hex32(doc.get("seal_hash"), "seal_hash"),
            prev_hash=hex32(doc.get("prev_hash"), "prev_hash"),
            old_key=hex32(doc.get("old_key"), "old_key"),
            new_key=hex32(doc.get("new_key"), "new_key"),
            rotated_at_ms=integer(doc.get("rotated_at_ms"), "rotated_at_ms"),
        )
        return cls(rotation, old_sig, new_sig)


def _public(raw: bytes, check: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise VerificationFailed(check, "a key is not an Ed25519 public key") from None


@dataclass(frozen=True)
class KeyChain:
    """The seal keys in force, in order: ``keys[i]`` signs the seals after ``i`` rotations.

    Without rotations ``keys`` is empty and every seal is signed by the one trusted key."""

    rotations: tuple[Rotation, ...] = ()
    keys: tuple[Ed25519PublicKey, ...] = ()

    @property
    def fingerprints(self) -> list[str]:
        """Fingerprints of :attr:`keys`."""
        return [fingerprint(k) for k in self.keys]

    def signer(self, sequence: int, trusted: Ed25519PublicKey) -> Ed25519PublicKey:
        """The key that must have signed seal ``sequence``."""
        if not self.keys:
            return trusted
        return self.keys[sum(1 for r in self.rotations if r.after_sequence < sequence)]

    def require_trusted(self, trusted: Ed25519PublicKey) -> None:
        """Refuse a trusted key that is none of the chain's keys."""
        if self.keys and fingerprint(trusted) not in self.fingerprints:
            raise VerificationFailed(
                "public key", f"the key given is none of the {len(self.keys)} seal keys named by the rotation records"
            )

    def check_links(self, seal_hashes: Mapping[int, bytes], latest: int) -> None:
        """Each rotation follows the seal it names (when that seal is at hand), none follows ``latest``."""
        for r in self.rotations:
            if r.after_sequence > latest:
                raise VerificationFailed(
                    f"rotation {r.rotation}", f"follows seal {r.after_sequence}, but the chain ends at seal {latest}"
                )
            known = seal_hashes.get(r.after_sequence)
            if known is not None and known != r.seal_hash:
                raise VerificationFailed(f"rotation {r.rotation}", f"does not follow seal {r.after_sequence}")


def key_chain(records: Sequence[SignedRotation]) -> KeyChain:
    """Check every rotation record (numbering, links, both signatures) and chain the keys."""
    rotations: list[Rotation] = []
    keys: list[Ed25519PublicKey] = []
    for i, signed in enumerate(records, start=1):
        r, check = signed.rotation, f"rotation {signed.rotation.rotation}"
        prev = rotations[-1] if rotations else None
        if r.rotation != i or r.prev_hash != (prev.hash if prev else GENESIS):
            raise VerificationFailed(check, f"does not follow rotation {i - 1}")
        if prev is not None and (r.old_key != prev.new_key or r.after_sequence < prev.after_sequence):
            raise VerificationFailed(check, f"does not hand over from the key rotation {prev.rotation} handed to")
        old, new = _public(r.old_key, check), _public(r.new_key, check)
        if r.old_key == r.new_key:
            raise VerificationFailed(check, "hands a key over to itself")
        if not verify_signature(old, signed.old_signature, r.to_bytes()):
            raise VerificationFailed(check, f"is not signed by the key it hands over from ({r.old_fingerprint})")
        if not verify_signature(new, signed.new_signature, r.to_bytes()):
            raise VerificationFailed(check, f"is not signed by the key it hands over to ({r.new_fingerprint})")
        keys += [old, new] if prev is None else [new]
        rotations.append(r)
    return KeyChain(tuple(rotations), tuple(keys))


@dataclass(frozen=True)
class Expected:
    """The key that must sign the next seal, and why."""

    fingerprint: str
    reason: str


def expected_signer(chain: KeyChain, latest: Seal | None) -> Expected | None:
    """Who signs the seal after ``latest``: its signer, or the key a rotation after it names.

    None before the first seal (any key may start a chain). VerificationFailed when the
    rotation records do not continue from ``latest``."""
    if latest is None:
        return None
    n, fp = latest.sequence, latest.key_fingerprint.hex()
    chain.check_links({n: latest.hash}, n)
    if chain.keys and fingerprint(chain.signer(n, chain.keys[0])) != fp:
        raise VerificationFailed(f"seal {n}", "is not signed by the key the rotation records put in force")
    later = [r for r in chain.rotations if r.after_sequence == n]
    if later:
        r = later[-1]
        return Expected(r.new_fingerprint, f"named by rotation record {r.rotation} after seal {n}")
    return Expected(fp, f"which signed the latest seal {n}")


def rotation_for(
    records: Sequence[SignedRotation], latest: Seal, old: Ed25519PrivateKey, new: Ed25519PrivateKey, now_ms: int
) -> SignedRotation:
    """The next rotation record: ``old`` hands over to ``new`` after ``latest``."""
    prev = records[-1].rotation if records else None
    rotation = Rotation(
        rotation=len(records) + 1,
        after_sequence=latest.sequence,
        seal_hash=latest.hash,
        prev_hash=prev.hash if prev else GENESIS,
        old_key=raw_public(old.public_key()),
        new_key=raw_public(new.public_key()),
        rotated_at_ms=now_ms,
    )
    return SignedRotation.make(rotation, old, new)
