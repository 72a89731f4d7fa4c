"""Evidence packs: a transaction document with everything needed to verify it offline."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from collector.store import Store
from lineage.core.flows import DEFAULT_PATH
from lineage.core.scope import EVERYTHING, Scope
from lineage.core.service import Lineage
from lineage.core.timeparse import to_ms, utcnow
from lineage.evidence import canonical, merkle, queries
from lineage.evidence.errors import NotSealed, SpansScopes
from lineage.evidence.keys import fingerprint, public_pem
from lineage.evidence.sealer import seals_from, stored_rotations
from lineage.evidence.verify import FORMAT


def flows_text(lineage: Lineage) -> str:
    """The flow definitions the document was derived under (the pack carries them)."""
    path = lineage.settings.flows or DEFAULT_PATH
    return path.read_text()


def _proofs(store: Store, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each record with its seal, leaf index and inclusion proof; NotSealed if any lacks one."""
    if not records:
        return []
    spans = [(r["TraceId"], r["SpanId"]) for r in records]
    where = {(t, s): (int(q), int(i)) for t, s, q, i in store.query(queries.SEALED_AT, {"spans": spans})}
    missing = [f"{t}/{s}" for t, s in spans if (t, s) not in where]
    if missing:
        raise NotSealed(f"{len(missing)} hop(s) not sealed yet (e.g. {missing[0]}); retry after the next seal")
    trees: dict[int, list[list[bytes]]] = {}
    for seq in sorted({q for q, _ in where.values()}):
        hashes = [bytes(r[0]) for r in store.query(queries.LEAF_HASHES, {"seq": seq}, timeout_s=300)]
        trees[seq] = merkle.levels(hashes)
    out = []
    for record, span in zip(records, spans, strict=True):
        seq, index = where[span]
        proof = merkle.inclusion_proof(trees[seq], index)
        out.append({"record": record, "sequence": seq, "leaf_index": index, "proof": [p.hex() for p in proof]})
    return out


def _sealed_fields_only(doc: dict[str, Any]) -> dict[str, Any]:
    hops = [{k: v for k, v in h.items() if k not in canonical.UNSEALED_HOP_FIELDS} for h in doc.get("hops") or []]
    return {**doc, "hops": hops}


def build_pack(
    store: Store, lineage: Lineage, cid: str, public: Ed25519PublicKey, scope: Scope = EVERYTHING
) -> dict[str, Any] | None:
    """The evidence pack of one correlation ID; None when it is unknown (or wholly outside ``scope``).

    A pack carries every hop of the transaction, so a caller whose scope withholds some of them
    gets :class:`SpansScopes` instead of hops it may not see.
    """
    as_of_ms = to_ms(utcnow())
    doc = lineage.transaction(scope, cid)
    if doc is None:
        return None
    if doc.get("withheld_hops"):
        raise SpansScopes(
            f"{doc['withheld_hops']} hop(s) of {cid} are outside your scope; evidence covers whole transactions"
        )
    doc = _sealed_fields_only(doc)
    records = store.query_dicts(queries.HOP_RECORDS, {"cid": cid}, timeout_s=60)
    adopted: list[dict[str, Any]] = []
    if doc["related"]:
        ents = sorted({(r["EntityType"], r["EntityId"]) for r in records})
        adopted = store.query_dicts(queries.ADOPTED_RECORDS, {"cid": cid, "ents": ents}, timeout_s=60)
    hops, adopted_hops = _proofs(store, records), _proofs(store, adopted)
    involved = {h["sequence"] for h in hops + adopted_hops}
    seals = seals_from(store, min(involved))
    return {
        "format": FORMAT,
        "correlation_id": cid,
        "as_of_ms": as_of_ms,
        "public_key": public_pem(public),
        "key_fingerprint": fingerprint(public),
        "flows_yaml": flows_text(lineage),
        "document": doc,
        "hops": hops,
        "adopted_hops": adopted_hops,
        "seals": [s.to_json() for s in seals],
        "rotations": [r.to_json() for r in stored_rotations(store)],
    }


def seal_status(store: Store, cid: str) -> dict[str, Any]:
    """How many of a transaction's hops are sealed (the dashboard's badge)."""
    hops, sealed = store.query(queries.SEAL_STATUS, {"cid": cid})[0]
    full = hops > 0 and hops == sealed
    return {"correlation_id": cid, "hops": int(hops), "sealed": int(sealed), "fully_sealed": full}


def record_export(store: Store, actor: str, role: str, pack: dict[str, Any]) -> None:
    """Write the export to the access log of exports."""
    store.command(
        queries.INSERT_EXPORT,
        {
            "actor": actor,
            "role": role,
            "cid": pack["correlation_id"],
            "hops": len(pack["hops"]),
            "seals": len({h["sequence"] for h in pack["hops"]}),
            "latest": pack["seals"][-1]["sequence"],
        },
    )
