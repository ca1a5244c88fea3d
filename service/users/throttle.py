"""Sign-in throttling, in the database: a stranger can slow down guessing, never lock a user out.

Failures are counted three ways:

- per **(username, client address) pair**, with a progressive back-off: past
  ``max_failures_per_pair`` failures the pair must wait ``backoff``, doubling with each further
  failure up to ``lockout``; the count is forgotten after ``window`` without failures once the
  last wait is over. Someone
  guessing a colleague's password from their own desk slows only themselves: the colleague signs
  in from their own address as usual;
- per **client address**, whatever the usernames: past ``max_failures_per_address`` within
  ``window`` the address is locked for ``lockout`` (password spraying across accounts);
- per **username**, from all addresses together: past ``max_failures_per_account`` within ``window``
  the account is locked for ``lockout``, a ceiling far above what one person mistyping reaches, so
  only a distributed attack trips it; an administrator can lift it (``unlock_account``).

Attempts while a pair, the address or the account has to wait are refused (429 with Retry-After)
without looking at the password. The counters live in the ``sign_in_throttle`` table so every API
replica sees the same ones, and they are keyed by the username as typed, whether or not such a
user exists: a throttled name answers the same either way.
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

USER = "user"  # the account-wide ceiling (the scope's name predates the pairs)
ADDRESS = "address"
PAIR = "pair"
PURGE_BATCH = 100
SUBJECT_LENGTH = 128


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures_per_pair: int = 5
    max_failures_per_address: int = 20
    max_failures_per_account: int = 100
    window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)
    backoff: timedelta = timedelta(seconds=30)

    @classmethod
    def from_settings(cls, settings: Settings) -> ThrottlePolicy:
        return cls(
            max_failures_per_pair=settings.signin_max_failures,
            max_failures_per_address=settings.signin_max_failures_per_address,
            max_failures_per_account=settings.signin_max_failures_per_account,
            window=timedelta(minutes=settings.signin_window_minutes),
            lockout=timedelta(minutes=settings.signin_lockout_minutes),
            backoff=timedelta(seconds=settings.signin_backoff_seconds),
        )

    def limit(self, scope: str) -> int:
        return {
            PAIR: self.max_failures_per_pair,
            ADDRESS: self.max_failures_per_address,
            USER: self.max_failures_per_account,
        }[scope]

    def waits(self) -> list[timedelta]:
        """The pair's waits after its limit-th, limit+1-th, … failure, up to (excluding) ``lockout``."""
        waits, wait = [], self.backoff
        while wait < self.lockout:
            waits.append(wait)
            wait *= 2
        return waits


class TooManyAttempts(ServiceError):
    """429: wait after repeated failures. Says until when, never whether the user exists."""

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


def _fit(text: str) -> str:
    """``text`` when it can be stored as a subject as is; else a digest of it."""
    if text and len(text) <= SUBJECT_LENGTH and "\x00" not in text:
        return text
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def user_subject(username: str) -> str:
    """The username as typed; a digest when it cannot be stored as is (too long, a NUL)."""
    if username and len(username) <= 64 and "\x00" not in username:
        return username
    return "sha256:" + hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()


def _pair_subject(username: str, client_ip: str | None) -> str:
    # An address holds no space, so the first space ends it.
    return _fit(f"{(client_ip or '-')[:64]} {user_subject(username)}")


def _subjects(username: str, client_ip: str | None) -> list[tuple[str, str]]:
    subjects = [(USER, user_subject(username)), (PAIR, _pair_subject(username, client_ip))]
    if client_ip:
        subjects.append((ADDRESS, client_ip[:SUBJECT_LENGTH]))
    return subjects


async def locked_until(
    conn: AsyncConnection, *, username: str, client_ip: str | None, now: datetime, lock: bool = False
) -> datetime | None:
    """Until when this username from this address must wait (the latest of the pair's back-off,
    the address's and the account's lockouts), or None when it may try now.

    ``lock``: in the transaction that writes the outcome, hold the counters (PostgreSQL: FOR
    UPDATE, in one order, so two sign-ins never wait for each other in a circle) until it commits:
    sign-ins racing each other are decided one after the other, each seeing the wait the previous
    one's failure set. SQLite lets one writer in at a time anyway.
    """
    query = sa.select(throttle.c.locked_until).where(
        sa.tuple_(throttle.c.scope, throttle.c.subject).in_(_subjects(username, client_ip))
    )
    if lock:
        query = query.order_by(throttle.c.scope, throttle.c.subject).with_for_update()
    waits = [u for u in (await conn.execute(query)).scalars() if u is not None and u > now]
    return max(waits) if waits else None


@dataclass(frozen=True)
class Failure:
    pair_failures: int  # this username from this address, since it was last quiet for the window
    account_failures: int  # this username from every address, in the current window
    locked_until: datetime | None  # when this failure made the pair, address or account wait


async def record_failure(
    conn: AsyncConnection,
    *,
    username: str,
    client_ip: str | None,
    now: datetime,
    policy: ThrottlePolicy,
) -> Failure:
    """Count one failure against the pair, the account and the address.

    One atomic upsert per counter, so replicas failing at the same moment never lose a count.
    """
    counts: dict[str, int] = {}
    until: datetime | None = None
    account = user_subject(username)
    for scope, subject in sorted(_subjects(username, client_ip)):  # the order ``locked_until`` locks in
        failures, locked = await _count(conn, scope, subject, account, now, policy)
        counts[scope] = failures
        if locked is not None and locked > now:
            until = locked if until is None else max(until, locked)
    await _purge_stale(conn, now, policy)
    return Failure(counts[PAIR], counts[USER], until)


async def _count(
    conn: AsyncConnection,
    scope: str,
    subject: str,
    account: str,
    now: datetime,
    policy: ThrottlePolicy,
) -> tuple[int, datetime | None]:
    limit = policy.limit(scope)
    t = throttle

    def at(moment: datetime) -> sa.BindParameter[datetime]:
        return sa.literal(moment, UTCDateTime())

    if scope == PAIR:
        # Forgotten after a window without failures once its wait is over; a wait that ended does
        # not start the count again, so each further failure waits twice as long.
        expired: sa.ColumnElement[bool] = (
            sa.func.coalesce(t.c.locked_until, t.c.last_failure_at) <= now - policy.window
        )
    else:
        # A window that ran out, or a lockout that ended, starts the count again.
        expired = sa.or_(
            t.c.first_failure_at <= now - policy.window,
            sa.and_(t.c.locked_until.is_not(None), t.c.locked_until <= now),
        )
    failures = sa.case((expired, 1), else_=t.c.failures + 1)
    if scope == PAIR:
        waits = policy.waits()
        locked: sa.ColumnElement[datetime | None] = sa.case(
            (failures < limit, sa.null()),
            *[(failures == limit + k, at(now + wait)) for k, wait in enumerate(waits)],
            else_=at(now + policy.lockout),
        )
        first_lock = now + (waits[0] if waits else policy.lockout)
    else:
        locked = sa.case(
            (failures >= limit, at(now + policy.lockout)), (expired, sa.null()), else_=t.c.locked_until
        )
        first_lock = now + policy.lockout
    insert: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(t)
        .values(
            scope=scope,
            subject=subject,
            account=None if scope == ADDRESS else account,
            failures=1,
            first_failure_at=now,
            last_failure_at=now,
            locked_until=first_lock if limit <= 1 else None,
        )
        .on_conflict_do_update(
            index_elements=[t.c.scope, t.c.subject],
            set_={
                "failures": failures,
                "first_failure_at": sa.case((expired, at(now)), else_=t.c.first_failure_at),
                "last_failure_at": at(now),
                "locked_until": locked,
            },
        )
        .returning(t.c.failures, t.c.locked_until)
    )
    row = (await conn.execute(statement)).one()
    return int(row.failures), row.locked_until


async def _purge_stale(conn: AsyncConnection, now: datetime, policy: ThrottlePolicy) -> None:
    """Forget counters that can no longer make anyone wait, a batch at a time.

    SKIP LOCKED (PostgreSQL): never wait for, or deadlock with, a replica counting the same rows.
    """
    stale = (
        sa.select(throttle.c.scope, throttle.c.subject)
        .where(throttle.c.last_failure_at < now - policy.window - policy.lockout)
        .limit(PURGE_BATCH)
        .with_for_update(skip_locked=True)
    )
    await conn.execute(sa.delete(throttle).where(sa.tuple_(throttle.c.scope, throttle.c.subject).in_(stale)))


async def forget_pair(conn: AsyncConnection, username: str, client_ip: str | None) -> None:
    """A successful sign-in: this username from this address starts afresh. The account's and
    the address's counts stay: a success proves nothing about the other guesses."""
    await conn.execute(
        sa.delete(throttle).where(
            throttle.c.scope == PAIR, throttle.c.subject == _pair_subject(username, client_ip)
        )
    )


@dataclass(frozen=True)
class Unlocked:
    counters: int  # the account's and its pairs' counters forgotten
    locked_until: datetime | None  # the latest wait that was lifted (None: nothing was waiting)


async def unlock_account(conn: AsyncConnection, username: str, *, now: datetime) -> Unlocked:
    """Forget every failure counted against the username (its ceiling and all its pairs); the
    addresses' counts stay. What an administrator does to let someone back in."""
    subject = user_subject(username)
    rows = (
        await conn.execute(
            sa.delete(throttle)
            .where(
                throttle.c.scope.in_([USER, PAIR]),
                sa.or_(
                    throttle.c.account == subject,
                    sa.and_(throttle.c.scope == USER, throttle.c.subject == subject),
                ),
            )
            .returning(throttle.c.locked_until)
        )
    ).all()
    waits = [r.locked_until for r in rows if r.locked_until is not None and r.locked_until > now]
    return Unlocked(len(rows), max(waits) if waits else None)
