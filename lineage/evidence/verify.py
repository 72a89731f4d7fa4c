"""Offline verification of an evidence pack: no store, no network. Pure.

Checks, in order (the first failure is reported by name):

1. ``format``: the pack's shape and version;
2. ``public key``: the pack's key is the trusted key given by the auditor, or (across key
   rotations) the trusted key is one of the keys the pack's rotation records chain, the
   pack's key the last of them;
   ``rotation K``: every rotation record is signed by the key it hands over from and the
   one it hands over to, and follows the seal it names;
3. ``signature of seal N`` / ``key of seal N``: every seal is signed by the key in force at it;
4. ``chain link N``: every seal's ``prev_hash`` is the hash of the one before, up to the latest;
5. ``inclusion proof of hop T/S``: each hop's canonical record hashes to a leaf that the
   proof places under its seal's root;
6. ``document``: the transaction document agrees with the sealed hops (per-hop facts,
   attempts, and the status re-derived under the pack's flow definitions at ``as_of_ms``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from collector.store.errors import ConfigError
from lineage.core import shape
from lineage.core.derive import TxnFacts, adopt, evaluate, facts_from_groups
from lineage.core.flows import FlowConfigError, parse_flows
from lineage.evidence import canonical, merkle
from lineage.evidence.errors import RecordError, VerificationFailed
from lineage.evidence.keys import fingerprint, parse_public
from lineage.evidence.record import Seal
from lineage.evidence.rotation import KeyChain, SignedRotation, key_chain

FORMAT = "ledgerline.evidence.v1"
_MISSING = object()


@dataclass(frozen=True)
class Summary:
    """What a valid pack proves."""

    correlation_id: str
    hops: int
    seals: int
    latest_sequence: int
    latest_hash: str
    fingerprint: str
    status: str
    flows_sha256: str
    rotations: int = 0

    def text(self) -> str:
        """A short human summary."""
        rotated = f" across {self.rotations} key rotation(s)" if self.rotations else ""
        return (
            f"OK {self.correlation_id}: {self.hops} hops in {self.seals} seal(s), chained to seal "
            f"{self.latest_sequence} ({self.latest_hash}); status {self.status} under flows sha256 "
            f"{self.flows_sha256[:16]}; key {self.fingerprint}{rotated}"
        )


def _fail(check: str, detail: str = "") -> VerificationFailed:
    return VerificationFailed(check, detail)


def _chain(pack: dict[str, Any], pack_key: Ed25519PublicKey, trusted: Ed25519PublicKey) -> KeyChain:
    """The pack's rotation records checked and chained; the pack's and the trusted key placed in it."""
    docs = pack.get("rotations") or []
    if not isinstance(docs, list):
        raise _fail("format", "rotations must be a list")
    try:
        chain = key_chain([SignedRotation.from_json(d) for d in docs])
    except RecordError as exc:
        raise _fail("format", f"rotation: {exc}") from None
    if not chain.keys:
        if fingerprint(pack_key) != fingerprint(trusted):
            raise _fail("public key", "the pack was signed with another key than the one given")
        return chain
    chain.require_trusted(trusted)
    if fingerprint(pack_key) != chain.fingerprints[-1]:
        raise _fail("public key", "the pack's key is not the last key of its rotation records")
    return chain


def _seals(pack: dict[str, Any], chain: KeyChain, trusted: Ed25519PublicKey) -> dict[int, Seal]:
    seals: dict[int, Seal] = {}
    prev: Seal | None = None
    for doc in pack["seals"]:
        try:
            seal, signature = Seal.from_json(doc)
        except RecordError as exc:
            raise _fail("format", f"seal: {exc}") from None
        n = seal.sequence
        public = chain.signer(n, trusted)
        if seal.key_fingerprint.hex() != fingerprint(public):
            given = "the one given" if not chain.keys else "the one in force at it"
            raise _fail(f"key of seal {n}", f"signed by another key than {given}")
        if not seal.verify(public, signature):
            raise _fail(f"signature of seal {n}", "the signature does not match the seal")
        if doc.get("seal_hash") != seal.hash.hex():
            raise _fail(f"chain link {n}", "the seal's stated hash is not the hash of the seal")
        if prev is not None and (n != prev.sequence + 1 or seal.prev_hash != prev.hash):
            raise _fail(f"chain link {n}", f"seal {n} does not follow seal {prev.sequence}")
        seals[n] = seal
        prev = seal
    if not seals:
        raise _fail("format", "the pack has no seals")
    return seals


def _proven(entries: Any, seals: dict[int, Seal], what: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for entry in entries:
        record = entry.get("record") if isinstance(entry, dict) else None
        if not isinstance(record, dict):
            raise _fail("format", f"{what} entry without a record")
        name = f"{record.get('TraceId')}/{record.get('SpanId')}"
        check = f"inclusion proof of {what} {name}"
        try:
            leaf = merkle.leaf_hash(canonical.encode(record))
            proof = [bytes.fromhex(p) for p in entry["proof"]]
            seq, index = int(entry["sequence"]), int(entry["leaf_index"])
        except (RecordError, KeyError, TypeError, ValueError) as exc:
            raise _fail(check, f"malformed: {exc}") from None
        seal = seals.get(seq)
        if seal is None:
            raise _fail(check, f"seal {seq} is not in the pack")
        if not merkle.verify_inclusion(leaf, index, seal.leaf_count, proof, seal.root):
            raise _fail(check, f"the record is not leaf {index} of seal {seq}")
        if (record["TraceId"], record["SpanId"]) in seen:
            raise _fail(check, "the same span appears twice")
        seen.add((record["TraceId"], record["SpanId"]))
        records.append(record)
    return records


# -- the document against the sealed records ---------------------------------------------------
def _ms(ns: int) -> int:
    return ns // 1_000_000


def _latest(rows: list[dict[str, Any]], field: str, keep: Any = None) -> Any:
    """The field of the latest-starting record (lineage/core/fold.py "latest")."""
    chosen = [r for r in rows if keep is None or keep(r[field])]
    return max(chosen, key=lambda r: (r["StartTime"], r["TraceId"], r["SpanId"]))[field] if chosen else None


def _group(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One entity/step group as a lookup folds it (lineage/core/fold.py), from sealed records."""
    oks = [r for r in rows if r["Outcome"] == "ok"]
    fails = [r for r in rows if r["Outcome"] != "ok"]
    ok_start = max((r["StartTime"] for r in oks), default=0)
    fail_start = max((r["StartTime"] for r in fails), default=0)
    return {
        "entity_type": rows[0]["EntityType"],
        "entity_id": rows[0]["EntityId"],
        "step": rows[0]["Step"],
        "system": _latest(rows, "System"),
        "outcome": _latest(rows, "Outcome"),
        "start_ms": _ms(min(r["StartTime"] for r in rows)),
        "end_ms": _ms(max(r["EndTime"] for r in rows)),
        "attempts": len(rows),
        "trace_id": _latest(rows, "TraceId"),
        "span_id": _latest(rows, "SpanId"),
        "correlation_id": rows[0]["CorrelationId"],
        "flow": next((r["Flow"] for r in rows if r["Flow"]), ""),
        "error_category": _latest(rows, "ErrorCategory", bool) or "",
        "amount": _latest(rows, "Amount", lambda v: v is not None),
        "currency": _latest(rows, "Currency", bool) or "",
        "oks": len(oks),
        "fails": len(fails),
        "ok_ms": _ms(min(r["EndTime"] for r in oks)) if oks else 0,
        "auto_resolved": ok_start > fail_start,
        "attempt_list": sorted(
            (r["Outcome"], r["ErrorCategory"], _ms(r["StartTime"]), _ms(r["EndTime"]), r["TraceId"], r["SpanId"])
            for r in rows
        ),
    }


def _groups(records: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    by_key: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in records:
        by_key.setdefault((r["EntityType"], r["EntityId"], r["Step"]), []).append(r)
    return {k: _group(v) for k, v in by_key.items()}


def _comparable(hop: dict[str, Any]) -> dict[str, Any]:
    """The hop with its attempts in a canonical order (every field of every attempt kept)."""
    attempts = hop.get("attempt_list")
    if not isinstance(attempts, list):
        return hop
    return {**hop, "attempt_list": sorted(json.dumps(a, sort_keys=True, default=str) for a in attempts)}


def _status(pack: dict[str, Any], cid: str, groups: list[dict[str, Any]], adopted: list[dict[str, Any]]) -> str:
    try:
        config = parse_flows(pack["flows_yaml"], "<pack flows>")
    except (FlowConfigError, TypeError) as exc:
        raise _fail("format", f"flows: {exc}") from None
    facts: dict[str, TxnFacts] = {cid: facts_from_groups(cid, groups, config.default_flow)}
    if pack["document"].get("related"):
        owners = {(g["entity_type"], g["entity_id"]): {cid} for g in groups}
        rows = [
            {
                "parent_type": r["ParentType"],
                "parent_id": pid,
                "entity_type": r["EntityType"],
                "step": r["Step"],
                "ok_ms": _ms(r["EndTime"]),
                "cid": r["CorrelationId"],
            }
            for r in adopted
            for pid in r["ParentIds"]
        ]
        adopt(facts, rows, owners)
    return evaluate(config, facts[cid], int(pack["as_of_ms"])).status


def _document(pack: dict[str, Any], records: list[dict[str, Any]], adopted: list[dict[str, Any]]) -> str:
    doc, cid = pack["document"], pack["correlation_id"]
    check = "document disagrees with the sealed hops"
    if doc.get("correlation_id") != cid or any(r["CorrelationId"] != cid for r in records):
        raise _fail(check, "correlation ID")
    groups = _groups(records)
    shown = {(h.get("entity_type"), h.get("entity_id"), h.get("step")): h for h in doc.get("hops") or []}
    if set(shown) != set(groups) and not doc.get("hops_truncated"):
        raise _fail(check, f"hops {sorted(map(str, set(shown) ^ set(groups)))[:3]}")
    for key, hop in shown.items():
        if key not in groups:
            raise _fail(check, f"hop {key} is not sealed")
        # Every field is derived from the sealed record (lineage/core/shape.py hop()), so every
        # field is compared, and one the records cannot give is refused.
        sealed = {k: v for k, v in shape.hop(groups[key]).items() if k not in canonical.UNSEALED_HOP_FIELDS}
        expected, got = _comparable(sealed), _comparable(hop)
        for field in sorted(set(expected) | set(got)):
            if field not in expected:
                raise _fail(check, f"{field} of {key[0]} {key[1]} {key[2]} is not sealed")
            if expected[field] != got.get(field, _MISSING):
                raise _fail(check, f"{field} of {key[0]} {key[1]} {key[2]}")
    status = _status(pack, cid, list(groups.values()), adopted)
    if doc.get("status") != status:
        raise _fail(check, f"status is {doc.get('status')!r}; the sealed hops give {status!r}")
    return status


def verify_pack(pack: Any, trusted_key_pem: str | bytes) -> Summary:
    """Verify a pack against the auditor's trusted public key; raise VerificationFailed."""
    try:
        public = parse_public(trusted_key_pem)
    except ConfigError as exc:
        raise _fail("public key", str(exc)) from None
    required = ("format", "correlation_id", "as_of_ms", "public_key", "document", "hops", "seals", "flows_yaml")
    if not isinstance(pack, dict) or any(k not in pack for k in required) or pack["format"] != FORMAT:
        raise _fail("format", f"not a {FORMAT} pack")
    try:
        pack_key = parse_public(pack["public_key"])
    except ConfigError:
        raise _fail("public key", "the pack's public key is not an Ed25519 PEM key") from None
    chain = _chain(pack, pack_key, public)
    seals = _seals(pack, chain, public)
    chain.check_links({n: s.hash for n, s in seals.items()}, max(seals))
    records = _proven(pack["hops"], seals, "hop")
    adopted = _proven(pack.get("adopted_hops") or [], seals, "adopted hop")
    status = _document(pack, records, adopted)
    latest = seals[max(seals)]
    return Summary(
        correlation_id=pack["correlation_id"],
        hops=len(records),
        seals=len({int(h["sequence"]) for h in pack["hops"]}),
        latest_sequence=latest.sequence,
        latest_hash=latest.hash.hex(),
        fingerprint=fingerprint(public),
        status=status,
        flows_sha256=hashlib.sha256(str(pack["flows_yaml"]).encode()).hexdigest(),
        rotations=len(chain.rotations),
    )
