"""Sign-off of a close gate: a preparer, then a different reviewer (four-eyes), each on the
gate's figures as they are; the review signs the certificate (lineage/close/certificate.py).
After sign-off, any change to the figures or to the period's hops (lineage/close/hopset.py)
shows the period as ``decertified`` with what changed and the hops added, removed or altered;
the sign-off stays on record and a new round (a new preparer and reviewer) can sign again once
the gate is ready."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lineage.auth.principal import Principal, same_subject
from lineage.close import certificate, hopset
from lineage.close import queries as q
from lineage.close.config import CloseConfig
from lineage.close.errors import SignOffRefused
from lineage.close.groups import LIMIT
from lineage.close.periods import period as period_of
from lineage.close.service import gate, gates, reaches
from lineage.core.service import Lineage
from lineage.core.shape import iso
from lineage.core.timeparse import to_ms, utcnow


def _rounds(svc: Lineage, le: str, period: str) -> list[dict[str, Any]]:
    return svc.store.query_dicts(q.SIGNOFFS, {"le": le, "period": period})


def _hops(cfg: CloseConfig, le: str, period: str, rule: str) -> dict[str, Any]:
    """The bindings of the period's hops of the whole entity by ``rule`` (lineage/close/hopset.py)."""
    entity = cfg.entities[le]
    p = period_of(period, entity.time_zone, cfg.deadline_business_days)
    return {"scope_le": [le], "scope_rg": []} | hopset.params(p, entity.time_zone, rule)


def _leaves(svc: Lineage, cfg: CloseConfig, le: str, period: str, rule: str) -> list[dict[str, Any]]:
    return svc.store.query_dicts(q.PERIOD_LEAVES, _hops(cfg, le, period, rule))


def _figures(doc: dict[str, Any], leaves: list[dict[str, Any]], rule: str = hopset.CURRENT) -> dict[str, Any]:
    return certificate.figures(doc, [bytes.fromhex(r["leaf"]) for r in leaves], rule)


def status(svc: Lineage, cfg: CloseConfig, principal: Principal, le: str, period: str) -> dict[str, Any]:
    """The gate with its sign-off: ``signed`` while the certificate's figures still hold,
    ``decertified`` (with ``changed``) once they do not; the rounds on record."""
    return _signed(svc, cfg, principal, le, period, gate(svc, cfg, principal.scope, le, period))


def statuses(
    svc: Lineage, cfg: CloseConfig, principal: Principal, entities: list[str], period: str
) -> list[dict[str, Any]]:
    """:func:`status` of each of ``entities``, the gates read together (service.gates)."""
    docs = gates(svc, cfg, principal.scope, entities, period)
    return [_signed(svc, cfg, principal, le, period, doc) for le, doc in zip(entities, docs, strict=True)]


def _signed(
    svc: Lineage, cfg: CloseConfig, principal: Principal, le: str, period: str, doc: dict[str, Any]
) -> dict[str, Any]:
    rounds = _rounds(svc, le, period)
    signed = [r for r in rounds if r["action"] == "reviewed"]
    doc["sign_off"] = {
        "rounds": [
            {"round": r["round"], "action": r["action"], "subject": r["subject"], "at": iso(r["at_ms"])} for r in rounds
        ]
    }
    if signed and _whole(principal, le):  # the status of a sign-off speaks for the whole entity
        cert = json.loads(signed[-1]["certificate"])
        rule = hopset.rule_of(cert["figures"])  # a certificate is read by the rule it was signed by
        try:
            leaves = _leaves(svc, cfg, le, period, rule)
        except ValueError:  # a rule this release does not know
            changed, hops = ["hops_rule"], _no_hops()
        else:
            changed = certificate.changes(cert["figures"], _figures(doc, leaves, rule))
            hops = _hops_changed(svc, le, period, signed[-1]["round"], leaves) if "hops" in changed else _no_hops()
        doc["status"] = "decertified" if changed else "signed"
        doc["sign_off"] |= {"certificate_round": signed[-1]["round"], "changed": changed, "hops": hops}
    return doc


def _hops_changed(svc: Lineage, le: str, period: str, number: int, leaves: list[dict[str, Any]]) -> dict[str, Any]:
    """The hops of the period added, removed and altered since the certificate of round
    ``number`` (each: a count and the first LIMIT, with their correlation IDs when known)."""
    kept = svc.store.query_dicts(q.CERTIFIED_HOPS, {"le": le, "period": period, "round": number})
    found = certificate.hop_changes(kept, leaves)
    return {k: {"count": len(v), "items": v[:LIMIT]} for k, v in found.items()}


def _no_hops() -> dict[str, Any]:
    return {k: {"count": 0, "items": []} for k in ("added", "removed", "altered")}


def _whole(principal: Principal, le: str) -> bool:
    """A sign-off speaks for the whole entity: only a caller who sees all of its hops may sign."""
    return not principal.scope.regions and reaches(principal.scope, le)


def _at() -> datetime:
    return datetime.fromtimestamp(to_ms(utcnow()) / 1000, tz=UTC)


def prepare(svc: Lineage, cfg: CloseConfig, principal: Principal, le: str, period: str) -> dict[str, Any]:
    """Record ``principal`` as the preparer of a ready gate (a new round after a decertification)."""
    if not _whole(principal, le):
        raise SignOffRefused("a sign-off needs a credential that sees all of the legal entity", 403)
    doc = status(svc, cfg, principal, le, period)
    if doc["status"] != "ready":
        raise SignOffRefused(f"the gate is {doc['status']}, not ready: {', '.join(doc['blocking']) or 'signed'}", 409)
    rounds = _rounds(svc, le, period)
    last = rounds[-1] if rounds else None
    number = (last["round"] + 1) if last and last["action"] == "reviewed" else (last["round"] if last else 1)
    figures = _figures(doc, _leaves(svc, cfg, le, period, hopset.CURRENT))
    row = [le, period, number, "prepared", principal.subject, _at(), json.dumps(figures), ""]
    svc.store.insert(q.INSERT_SIGNOFF, [row], q.SIGNOFF_COLUMNS)
    return status(svc, cfg, principal, le, period)


def review(
    svc: Lineage, cfg: CloseConfig, principal: Principal, key: Ed25519PrivateKey, le: str, period: str
) -> dict[str, Any]:
    """Sign the prepared round as its reviewer (never its preparer) while the figures are the
    prepared ones; the certificate is stored with the review."""
    if not _whole(principal, le):
        raise SignOffRefused("a sign-off needs a credential that sees all of the legal entity", 403)
    rounds = _rounds(svc, le, period)
    prepared = next((r for r in reversed(rounds) if r["action"] == "prepared"), None)
    if prepared is None or any(r["action"] == "reviewed" and r["round"] == prepared["round"] for r in rounds):
        raise SignOffRefused("nothing to review: prepare the gate first", 409)
    if same_subject(prepared["subject"], principal.subject):
        raise SignOffRefused("four-eyes: the reviewer must not be the preparer", 403)
    doc = gate(svc, cfg, principal.scope, le, period)
    figures = _figures(doc, _leaves(svc, cfg, le, period, hopset.CURRENT))
    changed = certificate.changes(json.loads(prepared["figures"]), figures)
    if changed or doc["status"] != "ready":
        raise SignOffRefused(
            f"the figures changed since preparation ({', '.join(changed) or doc['status']}): prepare again", 409
        )
    at = _at()
    cert = certificate.sign(
        {
            "legal_entity": le,
            "period": period,
            "time_zone": cfg.entities[le].time_zone,
            "figures": figures,
            "prepared_by": prepared["subject"],
            "prepared_at": iso(prepared["at_ms"]),
            "reviewed_by": principal.subject,
            "reviewed_at": iso(int(at.timestamp() * 1000)),
        },
        key,
    )
    keep = _hops(cfg, le, period, hopset.CURRENT) | {"le": le, "round": prepared["round"]}
    svc.store.command(q.CERTIFY_HOPS, keep)  # the hops behind the certificate, before the review that names them
    row = [le, period, prepared["round"], "reviewed", principal.subject, at, json.dumps(figures), json.dumps(cert)]
    svc.store.insert(q.INSERT_SIGNOFF, [row], q.SIGNOFF_COLUMNS)
    return status(svc, cfg, principal, le, period)


def latest_certificate(svc: Lineage, le: str, period: str) -> dict[str, Any] | None:
    """The certificate of the latest signed round, if any."""
    signed = [r for r in _rounds(svc, le, period) if r["action"] == "reviewed"]
    return json.loads(signed[-1]["certificate"]) if signed else None
