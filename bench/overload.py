"""Overload rounds of bench.faults: health answers and peak memory under a flood of large requests.

    python -m bench.overload [--senders 64] [--batch 4000] [--seconds 20] [--json]

Each round runs ``ledgerline serve`` (bench.faults.ServeProcess) and a load process
(``python -m bench.overload load``) whose senders post pre-built protobuf requests of
``batch`` spans as fast as they are answered, retrying 429/503 after ``Retry-After`` like an
SDK. The load process runs at a lower CPU priority (nice 10): on this 2-core machine it
stands in for clients on other machines, and should not win the CPU from the collector.

* :func:`health_round`: while the load runs, this process GETs ``/healthz`` and ``/readyz`` on
  its own connection every 50 ms; p50/p95/max latency (a probe that fails or takes over 5 s
  counts as 5 s), how many took over 100 ms and over 1 s (a Kubernetes probe's default
  timeout): ``health_*`` and ``ready_*``.
* :func:`memory_round`: the collector's peak RSS (VmHWM) under the load, next to what the
  memory model (collector/memory.py) allows for the same settings.

bench.faults runs both (``--json`` keys: ``health_*``, ``memory_<name>_*``); the pieces are
what tests/faults uses with small numbers.
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
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench.faults import ROOT, ServeProcess
from bench.payloads import hop_request
from bench.stats import percentile, print_figures

PROBE_TIMEOUT_S = 5.0


def load(url: str, senders: int, batch: int, seconds: float) -> None:
    """Post ``batch``-span requests from ``senders`` threads for ``seconds``; print a JSON summary."""
    bodies = [hop_request(batch, seed=i).SerializeToString() for i in range(8)]
    statuses: Counter[int] = Counter()
    acknowledged = [0]
    lock = threading.Lock()
    stop = threading.Event()

    def sender(first: int) -> None:
        with httpx.Client(timeout=120) as client:
            n = first
            while not stop.is_set():
                try:
                    response = client.post(url, content=bodies[n % len(bodies)], headers=_PB)
                except httpx.HTTPError:
                    with lock:
                        statuses[0] += 1
                    continue
                with lock:
                    statuses[response.status_code] += 1
                    if response.status_code == 200:
                        acknowledged[0] += batch
                n += 1
                if response.status_code in (429, 503):
                    stop.wait(float(response.headers.get("retry-after", "1")))

    threads = [threading.Thread(target=sender, args=(i,), daemon=True) for i in range(senders)]
    print("SENDING", flush=True)
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(120)
    print(json.dumps({"acknowledged_spans": acknowledged[0], "statuses": dict(statuses)}), flush=True)


_PB = {"content-type": "application/x-protobuf"}


class LoadProcess:
    """:func:`load` in a child process at a lower CPU priority; :meth:`wait` gives its summary."""

    def __init__(self, url: str, senders: int, batch: int, seconds: float) -> None:
        command = [sys.executable, "-m", "bench.overload", "load", "--url", url]
        command += ["--senders", str(senders), "--batch", str(batch), "--seconds", str(seconds)]
        self.proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=os.environ | {"PYTHONPATH": str(ROOT)},
            preexec_fn=lambda: os.nice(10),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()  # the bodies are built
        if line != "SENDING":
            self.proc.kill()
            raise RuntimeError(f"the load process did not start: {line!r}")

    def wait(self) -> dict[str, Any]:
        """The load's summary, once it is done."""
        assert self.proc.stdout is not None
        lines = self.proc.stdout.read().strip().splitlines()
        self.proc.wait(180)
        return json.loads(lines[-1]) if lines else {}


def probe_health(base_url: str, seconds: float, every_s: float = 0.05) -> dict[str, list[float]]:
    """Latencies (seconds) of ``GET /healthz`` and ``GET /readyz``, each every ``every_s`` for
    ``seconds``; an answer other than 200, or none, counts as the timeout."""
    latencies: dict[str, list[float]] = {"health": [], "ready": []}
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=base_url, timeout=PROBE_TIMEOUT_S) as client:
        while time.monotonic() < deadline:
            for name, path in (("health", "/healthz"), ("ready", "/readyz")):
                started = time.perf_counter()
                try:
                    ok = client.get(path).status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies[name].append(time.perf_counter() - started if ok else PROBE_TIMEOUT_S)
            time.sleep(every_s)
    return latencies


def probe_figures(name: str, latencies: list[float]) -> dict[str, float]:
    """p50/p95/max in ms and the counts over 100 ms and over 1 s, as ``<name>_*``."""
    return {
        f"{name}_probes": len(latencies),
        f"{name}_p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
        f"{name}_p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
        f"{name}_max_ms": round(max(latencies, default=float("nan")) * 1000, 1),
        f"{name}_over_100ms": sum(1 for s in latencies if s > 0.1),
        f"{name}_over_1s": sum(1 for s in latencies if s > 1.0),
    }


def health_round(data_dir: Path, senders: int, batch: int, seconds: float, **env: str) -> dict[str, float]:
    """``/healthz`` and ``/readyz`` latency while ``senders`` post ``batch``-span requests for ``seconds``."""
    server = ServeProcess(data_dir, **env)
    try:
        loader = LoadProcess(server.endpoint, senders, batch, seconds)
        warmup = min(3.0, seconds / 4)
        time.sleep(warmup)  # the flood is on
        latencies = probe_health(server.endpoint.rsplit("/v1/", 1)[0], seconds - warmup - 1)
        summary = loader.wait()
    finally:
        server.stop()
    figures = probe_figures("health", latencies["health"]) | probe_figures("ready", latencies["ready"])
    return figures | {"health_acknowledged_spans": int(summary.get("acknowledged_spans", 0))}


def memory_round(name: str, data_dir: Path, senders: int, batch: int, seconds: float, **env: str) -> dict[str, float]:
    """Peak RSS of ``serve`` with ``env`` settings under the load, and the model's bound for them."""
    from collector.memory import footprint, limit_mb
    from collector.settings import CollectorSettings

    fields: dict[str, Any] = {k.removeprefix("LEDGERLINE_").lower(): v for k, v in env.items()}
    settings = CollectorSettings(**fields)
    server = ServeProcess(data_dir, **env)
    try:
        summary = LoadProcess(server.endpoint, senders, batch, seconds).wait()
        peak = server.peak_rss_mib()
    finally:
        server.stop()
    statuses = summary.get("statuses", {})
    assert isinstance(statuses, dict)
    return {
        f"memory_{name}_peak_rss_mib": round(peak),
        f"memory_{name}_model_mib": round(sum(footprint(settings).values()) / 2**20),
        f"memory_{name}_limit_mib": limit_mb(settings)[0],
        f"memory_{name}_acknowledged_spans": int(summary.get("acknowledged_spans", 0)),
        f"memory_{name}_5xx": sum(n for code, n in statuses.items() if int(code) >= 500 and int(code) != 503),
    }


# The settings the adversarial run of issue 28 used besides the defaults: a 20,000-span
# write queue and 16 requests in progress, flooded with 20,000-span requests.
LARGE = {"LEDGERLINE_MAX_QUEUE_SPANS": "20000", "LEDGERLINE_MAX_CONCURRENT_REQUESTS": "16"}


def overload_rounds(tmp: Path, senders: int, batch: int, seconds: float) -> dict[str, float]:
    """Every round of this module, each on a fresh data directory."""
    figures: dict[str, float] = {}
    figures |= health_round(tmp / "health", senders, batch, seconds)
    figures |= memory_round("defaults", tmp / "mem-defaults", senders, batch, seconds)
    figures |= memory_round("large", tmp / "mem-large", 16, 20_000, seconds, **LARGE)
    return figures


def main() -> None:
    """Run the rounds (or, as ``load``, be the load process)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("role", nargs="?", default="bench", choices=["bench", "load"])
    parser.add_argument("--url", default="")
    parser.add_argument("--senders", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4000, help="spans per request")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.role == "load":
        return load(args.url, args.senders, args.batch, args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        figures = overload_rounds(Path(tmp), args.senders, args.batch, args.seconds)
    print_figures(figures, args.json)


if __name__ == "__main__":
    main()
