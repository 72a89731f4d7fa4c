"""A small client of the lineage HTTP API; every failure becomes one :class:`ApiError`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from dashboard.settings import DEFAULT_API_URL, DashboardSettings

__all__ = ["DEFAULT_API_URL", "ApiClient", "ApiError", "api_url_from_env", "credential"]
API_URL_ENV = "LEDGERLINE_API_URL"
TOKEN_ENV = "LEDGERLINE_DASHBOARD_TOKEN"
FORWARDED_HEADER_ENV = "LEDGERLINE_DASHBOARD_FORWARDED_TOKEN_HEADER"
Json = dict[str, Any]


def credential(settings: DashboardSettings, headers: Mapping[str, str]) -> str:
    """The bearer token the dashboard sends for this page view.

    Behind an OIDC reverse proxy (``$LEDGERLINE_DASHBOARD_FORWARDED_TOKEN_HEADER`` set) it
    is the signed-in person's access token from that request header, so the API sees the
    person; there is no fallback to the service token then. Otherwise it is the service
    credential ``$LEDGERLINE_DASHBOARD_TOKEN``.
    """
    header = settings.dashboard_forwarded_token_header.strip()
    if header:
        value = headers.get(header, "") or headers.get(header.lower(), "")
        return value.strip().removeprefix("Bearer ").strip()
    return settings.dashboard_token.strip()


class ApiError(Exception):
    """The API could not answer; ``str()`` is a message fit for the page."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def api_url_from_env() -> str:
    """``$LEDGERLINE_API_URL`` or the local default (through :class:`DashboardSettings`)."""
    return DashboardSettings().api_url.strip() or DEFAULT_API_URL


def _params(**kwargs: object) -> dict[str, str]:
    """Query parameters without the empty ones."""
    return {k: str(v) for k, v in kwargs.items() if v not in (None, "")}


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list):  # FastAPI validation errors
        detail = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
    return str(detail or response.reason_phrase or "no detail")


class ApiClient:
    """Calls the lineage API at ``base_url`` with a timeout per request."""

    def __init__(
        self,
        base_url: str | None = None,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
        token: str = "",
    ) -> None:
        self.base_url = (base_url or api_url_from_env()).rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport, headers=headers)

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    def _request(self, method: str, path: str, params: dict[str, str] | None = None, body: Json | None = None) -> Json:
        try:
            response = self._client.request(method, path, params=params, json=body)
        except httpx.TimeoutException:
            raise ApiError(
                f"The lineage API at {self.base_url} did not answer in time. It may be busy; try again in a moment."
            ) from None
        except httpx.HTTPError as exc:
            raise ApiError(
                f"Cannot reach the lineage API at {self.base_url} ({type(exc).__name__}). "
                f"Is it running? Set {API_URL_ENV} to its address."
            ) from None
        if response.status_code == 401:
            raise ApiError(
                f"Not signed in to the lineage API: {_detail(response)}. Set {TOKEN_ENV}, or sign in through "
                "the proxy in front of the dashboard.",
                401,
            )
        if response.status_code == 403:
            raise ApiError(f"Not allowed: {_detail(response)}", 403)
        if response.status_code == 404:
            raise ApiError(f"Not found: {_detail(response)}", 404)
        if response.status_code == 422:
            raise ApiError(f"The API refused the request: {_detail(response)}", 422)
        if response.status_code >= 400:
            raise ApiError(
                f"The lineage API answered {response.status_code}: {_detail(response)}", response.status_code
            )
        try:
            data: Json = response.json()
        except ValueError:
            raise ApiError(f"The lineage API at {self.base_url} sent something that is not JSON.") from None
        return data  # a list for the few routes that answer one (silences)

    def get(self, path: str, **params: object) -> Json:
        """GET ``path`` with the non-empty ``params``."""
        return self._request("GET", path, _params(**params))

    def post(self, path: str, body: Json | None = None) -> Json:
        """POST ``body`` as JSON to ``path``."""
        return self._request("POST", path, body=body or {})

    def replays(self, **filters: object) -> Json:
        """Replays: state, system, limit."""
        return self.get("/api/v1/replays", **filters)

    def transaction(self, correlation_id: str) -> Json:
        """One transaction's full lineage document."""
        return self.get(f"/api/v1/transactions/{quote(correlation_id, safe='')}")

    def seal_status(self, correlation_id: str) -> Json:
        """Whether a transaction's hops are sealed and its evidence verifies."""
        return self.get(f"/api/v1/transactions/{quote(correlation_id, safe='')}/seal-status")

    def entity(self, entity_type: str, entity_id: str) -> Json:
        """The transactions that touched one business entity."""
        return self.get(f"/api/v1/entities/{quote(entity_type, safe='')}/{quote(entity_id, safe='')}")

    def lookup(self, query: str) -> Json:
        """One search (``/api/v1/search``): a correlation ID, a business key ``type:id`` or a bare key
        of any entity type; the answer names how it was found and carries the transactions."""
        query = query.strip()
        if not query:
            raise ApiError("Enter a correlation ID or a business key such as invoice:INV-2026-0042.")
        return self.get("/api/v1/search", q=query)

    def transactions(self, **filters: object) -> Json:
        """Transaction summaries: status, flow, system, region, since, until, limit."""
        return self.get("/api/v1/transactions", **filters)

    def exceptions(self, **filters: object) -> Json:
        """Exceptions: state, category, system, since, until, limit."""
        return self.get("/api/v1/exceptions", **filters)

    def whoami(self) -> Json:
        """Who the API takes this dashboard's caller for: subject, role, scope, permissions."""
        return self.get("/api/v1/whoami")

    def act(self, exception_id: str, action: str, note: str = "") -> Json:
        """Acknowledge (``ack``) or ``resolve`` an exception; the API records the caller as actor."""
        if action not in ("ack", "resolve"):
            raise ValueError(f"unknown action {action!r}")
        path = f"/api/v1/exceptions/{quote(exception_id, safe='')}/{action}"
        return self._request("POST", path, body={"note": note})

    def posting_latency(self, **params: object) -> Json:
        """Posting latency percentiles: since, until, bucket, group_by, flow; ``histogram=true`` adds the
        distribution of every posting."""
        return self.get("/api/v1/metrics/posting-latency", **params)

    def throughput(self, **params: object) -> Json:
        """Completed stages per bucket: since, until, bucket, group_by, flow."""
        return self.get("/api/v1/metrics/throughput", **params)

    def backlog(self, **params: object) -> Json:
        """Open exceptions over time by category, and their ages now."""
        return self.get("/api/v1/metrics/exception-backlog", **params)

    def flows(self) -> Json:
        """The flows of the API's flows file, with stages and SLAs."""
        return self.get("/api/v1/flows")

    def systems(self, **params: object) -> Json:
        """Systems seen in the caller's scope plus those the flows file names: since, limit."""
        return self.get("/api/v1/systems", **params)

    def known(self) -> Json:
        """The pickers' values and the data's freshness in one answer: flows, systems (30 days), regions,
        legal entities, who the caller is, the newest hop."""
        return self.get("/api/v1/known")

    def at_risk(self, **params: object) -> Json:
        """Money at risk and the lists behind it: since, until, kind, flow, system, region, legal_entity, limit."""
        return self.get("/api/v1/at-risk", **params)

    def overview(self, **params: object) -> Json:
        """The overview of one context in one answer: since, until, flow, system, region, legal_entity, bucket."""
        return self.get("/api/v1/overview", **params)

    def close_gates(self, **params: object) -> Json:
        """The close gate of every legal entity in scope: period (YYYY-MM)."""
        return self.get("/api/v1/close", **params)

    def explain(self, **params: object) -> Json:
        """What the subject's units have in common: subject, stage, baseline and the query context."""
        return self.get("/api/v1/explain", **params)

    def exception(self, exception_id: str) -> Json:
        """One exception with its audit trail."""
        return self.get(f"/api/v1/exceptions/{quote(exception_id, safe='')}")

    def alerts(self, **params: object) -> Json:
        """Alerts held now (pending, firing, recently resolved) and rule health: state."""
        return self.get("/api/v1/alerts", **params)

    def silences(self) -> Json:
        """Silences not deleted, with their state (as ``{"silences": [...]}``)."""
        answer = self._request("GET", "/api/v1/silences")
        return {"silences": answer} if isinstance(answer, list) else answer

    def breaches(self, **params: object) -> Json:
        """SLA breaches: since, until, flow (or every_flow), stage, limit."""
        return self.get("/api/v1/sla/breaches", **params)
