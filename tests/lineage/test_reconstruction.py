"""End to end: real SDK spans -> collector -> ClickHouse -> lineage documents."""

from __future__ import annotations

import json
from typing import Any

from tests.lineage.conftest import Shared


def _stage(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in doc["sla"]["stages"] if s["stage"] == name)


def test_dump(shared: Shared) -> None:
    for cid in ["C-OK", "C-RETRY", "C-DLQ", "C-LATE", "C-B0", "J-1", "C-MISS", "C-DUP", "C-AMT", "C-OOO", "C-ORD",
                "C-STUCK", "C-FLY"]:
        d = shared.lineage.transaction(cid)
        assert d
        print(cid, d["status"], d["completed_at"], "breached", d["sla"]["breached"],
              [(s["stage"], s["state"], s["breached"], s["time_left_ms"]) for s in d["sla"]["stages"]])
        print("   conf", d["conformance"], "amt", d["amount_mismatches"])
        print("   rel", d["related"], d["related_omitted"], "edges", len(d["edges"]), d["edges_omitted"])
        print("   exc", [(e["id"], e["state"], e["category"], e["recoverable"], e["attempts"], e["last_outcome"]) for e in d["exceptions"]])
        print("   hops", [(h["entity_id"], h["outcome"], h["attempts"]) for h in d["hops"]])
