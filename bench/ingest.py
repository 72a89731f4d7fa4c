"""Ingest benchmark: OTLP/HTTP protobuf load, end to end until committed.

    python -m bench.ingest [--spans 1000000] [--senders 16] [--batch 512] [--json-bodies 12 --json-mb 15]
                           [--skip-worst] [--skip-mixed] [--rollup-cost] [--tmp-dir DIR] [--json]

Three processes per load: a collector (``serve``) on its own fresh embedded store, a load
generator (``load``) with several concurrent senders posting pre-built spans, and this one.
A sender counts a span only once the collector answered 200, i.e. after the commit. Two
loads, each against its own collector, so CPU and memory are per load:

* worst case: every span a business hop (bench/payloads.py ``hop_request``, about 12
  attributes each);
* mixed: the realistic mix, one business hop per four spans, the other three its technical
  HTTP/DB child spans without ``biz.*`` attributes, in the same traces (``mixed_request``).

For each load it prints spans/s, the p50/p95 latency of an export request (first attempt to
200, retries included), the collector's CPU seconds (utime + stime from /proc) per million
spans sent and its peak RSS. In the same run this process measures the *floor* of the worst
case: decoding the same payloads plus one bulk insert of them, with no HTTP and no queue.

``--json`` ends the output with one JSON object on the last line, with the keys:

* ``worst_spans_per_s``, ``mixed_spans_per_s``: end to end (``spans_per_s``: the worst case,
  the key of earlier runs);
* ``floor_spans_per_s``: decode + one bulk insert of the worst-case payloads;
* ``cpu_s_per_million_spans`` (worst case), ``mixed_cpu_s_per_million_spans``: collector CPU;
* ``worst_request_p50_ms``, ``worst_request_p95_ms``, ``mixed_request_p50_ms``,
  ``mixed_request_p95_ms``: export-request latency;
* ``peak_rss_mib`` (worst case), ``mixed_peak_rss_mib``: collector VmHWM;
* ``json_seconds``, ``json_peak_rss_mib``: the OTLP/JSON burst (unless ``--json-bodies 0``).

A load left out with ``--skip-worst``/``--skip-mixed`` has its keys set to null.

``--rollup-cost`` first runs the worst case once more against a collector whose store has no
rollup views (the dirty-minute marks and the seal of lineage/core/rollups.py and the
open-transactions index's view of lineage/core/open_txns.py dropped), and adds
``worst_spans_per_s_without_rollup``, ``cpu_s_per_million_spans_without_rollup`` and
``rollup_ingest_cost`` (the share of spans/s the views cost: 1 - with / without; on a shared
machine the CPU seconds per million spans are the steadier comparison).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.payloads import hop_request, json_body, mixed_request
from bench.stats import p50_p95

READY = "READY"
SENDING = "SENDING"
PAYLOADS = {"worst": hop_request, "mixed": mixed_request}


def _bodies(batch: int, distinct: int, payload: str = "worst") -> list[bytes]:
    build = PAYLOADS[payload]
    return [build(batch, seed=i).SerializeToString() for i in range(distinct)]


def serve(data_dir: str, without_rollup: bool = False) -> None:
    """Run a collector on an ephemeral port until stdin closes (``without_rollup``: the views of
    issue 23 dropped, the rollup's and the open-transactions index's: the cost of ingest before them)."""
    from collector.service import Collector
    from collector.settings import CollectorSettings
    from collector.store import open_store
    from ledgerline.schema import migrate_all

    settings = CollectorSettings(data_dir=Path(data_dir), http_port=0, grpc_port=0)
    store = open_store(settings)
    migrate_all(store)
    if without_rollup:
        store.command("DROP VIEW IF EXISTS hop_rollup_dirty_mv")
        store.command("DROP VIEW IF EXISTS hop_rollup_seal")
        store.command("DROP VIEW IF EXISTS open_txns_mv")
    collector = Collector(settings, store)
    collector.start()
    print(READY, collector.http_port, flush=True)
    sys.stdin.read()
    collector.stop()
    store.close()


def load(port: int, spans: int, senders: int, batch: int, payload: str = "worst") -> None:
    """Post pre-built bodies from ``senders`` threads; print a JSON summary with the p50/p95
    latency of an export request (first attempt until acknowledged, retries included)."""
    bodies = _bodies(batch, distinct=64, payload=payload)
    requests = spans // batch
    url = f"http://127.0.0.1:{port}/v1/traces"
    headers = {"content-type": "application/x-protobuf"}
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "retried": 0}
    latencies: list[float] = []

    def sender() -> None:
        with httpx.Client(timeout=60) as client:
            while True:
                with lock:
                    i = state["next"]
                    if i >= requests:
                        return
                    state["next"] += 1
                started = time.perf_counter()
                while True:  # honour 429/503 like an SDK would: nothing is dropped
                    response = client.post(url, content=bodies[i % len(bodies)], headers=headers)
                    if response.status_code == 200:
                        break
                    with lock:
                        state["retried"] += 1
                    time.sleep(float(response.headers.get("retry-after", "1")))
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    state["ok"] += batch
                    latencies.append(elapsed)

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    print(SENDING, flush=True)  # the bodies are built: the caller starts its CPU count here
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    p50, p95 = p50_p95(latencies)
    summary = {
        "spans": state["ok"],
        "seconds": elapsed,
        "retried": state["retried"],
        "requests": len(latencies),
        "request_p50_ms": p50,
        "request_p95_ms": p95,
    }
    print(json.dumps(summary), flush=True)


def floor(spans: int, batch: int, tmp_dir: str | None = None) -> float:
    """Spans/s of decoding the payloads plus one bulk insert, in this process."""
    from collector import native, otlp
    from collector.normalize import normalise
    from collector.settings import StoreSettings
    from collector.store import open_store
    from ledgerline.schema import migrate_all

    bodies = _bodies(batch, distinct=64)
    count = min(spans, 500_000) // batch
    chosen = [bodies[i % len(bodies)] for i in range(count)]
    with tempfile.TemporaryDirectory(dir=tmp_dir, prefix="ledgerline-ingest-floor-") as tmp:
        store = open_store(StoreSettings(data_dir=Path(tmp)))
        migrate_all(store)
        # Warm the engine up as the collector was warmed by its load, then start afresh.
        store.insert_raw("otlp_ingest", native.frame(chosen[:8]), "Protobuf", native.INSERT_SETTINGS)
        store.command("TRUNCATE TABLE otel_traces")
        started = time.perf_counter()
        stored_bodies = []
        for body in chosen:  # what the collector does per request: parse, normalise, serialize
            request = otlp.parse_protobuf(body)
            normalise(request)
            stored_bodies.append(request.SerializeToString())
        store.insert_raw("otlp_ingest", native.frame(stored_bodies), "Protobuf", native.INSERT_SETTINGS)
        elapsed = time.perf_counter() - started
        stored = store.query("SELECT count() FROM otel_traces")[0][0]
        store.close()
    assert stored == count * batch, (stored, count * batch)
    return count * batch / elapsed


def json_load(port: int, bodies: int, megabytes: float) -> None:
    """Post ``bodies`` OTLP/JSON bodies of ``megabytes`` MB at once; print a JSON summary."""
    body, spans = json_body(megabytes)
    url = f"http://127.0.0.1:{port}/v1/traces"
    state = {"ok": 0, "retried": 0}
    lock = threading.Lock()

    def sender() -> None:
        with httpx.Client(timeout=300) as client:
            while True:
                response = client.post(url, content=body, headers={"content-type": "application/json"})
                if response.status_code == 200:
                    with lock:
                        state["ok"] += spans
                    return
                with lock:
                    state["retried"] += 1
                time.sleep(float(response.headers.get("retry-after", "1")))

    threads = [threading.Thread(target=sender) for _ in range(bodies)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    summary = {"spans": state["ok"], "seconds": time.perf_counter() - started, "retried": state["retried"]}
    print(json.dumps(summary | {"body_mb": len(body) / 1e6}), flush=True)


def json_round(bodies: int, megabytes: float, tmp_dir: str | None = None) -> tuple[dict[str, float], float]:
    """A fresh collector under a burst of large OTLP/JSON bodies: the summary and peak RSS."""
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(dir=tmp_dir, prefix="ledgerline-ingest-json-") as tmp:
        server = subprocess.Popen(
            [sys.executable, "-m", "bench.ingest", "serve", "--data-dir", tmp],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert server.stdout is not None and server.stdin is not None
        port = int(server.stdout.readline().split()[1])
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.ingest",
                "json-load",
                "--port",
                str(port),
                "--json-bodies",
                str(bodies),
                "--json-mb",
                str(megabytes),
            ],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        rss = _peak_rss_mib(server.pid)
        server.stdin.close()
        server.wait(120)
    return json.loads(out.stdout.strip().splitlines()[-1]), rss


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of process ``pid`` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3 of proc(5), utime 14 and stime 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_load(
    payload: str, spans: int, senders: int, batch: int, tmp_dir: str | None, without_rollup: bool = False
) -> dict[str, float]:
    """One load of ``payload`` spans against a fresh collector: the load's summary plus the
    collector's CPU seconds during the load and its peak RSS."""
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(dir=tmp_dir, prefix=f"ledgerline-ingest-{payload}-") as tmp:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.ingest",
                "serve",
                "--data-dir",
                tmp,
                *(["--without-rollup"] if without_rollup else []),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert server.stdout is not None and server.stdin is not None
        line = server.stdout.readline().split()
        assert line and line[0] == READY, f"collector did not start: {line}"
        port = int(line[1])
        print(
            f"{payload}: collector up on 127.0.0.1:{port}; sending {spans:,} spans from {senders} senders "
            f"in requests of {batch} ...",
            flush=True,
        )
        loader = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.ingest",
                "load",
                "--port",
                str(port),
                "--spans",
                str(spans),
                "--senders",
                str(senders),
                "--batch",
                str(batch),
                "--payload",
                payload,
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert loader.stdout is not None
        lines = [loader.stdout.readline().strip()]
        assert lines[0] == SENDING, f"load did not start: {lines}"
        cpu_before = _cpu_seconds(server.pid)
        lines += loader.stdout.read().strip().splitlines()
        cpu = _cpu_seconds(server.pid) - cpu_before
        assert loader.wait() == 0, f"load failed: {lines}"
        result: dict[str, float] = json.loads(lines[-1])
        rss = _peak_rss_mib(server.pid)
        server.stdin.close()
        server.wait(60)
    result["spans_per_s"] = result["spans"] / result["seconds"]
    result["cpu_s"] = cpu
    result["cpu_s_per_million_spans"] = cpu / (result["spans"] / 1e6) if result["spans"] else float("nan")
    result["peak_rss_mib"] = rss
    return result


def main() -> None:
    """Run the whole benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("role", nargs="?", default="bench", choices=["bench", "serve", "load", "json-load"])
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans per load")
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--batch", type=int, default=512, help="spans per request (SDK default 512)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--payload", choices=sorted(PAYLOADS), default="worst", help="(load role) payload kind")
    parser.add_argument("--skip-worst", action="store_true", help="leave out the all-hops load")
    parser.add_argument("--skip-mixed", action="store_true", help="leave out the mixed load (1 hop in 4 spans)")
    parser.add_argument("--tmp-dir", default=None, help="parent of the collectors' temporary data directories")
    parser.add_argument("--json-bodies", type=int, default=12, help="concurrent OTLP/JSON bodies (0: skip)")
    parser.add_argument("--json-mb", type=float, default=15.0, help="size of each OTLP/JSON body")
    parser.add_argument("--json", action="store_true", help="one JSON object of the figures on the last line")
    parser.add_argument("--rollup-cost", action="store_true", help="also the worst case without the rollup views")
    parser.add_argument("--without-rollup", action="store_true", help="(serve role) drop the rollup views")
    args = parser.parse_args()
    if args.role == "serve":
        return serve(args.data_dir, args.without_rollup)
    if args.role == "load":
        return load(args.port, args.spans, args.senders, args.batch, args.payload)
    if args.role == "json-load":
        return json_load(args.port, args.json_bodies, args.json_mb)

    results: dict[str, dict[str, float] | None] = {"worst": None, "mixed": None}
    bare = run_load("worst", args.spans, args.senders, args.batch, args.tmp_dir, True) if args.rollup_cost else None
    for payload, skip in (("worst", args.skip_worst), ("mixed", args.skip_mixed)):
        if not skip:
            results[payload] = run_load(payload, args.spans, args.senders, args.batch, args.tmp_dir)
    print("measuring the floor (decode + one bulk insert of the worst-case payloads) ...", flush=True)
    floor_rate = floor(args.spans, args.batch, args.tmp_dir)
    labels = {"worst": "every span a hop", "mixed": "1 hop in 4 spans"}
    for payload, result in results.items():
        if result is None:
            continue
        print(
            f"{payload:<6} ({labels[payload]}): {result['spans_per_s']:,.0f} spans/s "
            f"({result['spans']:,} spans in {result['seconds']:.1f} s, {result['retried']} retried requests)"
        )
        print(
            f"         request latency p50 {result['request_p50_ms']:.1f} ms, p95 {result['request_p95_ms']:.1f} ms "
            f"({result['requests']:,} requests)"
        )
        print(
            f"         collector CPU {result['cpu_s']:.1f} s = {result['cpu_s_per_million_spans']:.1f} s per million "
            f"spans; peak RSS {result['peak_rss_mib']:,.0f} MiB"
        )
    print(f"floor:  {floor_rate:,.0f} spans/s (worst-case payloads)")
    worst, mixed = results["worst"], results["mixed"]
    if worst is not None:
        print(f"ratio:  {worst['spans_per_s'] / floor_rate:.2f} of the floor (worst case)")
    if worst is not None and mixed is not None:
        print(f"mixed:  {mixed['spans_per_s'] / worst['spans_per_s']:.2f} x the worst case's spans/s")

    def figure(result: dict[str, float] | None, key: str, digits: int | None = None) -> float | None:
        if result is None:
            return None
        return round(result[key], digits) if digits is not None else round(result[key])

    figures: dict[str, float | None] = {
        "spans_per_s": figure(worst, "spans_per_s"),
        "worst_spans_per_s": figure(worst, "spans_per_s"),
        "mixed_spans_per_s": figure(mixed, "spans_per_s"),
        "floor_spans_per_s": round(floor_rate),
        "cpu_s_per_million_spans": figure(worst, "cpu_s_per_million_spans", 2),
        "mixed_cpu_s_per_million_spans": figure(mixed, "cpu_s_per_million_spans", 2),
        "worst_request_p50_ms": figure(worst, "request_p50_ms", 1),
        "worst_request_p95_ms": figure(worst, "request_p95_ms", 1),
        "mixed_request_p50_ms": figure(mixed, "request_p50_ms", 1),
        "mixed_request_p95_ms": figure(mixed, "request_p95_ms", 1),
        "peak_rss_mib": figure(worst, "peak_rss_mib"),
        "mixed_peak_rss_mib": figure(mixed, "peak_rss_mib"),
    }
    if bare is not None:
        figures["worst_spans_per_s_without_rollup"] = figure(bare, "spans_per_s")
        figures["cpu_s_per_million_spans_without_rollup"] = figure(bare, "cpu_s_per_million_spans", 2)
        if worst is not None:
            figures["rollup_ingest_cost"] = round(1 - worst["spans_per_s"] / bare["spans_per_s"], 3)
        print(f"worst without the rollup views: {bare['spans_per_s']:,.0f} spans/s")
    if args.json_bodies:
        print(f"JSON burst:   {args.json_bodies} concurrent OTLP/JSON bodies of {args.json_mb:g} MB ...", flush=True)
        summary, json_rss = json_round(args.json_bodies, args.json_mb, args.tmp_dir)
        print(
            f"              {summary['spans']:,} spans in {summary['seconds']:.1f} s, "
            f"{summary['retried']} retried requests; peak RSS {json_rss:,.0f} MiB"
        )
        figures |= {"json_seconds": round(summary["seconds"], 1), "json_peak_rss_mib": round(json_rss)}
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
