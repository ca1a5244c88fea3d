"""Taking numbers, giving a closed case its 卷宗 number, reading a unit's register."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.cases import queries as case_queries
from service.cases.service import lost_race, transition_context, visible_row
from service.context import AppContext
from service.db import reading
from service.errors import Conflict, Forbidden, NotFound, TransitionNotAllowed, field_error
from service.numbering import queries
from service.numbering.schemas import NumberOut, RegisterOut
from workflows.lifecycle import Actor, CaseState, Role, handles_case
from workflows.numbering import FILE, NumberingConfig, format_number, keeps_case_files, prefix_of, year_of
from workflows.org import OrgTree


@dataclass(frozen=True)
class Numbering:
    """The validated ``config/numbering.yaml`` with the organisation tree it derives prefixes from."""

    config: NumberingConfig
    org: OrgTree

    def text(self, unit_code: str, kind: str, year: int, number: int) -> str:
        prefix = prefix_of(self.config, self.org, unit_code)
        return format_number(self.config, prefix=prefix, kind=kind, year=year, number=number)


@dataclass(frozen=True)
class TakenNumber:
    unit_code: str
    kind: str
    year: int
    number: int
    text: str


async def take_number(
    conn: AsyncConnection,
    unit_code: str,
    kind: str,
    case_id: int,
    actor: Actor,
    now: datetime,
    *,
    numbering: Numbering,
) -> TakenNumber:
    """The next number of ``unit_code``'s ``kind`` for the Asia/Shanghai year of ``now``, taken in
    ``conn``'s transaction and written to the register for ``case_id``. The caller's transaction
    decides: committed, the number is used for good; rolled back, it was never taken (the next
    taker gets it). On PostgreSQL the counter row stays locked until then, so keep the rest of
    the transaction short. Raises 422 for a kind ``config/numbering.yaml`` does not list."""
    if kind not in numbering.config.kinds:
        raise field_error("kind", f"no kind of number {kind!r} in config/numbering.yaml")
    if unit_code not in numbering.org:
        raise field_error("unit_code", f"no unit with code {unit_code!r}")
    year = year_of(now)
    number = await queries.next_number(conn, unit_code, kind, year)
    text = numbering.text(unit_code, kind, year, number)
    await queries.record(
        conn,
        unit_code=unit_code,
        kind=kind,
        year=year,
        number=number,
        text=text,
        case_id=case_id,
        taken_at=now,
        taken_by=actor.username,
    )
    return TakenNumber(unit_code, kind, year, number, text)


def _out(row: Any, numbering: Numbering) -> NumberOut:
    kind = numbering.config.kinds.get(row.kind)
    return NumberOut(
        unit_code=row.unit_code,
        kind=row.kind,
        kind_name=kind.name if kind is not None else row.kind,
        year=row.year,
        number=row.number,
        text=row.text,
        case_id=row.case_id,
        taken_at=row.taken_at,
        taken_by=row.taken_by,
    )


async def file_number_of(engine: AsyncEngine, case_id: int, numbering: Numbering) -> NumberOut | None:
    """The case's 卷宗 number, if it has one (the caller has checked the reader sees the case)."""
    async with reading(engine) as conn:
        row = await queries.file_number_of(conn, case_id)
    return _out(row, numbering) if row is not None else None


class _Moved(Exception):
    """The case moved on since it was read (its transaction rolls back, taking nothing)."""


async def give_file_number(
    engine: AsyncEngine, ctx: AppContext, numbering: Numbering, case_id: int, actor: Actor, *, now: datetime
) -> tuple[NumberOut, bool]:
    """The closed case's 卷宗 number, and whether this call gave it (False: it had one already).
    Only those who handle the case (its unit, and the units above it) number it; the number is
    the unit's where the case closed, in the year (Asia/Shanghai) it is given. The number, the
    case's version and the hash-chained ``file_number`` event are one transaction."""
    row = await visible_row(engine, ctx, case_id, actor)
    if not handles_case(transition_context(ctx, row, actor, now)):
        raise TransitionNotAllowed(
            f"{actor.username} ({actor.role.value}) may read case {case_id} but does not handle it, "
            "so does not number its file.",
            allowed=[],
        )
    existing = await file_number_of(engine, case_id, numbering)
    if existing is not None:
        return existing, False
    if row.state != CaseState.closed:
        raise Conflict("Only a closed case is filed: close it first, then give its case file a number.")
    if not keeps_case_files(numbering.org, row.unit_code):
        raise Conflict(
            f"The case closed at {row.unit_code}, which keeps no people's-mediation case files (卷宗)."
        )
    version: int | None = None
    try:
        async with engine.begin() as conn:
            if not await queries.hold_case(conn, row.id, row.version):
                raise _Moved
            taken = await take_number(conn, row.unit_code, FILE, row.id, actor, now, numbering=numbering)
            event = case_queries.record_event(
                row,
                kind="file_number",
                at=now,
                actor=actor.username,
                actor_role=actor.role.value,
                actor_unit_code=actor.unit_code,
                reason=None,
                payload={
                    "file_number": taken.text,
                    "unit_code": taken.unit_code,
                    "year": taken.year,
                    "number": taken.number,
                },
            )
            version = await case_queries.add_event(conn, row, event, now=now)
            if version is None:
                await conn.rollback()  # the number goes back with it
    except (IntegrityError, _Moved):
        version = None  # another request numbered (or changed) the case first
    if version is None:
        # Lost a race: a concurrent request may have numbered the case; else it moved (412).
        existing = await file_number_of(engine, case_id, numbering)
        if existing is not None:
            return existing, False
        raise await lost_race(engine, case_id)
    done = await file_number_of(engine, case_id, numbering)
    assert done is not None
    return done, True


async def case_numbers(
    engine: AsyncEngine, ctx: AppContext, numbering: Numbering, case_id: int, actor: Actor
) -> list[NumberOut]:
    """Every number the case was given (its 卷宗 number, its documents'), for those who see it."""
    await visible_row(engine, ctx, case_id, actor)
    async with reading(engine) as conn:
        rows = await queries.numbers_of_case(conn, case_id)
    return [_out(row, numbering) for row in rows]


def check_register_access(actor: Actor, org: OrgTree, unit_code: str) -> None:
    """A unit's register is read by its own people, the coordinators above it and the auditors:
    403 for another role, 404 for a unit outside the reader's scope, 422 for an unknown unit."""
    if unit_code not in org:
        raise field_error("path.unit_code", f"no unit with code {unit_code!r}")
    if actor.role == Role.auditor:
        return
    if actor.role == Role.coordinator:
        if unit_code not in org.subtree(actor.unit_code):
            raise NotFound(f"Unit {unit_code} is not within your scope.")
        return
    if actor.role == Role.mediator:
        if unit_code != actor.unit_code:
            raise NotFound(f"Unit {unit_code} is not within your scope.")
        return
    raise Forbidden(f"The {actor.role} role keeps no register of numbers.")


async def read_register(
    engine: AsyncEngine,
    numbering: Numbering,
    actor: Actor,
    unit_code: str,
    year: int,
    kind: str | None,
) -> RegisterOut:
    check_register_access(actor, numbering.org, unit_code)
    if kind is not None and kind not in numbering.config.kinds:
        raise field_error(
            "query.kind", f"no kind of number {kind!r}; one of {sorted(numbering.config.kinds)}"
        )
    async with reading(engine) as conn:
        rows = await queries.register(conn, unit_code, year, kind)
        last = await queries.last_numbers(conn, unit_code, year)
    unit = numbering.org.find(unit_code)
    assert unit is not None
    if kind is not None:
        last = {k: v for k, v in last.items() if k == kind}
    return RegisterOut(
        unit_code=unit_code,
        unit_name=unit.name,
        year=year,
        kind=kind,
        last=last,
        numbers=[_out(row, numbering) for row in rows],
    )
