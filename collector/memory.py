"""The collector's memory model: the most each part can hold, checked against a limit at start.

The process's peak resident memory stays under its limit when the sum of :func:`footprint`'s
terms does; :func:`check` refuses settings whose sum does not, with one line naming the
biggest terms. The limit is ``LEDGERLINE_MEMORY_LIMIT_MB``, else the container's (cgroup)
memory limit, else :data:`DEFAULT_LIMIT_MB`. Each term is a bound the code enforces times a cost measured
on this machine (docs/collector.md, "Memory"):

* ``base``: the process at rest: the interpreter, the embedded engine's code, the lineage API.
* ``merges``: the embedded engine merging parts in the background (at most 4 merges at once).
* ``requests``: exports in progress (``MAX_CONCURRENT_REQUESTS``, what uvicorn buffers for
  each beyond the budgets) and gRPC calls' state (4 x ``MAX_CONCURRENT_GRPC`` calls; they are
  coroutines on one event loop: a call waiting for its message holds ~24 KiB and no thread, and
  those past the term are not in the model, like grpc's own buffers).
* ``receiving``: request bodies received and not yet decoded, both transports (the receiving
  budget; one body may overdraw it), as the bytearrays they arrive in.
* ``decoding``: bodies being decoded: one at a time (the decode thread), at most
  :data:`MAX_DECODE_COST` bytes per byte of body, or the decoding budget's estimates.
* ``queue``: payloads waiting for their commit, the batch in commit included (an empty queue
  takes one request whatever its size, normalised to at most twice its body), and the
  batch's framed copy.
* ``commit``: ClickHouse inserting one batch (at most ``MAX_BATCH_SPANS`` spans and
  ``MAX_BATCH_BYTES`` bytes; larger requests are split): part writers' buffers, a cost per
  span and one per byte; the Python decoder adds its rows.

Not in the model: grpc's own buffers (a flow-control window per open call), the kernel's
socket buffers, the lineage API's queries, and requests built to expand far more than OTLP
does (a protobuf body of millions of empty messages parses to ~100 times its size).
"""

from __future__ import annotations

from pathlib import Path

from collector import otlp
from collector.ingest import DECODE_THREADS
from collector.settings import CollectorSettings
from collector.store.errors import ConfigError

MIB = 1 << 20
DECODE_COST = {otlp.JSON: 12, otlp.PROTOBUF: 8}
"""Estimated peak memory of decoding, per byte of (decompressed) body: json.loads builds Python
objects many times the text's size (8.5x measured), protobuf parses into an arena (4-5x) and is
serialized again (1x)."""
MAX_DECODE_COST = max(DECODE_COST.values())

# The process at rest: an idle `ledgerline serve` is ~570 MiB resident, most of it the
# embedded engine's code; against a ClickHouse server the collector is ~90 MiB.
BASE_EMBEDDED = 600 * MIB
BASE_SERVER = 192 * MIB
MERGES = 640 * MIB  # the most measured under sustained ingest: four merges at once (the engine's pool)
PER_REQUEST = 320 * 1024  # an HTTP export in progress: uvicorn buffers up to 64 KiB + one 256 KiB read
PER_GRPC_CALL = 256 * 1024  # a gRPC call's state (the budget of the thread each once had, kept)
RECEIVING_SLACK = 1.125  # a bytearray grows by an eighth past its contents
NORMALISED_GROWTH = 2  # absent messages made present, doubles and arrays written as text
COMMIT_FIXED = 128 * MIB  # the part writers' buffers of otel_traces and the tables derived from it
COMMIT_PER_SPAN = 4 * 1024
COMMIT_PER_BYTE = 16
PYTHON_ROWS_PER_SPAN = 8 * 1024  # LEDGERLINE_INGEST_DECODER=python: rows, then columns


def footprint(settings: CollectorSettings) -> dict[str, int]:
    """The most each part of the process can hold with ``settings``, in bytes.

    With a ClickHouse server the engine's terms (merges, the insert itself) are the server's.
    """
    embedded = settings.dsn.startswith("chdb:")
    body = settings.max_body_bytes
    receiving = settings.max_receiving_bytes
    one_body = MAX_DECODE_COST * body
    batch_bytes = settings.max_batch_bytes
    commit = PYTHON_ROWS_PER_SPAN * settings.max_batch_spans if settings.ingest_decoder == "python" else 0
    if embedded:
        commit += COMMIT_FIXED + COMMIT_PER_SPAN * settings.max_batch_spans + COMMIT_PER_BYTE * batch_bytes
    return {
        "base": BASE_EMBEDDED if embedded else BASE_SERVER,
        "merges": MERGES if embedded else 0,
        "requests": PER_REQUEST * settings.max_concurrent_requests + PER_GRPC_CALL * 4 * settings.max_concurrent_grpc,
        "receiving": int(RECEIVING_SLACK * (receiving + min(body, receiving))),
        "decoding": min(DECODE_THREADS * one_body, 2 * max(settings.max_decoding_bytes, one_body)),
        "queue": settings.max_queue_bytes + NORMALISED_GROWTH * body + batch_bytes,
        "commit": commit,
    }


# Where a container's memory limit is: cgroup v2, then v1 ("max" or a huge number: none).
CGROUP_LIMITS = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
DEFAULT_LIMIT_MB = 2560


def container_limit_mb(paths: tuple[Path, ...] = CGROUP_LIMITS) -> int | None:
    """The memory limit of the container this process runs in (MiB), or None when there is none."""
    for path in paths:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:
            return int(text) // MIB
        return None
    return None


def limit_mb(settings: CollectorSettings) -> tuple[int, str]:
    """The memory limit (MiB) and where it comes from: the setting, else the container's, else the default."""
    if settings.memory_limit_mb is not None:
        return settings.memory_limit_mb, "LEDGERLINE_MEMORY_LIMIT_MB"
    container = container_limit_mb()
    if container is not None:
        return container, "the container's memory limit"
    return DEFAULT_LIMIT_MB, "the default LEDGERLINE_MEMORY_LIMIT_MB"


def check(settings: CollectorSettings) -> None:
    """Refuse settings the memory limit cannot hold, with one line naming the biggest terms."""
    terms = footprint(settings)
    need = sum(terms.values())
    limit, source = limit_mb(settings)
    if need <= limit * MIB:
        return
    biggest = sorted(terms.items(), key=lambda term: -term[1])[:3]
    parts = ", ".join(f"{name} {size // MIB:,}" for name, size in biggest)
    raise ConfigError(
        f"LEDGERLINE_MEMORY_LIMIT_MB: these settings may need {need // MIB:,} MiB ({parts}, ...), more than "
        f"{limit:,} MiB ({source}): lower MAX_BATCH_SPANS/MAX_BATCH_BYTES, MAX_QUEUE_BYTES, MAX_RECEIVING_BYTES, "
        "MAX_BODY_BYTES or MAX_CONCURRENT_REQUESTS, or raise the limit (docs/collector.md, Memory)"
    )
