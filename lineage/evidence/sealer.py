"""Sealing: the hops stored since the last seal become a signed Merkle tree head.

A seal's window is (previous cutoff, cutoff], the cutoff being ClickHouse's ``now64(3)``
when sealing starts, on the same clock as ``hops.IngestedAt``. An insert in flight can
commit a row stamped just before a cutoff after that seal was made, so each seal scans
from the previous cutoff minus ``seal_margin_s`` and skips spans already sealed: a late hop
lands in the next seal, and no span is ever a second leaf. Leaves are ordered by
(TraceId, SpanId); ClickHouse computes their hashes, Python the tree and the signature.
Leaves are written before the seal row; leaves of a seal that never got its row (a crash
in between) are deleted before the next seal reuses the sequence number.

With a ``lease`` (several processes on one store) only the holder seals: two sealers would
both read the same latest seal and write the same sequence number. Every process that
may seal must use the same seal key: before each seal the sealer checks that its key is
the one that signed the latest seal (or that a rotation record after it names), and
refuses to seal otherwise (:class:`WrongSealKey`), so a stale key never breaks the chain.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.store import Store
from collector.store.errors import StoreError
from collector.store.lease import Lease, LeaseKeeper
from lineage.evidence import merkle, queries
from lineage.evidence.errors import VerificationFailed, WrongSealKey
from lineage.evidence.keys import fingerprint
from lineage.evidence.metrics import SealMetrics
from lineage.evidence.record import GENESIS, Seal
from lineage.evidence.rotation import Expected, Rotation, SignedRotation, expected_signer, key_chain

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredSeal:
    """A seal row as stored: the record, its signature and hash as written."""

    seal: Seal
    signature: bytes
    stored_hash: str

    def to_json(self) -> dict[str, Any]:
        """The seal as packs and the API show it (the hash is recomputed)."""
        return self.seal.to_json(self.signature)


def seal_from_row(row: dict[str, Any]) -> StoredSeal:
    """A :class:`StoredSeal` from a row of ``seals``."""
    seal = Seal(
        sequence=int(row["Sequence"]),
        window_start_ms=int(row["WindowStartMs"]),
        window_end_ms=int(row["WindowEndMs"]),
        leaf_count=int(row["LeafCount"]),
        root=bytes.fromhex(row["Root"]),
        prev_hash=bytes.fromhex(row["PrevHash"]),
        sealed_at_ms=int(row["SealedAtMs"]),
        key_fingerprint=bytes.fromhex(row["KeyFingerprint"]),
    )
    return StoredSeal(seal, bytes.fromhex(row["Signature"]), row["SealHash"])


def latest_seal(store: Store) -> StoredSeal | None:
    """The newest seal, or None before the first."""
    rows = store.query_dicts(queries.LATEST_SEAL)
    return seal_from_row(rows[0]) if rows else None


def seals_from(store: Store, first: int) -> list[StoredSeal]:
    """Every seal from sequence ``first`` on, in order."""
    return [seal_from_row(r) for r in store.query_dicts(queries.SEALS_FROM, {"first": first}, timeout_s=300)]


def stored_rotations(store: Store) -> list[SignedRotation]:
    """Every seal key rotation record, in order (none on a store not migrated to 162 yet)."""
    if not store.query(queries.TABLE_EXISTS, {"name": "seal_rotations"})[0][0]:
        return []
    return [
        SignedRotation(
            Rotation(
                rotation=int(r["Rotation"]),
                after_sequence=int(r["AfterSequence"]),
                seal_hash=bytes.fromhex(r["SealHash"]),
                prev_hash=bytes.fromhex(r["PrevHash"]),
                old_key=bytes.fromhex(r["OldKey"]),
                new_key=bytes.fromhex(r["NewKey"]),
                rotated_at_ms=int(r["RotatedAtMs"]),
            ),
            bytes.fromhex(r["OldSignature"]),
            bytes.fromhex(r["NewSignature"]),
        )
        for r in store.query_dicts(queries.ROTATIONS)
    ]


def expected_key(store: Store, last: StoredSeal | None) -> Expected | None:
    """The key that must sign the seal after ``last``; VerificationFailed on a bad rotation record."""
    return expected_signer(key_chain(stored_rotations(store)), last.seal if last else None)


def _reason(exc: Exception) -> str:
    """The failure reason label of a seal pass that raised ``exc``."""
    if isinstance(exc, StoreError):
        return "store"
    return "key" if isinstance(exc, WrongSealKey) else "other"


class Sealer:
    """Makes seals on demand and, once started, every ``interval_s``."""

    def __init__(
        self,
        store: Store,
        key: Ed25519PrivateKey,
        interval_s: float = 60.0,
        margin_s: float = 120.0,
        lease: Lease | None = None,
        metrics: SealMetrics | None = None,
    ) -> None:
        self.store = store
        self.lease = lease
        self._keeper = LeaseKeeper(lease) if lease is not None else None
        self.key = key
        self.interval_s = interval_s
        self.margin_ms = int(margin_s * 1000)
        self._fingerprint = bytes.fromhex(fingerprint(key.public_key()))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sealed_through_s = 0.0  # cutoff of the last successful pass (the store's clock)
        self._began_s = 0.0  # when this process last began sealing (start, or taking the lease)
        self.metrics = metrics if metrics is not None else SealMetrics()
        self.metrics.watch(self.lag_s, lambda: self.sealing)

    def seal_now(self) -> Seal | None:
        """Seal the hops stored since the last seal; None when there were none."""
        with self._lock:
            started = time.monotonic()
            try:
                seal, cutoff_ms = self._seal()
            except Exception as exc:
                self.metrics.failed(_reason(exc))
                raise
            self._sealed_through_s = cutoff_ms / 1000
            self.metrics.sealed(time.monotonic() - started, cutoff_ms, seal.leaf_count if seal else 0)
            return seal

    def lag_s(self) -> float:
        """Seconds since the last successful pass's cutoff (or since sealing began here); NaN when not sealing."""
        if not self.sealing:
            return math.nan
        return max(0.0, time.time() - max(self._sealed_through_s, self._began_s))

    def _seal(self) -> tuple[Seal | None, int]:
        """The seal made (None: no new hops) and its cutoff: every hop stored before it is sealed."""
        last = latest_seal(self.store)
        self._check_key(last)
        last_seq = last.seal.sequence if last else 0
        if self.store.query(queries.ORPHAN_LEAVES, {"last": last_seq})[0][0]:
            log.warning("removing leaves of unfinished seal %d", last_seq + 1)
            for statement in queries.DELETE_ORPHANS:
                self.store.command(statement, {"last": last_seq})
        cutoff = int(self.store.query(queries.NOW_MS)[0][0])
        start = last.seal.window_end_ms if last else 0
        seq = last_seq + 1
        params = {"seq": seq, "from_ms": max(0, start - self.margin_ms), "to_ms": cutoff, "sealed_ms": cutoff}
        self.store.command(queries.INSERT_LEAVES, params)
        hashes = [bytes(r[0]) for r in self.store.query(queries.LEAF_HASHES, {"seq": seq}, timeout_s=300)]
        if not hashes:
            return None, cutoff
        seal = Seal(
            sequence=seq,
            window_start_ms=start,
            window_end_ms=cutoff,
            leaf_count=len(hashes),
            root=merkle.root(hashes),
            prev_hash=bytes.fromhex(last.stored_hash) if last else GENESIS,
            sealed_at_ms=cutoff,
            key_fingerprint=self._fingerprint,
        )
        signature = seal.sign(self.key)
        self.store.command(
            queries.INSERT_SEAL,
            {
                "seq": seq,
                "start_ms": seal.window_start_ms,
                "end_ms": seal.window_end_ms,
                "count": seal.leaf_count,
                "root": seal.root.hex(),
                "prev": seal.prev_hash.hex(),
                "hash": seal.hash.hex(),
                "sealed_ms": seal.sealed_at_ms,
                "fp": seal.key_fingerprint.hex(),
                "sig": signature.hex(),
            },
        )
        log.info("seal %d: %d hops, root %s", seq, seal.leaf_count, seal.root.hex()[:16])
        return seal, cutoff

    def _check_key(self, last: StoredSeal | None) -> None:
        try:
            expected = expected_key(self.store, last)
        except VerificationFailed as exc:
            raise WrongSealKey(f"not sealing: the seal key rotation records do not verify ({exc})") from None
        mine = self._fingerprint.hex()
        if expected is not None and expected.fingerprint != mine:
            raise WrongSealKey(
                f"not sealing: this process's seal key {mine[:16]}… is not the store's seal key "
                f"{expected.fingerprint[:16]}… ({expected.reason}); restart it with that key"
            )

    # -- the background thread --------------------------------------------------------------
    @property
    def leading(self) -> bool:
        """True when this process is the one that seals (always, without a lease)."""
        return self.lease is None or self.lease.held

    @property
    def sealing(self) -> bool:
        """True while this process's sealer thread runs and leads."""
        return self._thread is not None and self.leading

    def start(self) -> None:
        """Seal every ``interval_s`` until :meth:`stop` (while holding the lease, if any)."""
        if self._keeper is not None:
            self._keeper.start()
        self._stop.clear()
        self._began_s = time.time()
        self._thread = threading.Thread(target=self._run, name="sealer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            if not self.leading:
                self._began_s = time.time()  # lag counts from when this process takes over
                continue  # another process seals
            try:
                self.seal_now()
            except StoreError:  # the store is away; the next tick seals what is missed
                log.warning("sealing failed; retrying next interval", exc_info=True)
            except WrongSealKey as exc:  # rotated under this process: an operator must restart it
                log.error("%s", exc)

    def stop(self) -> None:
        """Stop the thread (a seal under way finishes first); the lease is kept for a final seal."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None
        if self._keeper is not None:
            self._keeper.stop()

    def release(self) -> None:
        """Give the lease up (after the final seal), so a waiting process takes over at once."""
        if self._keeper is not None:
            self._keeper.release()
