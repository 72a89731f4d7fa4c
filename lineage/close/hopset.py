"""Which hops are a period's: the rule behind the gate's ``unsealed``, the certificate's
commitment and ``verify --store`` (the SQL is lineage/close/queries.py PERIOD_HOPS). Pure.

``business_date``: the hops whose business period is the period (their own ``biz.period``, else
``biz.posting_date``, else their hop time in the entity's time zone: the gate's rule), whenever
they arrived, among hops that ended up to LOOK_MS either side of it. ``hop_time``: the hops that
ended in the period, the rule of certificates signed before business dates (their figures name
no ``hops_rule``): they are still checked by it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lineage.close.periods import Period

# A business date may put a hop in a period other than its hop time's: the gate looks for the
# period's transactions among hops that ended up to this long before its start or after its end.
LOOK_MS = 14 * 86_400_000

BUSINESS_DATE = "business_date"
HOP_TIME = "hop_time"
RULES = (HOP_TIME, BUSINESS_DATE)
CURRENT = BUSINESS_DATE  # the rule of new certificates


def rule_of(figures: Mapping[str, Any]) -> str:
    """The rule signed figures were committed by (none named: ``hop_time``)."""
    return str(figures.get("hops_rule", HOP_TIME))


def params(p: Period, time_zone: str, rule: str = CURRENT) -> dict[str, Any]:
    """The bindings of PERIOD_HOPS for the period ``p`` of an entity in ``time_zone`` (the scope apart)."""
    if rule not in RULES:
        raise ValueError(f"unknown hops_rule {rule!r}; known: {', '.join(RULES)}")
    look = LOOK_MS if rule == BUSINESS_DATE else 0
    return {"since_ms": p.start_ms - look, "until_ms": p.end_ms + look, "period": p.name, "tz": time_zone,
            "rule": rule}  # fmt: skip
