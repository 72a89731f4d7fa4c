"""Close certificates against the store (``ledgerline verify --store``): each certificate must
verify with a key of the seal key chain, the hops kept with it must be the ones it commits to,
and the hops of its period today are compared with them: hops removed or altered since sign-off
fail the check (certified data changed); hops added since are named as what decertified it."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from collector.store import Store
from lineage.close import certificate, hopset
from lineage.close import queries as q
from lineage.close.config import CloseConfig
from lineage.close.periods import period as period_of
from lineage.evidence import merkle
from lineage.evidence.keys import fingerprint

SHOWN = 5  # hops named per difference


@dataclass
class CertificateReport:
    """What the check found: certificates checked, failures, and hops added since sign-off."""

    checked: int = 0
    failures: list[str] = field(default_factory=list)
    decertified: list[str] = field(default_factory=list)


def _named(keys: Sequence[tuple[str, str]]) -> str:
    shown = ", ".join(f"{t}/{s}" for t, s in list(keys)[:SHOWN])
    return shown + (f" and {len(keys) - SHOWN} more" if len(keys) > SHOWN else "")


def verify_certificates(
    store: Store, keys: Sequence[Ed25519PublicKey], calendar: CloseConfig, progress: Callable[[str], None]
) -> CertificateReport:
    """Check every close certificate stored (see the module's docstring)."""
    report = CertificateReport()
    by_fingerprint = {fingerprint(k): k for k in keys}
    for row in store.query_dicts(q.CERTIFICATES):
        cert = json.loads(row["certificate"])
        name = f"close certificate {row['legal_entity']} {row['period']} round {row['round']}"
        report.checked += 1
        key = by_fingerprint.get(str(cert.get("key_fingerprint")))
        problems = certificate.verify(cert, key) if key else ["key_fingerprint: not a key of the seal key chain"]
        if problems:
            report.failures += [f"{name}: {p}" for p in problems]
            continue
        rows = store.query_dicts(q.CERTIFIED_HOPS, {"le": row["legal_entity"], "period": row["period"],
                                                   "round": row["round"]})  # fmt: skip
        kept = list({(h["trace_id"], h["span_id"]): h for h in rows}.values())  # in (trace, span) order
        root = merkle.root([bytes.fromhex(h["leaf"]) for h in kept]).hex()
        if (len(kept), root) != (cert["figures"]["hops"], cert["figures"]["hops_root"]):
            report.failures.append(f"{name}: the hops kept with it are not the ones it commits to (hops_root differs)")
            continue
        entity = calendar.entities.get(row["legal_entity"])
        if entity is None:
            report.failures.append(f"{name}: legal entity not in the close calendar; its period cannot be read")
            continue
        p = period_of(row["period"], entity.time_zone, calendar.deadline_business_days)
        try:  # the period's hops by the rule the certificate was signed by
            period_hops = hopset.params(p, entity.time_zone, hopset.rule_of(cert["figures"]))
        except ValueError as exc:
            report.failures.append(f"{name}: {exc}")
            continue
        scope = {"scope_le": [row["legal_entity"]], "scope_rg": []}
        now = store.query_dicts(q.PERIOD_LEAVES, scope | period_hops)
        diff = {k: [(h["trace_id"], h["span_id"]) for h in v] for k, v in certificate.hop_changes(kept, now).items()}
        removed, altered, added = diff["removed"], diff["altered"], diff["added"]
        if removed:
            report.failures.append(f"{name}: {len(removed)} certified hop(s) removed: {_named(removed)}")
        if altered:
            report.failures.append(f"{name}: {len(altered)} certified hop(s) altered: {_named(altered)}")
        if added:
            report.decertified.append(f"{name}: {len(added)} hop(s) added since sign-off: {_named(added)}")
        progress(f"  {name}: {len(kept)} hops, {len(added)} added, {len(removed)} removed")
    return report
