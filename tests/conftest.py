"""Shared fixtures: a real embedded ClickHouse store and a real collector on loopback.

chdb allows one data directory per process, so every test in a session shares one
directory and isolates itself with a database of its own.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.service import Collector
from collector.settings import CollectorSettings, StoreSettings
from collector.store import Store, open_store
from ledgerline.schema import migrate_all

_COUNTER = itertools.count()


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's one embedded-store directory."""
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LEDGERLINE_* variable of the developer's shell leaks into a test."""
    for key in list(os.environ):
        if key.startswith("LEDGERLINE_"):
            monkeypatch.delenv(key)


@pytest.fixture
def store_settings(chdb_path: Path, request: pytest.FixtureRequest) -> StoreSettings:
    """Settings for a fresh database on the session's embedded store."""
    name = f"t{os.getpid()}_{next(_COUNTER)}_{request.node.name}"[:60]
    database = "".join(ch if ch.isalnum() else "_" for ch in name)
    return StoreSettings(clickhouse_url=f"chdb://{chdb_path}", clickhouse_database=database)


@pytest.fixture
def store(store_settings: StoreSettings) -> Iterator[Store]:
    """An opened store on a fresh database, with every component's migrations applied."""
    opened = open_store(store_settings)
    migrate_all(opened)
    yield opened
    opened.command("DROP DATABASE IF EXISTS {db:Identifier}", {"db": opened.database})


class RunningCollector:
    """Handles to a collector started by the ``collector`` fixture."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self.store = collector.store
        self.http_url = f"http://127.0.0.1:{collector.http_port}"
        self.http_endpoint = f"{self.http_url}/v1/traces"
        self.grpc_target = f"127.0.0.1:{collector.grpc_port}"


def start_collector(store: Store, **overrides: object) -> Collector:
    """A collector on loopback with ephemeral ports, sharing ``store``."""
    settings = CollectorSettings(
        clickhouse_url=store.dsn,
        clickhouse_database=store.database,
        host="127.0.0.1",
        http_port=0,
        grpc_port=0,
        shutdown_timeout_s=10,
        **overrides,  # type: ignore[arg-type]
    )
    collector = Collector(settings, store=store)
    collector.start()
    return collector


@pytest.fixture
def collector(store: Store) -> Iterator[RunningCollector]:
    """A running collector (OTLP/HTTP and gRPC) bound to the test's store."""
    running = start_collector(store)
    yield RunningCollector(running)
    running.stop()
