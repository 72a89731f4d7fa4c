"""What keeps one client from stalling the receiver for the others, and memory bounded.

* :class:`ByteBudget`: a FIFO byte semaphore shared by both transports. One bounds the
  request bodies received and not yet decoded, one the (estimated) memory of bodies being
  decoded, so memory stays bounded whatever the load, and a request takes a decoding share
  only once its body is complete.
* :func:`read_body`: reads a body against the size limit and the reading budget, within
  a deadline (slow senders get 408 instead of holding anything for long); the budget is
  taken as bytes arrive, so a large declared length reserves nothing.
* :func:`guarded_h11`: uvicorn's h11 protocol with a header deadline: a connection that
  has not sent a complete request head within ``header_timeout_s`` (after connecting or
  after its last response) is closed, so idle sockets cost nothing for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from uvicorn.protocols.http.h11_impl import H11Protocol

from collector.errors import BodyTimeout, Busy, PayloadTooLarge


@dataclass(eq=False)
class _Waiter:
    n: int
    wake: Callable[[], object]  # called (outside the lock) once the bytes are granted
    granted: bool = False


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _wake_on(loop: asyncio.AbstractEventLoop, future: asyncio.Future[None]) -> None:
    """Resolve ``future`` on its loop, from any thread (a loop already closed has no one to wake)."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_resolve, future)


class ByteBudget:
    """At most ``capacity`` bytes held at once; waiters are served first come, first served.

    Shared by both transports: coroutines (HTTP) await :meth:`acquire`, threads (gRPC) call
    :meth:`acquire_blocking`; the accounting happens under one lock.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self.peak = 0  # the most ever held at once (tests read it)
        self.overdrawn_by: object | None = None  # the one share that may go past capacity
        self._waiters: deque[_Waiter] = deque()
        self._lock = threading.Lock()

    def cost(self, n: int) -> int:
        """``n`` capped at the capacity, so one large request can always run alone."""
        return max(0, min(n, self.capacity))

    def fits(self, n: int) -> bool:
        """True when ``n`` bytes could be taken now without overtaking a waiter."""
        with self._lock:
            return self._fits(n)

    def _fits(self, n: int) -> bool:
        return not self._waiters and self.used + n <= self.capacity

    def _take(self, n: int) -> None:
        self.used += n
        self.peak = max(self.peak, self.used)

    def _enqueue(self, n: int, wake: Callable[[], object]) -> _Waiter | None:
        """Take ``n`` bytes now (None) or queue a waiter for them."""
        with self._lock:
            if self._fits(n):
                self._take(n)
                return None
            waiter = _Waiter(n, wake)
            self._waiters.append(waiter)
            return waiter

    def _abandon(self, waiter: _Waiter) -> bool:
        """Stop waiting; True when the bytes were granted meanwhile (the caller holds them)."""
        with self._lock:
            if waiter.granted:
                return True
            self._waiters.remove(waiter)
            woken = self._grant()  # whoever queued behind it may fit now
        for other in woken:
            other.wake()
        return False

    async def acquire(self, n: int) -> None:
        """Wait until ``n`` bytes (already capped) are free, then take them."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        waiter = self._enqueue(n, functools.partial(_wake_on, loop, future))
        if waiter is None:
            return
        try:
            await future
        except BaseException:
            if self._abandon(waiter):
                self.release(n)  # granted just as we gave up
            raise

    def acquire_blocking(self, n: int, timeout_s: float) -> bool:
        """:meth:`acquire` for threads: False when ``n`` bytes were not free within ``timeout_s``."""
        event = threading.Event()
        waiter = self._enqueue(n, event.set)
        if waiter is None or event.wait(timeout_s):
            return True
        return self._abandon(waiter)  # granted just as we gave up: keep them

    def overdraw(self, n: int, by: object) -> bool:
        """Take ``n`` bytes now, past the capacity if need be, when ``by`` may overdraw.

        One share at a time may (the first that would otherwise wait, until it lets go with
        :meth:`settle`): shares grown as bytes arrive could otherwise fill the budget
        together and wait on each other until their deadline. Memory stays within twice
        the capacity.
        """
        with self._lock:
            if self.overdrawn_by not in (None, by):
                return False
            self.overdrawn_by = by
            self._take(n)
            return True

    def settle(self, by: object) -> None:
        """``by`` no longer overdraws (its bytes stay held until released)."""
        with self._lock:
            if self.overdrawn_by is by:
                self.overdrawn_by = None

    def release(self, n: int) -> None:
        """Give ``n`` bytes back and wake whoever now fits."""
        with self._lock:
            self.used -= n
            woken = self._grant()
        for waiter in woken:
            waiter.wake()

    def _grant(self) -> list[_Waiter]:
        """Grant the waiters at the head that fit now (under the lock); wake them after it."""
        woken = []
        while self._waiters and self.used + self._waiters[0].n <= self.capacity:
            waiter = self._waiters.popleft()
            waiter.granted = True
            self._take(waiter.n)
            woken.append(waiter)
        return woken


class Share:
    """The part of a :class:`ByteBudget` one request holds: grows, shrinks, released once."""

    def __init__(self, budget: ByteBudget) -> None:
        self.budget = budget
        self.held = 0

    async def grow_to(self, n: int, *, may_overdraw: bool = False) -> None:
        """Hold ``cost(n)`` bytes in all, waiting for the difference (see ByteBudget.overdraw)."""
        budget = self.budget
        more = budget.cost(n) - self.held
        if more <= 0:
            return
        if budget.fits(more) or not may_overdraw or not budget.overdraw(more, self):
            await budget.acquire(more)
        self.held += more

    def grow_blocking(self, n: int, timeout_s: float) -> bool:
        """:meth:`grow_to` for threads, without overdrawing: False when it did not fit within ``timeout_s``."""
        more = self.budget.cost(n) - self.held
        if more > 0:
            if not self.budget.acquire_blocking(more, timeout_s):
                return False
            self.held += more
        return True

    def take_now(self, n: int) -> bool:
        """Hold ``cost(n)`` bytes in all if they are free now or this share may overdraw, else False.

        For bytes already in memory (a gRPC message): refusing them is all that is left.
        """
        budget = self.budget
        more = budget.cost(n) - self.held
        if more <= 0:
            return True
        if budget.fits(more):
            if not budget.acquire_blocking(more, 0):
                return False
        elif not budget.overdraw(more, self):
            return False
        self.held += more
        self.settle()
        return True

    def settle(self) -> None:
        """Done growing: give up the right to overdraw, if held."""
        self.budget.settle(self)

    def shrink_to(self, n: int) -> None:
        """Hold only ``cost(n)`` bytes (no-op when holding less)."""
        less = self.held - self.budget.cost(n)
        if less > 0:
            self.held -= less
            self.budget.release(less)

    def release(self) -> None:
        """Give everything back; safe to call again."""
        self.settle()
        held, self.held = self.held, 0
        if held:
            self.budget.release(held)


async def read_body(request: Request, limit: int, budget: ByteBudget, timeout_s: float) -> tuple[bytes, Share]:
    """The whole body and the budget share it holds (release it when done with the bytes).

    The share grows as bytes arrive, never ahead of them: a declared ``Content-Length``
    reserves nothing, so slow senders hold only what they actually sent (and one body at a
    time may overdraw the budget, so bodies arriving together always finish). Raises
    PayloadTooLarge over ``limit``, BodyTimeout when the body is not complete within
    ``timeout_s`` and Busy when the reading budget stays full that long.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes is over the {limit}-byte limit")
    share = Share(budget)
    chunks = bytearray()
    waiting = False  # for the budget (our fault, 503), not for the client (408)
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                chunks += chunk
                if len(chunks) > limit:
                    raise PayloadTooLarge(f"body is over the {limit}-byte limit")
                waiting = True
                await share.grow_to(len(chunks), may_overdraw=True)
                waiting = False
    except TimeoutError:
        share.release()
        if waiting:
            raise Busy("too many request bodies in flight, retry later") from None
        raise BodyTimeout(f"the request body did not arrive within {timeout_s:g} s") from None
    except BaseException:
        share.release()
        raise
    share.settle()
    return bytes(chunks), share


class _GuardedH11(H11Protocol):
    """h11 with a deadline for the request head (uvicorn has none before the first request)."""

    def __init__(self, *args: Any, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout_s = header_timeout_s
        self._head_deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        self._head_deadline = self.loop.call_later(self._header_timeout_s, self._head_expired)

    def _head_expired(self) -> None:
        # A request whose head arrived is the body deadline's business, not ours.
        if (self.cycle is None or self.cycle.response_complete) and not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
        super().connection_lost(exc)


def guarded_h11(header_timeout_s: float) -> Any:
    """A uvicorn ``http`` protocol factory with the given head deadline."""
    return functools.partial(_GuardedH11, header_timeout_s=header_timeout_s)
