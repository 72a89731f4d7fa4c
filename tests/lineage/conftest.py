"""Fixtures of the lineage tests: the lineage schema on the shared test store, a real
OpenTelemetry SDK pipeline into the collector, and the lineage service."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from collector.settings import StoreSettings
from collector.store import Store, open_store
from ledgerline.schema import migrate_all
from lineage.core.flows import load_flows
from lineage.core.service import Lineage
from lineage.replay.document import replays_of
from lineage.settings import LineageSettings
from tests.conftest import start_collector
from tests.lineage import scenarios
from tests.lineage.helpers import Emitter

_SEQ = itertools.count()


def make_lineage(store: Store) -> Lineage:
    """The lineage service over ``store`` with the packaged flows and small stitching limits."""
    settings = LineageSettings(
        clickhouse_url=store.dsn, clickhouse_database=store.database, stitch_depth=2, stitch_fanout=5
    )
    return Lineage(settings, store, load_flows(), replays=replays_of(store))


@pytest.fixture
def lineage_store(store: Store) -> Store:
    """The test's store (every migration is applied by the ``store`` fixture)."""
    return store


@pytest.fixture
def lineage(lineage_store: Store) -> Lineage:
    """The lineage service over the test's own store."""
    return make_lineage(lineage_store)


@pytest.fixture
def emitter(collector: object, lineage_store: Store) -> Iterator[Emitter]:
    """Spans from the real OpenTelemetry SDK, exported over OTLP/HTTP to the collector."""
    em = Emitter(collector.http_endpoint, lineage_store)  # type: ignore[attr-defined]
    yield em
    em.close()


@dataclass
class Shared:
    """Every scenario, built once per module on a database of its own."""

    lineage: Lineage
    world: scenarios.World
    store: Store


@pytest.fixture(scope="module")
def shared(chdb_path: Path) -> Iterator[Shared]:
    """The scenarios of tests/lineage/scenarios.py, ingested through SDK and collector."""
    database = f"lineage_shared_{os.getpid()}_{next(_SEQ)}"
    store = open_store(StoreSettings(clickhouse_url=f"chdb://{chdb_path}", clickhouse_database=database))
    migrate_all(store)
    running = start_collector(store)
    em = Emitter(f"http://127.0.0.1:{running.http_port}/v1/traces", store)
    try:
        world = scenarios.build(em)
        yield Shared(make_lineage(store), world, store)
    finally:
        em.close()
        running.stop()
        store.command("DROP DATABASE IF EXISTS {db:Identifier}", {"db": database})
