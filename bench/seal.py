"""Sealing benchmark: hops sealed per second, store verification time, seal lag under load.

    python -m bench.seal [--hops 1000000] [--window 250000] [--load-spans 200000] [--json]

1. Throughput: ``--hops`` hops are written straight into ``hops`` (generated inside
   ClickHouse, so the views run as on ingest) in windows of ``--window``; each window is
   sealed. Prints hops sealed per second (aim: at least 200,000/s).
2. ``verify --store`` over all of them: seconds and hops/s.
3. Seal lag under the ingest benchmark's load (bench/ingest.py's load generator against a
   collector that seals every ``--interval`` seconds in the same process, as ``serve``).
   A hop stored just after a seal's cutoff waits for the next seal to finish, so each seal's
   lag bound is (its finish - the previous cutoff); prints the median and worst bound and
   the slowest seal. (The load re-sends 64 distinct bodies, so per-hop lags from the store
   would be skewed by ReplacingMergeTree keeping the latest delivery.)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

READY = "READY"

# Realistic hops: 4 per transaction, 12-character IDs, amounts on most, parents on 3 of 4.
_GENERATE = """
INSERT INTO hops (CorrelationId, Flow, EntityType, EntityId, ParentType, ParentIds, Step, System, Outcome,
    Amount, Currency, IdempotencyKey, Region, LegalEntity, StartTime, EndTime, DurationNs, TraceId, SpanId,
    ServiceName, SpanName, StatusCode)
SELECT concat('C-', toString({base:UInt64} + intDiv(number, 4))) AS cid, 'support_credit',
    ['case', 'credit', 'invoice', 'ledger'][number % 4 + 1] AS et,
    concat(upper(substring(et, 1, 3)), '-', toString({base:UInt64} + number)),
    ['', 'case', 'credit', 'invoice'][number % 4 + 1],
    if(number % 4 = 0, [], [concat('P-', toString({base:UInt64} + number - 1))]),
    ['case.opened', 'credit.approved', 'invoice.issued', 'ledger.posted'][number % 4 + 1],
    ['zendesk', 'billing', 'billing', 'sap'][number % 4 + 1],
    if(number % 50 = 0, 'failed', 'ok'),
    if(number % 4 = 0, NULL, toFloat64((number % 100000) / 100)), 'EUR',
    if(number % 4 = 3, concat('post-', toString(number)), ''),
    ['emea', 'amer', 'apac'][number % 3 + 1], ['LE-1', 'LE-2'][number % 2 + 1],
    now64(9) - toIntervalSecond(number % 86400), now64(9) - toIntervalSecond(number % 86400) + toIntervalSecond(30),
    30000000000, lower(hex(sipHash128({base:UInt64} + intDiv(number, 4)))),
    lower(hex(reinterpretAsFixedString(sipHash64({base:UInt64} + number)))),
    ['zendesk', 'billing', 'billing', 'sap'][number % 4 + 1], 'step', 'Unset'
FROM numbers({n:UInt64})
"""


def _store(data_dir: str) -> Any:
    from collector.store import open_store
    from ledgerline.schema import prepare_store
    from lineage.evidence.settings import EvidenceSettings

    settings = EvidenceSettings(data_dir=Path(data_dir))
    store = open_store(settings)
    prepare_store(store, settings)
    return store


def throughput(hops: int, window: int) -> dict[str, float]:
    """Seal ``hops`` in windows of ``window``; then verify the store."""
    from lineage.evidence.audit import verify_store
    from lineage.evidence.sealer import Sealer

    key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory() as tmp:
        store = _store(tmp)
        sealer = Sealer(store, key, margin_s=120)
        sealed, seconds = 0, 0.0
        for base in range(0, hops, window):
            n = min(window, hops - base)
            store.command(_GENERATE, {"base": base, "n": n})
            started = time.perf_counter()
            seal = sealer.seal_now()
            seconds += time.perf_counter() - started
            assert seal is not None and seal.leaf_count == n, seal
            sealed += n
            print(f"  sealed {sealed:,} hops ({n / (time.perf_counter() - started):,.0f} hops/s this seal)")
        started = time.perf_counter()
        report = verify_store(store, key.public_key(), progress=lambda line: print(f"  {line}", flush=True))
        verify_s = time.perf_counter() - started
        assert report.hops == hops
        store.close()
    return {"hops": hops, "seal_hops_per_s": sealed / seconds, "verify_store_s": verify_s}


def serve(data_dir: str, interval: float) -> None:
    """A collector sealing every ``interval`` seconds until stdin closes; prints lag figures."""
    from collector.service import Collector
    from collector.settings import CollectorSettings
    from lineage.evidence.sealer import Sealer

    settings = CollectorSettings(data_dir=Path(data_dir), http_port=0, grpc_port=0)
    store = _store(data_dir)
    collector = Collector(settings, store=store)
    collector.start()
    sealer = Sealer(store, Ed25519PrivateKey.generate(), margin_s=120)
    stop = threading.Event()
    durations: list[float] = []
    bounds: list[float] = []
    leaves = [0]

    def seal_loop() -> None:
        while not stop.wait(interval):
            started = time.perf_counter()
            seal = sealer.seal_now()
            durations.append(time.perf_counter() - started)
            if seal is not None:
                leaves[0] += seal.leaf_count
                if seal.sequence > 1:
                    bounds.append(time.time() - seal.window_start_ms / 1000)

    thread = threading.Thread(target=seal_loop, daemon=True)
    thread.start()
    print(READY, collector.http_port, flush=True)
    sys.stdin.read()
    stop.set()
    thread.join()
    collector.stop()
    bounds.sort()
    figures = {
        "seals_under_load": len(durations),
        "lag_bound_p50_s": bounds[len(bounds) // 2] if bounds else None,
        "lag_bound_max_s": bounds[-1] if bounds else None,
        "slowest_seal_s": max(durations, default=0.0),
        "hops_sealed_under_load": leaves[0],
    }
    print(json.dumps(figures), flush=True)
    store.close()


def lag(spans: int, interval: float) -> dict[str, Any]:
    """Run the ingest load against a sealing collector; return its lag figures."""
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            [sys.executable, "-m", "bench.seal", "serve", "--data-dir", tmp, "--interval", str(interval)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None and server.stdin is not None
        line = server.stdout.readline().split()
        assert line and line[0] == READY, f"collector did not start: {line}"
        load = [sys.executable, "-m", "bench.ingest", "load", "--port", line[1], "--spans", str(spans)]
        out = subprocess.run([*load, "--senders", "16"], check=True, capture_output=True, text=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        server.stdin.close()
        figures: dict[str, Any] = json.loads(server.stdout.read().strip().splitlines()[-1])
        server.wait(120)
    figures["ingest_spans_per_s"] = result["spans"] / result["seconds"]
    return figures


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("role", nargs="?", default="bench", choices=["bench", "serve"])
    parser.add_argument("--hops", type=int, default=1_000_000)
    parser.add_argument("--window", type=int, default=250_000, help="hops per seal")
    parser.add_argument("--load-spans", type=int, default=200_000, help="spans of the ingest load (0: skip)")
    parser.add_argument("--interval", type=float, default=5.0, help="seal interval under load, seconds")
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args()
    if args.role == "serve":
        return serve(args.data_dir, args.interval)
    print(f"sealing {args.hops:,} hops in seals of {args.window:,} ...", flush=True)
    figures: dict[str, Any] = throughput(args.hops, args.window)
    print(f"sealed: {figures['seal_hops_per_s']:,.0f} hops/s (aim 200,000/s)")
    print(f"verify --store over {args.hops:,} hops: {figures['verify_store_s']:.1f} s")
    if args.load_spans:
        print(f"seal lag under ingest load ({args.load_spans:,} spans, seal every {args.interval:g} s) ...", flush=True)
        figures |= lag(args.load_spans, args.interval)
        print(
            f"ingest {figures['ingest_spans_per_s']:,.0f} spans/s while sealing; {figures['seals_under_load']} "
            f"seals; seal lag bound median {figures['lag_bound_p50_s'] or 0:.1f} s, worst "
            f"{figures['lag_bound_max_s'] or 0:.1f} s; slowest seal {figures['slowest_seal_s']:.2f} s"
        )
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
