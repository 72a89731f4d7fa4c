"""Fixtures of the lineage tests: the lineage schema on the shared test store, a real
OpenTelemetry SDK pipeline into the collector, and the lineage service."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from collector.migrations import migrate
from collector.store import Store
from lineage import schema
from lineage.flows import load_flows
from lineage.service import Lineage
from lineage.settings import LineageSettings
from tests.lineage.helpers import Emitter


@pytest.fixture
def lineage_store(store: Store) -> Store:
    """The test's store with the lineage migrations applied."""
    migrate(store, schema.MIGRATIONS)
    return store


@pytest.fixture
def lineage_settings(lineage_store: Store) -> LineageSettings:
    """Settings pointing at the test's store, with small stitching limits."""
    return LineageSettings(
        clickhouse_url=lineage_store.dsn, clickhouse_database=lineage_store.database,
        stitch_depth=2, stitch_fanout=5,
    )


@pytest.fixture
def lineage(lineage_settings: LineageSettings, lineage_store: Store) -> Lineage:
    """The lineage service over the test's store and the packaged flows."""
    return Lineage(lineage_settings, lineage_store, load_flows())


@pytest.fixture
def emitter(collector: object, lineage_store: Store) -> Iterator[Emitter]:
    """Spans from the real OpenTelemetry SDK, exported over OTLP/HTTP to the collector."""
    em = Emitter(collector.http_endpoint, lineage_store)  # type: ignore[attr-defined]
    yield em
    em.close()
