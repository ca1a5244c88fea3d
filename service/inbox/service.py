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
from service.notifications.models import InboxItem, InboxRead, InboxReadThrough
from workflows.lifecycle import Actor, Role
from workflows.org import OrgTree

inbox = InboxItem.__table__  # type: ignore[attr-defined]
reads = InboxRead.__table__  # type: ignore[attr-defined]
through_table = InboxReadThrough.__table__  # type: ignore[attr-defined]
# The counts stop here: past it the page says "1,000+" (a count of a town's 100,000 items would
# cost more than the page; nobody reads past the thousandth unread item one by one).
COUNT_CAP = 1000
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
    unread: int  # at most COUNT_CAP
    total: int  # at most COUNT_CAP
    next_before: int | None  # the cursor of the next (older) page; None at the end
    newest: int | None  # the newest item id at the unit: what "mark all read" marks up to

    @property
    def unread_capped(self) -> bool:
        return self.unread >= COUNT_CAP

    @property
    def total_capped(self) -> bool:
        return self.total >= COUNT_CAP


@dataclass(frozen=True)
class ReadThrough:
    """Everything at the unit up to ``item_id`` is read for this person (since ``read_at``)."""

    item_id: int = 0
    read_at: datetime | None = None


async def read_through(conn: AsyncConnection, username: str, code: str) -> ReadThrough:
    found = (
        await conn.execute(
            sa.select(through_table.c.item_id, through_table.c.read_at).where(
                through_table.c.username == username, through_table.c.unit_code == code
            )
        )
    ).first()
    return ReadThrough(found.item_id, found.read_at) if found else ReadThrough()


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
    sensitive_cases = sa.select(cases.c.id).where(cases.c.sensitive)  # the partial index ix_cases_sensitive
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


def _unread_by(username: str, through: ReadThrough) -> sa.ColumnElement[bool]:
    """Unread: after the reader's "all read" mark, and not read one by one."""
    return sa.and_(
        inbox.c.id > through.item_id,
        ~sa.exists().where(reads.c.item_id == inbox.c.id, reads.c.username == username),
    )


async def _capped_count(conn: AsyncConnection, where: list[sa.ColumnElement[bool]]) -> int:
    """How many, up to COUNT_CAP: reads at most that many index entries past the filters."""
    found = sa.select(inbox.c.id).where(*where).order_by(inbox.c.id.desc()).limit(COUNT_CAP).subquery()
    return int((await conn.execute(sa.select(sa.func.count()).select_from(found))).scalar_one())


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
    """A page of the inbox, newest first (by id), with this reader's unread count and the total
    (each counted up to COUNT_CAP)."""
    check(actor, code, org)
    where = visible(actor, code, org, q)
    mine = reads.c.item_id == inbox.c.id
    read_at = sa.select(reads.c.read_at).where(mine, reads.c.username == actor.username).scalar_subquery()
    columns = [c for c in inbox.c if c.name not in ("read_at", "read_by", "dedupe_key")]
    async with engine.connect() as conn:
        through = await read_through(conn, actor.username, code)
        unread = _unread_by(actor.username, through)
        listed = [*where, unread] if q.unread else where
        page = listed if q.before is None else [*listed, inbox.c.id < q.before]
        rows = (
            await conn.execute(
                sa.select(*columns, read_at.label("read_at"))
                .where(*page)
                .order_by(inbox.c.id.desc())
                .limit(q.limit + 1)
                .offset(q.offset)
            )
        ).all()
        total = await _capped_count(conn, listed)
        unread_count = await _capped_count(conn, [*where, unread])
        newest = (
            await conn.execute(sa.select(sa.func.max(inbox.c.id)).where(inbox.c.unit_code == code))
        ).scalar_one()
    more = len(rows) > q.limit
    items = [
        InboxRow(
            **{**r._mapping, "read_at": r.read_at or (through.read_at if r.id <= through.item_id else None)}
        )
        for r in rows[: q.limit]
    ]
    return InboxList(items, unread_count, total, items[-1].id if more and items else None, newest)


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
    """The item is unread again, for this reader only. Below their "all read" mark, the mark
    moves down to just before it and the items between stay read, one row each."""
    check(actor, code, org)
    async with engine.begin() as conn:
        await _item(conn, actor, code, item_id)
        through = await read_through(conn, actor.username, code)
        if item_id <= through.item_id:
            between = sa.select(
                inbox.c.id,
                sa.literal(actor.username),
                sa.literal(through.read_at, type_=reads.c.read_at.type),
            ).where(inbox.c.unit_code == code, inbox.c.id > item_id, inbox.c.id <= through.item_id)
            await conn.execute(
                _insert_reads(conn)
                .from_select(["item_id", "username", "read_at"], between)
                .on_conflict_do_nothing()
            )
            await conn.execute(
                sa.update(through_table)
                .where(through_table.c.username == actor.username, through_table.c.unit_code == code)
                .values(item_id=item_id - 1)
            )
        await conn.execute(
            sa.delete(reads).where(reads.c.item_id == item_id, reads.c.username == actor.username)
        )


async def mark_all_read(
    engine: AsyncEngine, actor: Actor, code: str, org: OrgTree, *, through: int | None, now: datetime
) -> int | None:
    """Every item at the unit is read for this reader, up to ``through`` (the newest id on their
    screen, so what arrived meanwhile stays unread): one row however many items. An auditor
    marks only the auditors' alerts, one row each. Returns the id marked up to (None: nothing)."""
    check(actor, code, org)
    async with engine.begin() as conn:
        newest = (
            await conn.execute(sa.select(sa.func.max(inbox.c.id)).where(inbox.c.unit_code == code))
        ).scalar_one()
        upto = newest if through is None or newest is None else min(through, newest)
        if upto is None:
            return None
        if actor.role == Role.auditor:
            alerts = sa.select(
                inbox.c.id, sa.literal(actor.username), sa.literal(now, type_=reads.c.read_at.type)
            ).where(
                *visible(actor, code, org, InboxQuery()),
                inbox.c.audience == Role.auditor.value,
                inbox.c.id <= upto,
            )
            await conn.execute(
                _insert_reads(conn)
                .from_select(["item_id", "username", "read_at"], alerts)
                .on_conflict_do_nothing()
            )
            return upto
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        mark = insert(through_table).values(
            username=actor.username, unit_code=code, item_id=upto, read_at=now
        )
        await conn.execute(
            mark.on_conflict_do_update(
                index_elements=["username", "unit_code"],
                set_={"item_id": mark.excluded.item_id, "read_at": mark.excluded.read_at},
                where=through_table.c.item_id < mark.excluded.item_id,
            )
        )
    return upto
