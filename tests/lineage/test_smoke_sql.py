"""Temporary smoke test of the SQL layer."""

from __future__ import annotations

from tests.lineage.helpers import HOUR, Emitter, complete_txn, now_ns


def test_complete(emitter: Emitter, lineage) -> None:
    t0 = now_ns() - 5 * HOUR
    complete_txn(emitter, "C-1", t0)
    emitter.wait()
    doc = lineage.transaction("C-1")
    import json
    print(json.dumps(doc, indent=1, default=str))
    assert doc["status"] == "complete"
