"""The byte budgets behind the receiver's limits, shared by coroutines (HTTP) and threads (gRPC); no server."""

from __future__ import annotations

import asyncio

import pytest

from collector.limits import ByteBudget, Share


def test_a_waiter_cancelled_as_bytes_are_released_leaves_the_budget_whole() -> None:
    async def scenario() -> None:
        budget = ByteBudget(10)
        await budget.acquire(10)
        waiting = asyncio.create_task(budget.acquire(5))
        await asyncio.sleep(0)  # queued
        waiting.cancel()  # its future is cancelled now ...
        budget.release(10)  # ... and dropped from the queue before the task resumes
        with pytest.raises(asyncio.CancelledError):  # was a ValueError: a 500 on a body deadline
            await waiting
        assert budget.used == 0
        await asyncio.wait_for(budget.acquire(10), 1)

    asyncio.run(scenario())


def test_one_share_at_a_time_may_overdraw_so_growing_shares_cannot_wait_on_each_other() -> None:
    async def scenario() -> None:
        budget = ByteBudget(10)
        a, b, c = Share(budget), Share(budget), Share(budget)
        await a.grow_to(5, may_overdraw=True)
        await b.grow_to(5, may_overdraw=True)
        await a.grow_to(8, may_overdraw=True)  # full: a overdraws instead of waiting on b
        assert (budget.used, budget.overdrawn_by) == (13, a)
        with pytest.raises(TimeoutError):  # c waits: only one share overdraws at a time
            await asyncio.wait_for(c.grow_to(1, may_overdraw=True), 0.05)
        a.settle()
        b.release()
        a.release()
        assert (budget.used, budget.overdrawn_by) == (0, None)

    asyncio.run(scenario())


def test_threads_and_coroutines_share_one_budget_first_come_first_served() -> None:
    # gRPC's threads wait for the budgets HTTP's coroutines take (collector/grpc_server.py).
    async def scenario() -> None:
        budget = ByteBudget(10)
        await budget.acquire(10)
        order: list[str] = []
        loop = asyncio.get_running_loop()

        def thread_side() -> None:
            assert budget.acquire_blocking(6, 5)
            order.append("thread")
            budget.release(6)

        waiting_thread = loop.run_in_executor(None, thread_side)
        while not budget._waiters:  # the thread is queued first
            await asyncio.sleep(0.01)
        coroutine = asyncio.create_task(budget.acquire(6))
        await asyncio.sleep(0.05)
        budget.release(10)  # from the loop: wakes the thread first, then the coroutine
        await asyncio.wait_for(coroutine, 5)
        order.append("coroutine")
        await waiting_thread
        assert order == ["thread", "coroutine"]
        budget.release(6)
        assert budget.used == 0

    asyncio.run(scenario())


def test_a_thread_that_gives_up_waiting_leaves_the_budget_whole() -> None:
    budget = ByteBudget(10)
    assert budget.acquire_blocking(8, 0)
    assert not budget.acquire_blocking(5, 0.05)  # did not fit in time: nothing held, not queued
    assert (budget.used, len(budget._waiters)) == (8, 0)
    budget.release(8)
    assert budget.acquire_blocking(10, 0)
    assert budget.used == 10
