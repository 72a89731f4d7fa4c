"""Fixtures of the evidence tests: the evidence schema on the lineage test store, a seal key
and the evidence service over it."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.store import Store
from lineage.evidence.service import EvidenceService
from lineage.evidence.settings import EvidenceSettings


@pytest.fixture
def evidence_store(lineage_store: Store) -> Store:
    """The test's store (every migration, evidence's too, is applied by the ``store`` fixture)."""
    return lineage_store


@pytest.fixture
def key() -> Ed25519PrivateKey:
    """A fresh seal key."""
    return Ed25519PrivateKey.generate()


def make_service(store: Store, key: Ed25519PrivateKey, margin_s: float = 120.0) -> EvidenceService:
    """The evidence service over ``store`` with ``key``."""
    settings = EvidenceSettings(
        clickhouse_url=store.dsn, clickhouse_database=store.database, seal_margin_s=margin_s, seal_interval_s=3600
    )
    return EvidenceService(settings, store, key=key)


@pytest.fixture
def evidence(evidence_store: Store, key: Ed25519PrivateKey) -> EvidenceService:
    """The evidence service over the test's store."""
    return make_service(evidence_store, key)
