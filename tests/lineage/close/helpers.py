"""Hand-built hops of the close tests: invoices and their ledger postings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from collector.store import Store
from lineage.close.config import CloseConfig
from lineage.core.service import Lineage
from tests.lineage.helpers import Emitter


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
