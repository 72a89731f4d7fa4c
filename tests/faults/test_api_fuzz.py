"""Schemathesis over the lineage API as ``ledgerline serve`` composes it: no input gets a 5xx.

The app is lineage's ``create_app`` with the alerts router, on a migrated store. Every
call carries the ``api_headers`` fixture (where credentials go once the API needs them).
503 is allowed only with ``Retry-After`` (a store hiccup, not a bug); nothing else >= 500.
Hypothesis drives each operation's strategy (the pytest plugin's lazy loader is not used).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from alerts.service import AlertService
from alerts.settings import AlertSettings
from collector.store import Store
from ledgerline.server import compose_app
from lineage.auth.settings import AuthSettings
from tests.faults.conftest import examples, report

pytestmark = [pytest.mark.faults, pytest.mark.timeout(600)]
RULES = """
rules:
  - {name: Flag, kind: query, team: platform, query: "SELECT 'sap' AS system, 1.0 AS value"}
"""


@pytest.fixture
def api_schema(store: Store, tmp_path: Path) -> Iterator[Any]:
    """The composed API's OpenAPI schema (every route ``serve`` mounts), served in-process (ASGI)."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    alerts = AlertService(
        AlertSettings(clickhouse_url=store.dsn, clickhouse_database=store.database, alert_rules=rules), store
    )
    alerts.run_once()
    app = compose_app(store, AuthSettings(), alerts)
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    alerts.stop()


def test_no_input_gets_a_5xx(api_schema: Any, api_headers: dict[str, str]) -> None:
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10  # the lineage routes and the alerts routes

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=examples(5),
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],  # failures are collected, not shrunk
        )
        def call(case: Any) -> None:
            response = case.call(headers=api_headers)
            status = response.status_code
            bad = status >= 500 and not (status == 503 and response.headers.get("retry-after"))
            report(api_cases=1, api_5xx=int(bad))
            if bad:
                failures.append(f"{case.method} {case.formatted_path} -> {status}: {response.text[:200]}")

        call()
    assert failures == []
