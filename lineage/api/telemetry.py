"""The platform's own health on ``GET /metrics``: request latency and status per route template,
plus whatever else the process registered (``serve`` shares one registry between its parts).

``/metrics`` is outside ``/api/v1`` and, like the collector's ``/metrics`` and ``/healthz``,
needs no credential: it holds platform counters only, labelled by route templates, receiver,
rule and target names from the configuration, never a path, an identifier or a business value.
Requests are labelled with the route *template* (``/api/v1/transactions/{cid}``), never the raw
path, and methods outside the standard ones are ``other``, so no client can grow the label set.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import iter_route_contexts
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

router = APIRouter(include_in_schema=False, tags=["health"])

EXPOSITION = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED = "unmatched"  # no route: the 404 of an unknown path
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class ApiMetrics:
    """Latency per route, requests per route and status class, requests in progress."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.seconds = Histogram(
            "ledgerline_api_request_duration_seconds",
            "Time to answer an API request, by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.requests = Counter(
            "ledgerline_api_requests",
            "API requests answered, by method, route template and status class (4xx, 5xx: errors).",
            ["method", "route", "status_class"],
            registry=registry,
        )
        self.in_progress = Gauge(
            "ledgerline_api_requests_in_progress", "API requests being answered.", registry=registry
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """One request answered with ``status`` after ``seconds``."""
        method = method if method in METHODS else "other"
        self.seconds.labels(method, route).observe(seconds)
        self.requests.labels(method, route, f"{status // 100}xx").inc()


class Templates:
    """The route template of a request: the one the router chose, or, for a request answered
    before routing (a 401, a 503 of the auth layer) or by a mount, the first route matching it."""

    def __init__(self, routes: Callable[[], Sequence[Any]]) -> None:
        self._routes = routes
        self._table: list[tuple[re.Pattern[str], str, frozenset[str] | None]] | None = None

    def _compiled(self) -> list[tuple[re.Pattern[str], str, frozenset[str] | None]]:
        if self._table is None:  # first use: every router is included by then
            self._table = [
                (c.path_regex, c.path_format, frozenset(c.methods) if c.methods else None)
                for c in iter_route_contexts(self._routes())
                if getattr(c, "path_regex", None) is not None and c.path_format
            ]
        return self._table

    def of(self, scope: Scope) -> str:
        """The template of the request in ``scope`` (after the app answered it)."""
        path = getattr(scope.get("route"), "path", None)
        if isinstance(path, str):
            return path
        method, target = scope["method"], scope["path"]
        fallback = UNMATCHED
        for regex, template, methods in self._compiled():
            if regex.match(target):
                if methods is None or method in methods:
                    return template
                fallback = template if fallback == UNMATCHED else fallback  # a 405: still this route
        return fallback


class RequestMetrics:
    """ASGI middleware (outermost, so refusals of the auth layer count too) timing every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, templates: Templates) -> None:
        self.app = app
        self.metrics = metrics
        self.templates = templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # an exception before the response started: the server error answers it
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        self.metrics.in_progress.inc()
        try:
            await self.app(scope, receive, send_status)
        finally:
            self.metrics.in_progress.dec()
            self.metrics.observe(scope["method"], self.templates.of(scope), status, time.perf_counter() - started)


def install(app: FastAPI, registry: CollectorRegistry) -> None:
    """Time every request of ``app`` into ``registry`` (call after the other middleware: outermost)."""
    app.add_middleware(RequestMetrics, metrics=ApiMetrics(registry), templates=Templates(lambda: app.routes))


@router.get("/metrics")
async def platform_metrics(request: Request) -> Response:
    """Prometheus text exposition (rendered on the event loop: no thread pool to wait for)."""
    return Response(generate_latest(request.app.state.registry), media_type=EXPOSITION)
