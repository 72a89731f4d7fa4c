"""The one migration registry: every component's schema, applied in the same order everywhere.

``serve``, ``migrate``, ``alerts``, the benchmarks and the tests all call :func:`migrate_all`,
so a store is never left with one component's tables and not another's.

On a ClickHouse cluster (``LEDGERLINE_CLICKHOUSE_CLUSTER`` or ``migrate --cluster``) the same
migrations are rendered ``ON CLUSTER`` with :data:`CLUSTER_LAYOUT`, which places every table
(deploy/README.md explains the choices):

- raw spans sharded by trace; hops and the time-ordered copies (``hop_times``,
  ``hop_failures``) by correlation ID, so a transaction's hops live on one shard;
- the key tables by the key they are looked up by (``entity_edges`` and ``hop_keys`` by
  ``KeyId``, ``span_links`` by ``KeySpanId``), so a business-key lookup is one shard too;
- control tables (alerts, auth, replay, evidence, the exception trail) replicated to every
  node; leases in ``KeeperMap``.
"""

from __future__ import annotations

from alerts.schema import MIGRATIONS as ALERTS
from collector.schema import MIGRATIONS as COLLECTOR
from collector.store import Migration, Store, migrate
from collector.store.cluster import ClusterRenderer, Everywhere, Keeper, Layout, PerNode, Sharded
from collector.store.migrations import Render, recorded_versions, single_node
from collector.store.queries import CREATE_SCHEMA_MIGRATIONS
from lineage.auth.schema import MIGRATIONS as AUTH
from lineage.close.schema import MIGRATIONS as CLOSE
from lineage.evidence.retention import apply_retention
from lineage.evidence.schema import MIGRATIONS as EVIDENCE
from lineage.evidence.settings import EvidenceSettings
from lineage.replay.schema import MIGRATIONS as REPLAY
from lineage.schema import MIGRATIONS as LINEAGE

_EVERY = (*COLLECTOR, *LINEAGE, *AUTH, *EVIDENCE, *REPLAY, *ALERTS, *CLOSE)
MIGRATIONS: tuple[Migration, ...] = tuple(sorted(_EVERY, key=lambda m: m.version))

_BY_CORRELATION = Sharded("cityHash64(CorrelationId)")
_CONTROL = (
    "schema_migrations",
    "exception_actions",
    "api_tokens",
    "access_log",
    "seals",
    "seal_leaves",
    "sealed_spans",
    "evidence_exports",
    "seal_rotations",
    "replays",
    "replay_events",
    "alert_state",
    "alert_history",
    "alert_nflog",
    "alert_silences",
    "ticket_outbox",
    "exception_tickets",
    "close_signoffs",
    "close_certified_hops",
)
CLUSTER_LAYOUT: Layout = {
    "otel_traces": Sharded("cityHash64(TraceId)"),
    "otlp_ingest": PerNode(),
    "hops": _BY_CORRELATION,
    "hop_times": _BY_CORRELATION,
    "hop_failures": _BY_CORRELATION,
    "entity_edges": Sharded("cityHash64(KeyId)"),
    "hop_keys": Sharded("cityHash64(KeyId)"),
    "span_links": Sharded("cityHash64(KeySpanId)"),
    "hop_rollup": Sharded("cityHash64(Minute)"),
    "hop_rollup_dirty": Sharded("cityHash64(Minute)"),
    "hop_rollup_watermark": Sharded("cityHash64(Covers)"),
    "open_txns": _BY_CORRELATION,
    "leases": Keeper("Key"),
    **dict.fromkeys(_CONTROL, Everywhere()),
}


def renderer(cluster: str | None, database: str) -> Render:
    """How migrations are rendered for ``cluster`` (None: one node, statements as written)."""
    return single_node if cluster is None else ClusterRenderer(cluster, database, CLUSTER_LAYOUT).render


def render_all(cluster: str | None, database: str) -> str:
    """Every statement of every migration as SQL text (``migrate --print-sql``), nothing applied."""
    render = renderer(cluster, database)
    out = []
    if cluster is not None:
        out.append(f"-- database\n{ClusterRenderer(cluster, database, CLUSTER_LAYOUT).create_database()};\n")
    out += [f"-- schema_migrations\n{s.strip()};\n" for s in render(CREATE_SCHEMA_MIGRATIONS)]
    for migration in MIGRATIONS:
        out.append(f"-- migration {migration.version}: {migration.name}")
        out.extend(f"{rendered.strip()};\n" for s in migration.statements for rendered in render(s))
    return "\n".join(out)


def migrate_all(store: Store, cluster: str | None = None) -> list[int]:
    """Apply every migration the store lacks; return the versions applied.

    ``cluster`` defaults to the store's ``LEDGERLINE_CLICKHOUSE_CLUSTER``, so every command
    that migrates renders the same way."""
    cluster = cluster or store.settings.clickhouse_cluster
    if cluster is not None and pending(store):
        store.command(ClusterRenderer(cluster, store.database, CLUSTER_LAYOUT).create_database())
    return migrate(store, MIGRATIONS, renderer(cluster, store.database))


def pending(store: Store) -> list[int]:
    """Versions the store lacks, read without creating or changing anything."""
    done = recorded_versions(store)
    return [m.version for m in MIGRATIONS if m.version not in done]


def prepare_store(store: Store, tiers: EvidenceSettings) -> list[int]:
    """Migrate, then apply the retention tiers (re-applied whenever the settings change)."""
    cluster = store.settings.clickhouse_cluster
    applied = migrate_all(store, cluster)
    layout = None if cluster is None else ClusterRenderer(cluster, store.database, CLUSTER_LAYOUT)
    apply_retention(store, tiers.retention_raw_days, tiers.retention_lineage_days, layout)
    return applied
