"""SQL for numbers: the atomic counter step, the register's rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from service.numbering.models import NumberCounter, NumberTaken

counter: sa.Table = NumberCounter.__table__  # type: ignore[attr-defined]
taken: sa.Table = NumberTaken.__table__  # type: ignore[attr-defined]


async def next_number(conn: AsyncConnection, unit_code: str, kind: str, year: int) -> int:
    """The counter of (unit, kind, year) moved on by one, in ``conn``'s transaction: one statement,
    ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``. On PostgreSQL the row lock it takes is held
    until the transaction ends, so a concurrent taker waits and then sees the committed value (or,
    if this one rolled back, the value before it): no two takers get one number, and none is
    skipped. SQLite serialises writers, so the same statement is enough there."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    values = insert(counter).values(unit_code=unit_code, kind=kind, year=year, last_number=1)
    stmt = values.on_conflict_do_update(
        index_elements=[counter.c.unit_code, counter.c.kind, counter.c.year],
        set_={"last_number": counter.c.last_number + 1},
    ).returning(counter.c.last_number)
    return int((await conn.execute(stmt)).scalar_one())


async def hold_case(conn: AsyncConnection, case_id: int, version: int) -> bool:
    """Lock the case's row (PostgreSQL) if it is still at ``version``: False if it moved on.

    Taken before the counter, so a transaction that numbers something for a case always locks the
    case first and the counter second, as one that changes the case and then takes a number does
    (``record_case_event`` with ``take_number`` as its work): two such transactions on one case
    wait for each other instead of deadlocking. SQLite serialises writers: nothing to lock."""
    if conn.dialect.name != "postgresql":
        return True
    found = await conn.execute(
        sa.text("SELECT 1 FROM cases WHERE id = :id AND version = :version FOR UPDATE"),
        {"id": case_id, "version": version},
    )
    return found.first() is not None


async def record(
    conn: AsyncConnection,
    *,
    unit_code: str,
    kind: str,
    year: int,
    number: int,
    text: str,
    case_id: int,
    taken_at: datetime,
    taken_by: str,
) -> None:
    await conn.execute(
        sa.insert(taken).values(
            unit_code=unit_code,
            kind=kind,
            year=year,
            number=number,
            text=text,
            case_id=case_id,
            taken_at=taken_at,
            taken_by=taken_by,
        )
    )


async def file_number_of(conn: AsyncConnection, case_id: int) -> sa.Row[Any] | None:
    stmt = sa.select(taken).where(taken.c.case_id == case_id, taken.c.kind == "file")
    return (await conn.execute(stmt)).first()


async def numbers_of_case(conn: AsyncConnection, case_id: int) -> Sequence[sa.Row[Any]]:
    stmt = sa.select(taken).where(taken.c.case_id == case_id).order_by(taken.c.id)
    return (await conn.execute(stmt)).all()


async def register(
    conn: AsyncConnection, unit_code: str, year: int, kind: str | None
) -> Sequence[sa.Row[Any]]:
    stmt = sa.select(taken).where(taken.c.unit_code == unit_code, taken.c.year == year)
    if kind is not None:
        stmt = stmt.where(taken.c.kind == kind)
    return (await conn.execute(stmt.order_by(taken.c.kind, taken.c.number))).all()


async def last_numbers(conn: AsyncConnection, unit_code: str, year: int) -> dict[str, int]:
    stmt = sa.select(counter.c.kind, counter.c.last_number).where(
        counter.c.unit_code == unit_code, counter.c.year == year
    )
    return {row.kind: int(row.last_number) for row in (await conn.execute(stmt)).all()}
