"""``verify --store``: recompute every seal from the hops stored now.

Per seal: the signature (by the key in force at that seal, through the rotation records),
the chain link and the stored hash; then every leaf is recomputed from the hop stored now
(ClickHouse hashes, Python rebuilds the root). A hop changed, deleted, or inserted into a
sealed window fails naming the seal and the hop. Seals are read in batches of about
``batch_leaves`` leaves, with progress reported per batch.

The store alone cannot show that its newest seals were deleted together with their hops:
what is left is a valid, shorter chain. ``anchors`` (seal hashes kept outside ledgerline)
catch that: each must be the hash of a seal in the verified chain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from collector.store import Store
from lineage.evidence import merkle, queries
from lineage.evidence.errors import VerificationFailed
from lineage.evidence.keys import fingerprint
from lineage.evidence.record import GENESIS
from lineage.evidence.rotation import KeyChain, key_chain
from lineage.evidence.sealer import StoredSeal, seals_from, stored_rotations


@dataclass(frozen=True)
class StoreReport:
    """What a clean store verification covered."""

    seals: int
    hops: int
    first: int
    latest: int
    latest_hash: str
    rotations: int = 0
    anchored: tuple[int, ...] = ()


def _check_seal(item: StoredSeal, prev: StoredSeal | None, chain: KeyChain, trusted: Ed25519PublicKey) -> None:
    seal, n = item.seal, item.seal.sequence
    public = chain.signer(n, trusted)
    if seal.key_fingerprint.hex() != fingerprint(public) or not seal.verify(public, item.signature):
        key = "the given key" if not chain.keys else f"the key in force at seal {n} ({fingerprint(public)[:16]}…)"
        raise VerificationFailed(f"signature of seal {n}", f"the stored seal is not signed by {key}")
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
        if now is None or bytes(now) != bytes(sealed):  # the name is built only for a failure
            what = "was deleted from hops" if now is None else "was changed since it was sealed"
            raise VerificationFailed(f"seal {seq}, hop {trace}/{span}", f"leaf {index} {what}")
        leaves[seq].append(bytes(now))
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
    anchors: Sequence[str] = (),
) -> StoreReport:
    """Recompute every seal whose window ends at or after ``since_ms`` (and from the oldest
    anchored seal on); raise VerificationFailed."""
    chain = key_chain(stored_rotations(store))
    chain.require_trusted(public)
    first = store.query(queries.FIRST_SEAL_SINCE, {"since_ms": since_ms})[0][0] if since_ms else 1
    anchored = _anchored(store, anchors)
    if anchored:
        first = min(int(first or 1), *anchored.values()) if first is not None else min(anchored.values())
    seals = seals_from(store, int(first or 1)) if first is not None else []
    if not seals:
        raise VerificationFailed("seals", "no seals to verify")
    prev: StoredSeal | None = None
    hops = 0
    batch: list[StoredSeal] = []
    margin_ms = int(margin_s * 1000)
    for item in seals:
        _check_seal(item, prev, chain, public)
        prev = item
        batch.append(item)
        if sum(s.seal.leaf_count for s in batch) >= batch_leaves or item is seals[-1]:
            hops += _recompute(store, batch, margin_ms)
            if progress:
                progress(f"verified seals {batch[0].seal.sequence}-{item.seal.sequence} ({hops} hops)")
            batch = []
    latest = seals[-1].seal
    chain.check_links({s.seal.sequence: s.seal.hash for s in seals}, latest.sequence)
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
    return StoreReport(
        len(seals),
        hops,
        seals[0].seal.sequence,
        latest.sequence,
        latest.hash.hex(),
        len(chain.rotations),
        tuple(sorted(anchored.values())),
    )


def _anchored(store: Store, anchors: Sequence[str]) -> dict[str, int]:
    """The sequence of each anchored seal; VerificationFailed when one is not in the store.

    Looked up by the stored hash; the walk then recomputes that seal's hash and links it
    to the latest seal, so a row merely claiming the anchored hash does not pass."""
    wanted = sorted({a.lower() for a in anchors})
    if not wanted:
        return {}
    found = {str(h): int(q) for h, q in store.query(queries.ANCHORED_SEALS, {"hashes": wanted})}
    for anchor in wanted:
        if anchor not in found:
            latest = store.query(queries.LATEST_SEQUENCE)[0][0]
            raise VerificationFailed(
                "anchor",
                f"no seal in the store has the anchored hash {anchor} (the latest seal is {latest}): "
                "seals were deleted (the chain truncated) or rewritten since the anchor was kept",
            )
    return found
