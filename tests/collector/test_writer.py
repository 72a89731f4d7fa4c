"""The batch writer: group commits, bounded queue, isolation of a bad payload."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from collector.errors import Overloaded
from collector.store.errors import StoreError, StoreUnavailable
from collector.writer import BatchWriter, Payload


class RecordingSink:
    """A sink that records batches and can be held or made to fail."""

    def __init__(self) -> None:
        self.batches: list[list[bytes]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()  # a commit has begun
        self.fail_on: bytes | None = None
        self.unavailable = False

    def __call__(self, batch: Sequence[Payload]) -> None:
        self.entered.set()
        self.gate.wait(10)
        bodies = [p.body for p in batch]
        if self.unavailable:
            raise StoreUnavailable("down")
        if self.fail_on is not None and self.fail_on in bodies:
            raise StoreError("bad data")
        self.batches.append(bodies)


def _writer(sink: RecordingSink, **kw: int) -> BatchWriter:
    args = {"max_queue_spans": 100, "max_queue_bytes": 10_000, "max_batch_spans": 50}
    args.update(kw)
    return BatchWriter(sink, **args)  # type: ignore[arg-type]


def test_requests_queued_during_a_commit_share_the_next_one() -> None:
    sink = RecordingSink()
    sink.gate.clear()
    writer = _writer(sink)
    first = writer.submit(b"a", 1)
    later = [writer.submit(bytes([98 + i]), 1) for i in range(5)]
    sink.gate.set()
    for f in [first, *later]:
        f.result(5)
    writer.close()
    assert sum(len(b) for b in sink.batches) == 6
    assert len(sink.batches) <= 2  # group commit: not one commit per request


def test_full_queue_raises_overloaded_and_never_blocks() -> None:
    sink = RecordingSink()
    sink.gate.clear()
    writer = _writer(sink, max_queue_spans=10)
    writer.submit(b"x", 6)
    with pytest.raises(Overloaded):
        writer.submit(b"y", 6)
    sink.gate.set()
    writer.close()
    assert writer.queued_spans == 0


def test_the_batch_being_committed_counts_against_the_queue_limits() -> None:
    # Only with nothing queued or committing does a request get in regardless of size: a
    # flood could otherwise hold a full batch in commit plus a full queue.
    sink = RecordingSink()
    sink.gate.clear()
    writer = _writer(sink, max_queue_spans=10, max_queue_bytes=100)
    first = writer.submit(b"x", 6)
    assert sink.entered.wait(5)  # the writer took it: the queue itself is empty now
    with pytest.raises(Overloaded):
        writer.submit(b"y", 6)
    with pytest.raises(Overloaded):
        writer.submit(b"z" * 100, 1)
    sink.gate.set()
    first.result(5)
    writer.submit(b"y", 6).result(5)  # committed: room again
    writer.close()


def test_batches_stay_within_the_byte_limit() -> None:
    sink = RecordingSink()
    sink.gate.clear()
    writer = _writer(sink, max_batch_bytes=8)
    futures = [writer.submit(body, 1) for body in (b"aaaa", b"bbbb", b"cccc", b"dddddddddddd", b"ee")]
    sink.gate.set()
    for future in futures:
        future.result(5)
    writer.close()
    assert [b for batch in sink.batches for b in batch] == [b"aaaa", b"bbbb", b"cccc", b"dddddddddddd", b"ee"]
    # One payload over the limit commits alone; the others never pass 8 bytes together.
    assert all(len(batch) == 1 or sum(map(len, batch)) <= 8 for batch in sink.batches), sink.batches


def test_one_requests_payloads_are_queued_all_or_none() -> None:
    sink = RecordingSink()
    sink.gate.clear()
    writer = _writer(sink, max_queue_spans=10)
    writer.submit(b"x", 4)
    assert sink.entered.wait(5)
    with pytest.raises(Overloaded):
        writer.submit_all([(b"a", 3), (b"b", 3), (b"c", 3)])  # 4 + 9 > 10: none of them
    assert writer.queued_spans == 4
    sink.gate.set()
    writer.close()
    assert [b for batch in sink.batches for b in batch] == [b"x"]


def test_a_bad_payload_fails_alone() -> None:
    sink = RecordingSink()
    sink.gate.clear()
    writer = _writer(sink)
    futures = [writer.submit(b, 1) for b in (b"ok1", b"bad", b"ok2")]
    sink.fail_on = b"bad"
    sink.gate.set()
    assert futures[0].result(5) is None and futures[2].result(5) is None
    with pytest.raises(StoreError):
        futures[1].result(5)
    writer.close()
    assert sorted(b for batch in sink.batches for b in batch) == [b"ok1", b"ok2"]


def test_unavailable_store_fails_every_waiting_request_for_retry() -> None:
    sink = RecordingSink()
    sink.unavailable = True
    writer = _writer(sink)
    future = writer.submit(b"a", 1)
    with pytest.raises(StoreUnavailable):
        future.result(5)
    writer.close()
    assert writer.queued_spans == 0


def test_close_commits_everything_queued_then_refuses() -> None:
    sink = RecordingSink()
    sink.gate.clear()
    writer = _writer(sink)
    futures = [writer.submit(bytes([97 + i]), 1) for i in range(4)]
    threading.Timer(0.2, sink.gate.set).start()
    writer.close()
    assert all(f.done() and f.exception() is None for f in futures)
    with pytest.raises(StoreUnavailable):
        writer.submit(b"late", 1)
