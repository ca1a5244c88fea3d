"""Separation of duties: a role above a mediator's (coordinator, auditor, admin) is granted by two
administrators — one asks, another approves (or either rejects) — and the auditors are told.

A request changes nothing until it is approved: a new account does not exist yet (its name is
reserved, its password kept as a hash) and an existing account keeps its role. Lower roles, and
taking a role away, need one administrator. Nobody changes their own role or approves a request
they made or a role for themselves. The console (`jiefen users create`) is the bootstrap: the
operator who holds the database creates the first administrators directly (recorded and alerted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from service.audit import alerts
from service.errors import Conflict, InvalidInput, NotFound, field_error
from service.safe_text import bidi_problem
from service.users.passwords import PasswordPolicy
from service.users.security import hash_password
from service.users.service import (
    SecondAdminRequired,
    UserRecord,
    _event,
    check_new_user,
    get_user,
    grants,
    insert_account,
    require_free_username,
    token_cache,
    users,
)
from workflows.lifecycle import ELEVATED_ROLES, Actor, Role
from workflows.org import OrgTree


class GrantStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"


class GrantChange(StrEnum):
    create = "create"  # a new account with the role
    change = "change"  # an existing account's role (and unit) changed to it


@dataclass(frozen=True)
class GrantRecord:
    id: int
    username: str
    change: str
    role: str
    unit_code: str
    previous_role: str | None
    previous_unit_code: str | None
    display_name: str
    status: str
    reason: str | None
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None


_COLUMNS = [grants.c[name] for name in GrantRecord.__dataclass_fields__]


def needs_second_admin(role: str) -> bool:
    return Role(role) in ELEVATED_ROLES


def _storable(reason: str | None) -> str | None:
    """A reason as stored: PostgreSQL text cannot hold NUL, and no free text holds invisible
    direction controls (the web form passes it here directly); refused with the field's name."""
    if reason is not None and "\x00" in reason:
        raise field_error("body.reason", "contains a NUL character")
    hidden = bidi_problem(reason) if reason is not None else None
    if hidden is not None:
        raise field_error("body.reason", hidden)
    return reason or None


async def get_grant(conn: AsyncConnection, grant_id: int) -> GrantRecord:
    row = (await conn.execute(sa.select(*_COLUMNS).where(grants.c.id == grant_id))).first()
    if row is None:
        raise NotFound(f"No role grant {grant_id}.")
    return GrantRecord(**row._mapping)


async def list_grants(conn: AsyncConnection, status: GrantStatus | None) -> list[GrantRecord]:
    """Newest first; ``status`` None: all of them."""
    query = sa.select(*_COLUMNS).order_by(grants.c.requested_at.desc(), grants.c.id.desc())
    if status is not None:
        query = query.where(grants.c.status == status.value)
    return [GrantRecord(**row._mapping) for row in await conn.execute(query)]


async def _request(
    conn: AsyncConnection, values: dict[str, Any], *, by: Actor, client_ip: str | None, now: datetime
) -> GrantRecord:
    username = values["username"]
    pending = (
        await conn.execute(
            sa.select(grants.c.id).where(
                grants.c.username == username, grants.c.status == GrantStatus.pending.value
            )
        )
    ).first()
    if pending is not None:
        raise Conflict(f"A role grant for {username!r} is already pending ({pending.id}): decide it first.")
    try:
        grant_id: int = (
            await conn.execute(
                sa.insert(grants)
                .values(
                    status=GrantStatus.pending.value, requested_by=by.username, requested_at=now, **values
                )
                .returning(grants.c.id)
            )
        ).scalar_one()
    except IntegrityError as exc:  # another request for the name won the race (one pending per user)
        raise Conflict(f"A role grant for {username!r} is already pending: decide it first.") from exc
    await _event(
        conn,
        "role_grant_requested",
        by=by,
        client_ip=client_ip,
        now=now,
        grant_id=grant_id,
        user=username,
        change=values["change"],
        role=values["role"],
        unit_code=values["unit_code"],
        previous_role=values.get("previous_role"),
        previous_unit_code=values.get("previous_unit_code"),
    )
    return await get_grant(conn, grant_id)


async def request_account(
    conn: AsyncConnection,
    *,
    username: str,
    password: str,
    role: str,
    unit_code: str,
    org: OrgTree,
    now: datetime,
    by: Actor,
    display_name: str = "",
    reason: str | None = None,
    client_ip: str | None = None,
    password_policy: PasswordPolicy | None = None,
) -> GrantRecord:
    """A pending request for a new account with an elevated role; the name is reserved meanwhile."""
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
    assert needs_second_admin(role)
    reason = _storable(reason)
    await require_free_username(conn, username)
    values = {
        "username": username,
        "change": GrantChange.create.value,
        "role": role,
        "unit_code": unit_code,
        "display_name": display_name,
        "password_hash": await hash_password(password),
        "reason": reason,
    }
    return await _request(conn, values, by=by, client_ip=client_ip, now=now)


def _check_role_and_unit(role: str, unit_code: str, org: OrgTree) -> None:
    problems = []
    if role not in {r.value for r in Role} or role == Role.system:
        allowed = ", ".join(r.value for r in Role if r != Role.system)
        problems.append({"field": "body.role", "message": f"must be one of {allowed}"})
    if unit_code not in org:
        problems.append({"field": "body.unit", "message": f"no unit with code {unit_code!r}"})
    if problems:
        raise InvalidInput("; ".join(f"{p['field']}: {p['message']}" for p in problems), problems)


async def change_role(
    conn: AsyncConnection,
    username: str,
    *,
    role: str,
    unit_code: str | None,
    org: OrgTree,
    by: Actor,
    now: datetime,
    reason: str | None = None,
    client_ip: str | None = None,
) -> UserRecord | GrantRecord:
    """Change an account's role (and unit: ``None`` keeps it). To an elevated role: a pending grant;
    otherwise done at once. Returns the account, or the grant waiting for a second administrator."""
    if username == by.username:
        raise Conflict("You cannot change your own role; ask another administrator.")
    reason = _storable(reason)
    if "\x00" in username:
        raise NotFound(f"No user {username!r}.")
    user = await get_user(conn, username)
    unit = unit_code or user.unit_code
    _check_role_and_unit(role, unit, org)
    if (user.role, user.unit_code) == (role, unit):
        return user  # nothing to change
    if needs_second_admin(role):
        values = {
            "username": username,
            "change": GrantChange.change.value,
            "role": role,
            "unit_code": unit,
            "previous_role": user.role,
            "previous_unit_code": user.unit_code,
            "display_name": user.display_name,
            "reason": reason,
        }
        return await _request(conn, values, by=by, client_ip=client_ip, now=now)
    await _set_role(conn, username, role, unit)
    await _event(
        conn,
        "role_changed",
        by=by,
        client_ip=client_ip,
        now=now,
        user=username,
        role=role,
        unit_code=unit,
        previous_role=user.role,
        previous_unit_code=user.unit_code,
        reason=reason,
    )
    return await get_user(conn, username)


async def _set_role(conn: AsyncConnection, username: str, role: str, unit_code: str) -> None:
    await conn.execute(
        sa.update(users).where(users.c.username == username).values(role=role, unit_code=unit_code)
    )
    token_cache.clear()  # the next request of this user's tokens is answered with the new role


async def _decide(
    conn: AsyncConnection, grant_id: int, status: GrantStatus, *, by: Actor, reason: str | None, now: datetime
) -> GrantRecord:
    """Mark a pending grant decided; the guard on ``pending`` makes a second decision lose."""
    reason = _storable(reason)
    grant = await get_grant(conn, grant_id)
    if grant.status != GrantStatus.pending:
        raise Conflict(f"Role grant {grant_id} was already {grant.status} by {grant.decided_by}.")
    decided = await conn.execute(
        sa.update(grants)
        .where(grants.c.id == grant_id, grants.c.status == GrantStatus.pending.value)
        .values(status=status.value, decided_by=by.username, decided_at=now, decision_reason=reason)
        .returning(grants.c.id)
    )
    if decided.first() is None:
        raise Conflict(f"Role grant {grant_id} was decided by someone else meanwhile; reload it.")
    return grant


async def approve(
    conn: AsyncConnection,
    grant_id: int,
    *,
    by: Actor,
    org: OrgTree,
    now: datetime,
    reason: str | None = None,
    client_ip: str | None = None,
) -> GrantRecord:
    """A second administrator approves: the account is created or its role changed, now."""
    grant = await get_grant(conn, grant_id)
    if grant.requested_by == by.username:
        raise SecondAdminRequired(
            f"You requested role grant {grant_id}: another administrator must approve it."
        )
    if grant.username == by.username:
        raise SecondAdminRequired("Nobody approves a role for themselves: another administrator must.")
    password_hash: str | None = (
        await conn.execute(sa.select(grants.c.password_hash).where(grants.c.id == grant_id))
    ).scalar_one()
    await _decide(conn, grant_id, GrantStatus.approved, by=by, reason=reason, now=now)
    if grant.unit_code not in org:
        raise Conflict(f"Unit {grant.unit_code!r} no longer exists: reject role grant {grant_id}.")
    if grant.change == GrantChange.create:
        exists = (await conn.execute(sa.select(users.c.id).where(users.c.username == grant.username))).first()
        if exists is not None:  # created at the console meanwhile
            raise Conflict(f"User {grant.username!r} exists already: reject role grant {grant_id}.")
        assert password_hash is not None, "a pending request for a new account keeps its password hash"
        await insert_account(
            conn,
            username=grant.username,
            display_name=grant.display_name,
            password_hash=password_hash,
            role=grant.role,
            unit_code=grant.unit_code,
            now=now,
        )
        await _event(
            conn,
            "user_created",
            by=by,
            client_ip=client_ip,
            now=now,
            user=grant.username,
            role=grant.role,
            unit_code=grant.unit_code,
            display_name=grant.display_name,
            grant_id=grant_id,
            requested_by=grant.requested_by,
        )
    else:
        current = await get_user(conn, grant.username)
        await _set_role(conn, grant.username, grant.role, grant.unit_code)
        await _event(
            conn,
            "role_changed",
            by=by,
            client_ip=client_ip,
            now=now,
            user=grant.username,
            role=grant.role,
            unit_code=grant.unit_code,
            previous_role=current.role,
            previous_unit_code=current.unit_code,
            grant_id=grant_id,
            requested_by=grant.requested_by,
        )
    await conn.execute(sa.update(grants).where(grants.c.id == grant_id).values(password_hash=None))
    await _event(
        conn,
        "role_grant_approved",
        by=by,
        client_ip=client_ip,
        now=now,
        grant_id=grant_id,
        user=grant.username,
        role=grant.role,
        unit_code=grant.unit_code,
        requested_by=grant.requested_by,
    )
    await alerts.after_role_grant(
        conn,
        username=grant.username,
        role=grant.role,
        unit_code=grant.unit_code,
        requested_by=grant.requested_by,
        approved_by=by.username,
        grant_id=grant_id,
        fallback_unit=org.city_centre().code,
        now=now,
    )
    return await get_grant(conn, grant_id)


async def reject(
    conn: AsyncConnection,
    grant_id: int,
    *,
    by: Actor,
    now: datetime,
    reason: str | None = None,
    client_ip: str | None = None,
) -> GrantRecord:
    """Any administrator rejects a pending grant — its requester too, which withdraws it."""
    grant = await _decide(conn, grant_id, GrantStatus.rejected, by=by, reason=reason, now=now)
    await conn.execute(sa.update(grants).where(grants.c.id == grant_id).values(password_hash=None))
    await _event(
        conn,
        "role_grant_rejected",
        by=by,
        client_ip=client_ip,
        now=now,
        grant_id=grant_id,
        user=grant.username,
        role=grant.role,
        unit_code=grant.unit_code,
        requested_by=grant.requested_by,
        reason=reason,
    )
    return await get_grant(conn, grant_id)
