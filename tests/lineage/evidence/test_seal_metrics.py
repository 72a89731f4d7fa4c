"""The sealer's own health on its metrics: seals and hops, pass duration, lag, failures by reason.

Hops go in through the real SDK and collector; the metrics are read as ``/metrics`` serves them.
"""

from __future__ import annotations

import math
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import CollectorRegistry

from collector.store import Store
from collector.store.errors import StoreError
from lineage.evidence.errors import WrongSealKey
from lineage.evidence.metrics import SealMetrics
from lineage.evidence.sealer import Sealer
from lineage.evidence.service import EvidenceService
from lineage.evidence.settings import EvidenceSettings
from tests.lineage.helpers import HOUR, Emitter, complete_txn, now_ns
from tests.metrics import read


def _service(store: Store, key: Ed25519PrivateKey, registry: CollectorRegistry) -> EvidenceService:
    settings = EvidenceSettings(clickhouse_url=store.dsn, clickhouse_database=store.database, seal_interval_s=3600)
    return EvidenceService(settings, store, key=key, registry=registry)


def test_seals_hops_and_lag_are_reported(emitter: Emitter, evidence_store: Store, key: Ed25519PrivateKey) -> None:
    registry = CollectorRegistry()
    evidence = _service(evidence_store, key, registry)
    idle = read(registry)
    assert math.isnan(idle.get("ledgerline_seal_lag_seconds"))  # not sealing here (yet)
    assert idle.get("ledgerline_sealer_leading") == 0
    assert idle.get("ledgerline_seal_last_success_timestamp_seconds") == 0

    complete_txn(emitter, "C-M1", now_ns() - 2 * HOUR)
    emitter.wait()
    started = time.time()
    evidence.start()  # seals every hour: the thread waits, the process seals
    try:
        assert evidence.sealer.seal_now() is not None
        assert evidence.sealer.seal_now() is None  # nothing new: a successful pass all the same
        scraped = read(registry)
        assert scraped.get("ledgerline_seals_total") == 1
        assert scraped.get("ledgerline_sealed_hops_total") == 4
        assert scraped.get("ledgerline_seal_duration_seconds_count") == 2
        assert scraped.get("ledgerline_sealer_leading") == 1
        sealed_through = scraped.get("ledgerline_seal_last_success_timestamp_seconds")
        assert abs(sealed_through - started) < 600  # the store's clock: about now
        lag = scraped.get("ledgerline_seal_lag_seconds")
        assert 0 <= lag <= time.time() - min(started, sealed_through) + 1
        assert all(scraped.get("ledgerline_seal_failures_total", reason=r) == 0 for r in ("store", "key", "other"))
    finally:
        evidence.stop()
    assert math.isnan(read(registry).get("ledgerline_seal_lag_seconds"))  # stopped: not sealing


def test_a_failed_pass_is_counted_by_reason(emitter: Emitter, evidence_store: Store, key: Ed25519PrivateKey) -> None:
    registry = CollectorRegistry()
    evidence = _service(evidence_store, key, registry)
    complete_txn(emitter, "C-M2", now_ns() - 2 * HOUR)
    emitter.wait()
    assert evidence.sealer.seal_now() is not None
    evidence_store.command("DETACH TABLE seals")
    try:
        with pytest.raises(StoreError):
            evidence.sealer.seal_now()
    finally:
        evidence_store.command("ATTACH TABLE seals")
    scraped = read(registry)
    assert scraped.get("ledgerline_seal_failures_total", reason="store") == 1
    assert scraped.get("ledgerline_seal_failures_total", reason="key") == 0
    assert scraped.get("ledgerline_seals_total") == 1
    # Another key than the store's: refused, and counted as such.
    foreign = CollectorRegistry()
    other = Sealer(evidence_store, Ed25519PrivateKey.generate(), metrics=SealMetrics(foreign))
    with pytest.raises(WrongSealKey):
        other.seal_now()
    assert read(foreign).get("ledgerline_seal_failures_total", reason="key") == 1
