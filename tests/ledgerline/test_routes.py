"""Every route of the composed API declares what it answers, so /docs shows a schema for each."""

from __future__ import annotations

from fastapi.routing import APIRoute, iter_route_contexts

from alerts.service import AlertService
from alerts.settings import AlertSettings
from collector.store import Store
from ledgerline.server import compose_app
from lineage.auth.settings import AuthSettings


def test_every_api_route_declares_a_response_model(store: Store) -> None:
    alerts = AlertService(AlertSettings(clickhouse_url=store.dsn, clickhouse_database=store.database), store)
    app = compose_app(store, AuthSettings(), alerts)
    routes = [
        (c.original_route, c.path or "")
        for c in iter_route_contexts(app.routes)
        if isinstance(c.original_route, APIRoute) and (c.path or "").startswith("/api/")
    ]
    assert len(routes) >= 20
    missing = sorted(f"{sorted(r.methods)[0]} {path}" for r, path in routes if r.response_model is None)
    assert missing == []
    schema = app.openapi()["paths"]["/api/v1/alerts"]["get"]["responses"]["200"]["content"]["application/json"]
    assert schema["schema"] == {"$ref": "#/components/schemas/AlertsOut"}
    alerts.stop()
