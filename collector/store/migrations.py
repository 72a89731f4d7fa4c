"""The migration runner: versioned, idempotent schema changes recorded in ``schema_migrations``.

Each component owns its migrations (collector/schema.py, lineage/schema.py, alerts/schema.py,
...) as :class:`Migration` tuples; one registry at the composition root
(ledgerline/schema.py) applies the same ordered set everywhere: ``serve``, ``migrate``,
``alerts``, benchmarks and tests. Statements are safe to run twice (``IF NOT EXISTS``), so
a migration interrupted half-way is simply run again.

On a cluster the same statements go through a renderer (collector/store/cluster.py) that
returns each one's ``ON CLUSTER`` form; ``schema_migrations`` is then replicated to every
node, so any node knows which versions the cluster has. Run one ``migrate`` at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from collector.store import queries
from collector.store.client import Store

log = logging.getLogger(__name__)

# One single-node statement -> the statements to run (the cluster form, or itself).
Render = Callable[[str], list[str]]


def single_node(statement: str) -> list[str]:
    """The single-node rendering: every statement exactly as written."""
    return [statement]


@dataclass(frozen=True)
class Migration:
    """One schema version: statements that are each safe to run again."""

    version: int
    name: str
    statements: tuple[str, ...]


def modify_codecs(table: str, columns: Sequence[tuple[str, str, str]]) -> str:
    """One ``ALTER TABLE`` setting the codec of each (column, type, codec). The type is restated
    exactly as the table has it: ``MODIFY COLUMN`` with a new type would rewrite the column."""
    actions = ", ".join(f"MODIFY COLUMN {name} {type_} CODEC({codec})" for name, type_, codec in columns)
    return f"ALTER TABLE {table} {actions}"


def recorded_versions(store: Store) -> set[int]:
    """Versions recorded in ``schema_migrations``; none when it does not exist (nothing is created)."""
    if not store.query(queries.SCHEMA_MIGRATIONS_EXISTS)[0][0]:
        return set()
    return {int(row[0]) for row in store.query(queries.SELECT_APPLIED_VERSIONS)}


def applied_versions(store: Store, render: Render = single_node) -> set[int]:
    """Versions already recorded in ``schema_migrations`` (created first if missing).

    The ledger is created only when missing, so an up-to-date cluster sees no DDL at all."""
    if not store.query(queries.SCHEMA_MIGRATIONS_EXISTS)[0][0]:
        for statement in render(queries.CREATE_SCHEMA_MIGRATIONS):
            store.command(statement)
    return recorded_versions(store)


def migrate(store: Store, migrations: Sequence[Migration], render: Render = single_node) -> list[int]:
    """Apply every migration not yet recorded, in version order; return the versions applied."""
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration versions in {sorted(versions)}")
    done = applied_versions(store, render)
    applied: list[int] = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in done:
            continue
        log.info("applying migration %d: %s", migration.version, migration.name)
        for statement in migration.statements:
            for rendered in render(statement):
                store.command(rendered)
        store.insert("schema_migrations", [[migration.version, migration.name]], column_names=["version", "name"])
        applied.append(migration.version)
    return applied
