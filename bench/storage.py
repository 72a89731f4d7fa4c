"""Storage benchmark: bytes on disk per span, per table and per retention tier.

    python -m bench.storage [--spans 200000] [--json]

Ingests ``--spans`` realistic hop spans (bench/payloads.py: 12 attributes, unique IDs) through
the native sink into a fresh embedded store, merges every table (``OPTIMIZE ... FINAL``) and
divides each table's compressed bytes on disk by the spans ingested. The tiers are those of
lineage/evidence/retention.py: raw (``otel_traces``) and lineage (hops and everything derived).
Sealing is not run, so ``seal_leaves``/``sealed_spans`` are estimated in deploy/README.md.
For the sizing guide (deploy/README.md "Sizing"); a cluster stores the same bytes per replica.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.payloads import hop_request
from collector.sinks import NativeSink
from collector.store import StoreSettings, open_store
from collector.writer import Payload
from ledgerline.schema import migrate_all
from lineage.evidence.retention import LINEAGE, RAW

_SIZES = """
SELECT table, sum(rows), sum(data_compressed_bytes), sum(data_uncompressed_bytes), sum(bytes_on_disk)
FROM system.parts WHERE database = currentDatabase() AND active GROUP BY table ORDER BY table
"""


def measure(spans: int, batch: int = 5000) -> dict[str, object]:
    """Ingest ``spans`` spans, merge, and report bytes per span per table and per tier."""
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(StoreSettings(data_dir=Path(tmp)))
        migrate_all(store)
        sink = NativeSink(store)
        started = time.perf_counter()
        for seed in range(spans // batch):
            sink([Payload(hop_request(batch, seed=seed).SerializeToString(), batch)])
        ingest_s = time.perf_counter() - started
        for (table,) in store.query("SELECT name FROM system.tables WHERE database = currentDatabase()"):
            if table in RAW or table in LINEAGE:
                store.command(f"OPTIMIZE TABLE {table} FINAL")
        tables: dict[str, dict[str, float]] = {}
        for table, rows, compressed, uncompressed, disk in store.query(_SIZES):
            tables[str(table)] = {
                "rows": int(rows),
                "bytes_per_span": round(int(disk) / spans, 1),
                "ratio": round(int(uncompressed) / max(1, int(compressed)), 1),
            }
        store.close()
    tiers = {
        name: round(sum(tables[t]["bytes_per_span"] for t in members if t in tables), 1)
        for name, members in (("raw", RAW), ("lineage", LINEAGE))
    }
    return {"spans": spans, "ingest_spans_per_s": round(spans / ingest_s), "tiers": tiers, "tables": tables}


def main() -> None:
    """Print the figures (a table, or one JSON object with ``--json``)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=200_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.spans)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['spans']} spans; bytes on disk per span by tier: {result['tiers']}")
    tables = result["tables"]
    assert isinstance(tables, dict)
    for table, figures in tables.items():
        print(f"  {table:20s} {figures}")


if __name__ == "__main__":
    main()
