"""The admission gate: at most N requests at once, the rest served strictly in arrival order."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from service.admission import Admission, FifoGate


async def test_waiters_are_served_in_arrival_order_and_a_newcomer_never_barges() -> None:
    gate = FifoGate(1)
    await gate.acquire()
    order: list[int] = []

    async def wait(n: int) -> None:
        await gate.acquire()
        order.append(n)

    waiters = [asyncio.create_task(wait(n)) for n in range(5)]
    await asyncio.sleep(0)
    assert gate.waiting == 5
    gate.release()  # the permit goes to waiter 0, not to whoever asks next
    late = asyncio.create_task(wait(99))
    for _ in range(5):
        await asyncio.sleep(0)
        gate.release()
    await asyncio.gather(*waiters)
    gate.release()
    await late
    assert order == [0, 1, 2, 3, 4, 99]


async def test_a_cancelled_waiter_leaves_the_queue_and_loses_no_permit() -> None:
    gate = FifoGate(1)
    await gate.acquire()
    first = asyncio.create_task(gate.acquire())
    second = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert gate.waiting == 1
    gate.release()
    await second  # the permit went past the cancelled waiter
    gate.release()
    await asyncio.wait_for(gate.acquire(), 1)  # and one permit is free again: none leaked


async def test_a_permit_handed_to_a_waiter_that_is_cancelled_at_that_moment_passes_on() -> None:
    gate = FifoGate(1)
    await gate.acquire()
    first = asyncio.create_task(gate.acquire())
    second = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    gate.release()  # hands the permit to `first`…
    first.cancel()  # …which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)


def test_a_gate_needs_room() -> None:
    with pytest.raises(ValueError):
        FifoGate(0)


async def test_the_middleware_bounds_concurrent_requests_but_not_probes_or_sign_ins() -> None:
    app = FastAPI()
    running = 0
    most = 0
    release = asyncio.Event()

    @app.get("/work")
    async def work() -> dict[str, int]:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await release.wait()
        running -= 1
        return {"most": most}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/auth/token")
    async def sign_in() -> dict[str, str]:
        return {"status": "signed in"}

    app.add_middleware(Admission, limit=2)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        requests = [asyncio.create_task(client.get("/work")) for _ in range(6)]
        for _ in range(20):
            await asyncio.sleep(0)
        assert running == 2  # four wait their turn
        probe = await asyncio.wait_for(client.get("/healthz"), 1)  # never held back
        assert probe.status_code == 200
        signed_in = await asyncio.wait_for(client.post("/api/v1/auth/token"), 1)  # nor a sign-in
        assert signed_in.status_code == 200
        release.set()
        answers = await asyncio.gather(*requests)
    assert all(a.status_code == 200 for a in answers)
    assert most == 2
