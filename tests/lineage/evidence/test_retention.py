"""Retention tiers: TTLs from settings, applied when they differ, re-applied when changed."""

from __future__ import annotations

from collector.store import Store
from lineage.evidence.retention import LINEAGE, apply_retention, current_ttl

_ENGINES = "SELECT name, engine_full FROM system.tables WHERE database = currentDatabase()"


def _ttls(store: Store) -> dict[str, tuple[str, int] | None]:
    return {name: current_ttl(engine) for name, engine in store.query(_ENGINES)}


def test_tiers_are_applied_and_reapplied_when_changed(evidence_store: Store) -> None:
    changed = apply_retention(evidence_store, 30, 2557)
    ttls = _ttls(evidence_store)
    assert ttls["otel_traces"] == ("Timestamp", 30)
    lineage_tables = [t for t in LINEAGE if t in ttls]
    assert {"hops", "entity_edges", "hop_keys", "span_links", "seals", "seal_leaves", "exception_actions"} <= set(
        lineage_tables
    )
    assert all(ttls[t] == (LINEAGE[t], 2557) for t in lineage_tables)
    assert set(changed) == {"otel_traces", *lineage_tables}
    assert apply_retention(evidence_store, 30, 2557) == []  # unchanged settings: nothing to do
    assert apply_retention(evidence_store, 7, 2557) == ["otel_traces"]
    assert _ttls(evidence_store)["otel_traces"] == ("Timestamp", 7)
    assert ttls["schema_migrations"] is None  # bookkeeping has no tier
