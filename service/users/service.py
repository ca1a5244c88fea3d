"""Sign-in, token resolution and user management; every step that matters is a security event."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.audit import alerts
from service.audit.events import record_security_event
from service.config.settings import Settings
from service.db import reading
from service.errors import Conflict, InvalidInput, NotFound, ServiceError, Unauthorized, field_error
from service.users import throttle
from service.users.models import ApiToken, RoleGrant, User
from service.users.passwords import PasswordPolicy, account_words, check_password
from service.users.security import hash_password, new_token, token_digest, verify_password
from service.users.throttle import ThrottlePolicy, TooManyAttempts
from workflows.lifecycle import ELEVATED_ROLES, Actor, Role
from workflows.org import OrgTree

users = User.__table__  # type: ignore[attr-defined]
tokens = ApiToken.__table__  # type: ignore[attr-defined]
grants = RoleGrant.__table__  # type: ignore[attr-defined]

CLI_ACTOR = "cli"  # who acts when an operator runs `jiefen users create` or `jiefen tokens create`
BAD_CREDENTIALS = "Wrong username or password, or the account is disabled."


def _name(text: str) -> str:
    """A typed username as an event's actor: storable (no NUL) and at most 64 characters."""
    return text.replace("\x00", "\ufffd")[:64]


async def _event(
    conn: AsyncConnection,
    kind: str,
    *,
    now: datetime,
    by: Actor | None = None,
    actor: str | None = None,
    client_ip: str | None = None,
    **payload: Any,
) -> None:
    await record_security_event(
        conn,
        kind=kind,
        actor=by.username if by is not None else (actor or CLI_ACTOR),
        actor_role=by.role.value if by is not None else None,
        actor_unit_code=by.unit_code if by is not None else None,
        payload=payload,
        client_ip=client_ip,
        now=now,
    )


async def attempt_sign_in(
    engine: AsyncEngine,
    username: str,
    password: str,
    *,
    now: datetime,
    ttl: timedelta,
    client_ip: str | None = None,
    policy: ThrottlePolicy | None = None,
) -> tuple[str, datetime] | ServiceError:
    """A session token and its expiry, or the error to answer with (after its transaction
    committed, so a failure stays counted and its security event kept).

    The password is verified in a worker thread while no transaction is open (on SQLite a write
    transaction would hold the one write lock for the whole hash); the wait is checked again
    when the outcome is written, so requests racing past the first check learn nothing once a
    failure among them made this username or address wait.
    """
    policy = policy or ThrottlePolicy()
    actor = _name(username)
    # Refused before the password is looked at; a name waits the same whether or not it exists.
    async with reading(engine) as conn:
        until = await throttle.locked_until(conn, username=username, client_ip=client_ip, now=now)
        row = None if until is not None else await _credentials(conn, username)
    matches = until is None and await verify_password(password, row.password_hash if row else None)
    async with engine.begin() as conn:
        if until is None:
            until = await throttle.locked_until(
                conn, username=username, client_ip=client_ip, now=now, lock=True
            )
        if until is not None:
            await _event(
                conn,
                "sign_in_locked",
                actor=actor,
                client_ip=client_ip,
                now=now,
                locked_until=until.isoformat(),
            )
            return TooManyAttempts(until, now=now)
        if not matches or row is None or row.disabled:
            failure = await throttle.record_failure(
                conn, username=username, client_ip=client_ip, now=now, policy=policy
            )
            why = "unknown_user" if row is None else "disabled" if row.disabled else "wrong_password"
            details: dict[str, Any] = {
                "reason": why,
                "failures": failure.pair_failures,
                "account_failures": failure.account_failures,
            }
            if failure.locked_until is not None:
                details["locked_until"] = failure.locked_until.isoformat()
            await _event(conn, "sign_in_failed", actor=actor, client_ip=client_ip, now=now, **details)
            return Unauthorized(BAD_CREDENTIALS)
        await throttle.forget_pair(conn, username, client_ip)
        token, expires_at = new_token(), now + ttl
        token_id = await _insert_token(conn, token, row.id, "session", "sign-in", now, expires_at)
        who = Actor(username=username, role=Role(row.role), unit_code=row.unit_code, user_id=row.id)
        await _event(conn, "sign_in", by=who, client_ip=client_ip, now=now)
        await _event(
            conn,
            "token_issued",
            by=who,
            client_ip=client_ip,
            now=now,
            token_id=token_id,
            user=username,
            token_kind="session",
            expires_at=expires_at.isoformat(),
        )
    return token, expires_at


@dataclass(frozen=True)
class Credentials:
    id: int
    password_hash: str
    disabled: bool
    role: str
    unit_code: str
    display_name: str


async def _credentials(conn: AsyncConnection, username: str) -> Credentials | None:
    if "\x00" in username or len(username) > 64:
        return None  # cannot name a user; a hash is still verified, so timing gives nothing away
    row = (
        await conn.execute(
            sa.select(
                users.c.id,
                users.c.password_hash,
                users.c.disabled,
                users.c.role,
                users.c.unit_code,
                users.c.display_name,
            ).where(users.c.username == username)
        )
    ).first()
    return Credentials(**row._mapping) if row is not None else None


async def sign_in(
    engine: AsyncEngine,
    username: str,
    password: str,
    *,
    now: datetime,
    ttl: timedelta,
    client_ip: str | None = None,
    policy: ThrottlePolicy | None = None,
) -> tuple[str, datetime]:
    """``attempt_sign_in`` raising its error."""
    result = await attempt_sign_in(
        engine, username, password, now=now, ttl=ttl, client_ip=client_ip, policy=policy
    )
    if isinstance(result, ServiceError):
        raise result
    return result


async def _insert_token(
    conn: AsyncConnection,
    token: str,
    user_id: int,
    kind: str,
    name: str,
    now: datetime,
    expires_at: datetime | None,
) -> int:
    token_id: int = (
        await conn.execute(
            sa.insert(tokens)
            .values(
                token_hash=token_digest(token),
                user_id=user_id,
                kind=kind,
                name=name,
                created_at=now,
                expires_at=expires_at,
            )
            .returning(tokens.c.id)
        )
    ).scalar_one()
    return token_id


@dataclass(frozen=True)
class MachineTokenPolicy:
    """Machine tokens always expire: ``lifetime`` when none is asked for, never past ``longest``."""

    lifetime: timedelta = timedelta(days=90)
    longest: timedelta = timedelta(days=365)

    @classmethod
    def from_settings(cls, settings: Settings) -> MachineTokenPolicy:
        return cls(
            lifetime=timedelta(days=settings.machine_token_days),
            longest=timedelta(days=settings.machine_token_max_days),
        )


async def issue_machine_token(
    conn: AsyncConnection,
    username: str,
    name: str,
    *,
    now: datetime,
    expires_at: datetime | None = None,
    issued_by: str = CLI_ACTOR,
    policy: MachineTokenPolicy | None = None,
) -> str:
    """A new machine token for ``username``, expiring at ``expires_at`` (default: the policy's
    lifetime from now; at most its longest)."""
    policy = policy or MachineTokenPolicy()
    if expires_at is None:
        expires_at = now + policy.lifetime
    if expires_at > now + policy.longest:
        raise field_error(
            "expires_at", f"at most {policy.longest.days} days from now (JIEFEN_MACHINE_TOKEN_MAX_DAYS)"
        )
    user_id = (
        await conn.execute(sa.select(users.c.id).where(users.c.username == username))
    ).scalar_one_or_none()
    if user_id is None:
        raise NotFound(f"No user {username!r}.")
    token = new_token()
    token_id = await _insert_token(conn, token, user_id, "machine", name, now, expires_at)
    await _event(
        conn,
        "token_issued",
        actor=issued_by,
        now=now,
        token_id=token_id,
        user=username,
        token_kind="machine",
        name=name,
        expires_at=expires_at.isoformat(),
    )
    return token


class TokenCache:
    """Tokens resolved in the last few seconds, by digest, so a request does not pay a database
    round trip to learn who sent it (the hot paths' largest fixed cost after the case itself).

    Revoking a token, disabling a user or changing a password clears this process's cache at once;
    another replica notices within ``seconds`` (``JIEFEN_TOKEN_CACHE_SECONDS``; 0 turns it off).
    Expiry is checked on every use, not when cached. Unknown and refused tokens are never cached.
    """

    def __init__(
        self, seconds: float = 5.0, size: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self.size = size
        self.clock = clock
        self._rows: dict[str, tuple[float, Any]] = {}

    def get(self, digest: str) -> Any | None:
        hit = self._rows.get(digest)
        if hit is None:
            return None
        if self.clock() - hit[0] >= self.seconds:
            del self._rows[digest]
            return None
        return hit[1]

    def put(self, digest: str, row: Any) -> None:
        if self.seconds <= 0:
            return
        if len(self._rows) >= self.size:
            self._rows.clear()  # rare (more live tokens than size in a few seconds): start again
        self._rows[digest] = (self.clock(), row)

    def clear(self) -> None:
        self._rows.clear()


token_cache = TokenCache()

_RESOLVE = (
    sa.select(
        users.c.id,
        users.c.username,
        users.c.role,
        users.c.unit_code,
        users.c.disabled,
        tokens.c.expires_at,
        tokens.c.revoked_at,
    )
    .select_from(tokens.join(users, users.c.id == tokens.c.user_id))
    .where(tokens.c.token_hash == sa.bindparam("digest"))
)


def _actor(row: Any, now: datetime) -> Actor:
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthorized("The token has expired; sign in again.")
    return Actor(username=row.username, role=Role(row.role), unit_code=row.unit_code, user_id=row.id)


async def actor_for_token(engine: AsyncEngine, token: str, *, now: datetime) -> Actor:
    """Who sent a request: from the token cache when this process resolved the token in the last
    few seconds (no connection at all, most requests), else from the database."""
    row = token_cache.get(token_digest(token))
    if row is not None:
        return _actor(row, now)
    async with reading(engine) as conn:
        return await resolve_token(conn, token, now=now)


async def resolve_token(conn: AsyncConnection, token: str, *, now: datetime) -> Actor:
    digest = token_digest(token)
    row = token_cache.get(digest)
    if row is None:
        row = (await conn.execute(_RESOLVE, {"digest": digest})).first()
        if row is None or row.revoked_at is not None or row.disabled:
            raise Unauthorized("The token is unknown, revoked, or its user is disabled.")
        token_cache.put(digest, row)
    return _actor(row, now)


async def revoke_token(
    conn: AsyncConnection,
    token: str,
    *,
    now: datetime,
    by: Actor | None = None,
    client_ip: str | None = None,
) -> bool:
    """Revoke one token (sign out); False when it was unknown or already revoked."""
    token_cache.clear()
    token_id = (
        await conn.execute(
            sa.update(tokens)
            .where(tokens.c.token_hash == token_digest(token), tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(tokens.c.id)
        )
    ).scalar_one_or_none()
    if token_id is None:
        return False
    await _event(
        conn,
        "token_revoked",
        by=by,
        client_ip=client_ip,
        now=now,
        token_ids=[token_id],
        user=by.username if by else None,
        reason="sign_out",
    )
    return True


async def revoke_user_tokens(
    conn: AsyncConnection,
    username: str,
    *,
    now: datetime,
    reason: str,
    by: Actor | None = None,
    client_ip: str | None = None,
    kinds: tuple[str, ...] = ("session", "machine"),
    keep_token: str | None = None,
) -> list[int]:
    """Revoke every live token of the user (of the given kinds, but ``keep_token``); one event."""
    token_cache.clear()
    user_id = sa.select(users.c.id).where(users.c.username == username).scalar_subquery()
    statement = sa.update(tokens).where(
        tokens.c.user_id == user_id, tokens.c.revoked_at.is_(None), tokens.c.kind.in_(kinds)
    )
    if keep_token is not None:
        statement = statement.where(tokens.c.token_hash != token_digest(keep_token))
    revoked = sorted((await conn.execute(statement.values(revoked_at=now).returning(tokens.c.id))).scalars())
    if revoked:
        await _event(
            conn,
            "token_revoked",
            by=by,
            client_ip=client_ip,
            now=now,
            token_ids=revoked,
            user=username,
            reason=reason,
        )
    return revoked


async def check_new_user(
    username: str,
    password: str,
    role: str,
    unit_code: str,
    org: OrgTree,
    *,
    now: datetime,
    display_name: str = "",
    password_policy: PasswordPolicy | None = None,
) -> None:
    problems = []
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._-" for c in username):
        problems.append({"field": "username", "message": "1–64 letters, digits, '.', '_' or '-'"})
    unit = org.find(unit_code)
    words = account_words(
        username, now=now, display_name=display_name, unit_name=unit.name if unit else "", unit_code=unit_code
    )
    weaknesses = await check_password(password, username, words=words, policy=password_policy)
    problems += [{"field": "password", "message": m} for m in weaknesses]
    if role not in {r.value for r in Role} or role == Role.system:
        allowed = ", ".join(r.value for r in Role if r != Role.system)
        problems.append({"field": "role", "message": f"must be one of {allowed}"})
    if unit is None:
        problems.append({"field": "unit", "message": f"no unit with code {unit_code!r}"})
    if problems:
        raise InvalidInput("; ".join(f"{p['field']}: {p['message']}" for p in problems), problems)


async def create_user(
    conn: AsyncConnection,
    *,
    username: str,
    password: str,
    role: str,
    unit_code: str,
    org: OrgTree,
    now: datetime,
    display_name: str = "",
    by: Actor | None = None,
    client_ip: str | None = None,
    password_policy: PasswordPolicy | None = None,
) -> int:
    """A new account, its password held to the policy (demo and test logins are seeded as hashes).

    A role above a mediator's needs a second administrator (``service.users.grants``) — except from
    the console (``by`` None: `jiefen users create`), where the operator already holds the database;
    the auditors are told of it all the same.
    """
    await check_new_user(
        username,
        password,
        role,
        unit_code,
        org,
        now=now,
        display_name=display_name,
        password_policy=password_policy,
    )
    elevated = Role(role) in ELEVATED_ROLES
    if elevated and by is not None:
        raise SecondAdminRequired(
            f"Granting the {role} role needs a second administrator: request it (POST /api/v1/admin/users "
            "answers 202 with the pending grant) and have another administrator approve it."
        )
    await require_free_username(conn, username)
    user_id = await insert_account(
        conn,
        username=username,
        display_name=display_name,
        password_hash=await hash_password(password),
        role=role,
        unit_code=unit_code,
        now=now,
    )
    await _event(
        conn,
        "user_created",
        by=by,
        client_ip=client_ip,
        now=now,
        user=username,
        role=role,
        unit_code=unit_code,
        display_name=display_name,
    )
    if elevated:
        await alerts.after_role_grant(
            conn,
            username=username,
            role=role,
            unit_code=unit_code,
            requested_by=CLI_ACTOR,
            approved_by=None,
            grant_id=None,
            fallback_unit=org.city_centre().code,
            now=now,
        )
    return user_id


class SecondAdminRequired(Conflict):
    slug = "second-admin-required"
    title = "Another administrator must approve this"


async def require_free_username(conn: AsyncConnection, username: str) -> None:
    """Neither an account nor a pending request for a new account has the name."""
    exists = (await conn.execute(sa.select(users.c.id).where(users.c.username == username))).first()
    if exists is not None:
        raise Conflict(f"User {username!r} already exists.")
    reserved = (
        await conn.execute(
            sa.select(grants.c.id).where(grants.c.username == username, grants.c.status == "pending")
        )
    ).first()
    if reserved is not None:
        raise Conflict(f"User {username!r} is reserved by the pending role grant {reserved.id}.")


async def insert_account(
    conn: AsyncConnection,
    *,
    username: str,
    display_name: str,
    password_hash: str,
    role: str,
    unit_code: str,
    now: datetime,
) -> int:
    user_id: int = (
        await conn.execute(
            sa.insert(users)
            .values(
                username=username,
                display_name=display_name,
                password_hash=password_hash,
                role=role,
                unit_code=unit_code,
                disabled=False,
                created_at=now,
            )
            .returning(users.c.id)
        )
    ).scalar_one()
    return user_id


@dataclass(frozen=True)
class UserRecord:
    username: str
    display_name: str
    role: str
    unit_code: str
    disabled: bool
    created_at: datetime


_USER_COLUMNS = (
    users.c.username,
    users.c.display_name,
    users.c.role,
    users.c.unit_code,
    users.c.disabled,
    users.c.created_at,
)


async def list_users(conn: AsyncConnection) -> list[UserRecord]:
    rows = await conn.execute(sa.select(*_USER_COLUMNS).order_by(users.c.username))
    return [UserRecord(**row._mapping) for row in rows]


async def get_user(conn: AsyncConnection, username: str) -> UserRecord:
    row = (await conn.execute(sa.select(*_USER_COLUMNS).where(users.c.username == username))).first()
    if row is None:
        raise NotFound(f"No user {username!r}.")
    return UserRecord(**row._mapping)


async def set_disabled(
    conn: AsyncConnection,
    username: str,
    disabled: bool,
    *,
    by: Actor,
    now: datetime,
    client_ip: str | None = None,
) -> UserRecord:
    """Disable (and revoke every token of) or enable an account; recorded when something changed.

    Enabling also lifts the username's sign-in waits (``unlock_user`` does only that).
    """
    if disabled and username == by.username:
        raise Conflict("You cannot disable your own account.")
    user = await get_user(conn, username)
    if user.disabled != disabled:
        await conn.execute(sa.update(users).where(users.c.username == username).values(disabled=disabled))
        token_cache.clear()
    if disabled:
        revoked = await revoke_user_tokens(
            conn, username, now=now, reason="user_disabled", by=by, client_ip=client_ip
        )
        if not user.disabled:
            await _event(
                conn, "user_disabled", by=by, client_ip=client_ip, now=now, user=username, token_ids=revoked
            )
    else:
        lockout_cleared = (await throttle.unlock_account(conn, username, now=now)).locked_until is not None
        if user.disabled or lockout_cleared:
            await _event(
                conn,
                "user_enabled",
                by=by,
                client_ip=client_ip,
                now=now,
                user=username,
                was_disabled=user.disabled,
                lockout_cleared=lockout_cleared,
            )
    return await get_user(conn, username)


async def unlock_user(
    conn: AsyncConnection, username: str, *, by: Actor, now: datetime, client_ip: str | None = None
) -> throttle.Unlocked:
    """Lift every sign-in wait of an account (its ceiling, and each address's back-off for it) and
    forget its failures; the addresses' own counts stay. Always recorded."""
    await get_user(conn, username)
    unlocked = await throttle.unlock_account(conn, username, now=now)
    await _event(
        conn,
        "sign_in_unlocked",
        by=by,
        client_ip=client_ip,
        now=now,
        user=username,
        counters=unlocked.counters,
        locked_until=unlocked.locked_until.isoformat() if unlocked.locked_until else None,
    )
    return unlocked


async def change_password(
    engine: AsyncEngine,
    actor: Actor,
    old_password: str,
    new_password: str,
    *,
    now: datetime,
    current_token: str,
    org: OrgTree,
    client_ip: str | None = None,
    policy: ThrottlePolicy | None = None,
    password_policy: PasswordPolicy | None = None,
) -> ServiceError | None:
    """Change one's own password; the error to answer with (returned, see ``attempt_sign_in``).

    A wrong current password counts as a failed sign-in, so a stolen token cannot be used to
    guess the password; the user's other sessions are signed out. Verifying, judging and hashing
    happen in worker threads with no transaction open.
    """
    policy = policy or ThrottlePolicy()
    username = actor.username
    async with reading(engine) as conn:
        until = await throttle.locked_until(conn, username=username, client_ip=client_ip, now=now)
        row = None if until is not None else await _credentials(conn, username)
    current = row.password_hash if row is not None else None
    matches = until is None and await verify_password(old_password, current)
    new_hash = None
    if matches:
        unit = org.find(actor.unit_code)
        words = account_words(
            username,
            now=now,
            display_name=row.display_name if row is not None else "",
            unit_name=unit.name if unit else "",
            unit_code=actor.unit_code,
        )
        problems = await check_password(new_password, username, words=words, policy=password_policy)
        if new_password == old_password:
            problems.append("must differ from the current password")
        if problems:
            return InvalidInput(
                "; ".join(f"new_password: {m}" for m in problems),
                [{"field": "new_password", "message": m} for m in problems],
            )
        new_hash = await hash_password(new_password)
    async with engine.begin() as conn:
        if until is None:
            until = await throttle.locked_until(
                conn, username=username, client_ip=client_ip, now=now, lock=True
            )
        if until is not None:
            await _event(
                conn,
                "sign_in_locked",
                by=actor,
                client_ip=client_ip,
                now=now,
                locked_until=until.isoformat(),
                during="password_change",
            )
            return TooManyAttempts(until, now=now)
        if new_hash is None:
            failure = await throttle.record_failure(
                conn, username=username, client_ip=client_ip, now=now, policy=policy
            )
            details: dict[str, Any] = {
                "reason": "wrong_password",
                "failures": failure.pair_failures,
                "account_failures": failure.account_failures,
            }
            if failure.locked_until is not None:
                details["locked_until"] = failure.locked_until.isoformat()
            await _event(conn, "password_change_failed", by=actor, client_ip=client_ip, now=now, **details)
            return field_error("old_password", "is not your current password")
        changed = await conn.execute(
            sa.update(users)
            .where(users.c.username == username, users.c.password_hash == current)
            .values(password_hash=new_hash)
        )
        if not changed.rowcount:
            return Conflict("Your password was changed meanwhile; sign in again with the new one.")
        await throttle.forget_pair(conn, username, client_ip)
        revoked = await revoke_user_tokens(
            conn,
            username,
            now=now,
            reason="password_changed",
            by=actor,
            client_ip=client_ip,
            kinds=("session",),
            keep_token=current_token,
        )
        await _event(
            conn, "password_changed", by=actor, client_ip=client_ip, now=now, user=username, token_ids=revoked
        )
    return None


def require_unit(org: OrgTree, code: str) -> None:
    if code not in org:
        raise field_error("unit", f"no unit with code {code!r}")
