"""Hand-built hops for the flow tests: spans written to otel_traces, so the real
materialized views derive hops, hop_times and hop_failures from them."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from collector.store import Store

MIN = 60_000
HOUR = 60 * MIN
DAY = 24 * HOUR
T0 = 1_780_000_000_000 - 1_780_000_000_000 % DAY  # a fixed midnight, epoch ms
_IDS = itertools.count(1)


@dataclass
class Spans:
    """Spans to write in one insert; ``add`` returns the (trace id, span id) to deliver again."""

    rows: list[list[Any]] = field(default_factory=list)

    def add(
        self,
        cid: str,
        entity: str,
        step: str,
        end_ms: int,
        *,
        system: str = "billing",
        outcome: str = "ok",
        parent: tuple[str, str | list[str]] | None = None,
        amount: float | None = None,
        currency: str = "EUR",
        legal_entity: str = "LE-1",
        region: str = "emea",
        flow: str = "order_to_cash",
        compensates: str = "",
        dur_ms: int = 1000,
        ids: tuple[str, str] | None = None,
    ) -> tuple[str, str]:
        etype, eid = entity.split(":", 1)
        attrs = {
            "correlation.id": cid,
            "biz.flow": flow,
            "biz.entity.type": etype,
            "biz.entity.id": eid,
            "biz.step": step,
            "biz.system": system,
            "biz.outcome": outcome,
            "biz.region": region,
            "biz.legal_entity": legal_entity,
        }
        if parent:
            ptype, pid = parent
            attrs["biz.parent.type"] = ptype
            attrs["biz.parent.id"] = json.dumps(pid) if isinstance(pid, list) else pid
        if amount is not None:
            attrs["biz.amount"] = repr(amount)
            attrs["biz.currency"] = currency
        if compensates:
            attrs["biz.compensates"] = compensates
        if ids is None:
            n = next(_IDS)
            ids = (f"{n:032x}", f"{n:016x}")
        start = datetime.fromtimestamp((end_ms - dur_ms) / 1000, tz=UTC)
        failed = outcome not in ("ok", "compensated")
        self.rows.append([start, ids[0], ids[1], system, step, attrs, dur_ms * 1_000_000, "Error" if failed else "Ok"])
        return ids

    def write(self, store: Store) -> None:
        """Insert the spans collected so far (and forget them)."""
        if self.rows:
            store.insert(
                "otel_traces",
                self.rows,
                [
                    "Timestamp",
                    "TraceId",
                    "SpanId",
                    "ServiceName",
                    "SpanName",
                    "SpanAttributes",
                    "Duration",
                    "StatusCode",
                ],
            )
        self.rows = []
