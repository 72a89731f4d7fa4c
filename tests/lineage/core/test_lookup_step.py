"""A lookup reads its first stitching step, its edges and its withheld count in one query
(queries.LOOKUP_STEPS): on a seeded simulation (retries, dead letters, reversals and their
compensations, nightly batch journals, three flows) every document, for every caller scope and
for limits small enough to truncate hops, edges and related IDs, is the document the separate
queries gave, in fewer round trips."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from bench.lineage_lookup import Separate
from collector.store import Store
from ledgerline.simulator import FAULT_KINDS, SimConfig, run_simulation
from ledgerline.simulator.config import DEMO_FLOW_MIX
from lineage.core import service
from lineage.core.flows import load_flows
from lineage.core.scope import EVERYTHING, Scope
from lineage.core.service import Lineage
from lineage.replay.document import replays_of
from lineage.settings import LineageSettings
from tests.conftest import RunningCollector


def _counted(store: Store) -> list[str]:
    seen: list[str] = []
    real = store.query_columns

    def query_columns(sql: str, *args: Any, **kw: Any) -> Any:
        seen.append(sql)
        return real(sql, *args, **kw)

    store.query_columns = query_columns  # type: ignore[method-assign]
    return seen


def _simulate(collector: RunningCollector) -> None:
    config = SimConfig(
        seed=27,
        backfill_s=3 * 86400,
        backfill_count=120,
        endpoint=collector.http_endpoint,
        fault_rates=dict.fromkeys(FAULT_KINDS, 0.1),
        flow_mix=DEMO_FLOW_MIX,
        flow_fault_rates={"billing_lag": 0.1, "posting_reversed": 0.3, "crm_outage": 0.2},
        now_ns=time.time_ns(),
    )
    assert run_simulation(config, out=None).spans_failed == 0
    collector.store.command(_AUDITED)


# An audit hop of another legal entity and region on every 5th transaction's ledger entries:
# callers scoped away from it get documents with withheld hops.
_AUDITED = """
INSERT INTO otel_traces (Timestamp, TraceId, SpanId, ParentSpanId, TraceState, SpanName, SpanKind, ServiceName,
    ResourceAttributes, ScopeName, ScopeVersion, SpanAttributes, Duration, StatusCode, StatusMessage)
SELECT Timestamp + INTERVAL 1 MINUTE, TraceId, lower(substring(hex(MD5(concat('audit', SpanId))), 1, 16)), '', '',
    'ledger.audited', SpanKind, ServiceName, ResourceAttributes, ScopeName, ScopeVersion,
    mapUpdate(SpanAttributes, map('biz.step', 'ledger.audited', 'biz.legal_entity', 'LE-AUDIT',
        'biz.region', 'audit-region')), Duration, StatusCode, StatusMessage
FROM otel_traces
WHERE SpanAttributes['biz.entity.type'] = 'ledger' AND SpanAttributes['biz.step'] = 'ledger.posted'
    AND cityHash64(SpanAttributes['correlation.id']) % 5 = 0
"""


# (stitch depth, fanout, max hops, max edges, keys above which a step sends correlation IDs)
LIMITS = [(2, 50, 2000, 500, 1000), (2, 2, 3, 2, 1000), (1, 3, 2000, 1, 2), (0, 50, 2, 500, 1000)]


def test_documents_from_the_folded_step_are_the_separate_queries_documents(
    collector: RunningCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = collector.store
    _simulate(collector)
    frozen = datetime.now(UTC)  # the SLA and exception ages move with the clock: both paths see one "now"
    monkeypatch.setattr(service, "utcnow", lambda: frozen)
    monkeypatch.setattr("lineage.core.shape.utcnow", lambda: frozen)
    cids = [str(r[0]) for r in store.query("SELECT DISTINCT CorrelationId FROM hops ORDER BY CorrelationId")]
    places = store.query("SELECT DISTINCT toString(LegalEntity), toString(Region) FROM hops ORDER BY 1, 2")
    les = sorted({str(p[0]) for p in places if p[0]})
    regions = sorted({str(p[1]) for p in places if p[1]})
    scopes = [EVERYTHING, Scope(legal_entities=(les[0],)), Scope(regions=tuple(regions[:1])), Scope(("NONE",))]
    seen = _counted(store)
    compared = {"docs": 0, "related": 0, "hops_truncated": 0, "edges_omitted": 0, "related_omitted": 0,
                "withheld": 0, "exceptions": 0, "compensations": 0, "none": 0}  # fmt: skip
    queries_old = queries_new = 0
    for depth, fanout, max_hops, max_edges, max_keys in LIMITS:
        monkeypatch.setattr(service, "_MAX_KEY_PARAMS", max_keys)
        settings = LineageSettings(
            clickhouse_url=store.dsn,
            clickhouse_database=store.database,
            stitch_depth=depth,
            stitch_fanout=fanout,
            max_hops=max_hops,
            max_edges=max_edges,
        )
        old = Separate(settings, store, load_flows(), replays=replays_of(store))
        new = Lineage(settings, store, load_flows(), replays=replays_of(store))
        for scope in scopes:
            for cid in cids:
                before = len(seen)
                want = old.transaction(scope, cid)
                middle = len(seen)
                got = new.transaction(scope, cid)
                queries_old += middle - before
                queries_new += len(seen) - middle
                assert got == want, (cid, scope, depth, fanout, max_hops, max_edges, max_keys)
                if want is None:
                    compared["none"] += 1
                    continue
                compared["docs"] += 1
                compared["related"] += bool(want["related"])
                compared["hops_truncated"] += want["hops_truncated"]
                compared["edges_omitted"] += want["edges_omitted"] > 0
                compared["related_omitted"] += want["related_omitted"] > 0
                compared["withheld"] += want["withheld_hops"] > 0
                compared["exceptions"] += bool(want["exceptions"])
                compared["compensations"] += any(h.get("compensates") for h in want["hops"])
    # the comparison covered every kind of document it claims to
    assert all(n > 0 for n in compared.values()), str(compared)
    assert queries_new < queries_old, (queries_new, queries_old)
