"""One try of each ticket action against ServiceNow (Table API) or Jira (REST API v2/v3).

Each call is a single attempt: the outbox (alerts/tickets/outbox.py) owns retries and
backoff, so a wait never holds a thread and survives a restart. A 429 or 5xx answer or a
connection failure raises :class:`TicketRetry` (with the ``Retry-After`` seconds when given);
any other 4xx raises :class:`TicketRejected`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from alerts.delivery import retry_after
from alerts.errors import TicketRejected, TicketRetry
from alerts.routing import Receiver
from alerts.tickets import bodies
from alerts.tickets.bodies import Line


@dataclass(frozen=True)
class Ticket:
    """A ticket on the other side: ``key`` for people (INC0010001, OPS-7), ``id`` for the API."""

    key: str
    id: str
    url: str


class TicketClient:
    """The ticket API of one receiver."""

    def __init__(self, receiver: Receiver, client: httpx.Client, timeout_s: float) -> None:
        self.receiver = receiver
        self.client = client
        self.timeout_s = timeout_s
        self.base = receiver.target().rstrip("/")

    # -- HTTP -------------------------------------------------------------------------------
    def _auth(self) -> dict[str, str]:
        r = self.receiver
        if r.token_env:
            return {"Authorization": f"Bearer {r.secret(r.token_env).get_secret_value()}"}
        return {}

    def _call(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Any:
        r = self.receiver
        basic = None
        if r.username_env:
            basic = (r.secret(r.username_env).get_secret_value(), r.secret(r.password_env).get_secret_value())
        try:
            response = self.client.request(
                method,
                self.base + path,
                json=body,
                params=params,
                auth=basic,
                headers={"Accept": "application/json", **self._auth()},
                timeout=self.timeout_s,
            )
        except httpx.HTTPError as exc:
            raise TicketRetry(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        if response.is_success:
            return response.json() if response.content else {}
        why = f"{method} {path}: HTTP {response.status_code}: {response.text[:200]}"
        if response.status_code == 429:
            raise TicketRetry(why, retry_after(response, None))
        if response.status_code >= 500:
            raise TicketRetry(why)
        raise TicketRejected(why)

    # -- actions ----------------------------------------------------------------------------
    def open(self, head: str, body: list[Line], mark: str) -> Ticket:
        """Open a ticket; answers its key, id and browser URL."""
        r = self.receiver
        if r.type == "servicenow":
            doc = self._call("POST", f"/api/now/table/{r.table}", bodies.servicenow_create(r, head, body, mark))
            return self._snow(doc.get("result", {}))
        doc = self._call("POST", f"/rest/api/{r.api_version}/issue", bodies.jira_create(r, head, body, mark))
        return self._jira(doc)

    def find(self, mark: str) -> Ticket | None:
        """The ticket carrying ``mark``, if an earlier try opened one (its answer lost)."""
        r = self.receiver
        if r.type == "servicenow":
            params = {"sysparm_query": f"{r.correlation_field}={mark}", "sysparm_limit": "1"}
            rows = self._call("GET", f"/api/now/table/{r.table}", params=params).get("result", [])
            return self._snow(rows[0]) if rows else None
        search = "/rest/api/3/search/jql" if r.api_version == 3 else "/rest/api/2/search"
        params = {"jql": f'labels = "{mark}"', "fields": "status", "maxResults": "1"}
        issues = self._call("GET", search, params=params).get("issues", [])
        if not issues:
            return None
        found: dict[str, Any] = issues[0]
        if "key" not in found and "id" in found:  # the v3 search may answer ids only
            found = self._call("GET", f"/rest/api/{r.api_version}/issue/{found['id']}", params={"fields": "status"})
        return self._jira(found)

    def comment(self, ticket: Ticket, text: str) -> None:
        """A comment (ServiceNow: a work note, or ``comment_field``)."""
        r = self.receiver
        if r.type == "servicenow":
            self._call("PATCH", f"/api/now/table/{r.table}/{ticket.id}", bodies.servicenow_comment(r, text))
        else:
            self._call("POST", f"/rest/api/{r.api_version}/issue/{ticket.key}/comment", bodies.jira_comment(r, text))

    def resolve(self, ticket: Ticket, note: str) -> None:
        """Resolve the ticket (ServiceNow: the resolve fields; Jira: the configured transition)."""
        r = self.receiver
        if r.type == "servicenow":
            self._call("PATCH", f"/api/now/table/{r.table}/{ticket.id}", bodies.servicenow_resolve(r, note))
            return
        issue = f"/rest/api/{r.api_version}/issue/{ticket.key}"
        transition = r.resolve_transition_id or self._transition(issue)
        if transition is None:
            if self._done(issue):  # resolved already (on their side, or by an earlier try)
                return
            raise TicketRejected(f"{ticket.key}: no transition named {r.resolve_transition!r} is available")
        self._call("POST", f"{issue}/transitions", bodies.jira_transition(r, transition, note))

    def _transition(self, issue: str) -> str | None:
        wanted = self.receiver.resolve_transition.casefold()
        for t in self._call("GET", f"{issue}/transitions").get("transitions", []):
            if str(t.get("name", "")).casefold() == wanted:
                return str(t["id"])
        return None

    def _done(self, issue: str) -> bool:
        doc = self._call("GET", issue, params={"fields": "status"})
        status = doc.get("fields", {}).get("status", {})
        return bool(status.get("statusCategory", {}).get("key") == "done")

    # -- answers ----------------------------------------------------------------------------
    def _snow(self, row: dict[str, Any]) -> Ticket:
        sys_id = str(row.get("sys_id", ""))
        if not sys_id:
            raise TicketRejected("ServiceNow answered without a sys_id")
        target = quote(f"{self.receiver.table}.do?sys_id={sys_id}", safe="")
        return Ticket(str(row.get("number") or sys_id), sys_id, f"{self.base}/nav_to.do?uri={target}")

    def _jira(self, doc: dict[str, Any]) -> Ticket:
        key = str(doc.get("key", ""))
        if not key:
            raise TicketRejected("Jira answered without an issue key")
        return Ticket(key, str(doc.get("id", key)), f"{self.base}/browse/{key}")
