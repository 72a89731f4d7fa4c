"""The seal record: what is signed and how seals chain. Pure.

Signed bytes (docs/evidence.md)::

    b"ledgerline.seal.v1\\x00" || u64 sequence || i64 window_start_ms || i64 window_end_ms
    || u64 leaf_count || root[32] || prev_hash[32] || i64 sealed_at_ms || key_fingerprint[32]

all little-endian. ``seal_hash = SHA-256(signed bytes)``; the next seal's ``prev_hash`` is
this hash (the first seal's is 32 zero bytes), so changing any seal breaks every later link.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lineage.evidence.errors import RecordError
from lineage.evidence.keys import verify_signature

TAG = b"ledgerline.seal.v1\x00"
GENESIS = bytes(32)
_LAYOUT = struct.Struct("<QqqQ32s32sq32s")


def hex32(value: Any, name: str) -> bytes:
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise RecordError(f"{name} must be 64 hex digits")
    return raw


def integer(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise RecordError(f"{name} must be an integer")
    return value


@dataclass(frozen=True)
class Seal:
    """One signed tree head over the hops stored in a window."""

    sequence: int
    window_start_ms: int
    window_end_ms: int
    leaf_count: int
    root: bytes
    prev_hash: bytes
    sealed_at_ms: int
    key_fingerprint: bytes

    def to_bytes(self) -> bytes:
        """The canonical bytes the signature covers."""
        try:
            body = _LAYOUT.pack(
                self.sequence,
                self.window_start_ms,
                self.window_end_ms,
                self.leaf_count,
                self.root,
                self.prev_hash,
                self.sealed_at_ms,
                self.key_fingerprint,
            )
        except struct.error as exc:
            raise RecordError(f"seal {self.sequence} has a field out of range") from exc
        return TAG + body

    @property
    def hash(self) -> bytes:
        """SHA-256 of the canonical bytes: the link the next seal carries."""
        return hashlib.sha256(self.to_bytes()).digest()

    def sign(self, key: Ed25519PrivateKey) -> bytes:
        """Ed25519 signature of the canonical bytes."""
        return key.sign(self.to_bytes())

    def verify(self, public: Ed25519PublicKey, signature: bytes) -> bool:
        """True when ``signature`` is ``public``'s signature of this seal."""
        return verify_signature(public, signature, self.to_bytes())

    def to_json(self, signature: bytes) -> dict[str, Any]:
        """The seal with its signature and hash, as packs and the API show it."""
        return {
            "sequence": self.sequence,
            "window_start_ms": self.window_start_ms,
            "window_end_ms": self.window_end_ms,
            "leaf_count": self.leaf_count,
            "root": self.root.hex(),
            "prev_hash": self.prev_hash.hex(),
            "sealed_at_ms": self.sealed_at_ms,
            "key_fingerprint": self.key_fingerprint.hex(),
            "seal_hash": self.hash.hex(),
            "signature": signature.hex(),
        }

    @classmethod
    def from_json(cls, doc: Any) -> tuple[Seal, bytes]:
        """A seal and its signature from :meth:`to_json` output; RecordError when malformed."""
        if not isinstance(doc, dict):
            raise RecordError("a seal must be an object")
        try:
            signature = bytes.fromhex(doc.get("signature", ""))
        except (TypeError, ValueError) as exc:
            raise RecordError("signature must be hex") from exc
        seal = cls(
            sequence=integer(doc.get("sequence"), "sequence"),
            window_start_ms=integer(doc.get("window_start_ms"), "window_start_ms"),
            window_end_ms=integer(doc.get("window_end_ms"), "window_end_ms"),
            leaf_count=integer(doc.get("leaf_count"), "leaf_count"),
            root=hex32(doc.get("root"), "root"),
            prev_hash=hex32(doc.get("prev_hash"), "prev_hash"),
            sealed_at_ms=integer(doc.get("sealed_at_ms"), "sealed_at_ms"),
            key_fingerprint=hex32(doc.get("key_fingerprint"), "key_fingerprint"),
        )
        return seal, signature
