"""Sign-in, token resolution and user management."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.errors import Conflict, InvalidInput, NotFound, Unauthorized, field_error
from service.users.models import ApiToken, User
from service.users.security import hash_password, new_token, token_digest, verify_password
from workflows.lifecycle import Actor, Role
from workflows.org import OrgTree

users = User.__table__  # type: ignore[attr-defined]
tokens = ApiToken.__table__  # type: ignore[attr-defined]

MIN_PASSWORD_LENGTH = 8


async def sign_in(
    conn: AsyncConnection, username: str, password: str, *, now: datetime, ttl: timedelta
) -> tuple[str, datetime]:
    if "\x00" in username or len(username) > 64:
        row = None  # cannot name a user; still verify a hash below so timing gives nothing away
    else:
        row = (
            await conn.execute(
                sa.select(users.c.id, users.c.password_hash, users.c.disabled).where(
                    users.c.username == username
                )
            )
        ).first()
    if not verify_password(password, row.password_hash if row else None) or row is None or row.disabled:
        raise Unauthorized("Wrong username or password, or the account is disabled.")
    token, expires_at = new_token(), now + ttl
    await conn.execute(
        sa.insert(tokens).values(
            token_hash=token_digest(token),
            user_id=row.id,
            kind="session",
            name="sign-in",
            created_at=now,
            expires_at=expires_at,
        )
    )
    return token, expires_at


async def issue_machine_token(
    conn: AsyncConnection, username: str, name: str, *, now: datetime, expires_at: datetime | None
) -> str:
    user_id = (
        await conn.execute(sa.select(users.c.id).where(users.c.username == username))
    ).scalar_one_or_none()
    if user_id is None:
        raise NotFound(f"No user {username!r}.")
    token = new_token()
    await conn.execute(
        sa.insert(tokens).values(
            token_hash=token_digest(token),
            user_id=user_id,
            kind="machine",
            name=name,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return token


async def resolve_token(conn: AsyncConnection, token: str, *, now: datetime) -> Actor:
    row = (
        await conn.execute(
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
            .where(tokens.c.token_hash == token_digest(token))
        )
    ).first()
    if row is None or row.revoked_at is not None or row.disabled:
        raise Unauthorized("The token is unknown, revoked, or its user is disabled.")
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthorized("The token has expired; sign in again.")
    return Actor(username=row.username, role=Role(row.role), unit_code=row.unit_code, user_id=row.id)


async def revoke_token(conn: AsyncConnection, token: str, *, now: datetime) -> None:
    await conn.execute(
        sa.update(tokens)
        .where(tokens.c.token_hash == token_digest(token), tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def check_new_user(username: str, password: str, role: str, unit_code: str, org: OrgTree) -> None:
    problems = []
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._-" for c in username):
        problems.append({"field": "username", "message": "1–64 letters, digits, '.', '_' or '-'"})
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append({"field": "password", "message": f"at least {MIN_PASSWORD_LENGTH} characters"})
    if role not in {r.value for r in Role} or role == Role.system:
        allowed = ", ".join(r.value for r in Role if r != Role.system)
        problems.append({"field": "role", "message": f"must be one of {allowed}"})
    if unit_code not in org:
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
) -> int:
    check_new_user(username, password, role, unit_code, org)
    exists = (await conn.execute(sa.select(users.c.id).where(users.c.username == username))).first()
    if exists is not None:
        raise Conflict(f"User {username!r} already exists.")
    user_id: int = (
        await conn.execute(
            sa.insert(users)
            .values(
                username=username,
                display_name=display_name,
                password_hash=hash_password(password),
                role=role,
                unit_code=unit_code,
                disabled=False,
                created_at=now,
            )
            .returning(users.c.id)
        )
    ).scalar_one()
    return user_id


def require_unit(org: OrgTree, code: str) -> None:
    if code not in org:
        raise field_error("unit", f"no unit with code {code!r}")
