"""Fault benchmark: what survives kill -9, overload and hostile clients, in figures.

    python -m bench.faults [--kills 3] [--senders 8] [--seconds 3] [--settle 10] [--json]

Runs ``ledgerline serve`` as a subprocess on its own data directory while a loader posts
OTLP/HTTP requests of unique spans and records every span ID the collector acknowledged
(HTTP 200, i.e. committed). The server is killed with SIGKILL mid-load, restarted, and
so on; at the end every acknowledged ID must be stored (``lost`` = 0). Then an overload
round (a tiny write queue: 429 + Retry-After, retried like an SDK), a stop round (SIGTERM
as soon as serve prints its URLs, while its first alert round runs, and again after
``--settle`` seconds, on the killed rounds' data; and right after start with an alert round
made as slow as one over a large store), the flood rounds of bench/overload.py (``/healthz``
latency under ``--flood-senders`` senders of ``--flood-batch``-span requests: ``health_p50_ms``,
``health_p95_ms``, ``health_max_ms``, ``health_over_100ms``, ``health_over_1s``; peak RSS against
the memory model with the defaults and the large settings: ``memory_<name>_peak_rss_mib``,
``_model_mib``, ``_limit_mib``) and the fault tests (differential decoder fuzz, API fuzz) with
larger example counts. Prints kills, acknowledged, lost, duplicates, fuzz cases, 5xx, peak RSS
and the seconds from SIGTERM to exit (``stop_after_start_s``, ``stop_settled_s``,
``stop_during_slow_round_s``, with ``stop_ports_taken`` afterwards);
``--json`` adds one JSON object on the last line.

The pieces (:class:`ServeProcess`, :class:`Loader`, :func:`stored_span_ids`) are what
``tests/faults`` uses with small numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import httpx

from bench.payloads import hop_request
from bench.stats import print_figures

ROOT = Path(__file__).resolve().parent.parent


class ServeProcess:
    """``ledgerline serve`` on ephemeral loopback ports, in a subprocess."""

    def __init__(self, data_dir: Path, **env: str) -> None:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERLINE_")}
        environ |= {"LEDGERLINE_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT), **env}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ledgerline.cli",
                "serve",
                "--http-port",
                "0",
                "--grpc-port",
                "0",
                "--api-port",
                "0",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=environ,
            cwd=ROOT,
        )
        self.urls: dict[str, str] = {}
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # the URLs, then "ledgerline is serving"
            if "is serving" in line:
                break
            name, _, url = line.strip().partition(" ")
            self.urls[name] = url.strip()
        if "otlp_http" not in self.urls:
            self.proc.kill()
            raise RuntimeError(f"serve did not start: {self.urls}")
        self.endpoint = self.urls["otlp_http"]

    def peak_rss_mib(self) -> float:
        """The process's peak resident memory so far."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def kill9(self) -> None:
        """SIGKILL: no flush, no goodbye."""
        self.proc.kill()
        self.proc.wait(30)

    def stop(self) -> float:
        """SIGTERM and wait for the clean shutdown; the seconds from the signal to the exit."""
        began = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        return time.monotonic() - began

    def ports(self) -> list[int]:
        """The ports it listened on (OTLP/HTTP, OTLP/gRPC, API)."""
        urls = [self.urls[name] for name in ("otlp_http", "otlp_grpc", "api") if name in self.urls]
        return sorted({int(url.split("//")[-1].split("/")[0].rsplit(":", 1)[1]) for url in urls})


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when a server could listen on ``port`` now (SO_REUSEADDR, as the servers bind)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


class Loader:
    """Senders posting unique spans; records the span IDs of every 200.

    ``retry_after`` counts the ``Retry-After`` values of 429 and 503 answers ("" when the
    header is missing, which a test should treat as a failure: the wait of 1 s is a guess).
    """

    def __init__(self, endpoint: str, senders: int = 4, batch: int = 100) -> None:
        self.endpoint = endpoint
        self.senders = senders
        self.batch = batch
        self.acked: set[str] = set()
        self.statuses: Counter[int] = Counter()
        self.retry_after: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._seed = 0
        self._threads: list[threading.Thread] = []

    def start(self) -> Loader:
        """Start the senders."""
        self._stop.clear()
        self._threads = [threading.Thread(target=self._send, daemon=True) for _ in range(self.senders)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """Stop the senders (each finishes its current request)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def _send(self) -> None:
        headers = {"content-type": "application/x-protobuf"}
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                with self._lock:
                    self._seed += 1
                    seed = self._seed
                request = hop_request(self.batch, seed=seed)
                ids = [s.span_id.hex() for s in request.resource_spans[0].scope_spans[0].spans]
                body = request.SerializeToString()
                while not self._stop.is_set():  # retry like an SDK: same body until 200
                    try:
                        response = client.post(self.endpoint, content=body, headers=headers)
                    except httpx.HTTPError:
                        break  # the server is gone: this request was never acknowledged
                    with self._lock:
                        self.statuses[response.status_code] += 1
                    if response.status_code == 200:
                        with self._lock:
                            self.acked.update(ids)
                        break
                    if response.status_code in (429, 503):
                        retry_after = response.headers.get("retry-after", "")
                        with self._lock:
                            self.retry_after[retry_after] += 1
                        time.sleep(float(retry_after or "1"))
                        continue
                    break


class Stored(NamedTuple):
    """What a data directory holds: distinct span IDs, rows, and IDs stored more than once."""

    ids: set[str]
    rows: int
    duplicated: set[str]  # in otel_traces or in the hops derived from it


def stored_span_ids(data_dir: Path) -> Stored:
    """Span IDs in otel_traces (distinct), the row count and the duplicated IDs, read by a separate process."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.faults", "count", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("LEDGERLINE_")} | {"PYTHONPATH": str(ROOT)},
    )
    document = json.loads(out.stdout.strip().splitlines()[-1])
    return Stored(set(document["ids"]), int(document["rows"]), set(document["duplicated"]))


def _count(data_dir: str) -> None:
    from collector.settings import StoreSettings
    from collector.store import open_store

    store = open_store(StoreSettings(data_dir=Path(data_dir)))
    ids = [row[0] for row in store.query("SELECT DISTINCT SpanId FROM otel_traces")]
    rows = store.query("SELECT count() FROM otel_traces")[0][0]
    duplicated = [
        row[0]
        for table in ("otel_traces", "hops")  # hops without FINAL: a second insert shows until merged
        for row in store.query(f"SELECT SpanId FROM {table} GROUP BY SpanId HAVING count() > 1")
    ]
    store.close()
    print(json.dumps({"ids": ids, "rows": rows, "duplicated": duplicated}))


def kill_rounds(data_dir: Path, kills: int, senders: int, seconds: float) -> dict[str, float]:
    """Load, SIGKILL, restart, ``kills`` times; then count what was stored."""
    acked: set[str] = set()
    peak = 0.0
    statuses: Counter[int] = Counter()
    for _ in range(kills):
        server = ServeProcess(data_dir)
        loader = Loader(server.endpoint, senders=senders).start()
        time.sleep(seconds)
        peak = max(peak, server.peak_rss_mib())
        server.kill9()
        loader.stop()
        acked |= loader.acked
        statuses += loader.statuses
    stored = stored_span_ids(data_dir)
    return {
        "kills": kills,
        "acknowledged": len(acked),
        "lost": len(acked - stored.ids),
        "duplicates": stored.rows - len(stored.ids),
        "acknowledged_duplicated": len(acked & stored.duplicated),
        "5xx": sum(n for code, n in statuses.items() if code >= 500 and code != 503),
        "peak_rss_mib": round(peak, 1),
    }


def overload_round(data_dir: Path, senders: int, seconds: float) -> dict[str, float]:
    """A write queue far too small for the load: 429s, retried, nothing lost."""
    server = ServeProcess(data_dir, LEDGERLINE_MAX_QUEUE_SPANS="150", LEDGERLINE_RETRY_AFTER_S="1")
    loader = Loader(server.endpoint, senders=senders).start()
    time.sleep(seconds)
    loader.stop()
    server.stop()
    stored = stored_span_ids(data_dir)
    return {
        "overload_acknowledged": len(loader.acked),
        "overload_429": loader.statuses[429],
        "overload_429_without_retry_after": loader.retry_after[""],
        "overload_lost": len(loader.acked - stored.ids),
    }


def slow_rules(count: int, seconds: float = 2.9) -> str:
    """A rule file of ``count`` query rules, each taking ``seconds`` and returning nothing:
    an alert round as slow as one over a large store (distinct SQL: a round shares equal queries)."""
    rule = (
        "  - {{name: Slow{i}, kind: query, team: platform, "
        f'query: "SELECT {{i}} AS value FROM system.one WHERE sleep({seconds}) > 1"}}}}\n'
    )
    return "rules:\n" + "".join(rule.format(i=i) for i in range(count))


def stop_round(data_dir: Path, settle_s: float) -> dict[str, float]:
    """Seconds from SIGTERM to exit: sent as soon as serve prints its URLs and once settled
    (on a store holding what the earlier rounds wrote), and as soon as it prints its URLs
    while its first alert round takes 11.6 s (:func:`slow_rules`); ports still taken after."""
    rules = data_dir.parent / "slow-rules.yaml"
    rules.write_text(slow_rules(4))
    figures: dict[str, float] = {"stop_ports_taken": 0}
    runs: tuple[tuple[str, float, dict[str, str]], ...] = (
        ("stop_after_start_s", 0.0, {}),
        ("stop_settled_s", settle_s, {}),
        ("stop_during_slow_round_s", 0.0, {"LEDGERLINE_ALERT_RULES": str(rules)}),
    )
    for name, wait_s, env in runs:
        server = ServeProcess(data_dir, **env)
        time.sleep(wait_s)
        figures[name] = round(server.stop(), 2)
        figures["stop_ports_taken"] += sum(not port_free(port) for port in server.ports())
    return figures


def fuzz_round(examples: int) -> dict[str, float]:
    """The fault tests' fuzzers with ``examples`` cases each; counts cases and 5xx."""
    report = Path(tempfile.mkdtemp()) / "report.json"
    env = os.environ | {"FAULTS_EXAMPLES": str(examples), "FAULTS_REPORT": str(report), "PYTHONPATH": str(ROOT)}
    tests = ["tests/faults/test_decoder_fuzz.py", "tests/faults/test_api_fuzz.py"]
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests], cwd=ROOT, env=env)
    lines = report.read_text().splitlines() if report.exists() else []
    figures: Counter[str] = Counter()
    for line in lines:
        figures.update(json.loads(line))
    return dict(figures)


def main() -> None:
    """Run every round and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("role", nargs="?", default="bench", choices=["bench", "count"])
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=3.0, help="load before each kill")
    parser.add_argument("--examples", type=int, default=200, help="cases per fuzzer")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds serving before the settled SIGTERM")
    parser.add_argument("--flood-senders", type=int, default=64, help="senders of the flood rounds")
    parser.add_argument("--flood-batch", type=int, default=4000, help="spans per request of the flood rounds")
    parser.add_argument("--flood-seconds", type=float, default=20.0, help="length of each flood round (0: skip)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.role == "count":
        return _count(args.data_dir)
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        figures |= kill_rounds(Path(tmp) / "kills", args.kills, args.senders, args.seconds)
        figures |= overload_round(Path(tmp) / "overload", args.senders, args.seconds)
        figures |= stop_round(Path(tmp) / "kills", args.settle)
        if args.flood_seconds:
            from bench.overload import overload_rounds

            figures |= overload_rounds(Path(tmp) / "flood", args.flood_senders, args.flood_batch, args.flood_seconds)
    figures |= fuzz_round(args.examples)
    print_figures(figures, args.json)


if __name__ == "__main__":
    main()
