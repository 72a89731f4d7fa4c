"""Hand-built hops of the close tests: invoices and their ledger postings."""

from __future__ import annotations

from datetime import datetime

from tests.lineage.helpers import Emitter


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
