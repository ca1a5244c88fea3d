"""The roster's SQL: explicit Core statements on one connection, typed rows out."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.mediators.models import Mediator, MediatorUnit
from service.users.models import User

mediator = Mediator.__table__  # type: ignore[attr-defined]
mediator_unit = MediatorUnit.__table__  # type: ignore[attr-defined]
app_user = User.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class MediatorRow:
    """One roster record as stored (personal fields still sealed), with its units and sign-in."""

    id: int
    name: str
    user_id: int | None
    username: str | None
    employment: str
    specialties: list[str]
    languages: list[str]
    qualifications: str
    grade: str
    court_roster_no: str | None
    court_roster_from: date | None
    court_roster_until: date | None
    id_number: str | None
    phone: str | None
    id_number_index: str | None
    active: bool
    deactivated_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int
    units: tuple[str, ...]


@dataclass(frozen=True)
class RosterFilter:
    """Which mediators: ``unit_codes`` None is everyone (an admin's or auditor's view)."""

    unit_codes: frozenset[str] | None = None
    active: bool | None = None
    specialty: str | None = None
    name: str | None = None


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _where(f: RosterFilter) -> list[Any]:
    where: list[Any] = []
    if f.unit_codes is not None:
        where.append(
            mediator.c.id.in_(
                sa.select(mediator_unit.c.mediator_id).where(
                    mediator_unit.c.unit_code.in_(sorted(f.unit_codes))
                )
            )
        )
    if f.active is not None:
        where.append(mediator.c.active.is_(f.active))
    if f.specialty is not None:
        # The specialties are a JSON list of DisputeType values, upper-case words none of which
        # contains another in quotes: a match on the quoted word is exact, on both databases.
        where.append(sa.cast(mediator.c.specialties, sa.Text).like(_like(f'"{f.specialty}"'), escape="\\"))
    if f.name:
        where.append(mediator.c.name.like(_like(f.name), escape="\\"))
    return where


def _select() -> sa.Select[Any]:
    return sa.select(mediator, app_user.c.username).select_from(
        mediator.outerjoin(app_user, app_user.c.id == mediator.c.user_id)
    )


async def _with_units(conn: AsyncConnection, rows: Sequence[sa.Row[Any]]) -> list[MediatorRow]:
    ids = [row.id for row in rows]
    units: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        result = await conn.execute(
            sa.select(mediator_unit.c.mediator_id, mediator_unit.c.unit_code)
            .where(mediator_unit.c.mediator_id.in_(ids))
            .order_by(mediator_unit.c.unit_code)
        )
        for mediator_id, code in result:
            units[mediator_id].append(code)
    return [
        MediatorRow(
            id=row.id,
            name=row.name,
            user_id=row.user_id,
            username=row.username,
            employment=row.employment,
            specialties=list(row.specialties or []),
            languages=list(row.languages or []),
            qualifications=row.qualifications,
            grade=row.grade,
            court_roster_no=row.court_roster_no,
            court_roster_from=row.court_roster_from,
            court_roster_until=row.court_roster_until,
            id_number=row.id_number,
            phone=row.phone,
            id_number_index=row.id_number_index,
            active=row.active,
            deactivated_at=row.deactivated_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
            units=tuple(units[row.id]),
        )
        for row in rows
    ]


async def list_mediators(
    conn: AsyncConnection, f: RosterFilter, *, limit: int, offset: int
) -> tuple[list[MediatorRow], int]:
    where = _where(f)
    total = (await conn.execute(sa.select(sa.func.count()).select_from(mediator).where(*where))).scalar_one()
    rows = (
        await conn.execute(
            _select()
            .where(*where)
            .order_by(mediator.c.active.desc(), mediator.c.name, mediator.c.id)
            .limit(limit)
            .offset(offset)
        )
    ).all()
    return await _with_units(conn, rows), int(total)


async def fetch_mediator(conn: AsyncConnection, mediator_id: int) -> MediatorRow | None:
    rows = (await conn.execute(_select().where(mediator.c.id == mediator_id))).all()
    found = await _with_units(conn, rows)
    return found[0] if found else None


async def find_by_id_index(conn: AsyncConnection, index: str) -> MediatorRow | None:
    rows = (
        await conn.execute(
            _select().where(mediator.c.id_number_index == index).order_by(mediator.c.id).limit(1)
        )
    ).all()
    found = await _with_units(conn, rows)
    return found[0] if found else None


async def find_by_name_in_units(
    conn: AsyncConnection, name: str, units: Collection[str], *, without_id_number: bool
) -> MediatorRow | None:
    """The person of that name on the roster of one of ``units`` (``without_id_number``: only one
    with no id number on file, who may be the same person as a row that now gives one)."""
    rows = (
        await conn.execute(
            _select()
            .where(
                mediator.c.name == name,
                mediator.c.id_number_index.is_(None) if without_id_number else sa.true(),
                mediator.c.id.in_(
                    sa.select(mediator_unit.c.mediator_id).where(mediator_unit.c.unit_code.in_(sorted(units)))
                ),
            )
            .order_by(mediator.c.id)
            .limit(1)
        )
    ).all()
    found = await _with_units(conn, rows)
    return found[0] if found else None


async def user_ids(
    conn: AsyncConnection, usernames: Collection[str], units: frozenset[str] | None
) -> dict[str, int]:
    """username → id of the sign-ins named, among those of ``units`` (None: any unit)."""
    if not usernames:
        return {}
    result = await conn.execute(
        sa.select(app_user.c.username, app_user.c.id, app_user.c.unit_code).where(
            app_user.c.username.in_(sorted(usernames))
        )
    )
    return {row.username: row.id for row in result if units is None or row.unit_code in units}


async def linked_mediators(conn: AsyncConnection, user_id_list: Collection[int]) -> dict[int, int]:
    """user id → the roster record already linked to that sign-in."""
    if not user_id_list:
        return {}
    result = await conn.execute(
        sa.select(mediator.c.user_id, mediator.c.id).where(mediator.c.user_id.in_(sorted(user_id_list)))
    )
    return {user_id: mediator_id for user_id, mediator_id in result}


async def insert_mediator(conn: AsyncConnection, values: dict[str, Any], units: Sequence[str]) -> int:
    mediator_id: int = (
        await conn.execute(sa.insert(mediator).values(**values).returning(mediator.c.id))
    ).scalar_one()
    await set_units(conn, mediator_id, units)
    return mediator_id


async def update_mediator(
    conn: AsyncConnection, mediator_id: int, version: int, values: dict[str, Any]
) -> bool:
    """Write ``values`` if the record is still at ``version``; False when someone got there first."""
    result = await conn.execute(
        sa.update(mediator)
        .where(mediator.c.id == mediator_id, mediator.c.version == version)
        .values(**values, version=version + 1)
    )
    return result.rowcount == 1


async def set_units(conn: AsyncConnection, mediator_id: int, units: Sequence[str]) -> None:
    await conn.execute(sa.delete(mediator_unit).where(mediator_unit.c.mediator_id == mediator_id))
    if units:
        await conn.execute(
            sa.insert(mediator_unit), [{"mediator_id": mediator_id, "unit_code": code} for code in units]
        )


async def sealed_after(
    conn: AsyncConnection, last_id: int, *, limit: int
) -> list[tuple[int, str | None, str | None]]:
    """(id, sealed id number, sealed phone) of the next mediators holding either, by id."""
    result = await conn.execute(
        sa.select(mediator.c.id, mediator.c.id_number, mediator.c.phone)
        .where(
            mediator.c.id > last_id,
            sa.or_(mediator.c.id_number.is_not(None), mediator.c.phone.is_not(None)),
        )
        .order_by(mediator.c.id)
        .limit(limit)
    )
    return [(row.id, row.id_number, row.phone) for row in result]


async def reseal(conn: AsyncConnection, mediator_id: int, values: dict[str, Any]) -> None:
    """Personal fields re-sealed in place: the record's content is unchanged, so is its version."""
    await conn.execute(sa.update(mediator).where(mediator.c.id == mediator_id).values(**values))
