"""Reading and writing alert state, history, notification log and silences in the store."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from alerts import queries
from alerts.model import Alert, State, Transition
from alerts.silences import Silence, ms
from collector.store import Store

log = logging.getLogger(__name__)


def _version() -> int:
    # Wall-clock nanoseconds: later writes win even across restarts (ReplacingMergeTree).
    return time.time_ns()


def _dt(at_ms: int) -> datetime:
    return datetime.fromtimestamp(at_ms / 1000, tz=UTC)


class Persistence:
    """The alert tables of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._unreadable: set[str] = set()  # silences already reported as unreadable

    # -- instance state -------------------------------------------------------------------
    def load_alerts(self) -> dict[str, dict[str, Alert]]:
        """Non-inactive instances, by rule then fingerprint."""
        out: dict[str, dict[str, Alert]] = {}
        for row in self.store.query(queries.SELECT_STATE):
            rule, fp, labels, notes, state, value, active, fired, resolved, keep, last = row
            out.setdefault(rule, {})[fp] = Alert(
                rule, fp, dict(labels), State(state), dict(notes), float(value), active, fired, resolved, keep, last
            )
        return out

    def save_alerts(self, alerts: list[Alert], removed: list[Alert]) -> None:
        """Write the instances' current state; ``removed`` ones are written as inactive."""
        version = _version()
        rows = [
            [
                a.rule,
                a.fingerprint,
                a.labels,
                a.annotations,
                a.state.value,
                a.value,
                a.active_at,
                a.fired_at,
                a.resolved_at,
                a.keep_firing_since,
                a.last_eval_at,
                version,
            ]
            for a in alerts
        ]
        rows += [
            [
                a.rule,
                a.fingerprint,
                a.labels,
                a.annotations,
                State.INACTIVE.value,
                a.value,
                0,
                0,
                0,
                0,
                a.last_eval_at,
                version,
            ]
            for a in removed
        ]
        if rows:
            self.store.insert("alert_state", rows, queries.STATE_COLUMNS)

    # -- history --------------------------------------------------------------------------
    def append_history(self, transitions: list[Transition]) -> None:
        """Append transitions to the history table."""
        if transitions:
            rows = [
                [_dt(t.at), t.rule, t.fingerprint, t.labels, t.from_state, t.to_state, t.reason, t.value]
                for t in transitions
            ]
            self.store.insert("alert_history", rows, queries.HISTORY_COLUMNS)

    def history(self, rule: str = "", limit: int = 1000) -> list[dict[str, Any]]:
        """Transitions, oldest first."""
        return self.store.query_dicts(queries.SELECT_HISTORY, {"rule": rule, "limit": limit})

    # -- notification log -----------------------------------------------------------------
    def load_nflog(self) -> dict[tuple[str, str], tuple[frozenset[str], frozenset[str], int]]:
        """(receiver, group key) -> (firing, resolved, sent at ms) of the last notification."""
        return {
            (r, k): (frozenset(f), frozenset(res), sent)
            for r, k, f, res, sent in self.store.query(queries.SELECT_NFLOG)
        }

    def save_nflog(
        self, receiver: str, key: str, firing: frozenset[str], resolved: frozenset[str], sent_ms: int
    ) -> None:
        """Record a delivered notification."""
        self.store.insert(
            "alert_nflog",
            [[receiver, key, sorted(firing), sorted(resolved), sent_ms, _version()]],
            queries.NFLOG_COLUMNS,
        )

    # -- silences -------------------------------------------------------------------------
    def _silence(self, row: tuple[Any, ...]) -> Silence:
        sid, matchers, starts, ends, author, comment = row
        return Silence(
            id=sid,
            matchers=json.loads(matchers),
            startsAt=_dt(starts),
            endsAt=_dt(ends),
            createdBy=author,
            comment=comment,
        )

    def silences(self) -> list[Silence]:
        """Every silence not deleted (expired ones included).

        A silence stored by an older version that no longer validates (say, a regex RE2
        refuses) is skipped, with one log line per silence, rather than failing every round.
        """
        out = []
        for row in self.store.query(queries.SELECT_SILENCES):
            try:
                out.append(self._silence(row))
            except ValueError as exc:  # pydantic's ValidationError, json's JSONDecodeError
                if row[0] not in self._unreadable:
                    self._unreadable.add(row[0])
                    first = str(exc).strip().splitlines()
                    log.warning("silence %s skipped, it no longer validates: %s", row[0], first[-1] if first else exc)
        return out

    def save_silence(self, silence: Silence, deleted: bool = False) -> None:
        """Create, update or (``deleted``) remove a silence."""
        matchers = json.dumps([m.model_dump() for m in silence.matchers])
        row = [
            silence.id,
            matchers,
            ms(silence.startsAt),
            ms(silence.endsAt),
            silence.createdBy,
            silence.comment,
            int(deleted),
            _version(),
        ]
        self.store.insert("alert_silences", [row], queries.SILENCE_COLUMNS)

    def delete_silence(self, silence_id: str) -> bool:
        """Remove a silence; False when there is none with that id."""
        rows = self.store.query(queries.SELECT_SILENCE, {"id": silence_id})
        if not rows:
            return False
        self.save_silence(self._silence(rows[0]), deleted=True)
        return True
