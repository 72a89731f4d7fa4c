"""Tickets for the exception backlog, one round at a time (on the alert service's rounds).

A round: (1) every ticket rule enqueues an open for each open exception it matches that has
none on its receiver yet; (2) acknowledgements and resolutions made in ledgerline after a
ticket was opened are enqueued as a comment or a resolve on it; (3) due outbox entries are
tried once each. A try that failed for a passing reason (429, 5xx, no connection) is due
again after a backoff (the ``Retry-After`` when the answer gave one), doubling up to the
receiver's ``max_backoff``; one the other side refused (other 4xx) is marked failed and
logged. Everything is in the store, so a restart picks up where the last round stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import httpx

from alerts.errors import TicketRejected, TicketRetry
from alerts.metrics import AlertMetrics
from alerts.routing import ReceiversConfig, TicketRule
from alerts.tickets import bodies, queries
from alerts.tickets.client import TicketClient
from alerts.tickets.outbox import Entry, Kind, Outbox, action_id, create_id
from collector.store import Store
from lineage.core import domain, money, shape
from lineage.core.flows import FlowConfig
from lineage.core.scope import Scope

log = logging.getLogger(__name__)

LinkBuilder = Callable[[Mapping[str, str]], str]
BATCH = 500  # candidates, mirrored actions and due entries read per round at most


class Tickets:
    """The ticket rules of a receivers config, over one store."""

    def __init__(
        self,
        store: Store,
        config: ReceiversConfig,
        flows: FlowConfig,
        *,
        dashboard_url: str = "",
        api_url: str = "",
        link: LinkBuilder | None = None,
        backoff_s: float = 1.0,
        timeout_s: float = 5.0,
        metrics: AlertMetrics | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics if metrics is not None else AlertMetrics()
        self.config = config
        self.flows = flows
        self.outbox = Outbox(store)
        self.dashboard_url = dashboard_url.rstrip("/")
        self.api_url = api_url.rstrip("/")
        self.link = link
        self.backoff_ms = int(backoff_s * 1000)
        self.http = httpx.Client()
        self.clients = {
            r.name: TicketClient(r, self.http, timeout_s) for r in config.receivers if r.tickets and config.tickets
        }

    def close(self) -> None:
        """Close the HTTP client."""
        self.http.close()

    def run(self, now_ms: int) -> int:
        """One round: enqueue what is new, then try what is due; how many actions went through."""
        for rule in self.config.tickets:
            self.enqueue_opens(rule, now_ms)
        for receiver in sorted({rule.receiver for rule in self.config.tickets}):
            self.enqueue_mirrors(receiver, now_ms)
        return self.drain(now_ms)

    # -- what to send -----------------------------------------------------------------------
    def enqueue_opens(self, rule: TicketRule, now_ms: int) -> int:
        """An open for each open exception ``rule`` matches with no ticket on its receiver yet.

        The legal entities are a scope: only failures of those entities make the exception."""
        scope = Scope(legal_entities=tuple(rule.legal_entities))
        params = {
            "since_ms": now_ms - int(rule.lookback * 1000),
            "categories": rule.categories,
            "receiver": rule.receiver,
            **domain.exception_params(self.flows, now_ms),
            **scope.params(),
        }
        page = self.store.query_bounded(queries.OPEN_CANDIDATES, params, BATCH)
        if page.truncated:
            log.warning("ticket rule for %s: more than %d candidates, the rest next round", rule.receiver, BATCH)
        found = money.of_exceptions(self.store, scope, [shape.exception(r) for r in page.rows])
        entries = [self._open(rule.receiver, exc, now_ms) for exc in found if _matches(rule, exc)]
        return self.outbox.add(entries)

    def _open(self, receiver: str, exc: dict[str, Any], now_ms: int) -> Entry:
        cid = exc["correlation_id"]
        lineage = self.dashboard_url + (self.link({"page": "lineage", "correlation_id": cid}) if self.link else "")
        evidence = f"{self.api_url}/api/v1/transactions/{cid}/evidence"
        payload = {
            "exception": {k: exc[k] for k in ("id", "entity_type", "entity_id", "step")},
            "title": bodies.title(exc),
            "lines": bodies.lines(exc, lineage, evidence),
            "mark": bodies.marker(exc["id"]),
        }
        return Entry(create_id(receiver, exc["id"]), receiver, exc["id"], "create", payload, created_at=now_ms)

    def enqueue_mirrors(self, receiver: str, now_ms: int) -> int:
        """A comment for each acknowledgement, a resolve for each resolution, made after the ticket."""
        since = now_ms - int(max(r.lookback for r in self.config.tickets if r.receiver == receiver) * 1000)
        rows = self.store.query_dicts(
            queries.ACTIONS_TO_MIRROR, {"receiver": receiver, "since_ms": since, "limit": BATCH}
        )
        entries = []
        for r in rows:
            verb = "acknowledged" if r["action"] == "ack" else "resolved"
            text = f"{verb} in ledgerline by {r['actor']}" + (f": {r['note']}" if r["note"] else "")
            kind: Kind = "comment" if r["action"] == "ack" else "resolve"
            eid = action_id(receiver, r["id"], r["action"], int(r["at_ms"]))
            entries.append(Entry(eid, receiver, r["id"], kind, {"text": text}, created_at=now_ms))
        return self.outbox.add(entries)

    # -- sending ----------------------------------------------------------------------------
    def drain(self, now_ms: int) -> int:
        """Try each due entry once, oldest first; how many went through."""
        done = 0
        for entry in self.outbox.due(now_ms, BATCH):
            done += self.attempt(entry, now_ms)
        return done

    def _backoff(self, entry: Entry) -> int:
        cap = int(self.config.receiver(entry.receiver).max_backoff * 1000)
        return min(self.backoff_ms * (1 << min(entry.attempts, 30)), cap)

    def attempt(self, entry: Entry, now_ms: int) -> bool:
        """One try. It is recorded before it goes out (a crash mid-try leaves it due after a backoff)."""
        client = self.clients.get(entry.receiver)
        if client is None:  # the receiver left the config: keep the entry for when it is back
            return False
        trying = entry.tried(now_ms + self._backoff(entry))
        self.outbox.save(trying)
        try:
            self._send(client, entry, now_ms)
        except TicketRetry as exc:
            wait = self._backoff(entry) if exc.wait_s is None else int(exc.wait_s * 1000)
            log.info("ticket %s: %s; again in %.1fs", entry.id, exc, wait / 1000)
            self.outbox.save(replace(trying, next_at=now_ms + wait, last_error=str(exc)))
            self.metrics.ticket_tried(entry.receiver, entry.kind, "retry")
            return False
        except TicketRejected as exc:
            log.warning("ticket %s refused: %s", entry.id, exc)
            self.outbox.save(replace(trying, state="failed", last_error=str(exc)))
            self.metrics.ticket_tried(entry.receiver, entry.kind, "failed")
            return False
        self.outbox.save(replace(trying, state="done", last_error=""))
        self.metrics.ticket_tried(entry.receiver, entry.kind, "done")
        return True

    def _send(self, client: TicketClient, entry: Entry, now_ms: int) -> None:
        p = entry.payload
        if entry.kind == "create":
            # A try before this one may have opened it with its answer lost: look first.
            ticket = client.find(p["mark"]) if entry.attempts else None
            if ticket is None:
                ticket = client.open(p["title"], [(t, h) for t, h in p["lines"]], p["mark"])
            # Actions taken while the open waited are mirrored too: they count from its enqueuing.
            self.outbox.link(entry.receiver, p["exception"], ticket, now_ms, entry.created_at)
            return
        ticket = self.outbox.ticket(entry.exception_id, entry.receiver)
        if ticket is None:
            raise TicketRejected(f"exception {entry.exception_id} has no ticket on {entry.receiver}")
        if entry.kind == "comment":
            client.comment(ticket, p["text"])
        else:
            client.resolve(ticket, p["text"])


def _matches(rule: TicketRule, exc: dict[str, Any]) -> bool:
    """The amount condition of a rule (categories and legal entities are applied in SQL)."""
    if rule.min_amount is None:
        return True
    if exc.get("amount") is None:
        return False
    if rule.currency and (exc.get("currency") or "").upper() != rule.currency.upper():
        return False
    return float(exc["amount"]) >= rule.min_amount
