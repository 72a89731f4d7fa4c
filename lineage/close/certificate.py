"""The close certificate: a gate's figures frozen at sign-off, who prepared and reviewed them,
and a commitment to exactly the hops behind them (the RFC 9162 Merkle root over their seal leaf
hashes, as the seals use), signed with the seal key. Pure.

Each field is hashed on its own and the signature covers those hashes, so a certificate altered
offline names the field that changed (a field whose hash no longer matches), and an altered hash
list fails the signature.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lineage.close.hopset import rule_of
from lineage.evidence import merkle
from lineage.evidence.keys import fingerprint, verify_signature

KIND = "ledgerline.close-certificate"
FIELDS = (
    "kind",
    "legal_entity",
    "period",
    "time_zone",
    "figures",
    "prepared_by",
    "prepared_at",
    "reviewed_by",
    "reviewed_at",
    "key_fingerprint",
)
GROUPS = (
    "not_posted",
    "cut_off",
    "open_exceptions",
    "replays",
    "reconciliation_breaks",
    "missing_journals",
    "unsealed",
)


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def figures(gate: dict[str, Any], leaf_hashes: Sequence[bytes], rule: str) -> dict[str, Any]:
    """What a sign-off freezes: each group's count and money, and the hops behind them (the
    period's hops by ``rule``, lineage/close/hopset.py, named so they are read again by it)."""
    return {
        "groups": {
            name: {"count": gate["groups"][name]["count"], "money": gate["groups"][name]["money"]} for name in GROUPS
        },
        "hops": len(leaf_hashes),
        "hops_root": merkle.root(list(leaf_hashes)).hex(),
        "hops_rule": rule,
    }


def changes(signed: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs between signed figures and today's: group names, and ``hops``."""
    # A certificate signed before a group existed is compared on the groups it froze.
    out = [g for g in GROUPS if g in signed["groups"] and signed["groups"][g] != now["groups"].get(g)]
    hops = (signed["hops"], signed["hops_root"], rule_of(signed))
    if hops != (now["hops"], now["hops_root"], rule_of(now)):
        out.append("hops")
    return out


def hop_changes(kept: Sequence[Mapping[str, str]], now: Sequence[Mapping[str, str]]) -> dict[str, list[dict[str, str]]]:
    """The hops ``added``, ``removed`` and ``altered`` (another leaf hash) between the hops kept
    with a certificate and the period's hops today (rows of trace_id, span_id, leaf and, when
    known, correlation_id), each in (trace, span) order."""
    before = {(r["trace_id"], r["span_id"]): r for r in kept}
    after = {(r["trace_id"], r["span_id"]): r for r in now}

    def item(r: Mapping[str, str]) -> dict[str, str]:
        return {"trace_id": r["trace_id"], "span_id": r["span_id"], "correlation_id": r.get("correlation_id", "")}

    both = sorted(before.keys() & after.keys())
    return {
        "added": [item(after[k]) for k in sorted(after.keys() - before.keys())],
        "removed": [item(before[k]) for k in sorted(before.keys() - after.keys())],
        "altered": [item(after[k]) for k in both if before[k]["leaf"].lower() != after[k]["leaf"].lower()],
    }


def sign(body: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """``body`` (the FIELDS but ``kind`` and ``key_fingerprint``) as a signed certificate."""
    cert = {"kind": KIND, **body, "key_fingerprint": fingerprint(key.public_key())}
    hashes = {f: hashlib.sha256(_canonical(cert[f])).hexdigest() for f in FIELDS}
    signature = key.sign(_canonical(hashes))
    return cert | {"field_hashes": hashes, "signature": base64.b64encode(signature).decode()}


def verify(cert: dict[str, Any], public: Ed25519PublicKey) -> list[str]:
    """Problems with a certificate, each naming the field at fault; empty when it verifies."""
    problems = [f"{f}: missing" for f in (*FIELDS, "field_hashes", "signature") if f not in cert]
    if problems:
        return problems
    if cert["kind"] != KIND:
        return [f"kind: not a close certificate ({cert['kind']!r})"]
    hashes = cert["field_hashes"]
    if not isinstance(hashes, dict) or set(hashes) != set(FIELDS):
        return ["field_hashes: altered (not the certificate's fields)"]
    try:
        signature = base64.b64decode(cert["signature"], validate=True)
    except ValueError:
        return ["signature: not base64"]
    if cert["key_fingerprint"] != fingerprint(public):
        problems.append("key_fingerprint: not this public key's (a different key, or the field was altered)")
    elif not verify_signature(public, signature, _canonical(hashes)):
        return ["signature: does not match field_hashes (the hashes or the signature were altered)"]
    problems += [
        f"{f}: altered since signing" for f in FIELDS if hashlib.sha256(_canonical(cert[f])).hexdigest() != hashes[f]
    ]
    return problems
