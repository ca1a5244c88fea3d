"""Password hashing (argon2) and opaque bearer tokens.

Hashing and verifying are slow on purpose (tens of milliseconds of CPU and 64 MiB each), so they
run in worker threads, never on the event loop: a burst of bad sign-ins must not stall every
other request. ``hash_workers`` bounds how many run at once (``JIEFEN_PASSWORD_HASH_THREADS``);
the others wait their turn without holding the loop. The strength check of a new password
(service.users.passwords) is CPU work of the same kind and shares the same workers.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import weakref
from collections.abc import Callable
from typing import TypeVar

import anyio
import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

T = TypeVar("T")

_hasher = PasswordHasher()

# Verified against when the username is unknown, so a wrong username costs as much as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


class HashWorkers:
    """At most ``size`` password computations at once per event loop, each in a worker thread.

    One limiter per event loop: a limiter belongs to the loop it first waited in, and the CLI and
    the tests run several loops in one process.
    """

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
            weakref.WeakKeyDictionary()
        )

    def resize(self, size: int) -> None:
        if size < 1:
            raise ValueError("at least one hash worker")
        self.size = size
        for limiter in self._limiters.values():
            limiter.total_tokens = size

    def limiter(self) -> anyio.CapacityLimiter:
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = self._limiters[loop] = anyio.CapacityLimiter(self.size)
        return limiter

    async def run(self, work: Callable[..., T], *args: object) -> T:
        return await anyio.to_thread.run_sync(work, *args, limiter=self.limiter())


hash_workers = HashWorkers()


def _verify(password: str, password_hash: str | None) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def hash_password(password: str) -> str:
    return await hash_workers.run(_hasher.hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    """Whether ``password`` matches; an unknown user (None) costs the same and is never a match."""
    return await hash_workers.run(_verify, password, password_hash)


def new_token() -> str:
    return "jf_" + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
