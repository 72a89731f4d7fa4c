"""The ``close`` rule kind: the close gate of lineage/close evaluated for alerts.

``at_risk``: one sample per legal entity whose period being closed (the month before ``now`` in
its time zone) is blocked with at most ``days_before`` days left to its deadline (or past it); the
value is the days left, the examples the blocking groups. ``decertified``: one sample per entity
whose signed period reads ``decertified``; the value is the number of groups that changed, the
examples the correlation IDs behind them (and behind the hops changed since sign-off).
"""

from __future__ import annotations

from typing import Any

from alerts.model import Sample
from alerts.rules import CloseExpr
from collector.store import Store
from lineage.auth.principal import Principal
from lineage.close.config import load_close
from lineage.close.periods import previous_period
from lineage.close.signoff import statuses
from lineage.core.flows import FlowConfig
from lineage.core.scope import EVERYTHING
from lineage.core.service import Lineage
from lineage.settings import LineageSettings

# The evaluator reads every entity whole, as the alert's recipients act for the entity.
_EVALUATOR = Principal("ledgerline-alerts", "admin", EVERYTHING)


def close_samples(store: Store, flows: FlowConfig, p: CloseExpr, now_ms: int) -> list[Sample]:
    """The rule's samples at ``now_ms`` (``LEDGERLINE_CLOSE``'s calendar, checked at start)."""
    calendar = load_close(flows)
    names = [p.legal_entity] if p.legal_entity else sorted(calendar.entities)
    unknown = [n for n in names if n not in calendar.entities]
    if unknown:
        raise ValueError(f"legal entity {unknown[0]!r} is not in the close calendar")
    settings = LineageSettings(clickhouse_url=store.dsn, clickhouse_database=store.database)
    svc = Lineage(settings, store, flows)
    by_period: dict[str, list[str]] = {}
    for le in names:
        by_period.setdefault(previous_period(now_ms, calendar.entities[le].time_zone), []).append(le)
    docs = {
        le: doc
        for period, les in by_period.items()
        for le, doc in zip(les, statuses(svc, calendar, _EVALUATOR, les, period), strict=True)
    }
    out = []
    for le in names:
        doc = docs[le]
        period = doc["period"]
        labels = {"legal_entity": le, "period": period}
        if p.check == "at_risk" and doc["status"] == "blocked" and doc["days_to_deadline"] <= p.days_before:
            out.append(Sample(labels, float(doc["days_to_deadline"]), _examples(doc, doc["blocking"])))
        elif p.check == "decertified" and doc["status"] == "decertified":
            changed = doc["sign_off"]["changed"]
            out.append(Sample(labels, float(len(changed)), _examples(doc, changed)))
    return out


def _examples(doc: dict[str, Any], groups: list[str]) -> tuple[str, ...]:
    """Up to five correlation IDs behind the named groups (the alert's examples)."""
    items = [i for g in groups if g in doc["groups"] for i in doc["groups"][g]["items"]]
    if "hops" in groups:  # the hops added, removed or altered since sign-off
        items += [i for change in doc["sign_off"]["hops"].values() for i in change["items"]]
    ids = [i["correlation_id"] for i in items if i.get("correlation_id")]
    return tuple(dict.fromkeys(ids))[:5]
