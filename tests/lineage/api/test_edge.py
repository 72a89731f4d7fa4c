"""Times a client can send that Python's datetime cannot hold: 422 with a reason, never 500."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from collector.store import Store
from lineage.api.app import create_app
from lineage.core.timeparse import parse_duration, parse_instant
from lineage.settings import LineageSettings
from tests.lineage.auth.helpers import bearer, issue

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize("text", ["99999999999d", "9999999d", "0001-01-01T00:00:00+01:00", "999999999999999w"])
def test_out_of_range_instants_are_value_errors(text: str) -> None:
    with pytest.raises(ValueError, match=r"range|before year 1|not an ISO"):
        parse_instant(text, NOW)


def test_durations_still_parse() -> None:
    assert parse_duration("1h30m").total_seconds() == 5400
    assert parse_instant("24h", NOW) == datetime(2026, 5, 31, tzinfo=UTC)
    with pytest.raises(ValueError, match="out of range"):
        parse_duration("99999999999d")


@pytest.mark.parametrize("since", ["99999999999d", "9999999d", "0001-01-01T00:00:00+01:00"])
def test_api_answers_422_for_out_of_range_since(lineage_store: Store, since: str) -> None:
    settings = LineageSettings(clickhouse_url=lineage_store.dsn, clickhouse_database=lineage_store.database)
    with TestClient(create_app(settings, lineage_store), headers=bearer(issue(lineage_store, "viewer"))) as client:
        for path in ("/api/v1/transactions", "/api/v1/exceptions", "/api/v1/metrics/throughput"):
            response = client.get(path, params={"since": since})
            assert response.status_code == 422, (path, response.text)
            assert response.json()["detail"]
