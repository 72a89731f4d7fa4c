"""The simulator's month end: a history that crosses the last month end, so the close gate
(docs/close.md) has something to say about the period that just ended.

Three legal entities of the packaged close calendar, each in its own time zone:

- LL-DE-GmbH is **blocked**: an invoice issued in the period's last hours posted after its end
  (a cut-off break), one never posted, and one issued after the end but dated the period's last
  day (``biz.posting_date``), not posted either: all above materiality;
- LL-US-Inc is **ready** once its hops are sealed: every invoice posted in the period;
- LL-FR-SAS is ready, then **signed** (a preparer and a reviewer, four-eyes) and
  **decertified** by a late posting: an invoice and its posting of the period's last day that
  arrive after the sign-off (:class:`CloseStory`, run by ``ledgerline demo``).

The history goes out with the backfill (``SimConfig.month_end``, one hook in the runner); the
hops are emitted through the estate's own providers, with their business dates.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import httpx

from ledgerline.instrument import hop
from ledgerline.simulator.config import SimConfig
from ledgerline.simulator.emit import Estate, ExporterFactory, otlp_exporter
from ledgerline.simulator.model import HOUR, SEC, run_tag
from lineage.apiclient import auth_headers
from lineage.close.periods import period, previous_period

FLOW = "order_to_cash"
# The story's hops the store holds (the sign-off waits for the history the backfill sends).
STORED = "SELECT count() FROM hops WHERE CorrelationId IN {cids:Array(String)}"
BLOCKED, READY, DECERTIFIED = "LL-DE-GmbH", "LL-US-Inc", "LL-FR-SAS"
# (legal entity, region, currency, time zone): as in the packaged close calendar
_ENTITIES = {
    BLOCKED: ("eu-west", "EUR", "Europe/Berlin"),
    READY: ("us-east", "USD", "America/New_York"),
    DECERTIFIED: ("eu-west", "EUR", "Europe/Paris"),
}


@dataclass(frozen=True)
class Invoice:
    """An invoice issued ``issued_h`` hours from the period's end (negative: before it), posted
    ``posted_h`` hours from it (None: never), with optional ``biz.*`` business dates."""

    number: str
    legal_entity: str
    amount: float
    issued_h: float
    posted_h: float | None
    attributes: dict[str, str] = field(default_factory=dict)


def period_of(legal_entity: str, now_ns: int) -> tuple[str, int]:
    """The period that ended last for the entity (YYYY-MM) and its end (epoch ns)."""
    tz = _ENTITIES[legal_entity][2]
    name = previous_period(now_ns // 1_000_000, tz)
    return name, period(name, tz, 0).end_ms * 1_000_000


def history(now_ns: int) -> list[Invoice]:
    """The month end as the backfill sends it (the late posting is :func:`late_posting`)."""
    _, de_end = period_of(BLOCKED, now_ns)
    last_day = (datetime.fromtimestamp(de_end / SEC, ZoneInfo(_ENTITIES[BLOCKED][2])) - timedelta(days=1)).date()
    return [
        Invoice("DE-1", BLOCKED, 3200.0, -50, -49),
        Invoice("DE-2", BLOCKED, 4800.0, -2, 9),  # posted after the end: a cut-off break
        Invoice("DE-3", BLOCKED, 2350.0, -20, None),  # never posted
        Invoice("DE-4", BLOCKED, 1200.0, 1, None, {"biz.posting_date": last_day.isoformat()}),
        Invoice("US-1", READY, 5400.0, -72, -71),
        Invoice("US-2", READY, 980.0, -30, -29),
        Invoice("US-3", READY, 12500.0, -8, -7.5),
        Invoice("FR-1", DECERTIFIED, 6100.0, -60, -59),
        Invoice("FR-2", DECERTIFIED, 830.0, -12, -11),
    ]


def late_posting() -> Invoice:
    """What decertifies LL-FR-SAS after its sign-off: hops of the period's last day, arriving late."""
    return Invoice("FR-9", DECERTIFIED, 2700.0, -6, -5)


def correlation_id(seed: int, inv: Invoice) -> str:
    return f"month-end-{run_tag(seed)}-{inv.number}"


def emit(estate: Estate, invoices: list[Invoice], now_ns: int) -> int:
    """Emit each invoice (billing) and its posting (ERP) at their times; return the spans sent."""
    tag, spans = run_tag(estate.config.seed), 0
    for inv in invoices:
        region, currency, _ = _ENTITIES[inv.legal_entity]
        _, end_ns = period_of(inv.legal_entity, now_ns)
        invoice_id, cid = f"ME-INV-{tag}-{inv.number}", correlation_id(estate.config.seed, inv)
        common: dict[str, Any] = {"amount": inv.amount, "currency": currency, "correlation_id": cid, "flow": FLOW,
                                  "region": region, "legal_entity": inv.legal_entity}  # fmt: skip
        steps: list[tuple[str, str, str, str, float, tuple[str, str] | None]] = [
            ("billing", "invoice", invoice_id, "invoice.issued", inv.issued_h, None)
        ]
        if inv.posted_h is not None:
            steps.append(("erp", "ledger", f"ME-LED-{tag}-{inv.number}", "ledger.posted", inv.posted_h,
                          ("invoice", invoice_id)))  # fmt: skip
        for system, entity_type, entity_id, step, hours, parent in steps:
            at = end_ns + int(hours * HOUR)
            with hop(entity_type, entity_id, step, parent=parent, system=system, start_time=at - SEC // 2,
                     end_time=at, tracer=estate.providers[system].get_tracer(__name__),
                     attributes=inv.attributes or None, **common):  # fmt: skip
                spans += 1
    estate.spans_emitted += spans
    estate.flush()
    return spans


def emit_history(config: SimConfig, estate: Estate, now_ns: int) -> int:
    """The runner's hook: the month end goes out with the backfill."""
    return emit(estate, history(now_ns), now_ns)


class CloseStory:
    """After the backfill: waits until LL-FR-SAS's period is ready (sealed), signs it off as a
    preparer and a reviewer (two tokens of its own, revoked at the end), then sends the late
    posting that decertifies it. Prints each step; ``stop`` ends it at any point."""

    def __init__(self, store: Any, api_url: str, config: SimConfig, out: TextIO,
                 exporter_factory: ExporterFactory = otlp_exporter, wait_s: float = 600.0,
                 pause_s: float = 20.0) -> None:  # fmt: skip
        self.store, self.api_url, self.config, self.out = store, api_url, config, out
        self.exporter_factory, self.wait_s, self.pause_s = exporter_factory, wait_s, pause_s
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._run, name="close-story", daemon=True)
        self.now_ns = config.now_ns or time.time_ns()
        self.period, _ = period_of(DECERTIFIED, self.now_ns)
        self.outcome = ""

    def start(self) -> CloseStory:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.halt.set()
        self.thread.join(30)

    def _say(self, text: str) -> None:
        print(f"month end: {text}", file=self.out, flush=True)

    def _call(self, method: str, path: str, token: str) -> dict[str, Any]:
        answer = httpx.request(method, f"{self.api_url}{path}", headers=auth_headers(token), timeout=60)
        answer.raise_for_status()
        doc: dict[str, Any] = answer.json()
        return doc

    def _await(self, path: str, token: str, statuses: tuple[str, ...]) -> str:
        deadline = time.monotonic() + self.wait_s
        status = ""
        while not self.halt.is_set() and time.monotonic() < deadline:
            try:
                status = self._call("GET", path, token)["status"]
            except (httpx.HTTPError, KeyError, ValueError):
                status = ""
            if status in statuses:
                return status
            self.halt.wait(5)
        return status

    def _history_stored(self) -> bool:
        """Wait until the entity's month-end hops are stored (an empty period is ready too)."""
        mine = [i for i in history(self.now_ns) if i.legal_entity == DECERTIFIED]
        cids = [correlation_id(self.config.seed, i) for i in mine]
        want = sum(1 + (i.posted_h is not None) for i in mine)
        deadline = time.monotonic() + self.wait_s
        while not self.halt.is_set() and time.monotonic() < deadline:
            rows = self.store.query(STORED, {"cids": cids})
            if int(rows[0][0]) >= want:
                return True
            self.halt.wait(2)
        return False

    def _run(self) -> None:
        from lineage.auth.tokens import TokenStore

        tokens = TokenStore(self.store)
        made = [tokens.create(f"{who}@ledgerline.local", "controller", expires_in=timedelta(hours=2),
                              created_by="demo") for who in ("preparer", "reviewer")]  # fmt: skip
        (_, preparer), (_, reviewer) = made
        path = f"/api/v1/close/{DECERTIFIED}/{self.period}"
        try:
            if not self._history_stored() or self._await(path, preparer, ("ready",)) != "ready":
                self.outcome = "never ready"
                return
            self._call("POST", f"{path}/prepare", preparer)
            signed = self._call("POST", f"{path}/review", reviewer)["status"]
            self._say(f"{DECERTIFIED} {self.period} {signed} by preparer@ and reviewer@ledgerline.local")
            if self.halt.wait(self.pause_s):  # long enough to see it signed on the Close page
                return
            estate = Estate(self.config, self.exporter_factory)
            try:
                emit(estate, [late_posting()], self.now_ns)
            finally:
                estate.shutdown()
            self.outcome = self._await(path, preparer, ("decertified",))
            self._say(f"{DECERTIFIED} {self.period} {self.outcome or 'unknown'} after a late posting of its last day")
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            self.outcome = f"failed: {exc}"
            self._say(f"the sign-off story stopped: {exc}")
        finally:
            for record, _ in made:
                tokens.revoke(record.id, by="demo")
