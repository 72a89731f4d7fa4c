"""Sealing benchmark: hops sealed per second, store verification time, seal lag under load.

    python -m bench.seal [--hops 1000000] [--window 250000] [--load-spans 200000] [--interval 5] [--json]

1. Throughput: ``--hops`` hops are written straight into ``hops`` (generated inside
   ClickHouse, so the views run as on ingest) in windows of ``--window``; each window is
   sealed. Prints hops sealed per second (aim: at least 200,000/s).
2. ``verify --store`` over all of them: seconds and hops/s.
3. Seal lag under load: ``--load-spans`` spans posted over OTLP/HTTP by 16 senders, every
   request built afresh (unique trace and span IDs: no delivery is a duplicate, so every
   seal has work), to a collector that seals every ``--interval`` seconds in the same
   process, as ``serve``. Once the load ends, sealing goes on until every hop is sealed.
   Each hop's lag is measured from the store: from its commit (``hops.IngestedAt``) to the
   end of the seal that holds it (``sealed_spans.Sequence``); prints the median and worst
   lag over all hops, the slowest seal and how many seals were empty.
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


# Per hop: the seal that holds it and its commit time (ms); lag = that seal's end - commit.
_HOP_SEALS = """
SELECT s.Sequence, toUnixTimestamp64Milli(h.IngestedAt) AS at, count()
FROM hops AS h INNER JOIN sealed_spans AS s ON h.TraceId = s.TraceId AND h.SpanId = s.SpanId
GROUP BY s.Sequence, at
"""
_UNSEALED = """
SELECT count() FROM hops AS h LEFT ANTI JOIN sealed_spans AS s ON h.TraceId = s.TraceId AND h.SpanId = s.SpanId
"""


def _hop_lags(store: Any, finished: dict[int, float]) -> list[tuple[float, int]]:
    """(lag in seconds, hops) for every sealed hop."""
    return [(finished[int(seq)] - int(at) / 1000, int(n)) for seq, at, n in store.query(_HOP_SEALS)]


def _quantile(weighted: list[tuple[float, int]], q: float) -> float | None:
    total = sum(n for _, n in weighted)
    seen = 0
    for value, n in sorted(weighted):
        seen += n
        if seen >= q * total:
            return value
    return None


def serve(data_dir: str, interval: float) -> None:
    """A collector sealing every ``interval`` seconds; when stdin closes, seals until every
    hop is sealed and prints the lag figures."""
    from collector.service import Collector
    from collector.settings import CollectorSettings
    from lineage.evidence.sealer import Sealer

    settings = CollectorSettings(data_dir=Path(data_dir), http_port=0, grpc_port=0)
    store = _store(data_dir)
    collector = Collector(settings, store=store)
    collector.start()
    sealer = Sealer(store, Ed25519PrivateKey.generate(), margin_s=120)
    loading = threading.Event()
    loading.set()
    durations: list[float] = []
    finished: dict[int, float] = {}  # seal sequence -> wall time its row was written

    def seal_loop() -> None:
        while True:
            time.sleep(interval)
            started = time.perf_counter()
            seal = sealer.seal_now()
            durations.append(time.perf_counter() - started)
            if seal is not None:
                finished[seal.sequence] = time.time()
            if not loading.is_set() and store.query(_UNSEALED)[0][0] == 0:
                return

    thread = threading.Thread(target=seal_loop, daemon=True)
    thread.start()
    print(READY, collector.http_port, flush=True)
    sys.stdin.read()
    collector.stop()  # every acknowledged span is stored; the sealer catches up
    loading.clear()
    thread.join(600)
    lags = _hop_lags(store, finished)
    figures = {
        "seals_under_load": len(durations),
        "empty_seals": len(durations) - len(finished),
        "hops_sealed": sum(n for _, n in lags),
        "hop_lag_p50_s": _quantile(lags, 0.5),
        "hop_lag_max_s": max((lag for lag, _ in lags), default=None),
        "slowest_seal_s": max(durations, default=0.0),
    }
    print(json.dumps(figures), flush=True)
    store.close()


def unique_load(port: int, spans: int, senders: int = 16, batch: int = 500) -> dict[str, float]:
    """Post ``spans`` spans in requests of ``batch``, each request built afresh (new IDs)."""
    import httpx

    from bench.payloads import hop_request

    url = f"http://127.0.0.1:{port}/v1/traces"
    headers = {"content-type": "application/x-protobuf"}
    seeds = iter(range(spans // batch))
    lock = threading.Lock()
    sent = [0]

    def sender() -> None:
        with httpx.Client(timeout=60) as client:
            while True:
                with lock:
                    seed = next(seeds, None)
                if seed is None:
                    return
                body = hop_request(batch, seed=seed).SerializeToString()
                while (response := client.post(url, content=body, headers=headers)).status_code != 200:
                    assert response.status_code in (429, 503), response.status_code
                    time.sleep(float(response.headers["retry-after"]))
                with lock:
                    sent[0] += batch

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"spans": sent[0], "seconds": time.perf_counter() - started}


def lag(spans: int, interval: float) -> dict[str, Any]:
    """Post unique spans to a sealing collector; return its lag figures."""
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
        result = unique_load(int(line[1]), spans)
        server.stdin.close()
        figures: dict[str, Any] = json.loads(server.stdout.read().strip().splitlines()[-1])
        server.wait(120)
    figures["ingest_spans_per_s"] = result["spans"] / result["seconds"]
    return figures


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("role", nargs="?", default="bench", choices=["bench", "serve"])
    parser.add_argument("--hops", type=int, default=1_000_000, help="hops sealed and verified (0: skip)")
    parser.add_argument("--window", type=int, default=250_000, help="hops per seal")
    parser.add_argument("--load-spans", type=int, default=200_000, help="spans of the ingest load (0: skip)")
    parser.add_argument("--interval", type=float, default=5.0, help="seal interval under load, seconds")
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    args = parser.parse_args()
    if args.role == "serve":
        return serve(args.data_dir, args.interval)
    figures: dict[str, Any] = {}
    if args.hops:  # 0: the lag round alone
        print(f"sealing {args.hops:,} hops in seals of {args.window:,} ...", flush=True)
        figures |= throughput(args.hops, args.window)
        print(f"sealed: {figures['seal_hops_per_s']:,.0f} hops/s (aim 200,000/s)")
        print(f"verify --store over {args.hops:,} hops: {figures['verify_store_s']:.1f} s")
    if args.load_spans:
        print(f"seal lag under ingest load ({args.load_spans:,} spans, seal every {args.interval:g} s) ...", flush=True)
        figures |= lag(args.load_spans, args.interval)
        print(
            f"ingest {figures['ingest_spans_per_s']:,.0f} spans/s while sealing; {figures['seals_under_load']} "
            f"seals ({figures['empty_seals']} empty); {figures['hops_sealed']:,} hops sealed, lag median "
            f"{figures['hop_lag_p50_s'] or 0:.1f} s, worst {figures['hop_lag_max_s'] or 0:.1f} s; "
            f"slowest seal {figures['slowest_seal_s']:.2f} s"
        )
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
