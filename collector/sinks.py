"""Sinks for the batch writer: how a group of OTLP payloads becomes one insert.

With the embedded engine the insert's threads run in the collector's process: they get a
lower OS priority (``os_thread_priority``, a nice value; raising it needs no privilege), so
the receiver's event loop wins the CPU and health answers stay fast during a commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from collector import native, queries
from collector.otlp import parse_protobuf, to_rows
from collector.store import Store
from collector.writer import Payload, Sink

_YIELDING = {"os_thread_priority": 10}


def _settings(store: Store, settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings`` for an insert into ``store``: yielding the CPU when the engine is ours."""
    return {**settings, **_YIELDING} if store.embedded else dict(settings)


class NativeSink:
    """ClickHouse decodes the protobuf itself: one length-delimited insert per batch.

    Payloads are requests normalised by :func:`collector.normalize.normalise` (the export
    call does it); the staging view relies on that for rows identical to the Python decoder's.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._settings = _settings(store, native.INSERT_SETTINGS)

    def __call__(self, batch: Sequence[Payload]) -> None:
        data = native.frame([payload.body for payload in batch])
        self._store.insert_raw("otlp_ingest", data, "Protobuf", self._settings)


class RowSink:
    """Python decodes to rows and inserts them (for servers without inline schemas).

    Payloads were checked against the accepted time window when received; the rows keep
    only the storable range's check, so nothing acknowledged is dropped at commit time.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._settings = _settings(store, queries.INSERT_SETTINGS)

    def __call__(self, batch: Sequence[Payload]) -> None:
        self.insert([row for payload in batch for row in to_rows(parse_protobuf(payload.body)).rows])

    def insert(self, rows: Sequence[Sequence[object]]) -> None:
        """Insert ``otel_traces`` rows (from :func:`collector.otlp.to_rows`) in one block."""
        self._store.insert(queries.OTEL_TRACES_TABLE, rows, queries.OTEL_TRACES_COLUMNS, settings=self._settings)


def make_sink(store: Store, decoder: str) -> Sink:
    """The sink for ``decoder``: ``clickhouse`` (native, default) or ``python``."""
    return RowSink(store) if decoder == "python" else NativeSink(store)
