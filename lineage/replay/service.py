"""Replay requests, approvals, cancellations and bulk replays: the rules, over the store.

Every check-then-write runs under one lock, so two requests for the same exception cannot
both pass the in-flight check: ``ledgerline serve`` is the single writer of its store.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from collector.store import Store
from collector.store.errors import ConfigError
from lineage.auth.principal import Principal
from lineage.core.currency import total
from lineage.core.scope import EVERYTHING, Scope
from lineage.core.service import Lineage
from lineage.core.timeparse import parse_instant, to_ms, utcnow
from lineage.core.window import Window
from lineage.replay import state as sm
from lineage.replay.delivery import new_trace_id
from lineage.replay.document import public
from lineage.replay.errors import NotFound, Refused
from lineage.replay.repo import ReplayRepo, Row
from lineage.replay.settings import ReplaySettings
from lineage.replay.targets import Targets, TargetsError, load_targets

LOOKBACK_MS = 92 * 86400 * 1000  # how far back an exception is looked up (the API's longest window)


def load(settings: ReplaySettings, transient: frozenset[str]) -> Targets:
    """The configured targets; a bad file is a ConfigError naming the file and line."""
    try:
        return load_targets(settings.replay_targets, transient)
    except TargetsError as exc:
        raise ConfigError(str(exc)) from exc


class ReplayService:
    """The replay rules over one store, one lineage service and the configured targets."""

    def __init__(
        self,
        settings: ReplaySettings,
        lineage: Lineage,
        targets: Targets | None = None,
        clock: Callable[[], int] = lambda: to_ms(utcnow()),
    ) -> None:
        self.settings = settings
        self.lineage = lineage
        self.store: Store = lineage.store
        self.repo = ReplayRepo(lineage.store)
        self.targets = targets if targets is not None else load(settings, lineage.config.transient)
        self.now_ms = clock
        self.lock = threading.RLock()

    # -- reads ----------------------------------------------------------------------------
    def get(self, replay_id: str, scope: Scope = EVERYTHING) -> dict[str, Any]:
        row = self.repo.get(replay_id, scope)
        if row is None:
            raise NotFound(f"no replay {replay_id}")
        return public(row, self.repo.history([replay_id])[replay_id])

    def listing(self, state: str, system: str, scope: Scope, limit: int) -> dict[str, Any]:
        page = self.repo.listing(state, system, scope, limit)
        return {"replays": [public(r) for r in page.rows], "truncated": page.truncated}

    # -- requests -------------------------------------------------------------------------
    def _candidates(self, excs: list[dict[str, Any]], scope: Scope) -> list[tuple[dict[str, Any], Row, str | None]]:
        """(exception, hop facts, refusal) of exceptions visible in ``scope``."""
        keys = [(x["entity_type"], x["entity_id"], x["step"]) for x in excs]
        facts = self.repo.entity_facts(keys, scope)
        flying: dict[str, str] = {}
        for r in self.repo.of_exceptions([x["id"] for x in excs]):
            if r["state"] in sm.IN_FLIGHT:
                flying.setdefault(r["exception_id"], r["id"])
        out = []
        for x, key in zip(excs, keys, strict=True):
            if key not in facts:
                continue  # outside the caller's scope
            target = self.targets.get(x["system"])
            why = sm.refusal(
                sm.Candidate(
                    state=x["state"],
                    category=x["category"] or "",
                    system=x["system"],
                    succeeded=bool(facts[key]["succeeded"]),
                    in_flight=flying.get(x["id"]),
                    has_target=target is not None,
                    replayable_categories=target.categories if target else frozenset(),
                )
            )
            out.append((x, facts[key], why))
        return out

    def _create(self, exc: dict[str, Any], facts: Row, reason: str, who: Principal) -> Row:
        target = self.targets.get(exc["system"])
        assert target is not None  # refusal() checked it
        amount = facts["amount"]
        now = self.now_ms()
        row: Row = {
            "id": uuid.uuid4().hex,
            "version": 0,
            "exception_id": exc["id"],
            "correlation_id": exc["correlation_id"],
            "flow": facts["flow"] or self.lineage.config.default_flow,
            "entity_type": exc["entity_type"],
            "entity_id": exc["entity_id"],
            "step": exc["step"],
            "system": exc["system"],
            "category": exc["category"] or "",
            "amount": None if amount is None else float(amount),
            "currency": facts["currency"],
            "region": facts["region"],
            "legal_entity": facts["legal_entity"],
            "state": sm.initial_state(target.needs_approval(amount, facts["currency"])),
            "requested_by": who.subject,
            "approved_by": "",
            "reason": reason,
            "attempts": 0,
            "next_attempt_ms": now,
            "created_ms": now,
            "updated_ms": now,
            "last_error": "",
            "trace_id": new_trace_id(),
            "confirmed_span": "",
        }
        row = self.repo.write(row, who.subject, reason, now)
        self.repo.exception_action(row, "replay_requested", who.subject, f"replay {row['id']}: {reason}", now)
        return row

    def request(self, exception_id: str, reason: str, who: Principal) -> dict[str, Any]:
        """Create a replay of one exception; Refused (409) with the reason, or NotFound."""
        exc = self.lineage.exception(who.scope, exception_id, self.now_ms() - LOOKBACK_MS)
        if exc is None:
            raise NotFound(f"no exception {exception_id}")
        with self.lock:
            found = self._candidates([exc], who.scope)
            if not found:
                raise NotFound(f"no exception {exception_id}")
            _, facts, why = found[0]
            if why:
                raise Refused(why)
            row = self._create(exc, facts, reason, who)
        return self.get(row["id"], who.scope)

    def bulk(self, flt: dict[str, Any], dry_run: bool, reason: str, who: Principal) -> dict[str, Any]:
        """Replay every replayable exception the filter selects (or count them when ``dry_run``)."""
        now = utcnow()
        since_ms = to_ms(parse_instant(flt.get("since") or "24h", now))
        until_ms = to_ms(parse_instant(flt["until"], now)) if flt.get("until") else to_ms(now)
        if until_ms <= since_ms:
            raise ValueError("'until' must be after 'since'")
        limit = self.settings.replay_bulk_max
        listed = self.lineage.exceptions(
            who.scope, Window(since_ms, until_ms, limit), "", flt.get("category") or "", flt.get("system") or ""
        )
        excs = [x for x in listed["exceptions"] if x["state"] != "resolved"]
        with self.lock:
            found = self._candidates(excs, who.scope)
            ok = [(x, f) for x, f, why in found if why is None]
            refused = [{"exception_id": x["id"], "reason": why} for x, _, why in found if why]
            by_currency: dict[str, list[float]] = {}
            for _, f in ok:
                if f["amount"] is not None:
                    by_currency.setdefault(f["currency"] or "?", []).append(float(f["amount"]))
            amounts = {cur: total(found, cur) for cur, found in by_currency.items()}
            created = [] if dry_run else [self._create(x, f, reason, who) for x, f in ok]
        return {
            "dry_run": dry_run,
            "count": len(ok),
            "amount_by_currency": amounts,
            "refused_count": len(refused),
            "refused": refused[:100],
            "truncated": bool(listed["truncated"]),
            "replays": [public(r) for r in created],
        }

    def _change(self, replay_id: str, event: str, who: Principal, note: str, **changes: Any) -> dict[str, Any]:
        with self.lock:
            row = self.repo.get(replay_id, who.scope)
            if row is None:
                raise NotFound(f"no replay {replay_id}")
            if event == "approve":
                sm.check_approver(row["requested_by"], who.subject)
            row = {**row, **changes, "state": sm.transition(row["state"], event)}
            now = self.now_ms()
            row = self.repo.write(row, who.subject, note, now)
            action = {"approve": "replay_approved", "cancel": "replay_cancelled"}[event]
            text = f"replay {replay_id}" + (f": {note}" if note else "")
            self.repo.exception_action(row, action, who.subject, text, now)
        return self.get(replay_id, who.scope)

    def approve(self, replay_id: str, who: Principal, note: str = "") -> dict[str, Any]:
        """Second pair of eyes: another subject than the requester approves (403 otherwise)."""
        return self._change(replay_id, "approve", who, note, approved_by=who.subject, next_attempt_ms=self.now_ms())

    def cancel(self, replay_id: str, who: Principal, note: str = "") -> dict[str, Any]:
        """Cancel a replay not yet sent."""
        return self._change(replay_id, "cancel", who, note)
