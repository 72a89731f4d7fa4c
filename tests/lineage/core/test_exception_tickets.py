"""An exception's tickets (one per receiver) are all listed with it, however many exceptions are
read together: the close gate reads thousands of open exceptions in one call."""

from __future__ import annotations

from datetime import UTC, datetime

from collector.store import Store
from tests.lineage.conftest import make_lineage

RECEIVERS = ("jira", "pagerduty", "servicenow")


def test_every_exception_gets_all_its_tickets_past_ten_thousand_in_all(store: Store) -> None:
    ids = [f"exc-{i:05d}" for i in range(3_400)]  # 10,200 tickets in all
    at = datetime(2026, 12, 1, tzinfo=UTC)
    rows = [[e, r, f"{r}-{e}", f"id-{r}-{e}", f"https://{r}.example/{e}", at] for e in ids for r in RECEIVERS]
    store.insert(
        "exception_tickets", rows, ["ExceptionId", "Receiver", "TicketKey", "TicketId", "TicketUrl", "CreatedAt"]
    )
    exceptions = make_lineage(store).with_tickets([{"id": e} for e in ids] + [{"id": "exc-none"}])
    assert len(exceptions) == len(ids) + 1
    for e in exceptions[:-1]:
        assert e["tickets"] == [
            {"receiver": r, "key": f"{r}-{e['id']}", "url": f"https://{r}.example/{e['id']}"} for r in RECEIVERS
        ]
    assert exceptions[-1]["tickets"] == []
