"""``verify --store``: recompute every seal from the hops stored now.

Per seal: the signature, the chain link and the stored hash; then every leaf is recomputed
from the hop stored now (ClickHouse hashes, Python rebuilds the root). A hop changed,
deleted, or inserted into a sealed window fails naming the seal and the hop. Seals are
read in batches of about ``batch_leaves`` leaves, with progress reported per batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from collector.errors import VerificationFailed
from collector.store import Store
from lineage.evidence import merkle, queries
from lineage.evidence.keys import fingerprint
from lineage.evidence.record import GENESIS
from lineage.evidence.sealer import StoredSeal, seals_from


@dataclass(frozen=True)
class StoreReport:
    """What a clean store verification covered."""

    seals: int
    hops: int
    first: int
    latest: int
    latest_hash: str


def _check_seal(item: StoredSeal, prev: StoredSeal | None, public: Ed25519PublicKey, fp: bytes) -> None:
    seal, n = item.seal, item.seal.sequence
    if seal.key_fingerprint != fp or not seal.verify(public, item.signature):
        raise VerificationFailed(f"signature of seal {n}", "the stored seal is not signed by the given key")
    if item.stored_hash != seal.hash.hex():
        raise VerificationFailed(f"chain link {n}", "the stored seal hash is not the hash of the seal")
    if prev is None:
        if n == 1 and seal.prev_hash != GENESIS:
            raise VerificationFailed("chain link 1", "the first seal does not start the chain")
    elif n != prev.seal.sequence + 1 or seal.prev_hash != prev.seal.hash:
        raise VerificationFailed(f"chain link {n}", f"seal {n} does not follow seal {prev.seal.sequence}")


def _recompute(store: Store, batch: list[StoredSeal], margin_ms: int) -> int:
    lo, hi = batch[0].seal.sequence, batch[-1].seal.sequence
    params = {"lo": lo, "hi": hi, "from_ms": max(0, batch[0].seal.window_start_ms - margin_ms - 1)}
    rows = store.query(queries.RECOMPUTE_SEALS, params, timeout_s=3600)
    leaves: dict[int, list[bytes]] = {s.seal.sequence: [] for s in batch}
    for seq, index, trace, span, sealed, now in rows:
        name = f"seal {seq}, hop {trace}/{span}"
        if now is None:
            raise VerificationFailed(name, f"leaf {index} was deleted from hops")
        if bytes(now) != bytes(sealed):
            raise VerificationFailed(name, f"leaf {index} was changed since it was sealed")
        leaves[int(seq)].append(bytes(now))
    for item in batch:
        seal = item.seal
        got = leaves[seal.sequence]
        if len(got) != seal.leaf_count or merkle.root(got) != seal.root:
            raise VerificationFailed(
                f"seal {seal.sequence}", "its leaves no longer give the signed root (seal_leaves was changed)"
            )
    return len(rows)


def verify_store(
    store: Store,
    public: Ed25519PublicKey,
    *,
    since_ms: int = 0,
    margin_s: float = 120.0,
    batch_leaves: int = 1_000_000,
    progress: Callable[[str], None] | None = None,
) -> StoreReport:
    """Recompute every seal whose window ends at or after ``since_ms``; raise VerificationFailed."""
    first = store.query(queries.FIRST_SEAL_SINCE, {"since_ms": since_ms})[0][0] if since_ms else 1
    seals = seals_from(store, int(first or 1)) if first is not None else []
    if not seals:
        raise VerificationFailed("seals", "no seals to verify")
    fp = bytes.fromhex(fingerprint(public))
    prev: StoredSeal | None = None
    hops = 0
    batch: list[StoredSeal] = []
    margin_ms = int(margin_s * 1000)
    for item in seals:
        _check_seal(item, prev, public, fp)
        prev = item
        batch.append(item)
        if sum(s.seal.leaf_count for s in batch) >= batch_leaves or item is seals[-1]:
            hops += _recompute(store, batch, margin_ms)
            if progress:
                progress(f"verified seals {batch[0].seal.sequence}-{item.seal.sequence} ({hops} hops)")
            batch = []
    latest = seals[-1].seal
    inserted = store.query_dicts(
        queries.UNSEALED_IN_SEALED,
        {"before_ms": latest.window_end_ms - margin_ms, "since_ms": seals[0].seal.window_start_ms},
        timeout_s=3600,
    )
    if inserted:
        row = inserted[0]
        seq = next((s.seal.sequence for s in seals if s.seal.window_end_ms >= row["at_ms"]), latest.sequence)
        raise VerificationFailed(
            f"seal {seq}, hop {row['TraceId']}/{row['SpanId']}",
            f"stored inside the sealed window (correlation ID {row['CorrelationId']!r}) but in no seal",
        )
    return StoreReport(len(seals), hops, seals[0].seal.sequence, latest.sequence, latest.hash.hex())
