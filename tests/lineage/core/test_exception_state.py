"""The exception-state rule is written twice: in SQL (``lineage.sql.exceptions.EXCEPTIONS_CTE``, behind the
listings, metrics and alert rules) and in Python (``checks.exceptions``, behind a transaction
document). On generated entity/step histories (failures, retries, dead letters, compensations,
later successes, acknowledgements and resolutions before and after the last failure), both
must give every exception the same state, closing time, attempts, category and last failure.
Spans go through the real materialized views of the embedded store."""

from __future__ import annotations

import random
import time
from typing import Any

from collector.store import Store
from lineage.core.scope import EVERYTHING
from lineage.core.window import Window
from lineage.sql import exceptions
from tests.lineage.conftest import make_lineage
from tests.lineage.core.test_keep import _COLUMNS, H, _span

FAILURES = ("failed", "retry", "dead_letter")
COMPARED = ("state", "resolved_at", "attempts", "category", "last_outcome", "first_seen", "last_seen", "system")


def _world(now_ms: int, n: int = 150) -> tuple[list[tuple[Any, ...]], list[dict[str, Any]]]:
    """Random attempt histories, each entity/step in a transaction of its own, and actions on them."""
    rng = random.Random(21)
    spans: list[tuple[Any, ...]] = []
    plans: list[dict[str, Any]] = []
    for i in range(n):
        cid, eid = f"E-{i}", f"LED-{i}"
        t = now_ms - rng.randrange(6 * H, 30 * H)
        spans.append(_span(cid, "support_credit", "invoice", f"INV-{i}", "invoice.issued", t - H))
        fails: list[int] = []
        for k in range(rng.randint(1, 4)):
            t += rng.choice([60_000, 10 * 60_000, H])
            outcome = rng.choice([*FAILURES, "ok", "compensated"]) if k else rng.choice(FAILURES)
            span = _span(cid, "support_credit", "ledger", eid, "ledger.posted", t, outcome=outcome,
                         **{"biz.system": rng.choice(["erp", "sap"])})  # fmt: skip
            if outcome in FAILURES:
                span[5]["biz.error.category"] = rng.choice(["timeout", "erp_unavailable", "tax_error"])
                fails.append(t)
            spans.append(span)
        plans.append({"cid": cid, "eid": eid, "last_fail": fails[-1], "t": t})
    return spans, plans


def test_sql_and_python_give_every_exception_the_same_state(store: Store) -> None:
    now_ms = time.time_ns() // 1_000_000
    spans, plans = _world(now_ms)
    store.insert("otel_traces", spans, _COLUMNS)
    lineage = make_lineage(store)
    window = Window(now_ms - 48 * H, now_ms, 10_000)
    listed = {e["id"]: e for e in lineage.exceptions(EVERYTHING, window, "", "", "")["exceptions"]}
    assert len(listed) == len(plans)

    rng = random.Random(7)
    by_cid = {e["correlation_id"]: e for e in listed.values()}
    for plan in plans:
        exc = by_cid[plan["cid"]]
        for _ in range(rng.choice([0, 0, 1, 2])):
            # before the last failure (ignored), between, or after it (decides)
            at = plan["last_fail"] + rng.choice([-2 * H, -60_000, 30_000, H])
            store.command(
                exceptions.INSERT_EXCEPTION_ACTION,
                {"id": exc["id"], "action": rng.choice(["ack", "resolve"]), "actor": "t@x", "note": "",
                 "at_ms": min(at, now_ms - 1000), "entity_type": "ledger", "entity_id": plan["eid"],
                 "step": "ledger.posted"},
            )  # fmt: skip

    listed = {e["id"]: e for e in lineage.exceptions(EVERYTHING, window, "", "", "")["exceptions"]}
    documented: dict[str, dict[str, Any]] = {}
    for plan in plans:
        doc = lineage.transaction(EVERYTHING, plan["cid"])
        assert doc is not None
        documented |= {e["id"]: e for e in doc["exceptions"]}
    assert set(documented) == set(listed)
    for exc_id, sql in listed.items():
        python = documented[exc_id]
        assert {k: python[k] for k in COMPARED} == {k: sql[k] for k in COMPARED}, exc_id
    # every branch of the rule is met, so the comparison is not vacuous
    states = [e["state"] for e in listed.values()]
    assert {"open", "acknowledged", "resolved"} <= set(states)
    auto = [e for e in listed.values() if e["state"] == "resolved" and e["resolved_at"]]
    assert auto and any(e["attempts"] > 1 for e in listed.values())
