"""The engine's pool queue serves waiters first come, first served (service/db.py FairQueue)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.util.concurrency import greenlet_spawn
from sqlalchemy.util.queue import Empty

from service.db import FairQueue


async def _get(queue: FairQueue, wait: float | None = 5.0) -> object:
    return await greenlet_spawn(queue.get, True, wait)


async def _two_waiters(queue: FairQueue) -> tuple[asyncio.Task[object], asyncio.Task[object]]:
    """Two requests waiting for a connection, the first one first."""
    first = asyncio.create_task(_get(queue))
    await asyncio.sleep(0)
    second = asyncio.create_task(_get(queue))
    await asyncio.sleep(0)
    return first, second


async def test_a_returned_connection_goes_to_the_longest_waiter_not_to_a_newcomer() -> None:
    queue = FairQueue(maxsize=3)
    first, second = await _two_waiters(queue)

    queue.put_nowait("a")  # handed to the first waiter before it even runs
    newcomer = asyncio.create_task(_get(queue))  # arrives while the first has not yet woken
    await asyncio.sleep(0)
    queue.put_nowait("b")
    queue.put_nowait("c")

    assert await first == "a"
    assert await second == "b"
    assert await newcomer == "c"
    assert queue.empty()


async def test_without_waiters_a_free_connection_is_taken_at_once() -> None:
    queue = FairQueue(maxsize=2)
    queue.put_nowait("a")

    assert await _get(queue) == "a"
    with pytest.raises(Empty):
        await greenlet_spawn(queue.get, False)


async def test_a_waiter_that_times_out_gets_empty_and_is_passed_over() -> None:
    queue = FairQueue(maxsize=2)

    with pytest.raises(Empty):
        await _get(queue, wait=0.01)
    queue.put_nowait("a")

    assert await _get(queue) == "a"


async def test_a_connection_handed_to_a_cancelled_waiter_is_not_lost() -> None:
    queue = FairQueue(maxsize=2)
    doomed, patient = await _two_waiters(queue)

    queue.put_nowait("a")  # handed to the first waiter …
    doomed.cancel()  # … which is cancelled (its client went away) before it runs

    # Either the cancelled waiter still leaves with the connection (asyncio's wait_for returns a
    # result that was already there), and its caller returns it to the pool as usual, or the
    # connection goes to the next waiter. Never neither.
    try:
        holder = await doomed
    except asyncio.CancelledError:
        assert await patient == "a"
    else:
        assert holder == "a"
        queue.put_nowait(holder)
        assert await patient == "a"
    assert queue.empty()
