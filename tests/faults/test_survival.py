"""No acknowledged span is ever lost: kill -9 of ``ledgerline serve`` mid-load, and overload.

Each test runs ``ledgerline serve`` in a subprocess on a data directory of its own, with
the loader of bench/faults.py recording the span IDs of every 200; a separate process
then reads what was stored.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench.faults import Loader, ServeProcess, kill_rounds, stored_span_ids

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]


def test_every_acknowledged_span_survives_kill_9(tmp_path: Path) -> None:
    figures = kill_rounds(tmp_path / "data", kills=2, senders=4, seconds=1.5)
    assert figures["acknowledged"] > 0
    assert figures["lost"] == 0
    assert figures["5xx"] == 0
    # Nothing acknowledged is stored twice, in the spans or in the hops derived from them.
    assert figures["acknowledged_duplicated"] == 0
    assert figures["duplicates"] == 0


def test_overload_answers_429_with_retry_after_and_loses_nothing(tmp_path: Path) -> None:
    server = ServeProcess(tmp_path / "data", LEDGERLINE_MAX_QUEUE_SPANS="150", LEDGERLINE_RETRY_AFTER_S="1")
    try:
        loader = Loader(server.endpoint, senders=8).start()
        time.sleep(2)
        loader.stop()
    finally:
        server.stop()
    assert loader.statuses[429] > 0  # the queue really was full
    assert set(loader.statuses) <= {200, 429}
    # Every 429 said when to retry (the loader's 1 s fallback was never used).
    assert loader.retry_after == {"1": loader.statuses[429]}
    stored = stored_span_ids(tmp_path / "data")
    assert loader.acked and loader.acked <= stored.ids
    assert not loader.acked & stored.duplicated
