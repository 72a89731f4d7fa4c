"""Ingest benchmark: OTLP/HTTP protobuf load, end to end until committed.

    python -m bench.ingest [--spans 1000000] [--senders 16] [--batch 512] [--json-bodies 12 --json-mb 15] [--json]

Three processes: a collector (``serve``) on its own embedded store, a load generator
(``load``) with several concurrent senders posting pre-built realistic hop spans (about
12 attributes each), and this one. A sender counts a span only once the collector
answered 200, i.e. after the commit. In the same run this process measures the *floor*:
decoding the same payloads plus one bulk insert of them, with no HTTP and no queue. It
prints spans/s, the floor, their ratio, and the collector's peak RSS.
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

from bench.payloads import hop_request, json_body

READY = "READY"


def _bodies(batch: int, distinct: int) -> list[bytes]:
    return [hop_request(batch, seed=i).SerializeToString() for i in range(distinct)]


def serve(data_dir: str) -> None:
    """Run a collector on an ephemeral port until stdin closes."""
    from collector.service import Collector
    from collector.settings import CollectorSettings
    from collector.store import open_store
    from ledgerline.schema import migrate_all

    settings = CollectorSettings(data_dir=Path(data_dir), http_port=0, grpc_port=0)
    store = open_store(settings)
    migrate_all(store)
    collector = Collector(settings, store)
    collector.start()
    print(READY, collector.http_port, flush=True)
    sys.stdin.read()
    collector.stop()
    store.close()


def load(port: int, spans: int, senders: int, batch: int) -> None:
    """Post pre-built bodies from ``senders`` threads; print a JSON summary."""
    bodies = _bodies(batch, distinct=64)
    requests = spans // batch
    url = f"http://127.0.0.1:{port}/v1/traces"
    headers = {"content-type": "application/x-protobuf"}
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "retried": 0}

    def sender() -> None:
        with httpx.Client(timeout=60) as client:
            while True:
                with lock:
                    i = state["next"]
                    if i >= requests:
                        return
                    state["next"] += 1
                while True:  # honour 429/503 like an SDK would: nothing is dropped
                    response = client.post(url, content=bodies[i % len(bodies)], headers=headers)
                    if response.status_code == 200:
                        break
                    with lock:
                        state["retried"] += 1
                    time.sleep(float(response.headers.get("retry-after", "1")))
                with lock:
                    state["ok"] += batch

    threads = [threading.Thread(target=sender) for _ in range(senders)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    print(json.dumps({"spans": state["ok"], "seconds": elapsed, "retried": state["retried"]}), flush=True)


def floor(spans: int, batch: int) -> float:
    """Spans/s of decoding the payloads plus one bulk insert, in this process."""
    from collector import native, otlp
    from collector.normalize import normalise
    from collector.settings import StoreSettings
    from collector.store import open_store
    from ledgerline.schema import migrate_all

    bodies = _bodies(batch, distinct=64)
    count = min(spans, 500_000) // batch
    chosen = [bodies[i % len(bodies)] for i in range(count)]
    with tempfile.TemporaryDirectory() as tmp:
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


def json_round(bodies: int, megabytes: float) -> tuple[dict[str, float], float]:
    """A fresh collector under a burst of large OTLP/JSON bodies: the summary and peak RSS."""
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
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
            [sys.executable, "-m", "bench.ingest", "json-load", "--port", str(port)]
            + ["--json-bodies", str(bodies), "--json-mb", str(megabytes)],
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


def main() -> None:
    """Run the whole benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("role", nargs="?", default="bench", choices=["bench", "serve", "load", "json-load"])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--batch", type=int, default=512, help="spans per request (SDK default 512)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--json-bodies", type=int, default=12, help="concurrent OTLP/JSON bodies (0: skip)")
    parser.add_argument("--json-mb", type=float, default=15.0, help="size of each OTLP/JSON body")
    parser.add_argument("--json", action="store_true", help="one JSON object of the figures on the last line")
    args = parser.parse_args()
    if args.role == "serve":
        return serve(args.data_dir)
    if args.role == "load":
        return load(args.port, args.spans, args.senders, args.batch)
    if args.role == "json-load":
        return json_load(args.port, args.json_bodies, args.json_mb)

    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen(
            [sys.executable, "-m", "bench.ingest", "serve", "--data-dir", tmp],
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
            f"collector up on 127.0.0.1:{port}; sending {args.spans:,} spans from {args.senders} senders "
            f"in requests of {args.batch} ...",
            flush=True,
        )
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.ingest",
                "load",
                "--port",
                str(port),
                "--spans",
                str(args.spans),
                "--senders",
                str(args.senders),
                "--batch",
                str(args.batch),
            ],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        )
        result = json.loads(out.stdout.strip().splitlines()[-1])
        rss = _peak_rss_mib(server.pid)
        server.stdin.close()
        server.wait(60)
    rate = result["spans"] / result["seconds"]
    print("measuring the floor (decode + one bulk insert of the same payloads) ...", flush=True)
    floor_rate = floor(args.spans, args.batch)
    print(
        f"end-to-end:   {rate:,.0f} spans/s ({result['spans']:,} spans in {result['seconds']:.1f} s, "
        f"{result['retried']} retried requests)"
    )
    print(f"floor:        {floor_rate:,.0f} spans/s")
    print(f"ratio:        {rate / floor_rate:.2f} of the floor")
    print(f"peak RSS:     {rss:,.0f} MiB (collector process)")
    figures = {"spans_per_s": round(rate), "floor_spans_per_s": round(floor_rate), "peak_rss_mib": round(rss)}
    if args.json_bodies:
        print(f"JSON burst:   {args.json_bodies} concurrent OTLP/JSON bodies of {args.json_mb:g} MB ...", flush=True)
        summary, json_rss = json_round(args.json_bodies, args.json_mb)
        print(
            f"              {summary['spans']:,} spans in {summary['seconds']:.1f} s, "
            f"{summary['retried']} retried requests; peak RSS {json_rss:,.0f} MiB"
        )
        figures |= {"json_seconds": round(summary["seconds"], 1), "json_peak_rss_mib": round(json_rss)}
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
