"""Hand-built hops of the close tests: invoices and their ledger postings."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.settings import StoreSettings
from collector.store import Store, open_store
from ledgerline.schema import migrate_all
from lineage.close.config import CloseConfig
from lineage.core.service import Lineage
from tests.conftest import start_collector
from tests.lineage.helpers import Emitter

_SEQ = itertools.count()


@dataclass
class World:
    """A module's store with hand-built hops around the last month end (Berlin)."""

    store: Store
    lineage: Lineage
    close: CloseConfig
    period: str  # the month that ended most recently (Berlin)
    next_period: str
    end_utc: datetime  # the period's end in Berlin, as UTC
    em: Emitter
    key: Ed25519PrivateKey  # the seal key of the world's seals and certificates


@dataclass(frozen=True)
class MonthEnd:
    """The most recent month end in Berlin."""

    local_now: datetime
    end_utc: datetime  # this month's first midnight in Berlin, as UTC
    period: str  # the month that ended
    last_day: str  # its last day, YYYY-MM-DD
    next_period: str  # the month running now


def month_end() -> MonthEnd:
    local_now = datetime.now(ZoneInfo("Europe/Berlin"))
    end = local_now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    prev = end - timedelta(days=1)
    return MonthEnd(
        local_now, end.astimezone(UTC), prev.strftime("%Y-%m"), prev.strftime("%Y-%m-%d"), local_now.strftime("%Y-%m")
    )


@contextmanager
def emitting_store(chdb_path: Path, prefix: str) -> Iterator[tuple[Store, Emitter]]:
    """A database of its own behind a running collector (raw retention long enough for a
    month end weeks ago), and an emitter into it; dropped afterwards."""
    database = f"{prefix}_{os.getpid()}_{next(_SEQ)}"
    store = open_store(StoreSettings(clickhouse_url=f"chdb://{chdb_path}", clickhouse_database=database))
    migrate_all(store)
    running = start_collector(store, retention_raw_days=400)
    em = Emitter(f"http://127.0.0.1:{running.http_port}/v1/traces", store)
    try:
        yield store, em
    finally:
        em.close()
        running.stop()
        store.command("DROP DATABASE IF EXISTS {db:Identifier}", {"db": database})


def ns(t: datetime) -> int:
    return int(t.timestamp() * 1e9)


def invoice(
    em: Emitter, n: str, le: str, region: str, issued: datetime, amount: float, currency: str, **attrs: str
) -> None:
    """Invoice INV-n (correlation C-n); ``attrs``: more attributes, e.g. biz_posting_date='2026-11-30'."""
    em.hop(f"C-{n}", "invoice", f"INV-{n}", "invoice.issued", ns(issued), system="billing", amount=amount,
           currency=currency, legal_entity=le, region=region, attrs=_biz(attrs))  # fmt: skip


def post(
    em: Emitter,
    n: str,
    le: str,
    region: str,
    at: datetime,
    amount: float,
    currency: str,
    outcome: str = "ok",
    **attrs: str,
) -> None:
    """INV-n's ledger posting LED-n."""
    em.hop(f"C-{n}", "ledger", f"LED-{n}", "ledger.posted", ns(at), system="erp", parent=("invoice", f"INV-{n}"),
           legal_entity=le, region=region, outcome=outcome, category="tax_error" if outcome != "ok" else "",
           amount=amount, currency=currency, attrs=_biz(attrs))  # fmt: skip


def _biz(attrs: dict[str, str]) -> dict[str, str]:
    """``biz_posting_date`` -> ``biz.posting_date``."""
    return {k.replace("biz_", "biz.", 1): v for k, v in attrs.items()}
