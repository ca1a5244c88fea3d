"""A unit's inbox as one person reads it: the items they may see (never those they caused
themselves; an item addressed to a colleague is the colleague's), newest first a page at a time,
and what they have read — read state is per person (``inbox_read``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.cases.models import Case
from service.cases.scope import scope_filter
from service.errors import Forbidden, NotFound
from service.notifications.models import InboxItem, InboxRead
from workflows.lifecycle import Actor, Role
from workflows.org import OrgTree

inbox = InboxItem.__table__  # type: ignore[attr-defined]
reads = InboxRead.__table__  # type: ignore[attr-defined]
cases = Case.__table__  # type: ignore[attr-defined]


class For(StrEnum):
    """Whose items: those addressed to me, or those for the whole unit (no addressee)."""

    me = "me"
    unit = "unit"


@dataclass(frozen=True)
class InboxQuery:
    unread: bool = False
    kind: str | None = None
    for_: For | None = None
    before: int | None = None  # keyset: items with a smaller id (older) than this
    offset: int = 0
    limit: int = 50


@dataclass(frozen=True)
class InboxRow:
    id: int
    unit_code: str
    case_id: int | None
    kind: str
    reason: str | None
    payload: dict[str, Any]
    created_at: datetime
    audience: str | None
    addressee: str | None
    caused_by: str | None
    read_at: datetime | None  # when this reader read it


@dataclass(frozen=True)
class InboxList:
    items: list[InboxRow]
    unread: int
    total: int
    next_before: int | None  # the cursor of the next (older) page; None at the end


def may_read(actor: Actor, code: str, org: OrgTree) -> bool:
    if actor.role in (Role.auditor, Role.system):
        return True
    if actor.role == Role.coordinator:
        return code in org.subtree(actor.unit_code)
    return actor.role != Role.admin and actor.unit_code == code


def check(actor: Actor, code: str, org: OrgTree) -> None:
    if code not in org or not may_read(actor, code, org):
        raise NotFound(f"No inbox for unit {code!r}.")


def _not_hidden_sensitive(actor: Actor, org: OrgTree) -> sa.ColumnElement[bool]:
    """Items about a sensitive case show only to those who may still open the case (PIPL art. 28)."""
    sensitive_cases = sa.select(cases.c.id).where(cases.c.sensitive.is_(True))
    if actor.role == Role.system:
        return sa.true()
    if actor.role in (Role.auditor, Role.admin):
        return sa.or_(inbox.c.case_id.is_(None), inbox.c.case_id.not_in(sensitive_cases))
    units = scope_filter(actor, org).unit_codes
    if units is None:
        return sa.true()
    hidden = sensitive_cases.where(cases.c.unit_code.not_in(sorted(units)))
    # A report of a risk of crime reaches the 派出所 or 司法所 it is addressed to whatever the case
    # (人民调解法 art. 25); they read the report and a masked brief, never the case itself.
    return sa.or_(inbox.c.case_id.is_(None), inbox.c.kind == "crime_report", inbox.c.case_id.not_in(hidden))


def for_audience(actor: Actor) -> sa.ColumnElement[bool]:
    """An item addressed to one role (the auditors' alerts) shows to that role only."""
    if actor.role == Role.system:
        return sa.true()
    return sa.or_(inbox.c.audience.is_(None), inbox.c.audience == actor.role.value)


def _for_person(actor: Actor, for_: For | None) -> list[sa.ColumnElement[bool]]:
    """Nobody is told of their own act; an item addressed to one person is theirs (an auditor,
    who reads every inbox to check it, sees them all)."""
    if actor.role == Role.system:
        return []
    where: list[sa.ColumnElement[bool]] = [
        sa.or_(inbox.c.caused_by.is_(None), inbox.c.caused_by != actor.username)
    ]
    if for_ == For.me:
        where.append(inbox.c.addressee == actor.username)
    elif for_ == For.unit:
        where.append(inbox.c.addressee.is_(None))
    elif actor.role != Role.auditor:
        where.append(sa.or_(inbox.c.addressee.is_(None), inbox.c.addressee == actor.username))
    return where


def _unread_by(username: str) -> sa.ColumnElement[bool]:
    return ~sa.exists().where(reads.c.item_id == inbox.c.id, reads.c.username == username)


def visible(actor: Actor, code: str, org: OrgTree, q: InboxQuery) -> list[sa.ColumnElement[bool]]:
    where = [
        inbox.c.unit_code == code,
        _not_hidden_sensitive(actor, org),
        for_audience(actor),
        *_for_person(actor, q.for_),
    ]
    if q.kind:
        where.append(inbox.c.kind == q.kind)
    return where


async def list_inbox(engine: AsyncEngine, actor: Actor, code: str, org: OrgTree, q: InboxQuery) -> InboxList:
    """A page of the inbox, newest first (by id), with this reader's unread count and the total."""
    check(actor, code, org)
    where = visible(actor, code, org, q)
    listed = [*where, _unread_by(actor.username)] if q.unread else where
    page = listed if q.before is None else [*listed, inbox.c.id < q.before]
    mine = reads.c.item_id == inbox.c.id
    read_at = sa.select(reads.c.read_at).where(mine, reads.c.username == actor.username).scalar_subquery()
    columns = [c for c in inbox.c if c.name not in ("read_at", "read_by", "dedupe_key")]
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(*columns, read_at.label("read_at"))
                .where(*page)
                .order_by(inbox.c.id.desc())
                .limit(q.limit + 1)
                .offset(q.offset)
            )
        ).all()
        total = (
            await conn.execute(sa.select(sa.func.count()).select_from(inbox).where(*listed))
        ).scalar_one()
        unread = (
            await conn.execute(
                sa.select(sa.func.count()).select_from(inbox).where(*where, _unread_by(actor.username))
            )
        ).scalar_one()
    more = len(rows) > q.limit
    items = [InboxRow(**r._mapping) for r in rows[: q.limit]]
    return InboxList(items, unread, total, items[-1].id if more and items else None)


async def _item(conn: AsyncConnection, actor: Actor, code: str, item_id: int) -> None:
    """The item, at this unit and for this reader's role; an auditor changes only the alerts
    addressed to auditors (their read state is theirs, but the rule predates it)."""
    found = (
        await conn.execute(
            sa.select(inbox.c.id, inbox.c.audience).where(
                inbox.c.id == item_id, inbox.c.unit_code == code, for_audience(actor)
            )
        )
    ).first()
    if actor.role == Role.auditor and (found is None or found.audience != Role.auditor.value):
        raise Forbidden("An auditor reads the inbox but changes only the alerts addressed to auditors.")
    if found is None:
        raise NotFound(f"No inbox item {item_id} at {code}.")


def _insert_reads(conn: AsyncConnection) -> Any:
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    return insert(reads)


async def mark_read(
    engine: AsyncEngine, actor: Actor, code: str, org: OrgTree, item_id: int, *, now: datetime
) -> None:
    """This reader has read the item (now); reading again keeps the first time."""
    check(actor, code, org)
    async with engine.begin() as conn:
        await _item(conn, actor, code, item_id)
        await conn.execute(
            _insert_reads(conn)
            .values(item_id=item_id, username=actor.username, read_at=now)
            .on_conflict_do_nothing()
        )


async def mark_unread(engine: AsyncEngine, actor: Actor, code: str, org: OrgTree, item_id: int) -> None:
    """The item is unread again, for this reader only."""
    check(actor, code, org)
    async with engine.begin() as conn:
        await _item(conn, actor, code, item_id)
        await conn.execute(
            sa.delete(reads).where(reads.c.item_id == item_id, reads.c.username == actor.username)
        )


async def mark_all_read(
    engine: AsyncEngine, actor: Actor, code: str, org: OrgTree, *, through: int | None, now: datetime
) -> int:
    """Every item this reader sees at the unit is read, up to ``through`` (the newest id on their
    screen, so what arrived meanwhile stays unread). An auditor marks only the auditors' alerts.
    Returns how many became read."""
    check(actor, code, org)
    where = [*visible(actor, code, org, InboxQuery()), _unread_by(actor.username)]
    if actor.role == Role.auditor:
        where.append(inbox.c.audience == Role.auditor.value)
    if through is not None:
        where.append(inbox.c.id <= through)
    chosen = sa.select(
        inbox.c.id, sa.literal(actor.username), sa.literal(now, type_=reads.c.read_at.type)
    ).where(*where)
    async with engine.begin() as conn:
        done = await conn.execute(
            _insert_reads(conn)
            .from_select(["item_id", "username", "read_at"], chosen)
            .on_conflict_do_nothing()
        )
    return int(done.rowcount or 0)
