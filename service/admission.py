"""Admission: at most N requests of one process work at once; the others wait their turn.

Without it, a burst larger than the database pool queues inside the pool, where a connection
handed back goes to whichever request asks next, not to the one that has waited longest: under
load a few requests starve while the rest pass (a p99 several times the median). Here requests
queue first, strictly in arrival order, and each admitted one finds a connection free. Health
probes, metrics and static files are never held back, nor are sign-ins: they spend most of their
time waiting for a password-hashing thread (a small pool of its own), and a burst of bad
sign-ins must not take every turn from the people already at work.
"""

from __future__ import annotations

import asyncio
from collections import deque

from starlette.types import ASGIApp, Receive, Scope, Send

UNGATED_PREFIXES = ("/healthz", "/readyz", "/metrics", "/static/", "/api/v1/auth/token", "/signin")


class FifoGate:
    """A counting semaphore whose waiters are served in arrival order: a released permit goes
    straight to the longest waiter, so a newcomer can never take it first."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the gate needs room for at least one request")
        self._free = limit
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> None:
        if self._free and not self._waiters:
            self._free -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # the permit arrived as the request was cancelled: pass it on
            else:
                self._waiters.remove(turn)
            raise

    def release(self) -> None:
        while self._waiters:
            turn = self._waiters.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self._free += 1


class Admission:
    """Plain ASGI middleware: every HTTP request but the ungated ones holds a permit while it runs."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.gate = FifoGate(limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(UNGATED_PREFIXES):
            await self.app(scope, receive, send)
            return
        await self.gate.acquire()
        try:
            await self.app(scope, receive, send)
        finally:
            self.gate.release()
