"""What a caller limited to a scope sees of the alerts.

The evaluator computes every alert over the whole store, once, for everybody. An alert's
labels (rule, system, region, category, stage...) and value are aggregates; its examples
(correlation IDs, in the ``correlation_ids`` annotation and wherever a template rendered
``{{ $examples }}``) point at single transactions. For a caller whose scope is limited:

- an alert is shown only when at least one of its examples has a hop in the scope
  (checked in SQL); an alert with no example in scope, or with no examples at all, is
  hidden, since nothing shows it concerns the caller;
- a shown alert lists only its in-scope examples; an annotation that would still name an
  out-of-scope example is dropped.

An unrestricted caller sees every alert unchanged, and no query runs.
"""

from __future__ import annotations

from alerts import queries
from alerts.model import Alert
from collector.store import Store
from lineage.core.scope import Scope

_SEP = ", "  # how the evaluator joins examples (alerts/evaluator.py, alerts/model.py render)
Held = list[tuple[Alert, list[str]]]


def examples(alert: Alert) -> list[str]:
    """The example correlation IDs the evaluator recorded on ``alert``."""
    text = alert.annotations.get("correlation_ids", "")
    return [x for x in text.split(_SEP) if x]


def redact(alert: Alert, allowed: set[str]) -> Alert | None:
    """``alert`` with only the ``allowed`` examples, or None when none of its examples is."""
    every = examples(alert)
    kept = [x for x in every if x in allowed]
    if not kept:
        return None
    withheld = [x for x in every if x not in allowed]
    if not withheld:
        return alert
    full, cut = _SEP.join(every), _SEP.join(kept)
    notes = {}
    for key, value in alert.annotations.items():
        value = value.replace(full, cut)
        if not any(x in value for x in withheld):  # a partial rendering: drop rather than leak
            notes[key] = value
    return alert.with_(annotations=notes)


def visible(store: Store, scope: Scope, held: Held) -> Held:
    """The alerts ``scope`` may see, their examples cut to those in scope."""
    if scope.unrestricted:
        return held
    ids = sorted({x for alert, _ in held for x in examples(alert)})
    allowed = {str(r[0]) for r in store.query(queries.IN_SCOPE_IDS, {"ids": ids} | scope.params())} if ids else set()
    out = []
    for alert, silenced_by in held:
        shown = redact(alert, allowed)
        if shown is not None:
            out.append((shown, silenced_by))
    return out
