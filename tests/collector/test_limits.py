"""The byte budgets behind the HTTP receiver's limits (pure asyncio, no server)."""

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
