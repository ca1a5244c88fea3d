"""Sign-in throttling: failures counted per username and per client address, in the database.

After ``max_failures`` failed sign-ins within ``window`` a username (or an address) is locked for
``lockout``; attempts while locked are refused without checking the password. The counters live
in the ``sign_in_throttle`` table so every API replica sees the same ones, and they are keyed by
the username as typed, whether or not such a user exists: a locked name answers the same either way.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from service.clock import SHANGHAI
from service.config.settings import Settings
from service.db import UTCDateTime
from service.errors import ServiceError
from service.users.models import SignInThrottle

throttle = SignInThrottle.__table__  # type: ignore[attr-defined]

USER = "user"
ADDRESS = "address"
PURGE_BATCH = 100


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures_per_user: int = 5
    max_failures_per_address: int = 20
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)

    @classmethod
    def from_settings(cls, settings: Settings) -> ThrottlePolicy:
        return cls(
            max_failures_per_user=settings.signin_max_failures,
            max_failures_per_address=settings.signin_max_failures_per_address,
            window=timedelta(minutes=settings.signin_window_minutes),
            lockout=timedelta(minutes=settings.signin_lockout_minutes),
        )

    def limit(self, scope: str) -> int:
        return self.max_failures_per_user if scope == USER else self.max_failures_per_address


class TooManyAttempts(ServiceError):
    """429: locked after repeated failures. Says when it unlocks, never whether the user exists."""

    status = 429
    slug = "too-many-attempts"
    title = "Too many failed sign-ins"

    def __init__(self, locked_until: datetime, *, now: datetime) -> None:
        local = locked_until.astimezone(SHANGHAI).isoformat(timespec="seconds")
        super().__init__(
            f"Too many failed sign-ins for this username or from this address; try again after {local}.",
            locked_until=local,
        )
        self.retry_after = max(1, math.ceil((locked_until - now).total_seconds()))

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def user_subject(username: str) -> str:
    """The username as typed; a digest when it cannot be stored as is (too long, a NUL)."""
    if username and len(username) <= 64 and "\x00" not in username:
        return username
    return "sha256:" + hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()


def _subjects(username: str, client_ip: str | None) -> list[tuple[str, str]]:
    subjects = [(USER, user_subject(username))]
    if client_ip:
        subjects.append((ADDRESS, client_ip[:128]))
    return subjects


async def locked_until(
    conn: AsyncConnection, *, username: str, client_ip: str | None, now: datetime
) -> datetime | None:
    """When the later of the username's and the address's lockouts ends, or None when neither is locked."""
    until: datetime | None = (
        await conn.execute(
            sa.select(sa.func.max(throttle.c.locked_until)).where(
                sa.tuple_(throttle.c.scope, throttle.c.subject).in_(_subjects(username, client_ip)),
                throttle.c.locked_until > now,
            )
        )
    ).scalar_one_or_none()
    return until


async def record_failure(
    conn: AsyncConnection,
    *,
    username: str,
    client_ip: str | None,
    now: datetime,
    policy: ThrottlePolicy,
) -> tuple[int, datetime | None]:
    """Count one failure against the username and the address.

    Returns the username's failure count in the current window and, when this failure locked the
    username or the address, when that lockout ends. One atomic upsert per counter, so replicas
    failing at the same moment never lose a count.
    """
    user_failures, until = 0, None
    for scope, subject in _subjects(username, client_ip):
        failures, locked = await _count(conn, scope, subject, now, policy)
        if scope == USER:
            user_failures = failures
        if locked is not None and locked > now:
            until = locked if until is None else max(until, locked)
    await _purge_stale(conn, now, policy)
    return user_failures, until


async def _count(
    conn: AsyncConnection, scope: str, subject: str, now: datetime, policy: ThrottlePolicy
) -> tuple[int, datetime | None]:
    limit = policy.limit(scope)
    t = throttle
    at = sa.literal(now, UTCDateTime())
    until = sa.literal(now + policy.lockout, UTCDateTime())
    # A window that ran out, or a lockout that ended, starts the count again.
    expired = sa.or_(
        t.c.first_failure_at <= now - policy.window,
        sa.and_(t.c.locked_until.is_not(None), t.c.locked_until <= now),
    )
    failures = sa.case((expired, 1), else_=t.c.failures + 1)
    insert: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(t)
        .values(
            scope=scope,
            subject=subject,
            failures=1,
            first_failure_at=now,
            last_failure_at=now,
            locked_until=now + policy.lockout if limit <= 1 else None,
        )
        .on_conflict_do_update(
            index_elements=[t.c.scope, t.c.subject],
            set_={
                "failures": failures,
                "first_failure_at": sa.case((expired, at), else_=t.c.first_failure_at),
                "last_failure_at": at,
                "locked_until": sa.case(
                    (failures >= limit, until), (expired, sa.null()), else_=t.c.locked_until
                ),
            },
        )
        .returning(t.c.failures, t.c.locked_until)
    )
    row = (await conn.execute(statement)).one()
    return int(row.failures), row.locked_until


async def _purge_stale(conn: AsyncConnection, now: datetime, policy: ThrottlePolicy) -> None:
    """Forget counters that can no longer lock anything, a batch at a time.

    SKIP LOCKED (PostgreSQL): never wait for, or deadlock with, a replica counting the same rows.
    """
    stale = (
        sa.select(throttle.c.scope, throttle.c.subject)
        .where(throttle.c.last_failure_at < now - max(policy.window, policy.lockout))
        .limit(PURGE_BATCH)
        .with_for_update(skip_locked=True)
    )
    await conn.execute(sa.delete(throttle).where(sa.tuple_(throttle.c.scope, throttle.c.subject).in_(stale)))


async def reset_user(conn: AsyncConnection, username: str) -> bool:
    """Forget the username's failures (a successful sign-in, an admin enabling the account)."""
    result = await conn.execute(
        sa.delete(throttle).where(throttle.c.scope == USER, throttle.c.subject == user_subject(username))
    )
    return bool(result.rowcount)
