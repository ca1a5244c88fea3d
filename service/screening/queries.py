"""The screening register's and the major-dispute reports' statements (SQLAlchemy Core), and the
typed rows they are read into."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from service.mediators.models import MediatorUnit
from service.screening.models import MajorReport, ScreeningCase, ScreeningMissing, ScreeningRound
from workflows.screening import MajorRisk

rounds = ScreeningRound.__table__  # type: ignore[attr-defined]
round_cases = ScreeningCase.__table__  # type: ignore[attr-defined]
missing_flags = ScreeningMissing.__table__  # type: ignore[attr-defined]
major = MajorReport.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class RoundRow:
    id: int
    unit_code: str
    held_at: datetime
    place: str
    scope: str
    participants: list[dict[str, Any]]
    findings: str | None
    nothing_found: bool
    disputes_found: int
    disputes_prevented: int
    recorded_at: datetime
    recorded_by: str
    recorded_by_role: str


def _round(m: RowMapping) -> RoundRow:
    return RoundRow(**{f: m[f] for f in RoundRow.__slots__})


@dataclass(frozen=True, slots=True)
class MajorRow:
    """A report as stored: its statement still sealed."""

    id: int
    case_id: int
    round_id: int | None
    from_unit_code: str
    town_code: str | None
    city_code: str
    risks: tuple[MajorRisk, ...]
    statement: str
    reported_at: datetime
    reported_by: str
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    acknowledged_unit_code: str | None
    escalated_at: datetime | None
    occurred_at: datetime | None

    @property
    def recipients(self) -> list[str]:
        return [c for c in (self.town_code, self.city_code) if c is not None]


def _major(m: RowMapping) -> MajorRow:
    fields = {f: m[f] for f in MajorRow.__slots__ if f != "risks"}
    return MajorRow(risks=tuple(r for r in MajorRisk if m[f"risk_{r.value}"]), **fields)


# --- rounds -------------------------------------------------------------------------------------


async def insert_round(conn: AsyncConnection, values: dict[str, Any]) -> int:
    inserted = await conn.execute(sa.insert(rounds).values(values).returning(rounds.c.id))
    return int(inserted.scalar_one())


async def set_found(conn: AsyncConnection, round_id: int, case_ids: Sequence[int]) -> None:
    """Link the round to the cases it registered, and count them on the round."""
    if case_ids:
        await conn.execute(sa.insert(round_cases), [{"round_id": round_id, "case_id": c} for c in case_ids])
    await conn.execute(sa.update(rounds).where(rounds.c.id == round_id).values(disputes_found=len(case_ids)))


async def find_keyed(conn: AsyncConnection, username: str, key: str) -> tuple[int, str | None] | None:
    """(id, request hash) of the round this person recorded with this Idempotency-Key, if any."""
    found = (
        await conn.execute(
            sa.select(rounds.c.id, rounds.c.request_hash).where(
                rounds.c.recorded_by == username, rounds.c.idempotency_key == key
            )
        )
    ).first()
    return None if found is None else (found.id, found.request_hash)


async def on_roster(conn: AsyncConnection, mediator_ids: Sequence[int], unit_code: str) -> set[int]:
    """Which of these roster ids are on the roster of the unit."""
    if not mediator_ids:
        return set()
    mu = MediatorUnit.__table__  # type: ignore[attr-defined]
    found = await conn.execute(
        sa.select(mu.c.mediator_id).where(
            mu.c.mediator_id.in_(list(mediator_ids)), mu.c.unit_code == unit_code
        )
    )
    return set(found.scalars())


async def read_round(conn: AsyncConnection, round_id: int) -> RoundRow | None:
    found = (await conn.execute(sa.select(rounds).where(rounds.c.id == round_id))).first()
    return None if found is None else _round(found._mapping)


async def cases_of_rounds(conn: AsyncConnection, round_ids: Sequence[int]) -> dict[int, list[int]]:
    """The case ids each round registered, in order."""
    if not round_ids:
        return {}
    found = await conn.execute(
        sa.select(round_cases.c.round_id, round_cases.c.case_id)
        .where(round_cases.c.round_id.in_(list(round_ids)))
        .order_by(round_cases.c.round_id, round_cases.c.case_id)
    )
    links: dict[int, list[int]] = {}
    for r in found:
        links.setdefault(r.round_id, []).append(r.case_id)
    return links


async def list_rounds(
    conn: AsyncConnection,
    *,
    units: frozenset[str] | None,
    after: tuple[datetime, int] | None,
    start: datetime | None,
    end: datetime | None,
    limit: int,
) -> list[RoundRow]:
    """Rounds of ``units`` (None: all), newest first by when they were held, a page at a time:
    ``after`` is the (held_at, id) of the last row of the previous page (keyset)."""
    query = sa.select(rounds)
    if units is not None:
        query = query.where(rounds.c.unit_code.in_(sorted(units)))
    if start is not None:
        query = query.where(rounds.c.held_at >= start)
    if end is not None:
        query = query.where(rounds.c.held_at < end)
    if after is not None:
        query = query.where(sa.tuple_(rounds.c.held_at, rounds.c.id) < sa.tuple_(*after))
    query = query.order_by(rounds.c.held_at.desc(), rounds.c.id.desc()).limit(limit)
    return [_round(r._mapping) for r in await conn.execute(query)]


async def units_reported(
    conn: AsyncConnection, units: Sequence[str], start: datetime, end: datetime
) -> set[str]:
    """Which of ``units`` recorded at least one round held in [start, end)."""
    if not units:
        return set()
    found = await conn.execute(
        sa.select(rounds.c.unit_code)
        .where(rounds.c.unit_code.in_(sorted(units)), rounds.c.held_at >= start, rounds.c.held_at < end)
        .distinct()
    )
    return set(found.scalars())


async def flagged_in(conn: AsyncConnection, period: str) -> set[str]:
    """The units already flagged for a period (the sweep runs every minute: it writes only news)."""
    found = await conn.execute(sa.select(missing_flags.c.unit_code).where(missing_flags.c.period == period))
    return set(found.scalars())


async def claim_missing(conn: AsyncConnection, flags: Sequence[dict[str, Any]]) -> set[str]:
    """Record each (unit, period) flag unless it is recorded already; the units newly flagged.
    The unique key makes a second sweep, or a second replica, flag nobody twice."""
    if not flags:
        return set()
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    done = await conn.execute(
        insert(missing_flags)
        .values(list(flags))
        .on_conflict_do_nothing(index_elements=["unit_code", "period"])
        .returning(missing_flags.c.unit_code)
    )
    return set(done.scalars())


# --- major-dispute reports ----------------------------------------------------------------------


async def insert_major(conn: AsyncConnection, values: dict[str, Any]) -> int:
    inserted = await conn.execute(sa.insert(major).values(values).returning(major.c.id))
    return int(inserted.scalar_one())


async def read_major(conn: AsyncConnection, report_id: int) -> MajorRow | None:
    found = (await conn.execute(sa.select(major).where(major.c.id == report_id))).first()
    return None if found is None else _major(found._mapping)


async def majors_of_case(conn: AsyncConnection, case_id: int) -> list[MajorRow]:
    found = await conn.execute(
        sa.select(major).where(major.c.case_id == case_id).order_by(major.c.reported_at, major.c.id)
    )
    return [_major(r._mapping) for r in found]


async def list_majors(
    conn: AsyncConnection, *, units: frozenset[str] | None, open_only: bool, limit: int
) -> list[MajorRow]:
    """Reports from or to ``units`` (None: all), newest first; ``open_only``: unacknowledged."""
    query = sa.select(major)
    if units is not None:
        codes = sorted(units)
        query = query.where(
            sa.or_(
                major.c.from_unit_code.in_(codes), major.c.town_code.in_(codes), major.c.city_code.in_(codes)
            )
        )
    if open_only:
        query = query.where(major.c.acknowledged_at.is_(None))
    query = query.order_by(major.c.reported_at.desc(), major.c.id.desc()).limit(limit)
    return [_major(r._mapping) for r in await conn.execute(query)]


async def acknowledge_major(
    conn: AsyncConnection, report_id: int, *, at: datetime, by: str, unit_code: str
) -> bool:
    """Record the acknowledgement unless there is one already: False when someone was first."""
    done = await conn.execute(
        sa.update(major)
        .where(major.c.id == report_id, major.c.acknowledged_at.is_(None))
        .values(acknowledged_at=at, acknowledged_by=by, acknowledged_unit_code=unit_code)
    )
    return done.rowcount == 1


async def mark_occurred(conn: AsyncConnection, report_id: int, *, at: datetime, by: str) -> bool:
    done = await conn.execute(
        sa.update(major)
        .where(major.c.id == report_id, major.c.occurred_at.is_(None))
        .values(occurred_at=at, occurred_by=by)
    )
    return done.rowcount == 1


async def claim_unacknowledged(
    conn: AsyncConnection, *, reported_before: datetime, now: datetime
) -> list[MajorRow]:
    """The reports still unacknowledged past their time and not yet escalated, marked escalated in
    the same statement: a second sweep, or a second replica, finds none of them again."""
    claimed = await conn.execute(
        sa.update(major)
        .where(
            major.c.acknowledged_at.is_(None),
            major.c.escalated_at.is_(None),
            major.c.reported_at <= reported_before,
        )
        .values(escalated_at=now)
        .returning(*major.c)
    )
    return sorted((_major(r._mapping) for r in claimed), key=lambda r: (r.reported_at, r.id))


async def sealed_statements(conn: AsyncConnection) -> list[tuple[int, str]]:
    rows = await conn.execute(sa.select(major.c.id, major.c.statement))
    return [(r.id, r.statement) for r in rows]


async def reseal(conn: AsyncConnection, rows: Sequence[tuple[int, str]]) -> None:
    for report_id, statement in rows:
        await conn.execute(sa.update(major).where(major.c.id == report_id).values(statement=statement))


async def anonymise_case(conn: AsyncConnection, case_id: int, placeholder: str) -> None:
    """A case's major reports keep who reported which risks to whom and when; what was said goes
    (PIPL retention), as a crime report's does."""
    await conn.execute(sa.update(major).where(major.c.case_id == case_id).values(statement=placeholder))
