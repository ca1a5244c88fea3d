"""The crime reports' statements (SQLAlchemy Core) and the typed row they are read into."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from service.reporting.models import CrimeReport

crime_report = CrimeReport.__table__  # type: ignore[attr-defined]

SEALED = ("statement", "preventive_steps", "ack_note")  # personal text, sealed with the data key


@dataclass(frozen=True, slots=True)
class ReportRow:
    """A report as stored: its texts still sealed (``service.cases.reports`` opens them)."""

    id: int
    case_id: int
    raised_by: str
    from_unit_code: str
    to_unit_code: str
    addressee: str
    reported_at: datetime
    reported_by: str
    reported_by_role: str
    statement: str
    preventive_steps: str | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_note: str | None
    overdue_notified_at: datetime | None


def _row(m: RowMapping) -> ReportRow:
    return ReportRow(**{f: m[f] for f in ReportRow.__slots__})


async def insert_report(conn: AsyncConnection, values: dict[str, Any]) -> int:
    inserted = await conn.execute(sa.insert(crime_report).values(values).returning(crime_report.c.id))
    return int(inserted.scalar_one())


async def read_report(conn: AsyncConnection, report_id: int) -> ReportRow | None:
    found = (await conn.execute(sa.select(crime_report).where(crime_report.c.id == report_id))).first()
    return None if found is None else _row(found._mapping)


async def case_reports(conn: AsyncConnection, case_id: int) -> list[ReportRow]:
    rows = await conn.execute(
        sa.select(crime_report)
        .where(crime_report.c.case_id == case_id)
        .order_by(crime_report.c.reported_at, crime_report.c.id)
    )
    return [_row(r._mapping) for r in rows]


async def acknowledge(
    conn: AsyncConnection, report_id: int, *, at: datetime, by: str, note: str | None
) -> bool:
    """Record the acknowledgement unless there is one already: False when someone was first."""
    done = await conn.execute(
        sa.update(crime_report)
        .where(crime_report.c.id == report_id, crime_report.c.acknowledged_at.is_(None))
        .values(acknowledged_at=at, acknowledged_by=by, ack_note=note)
    )
    return done.rowcount == 1


async def list_reports(
    conn: AsyncConnection,
    *,
    units: frozenset[str] | None,
    overdue_before: datetime | None,
    limit: int,
) -> list[ReportRow]:
    """Reports sent by or to ``units`` (None: all), newest first; ``overdue_before``: only those
    still unacknowledged that were reported before it, oldest first."""
    query = sa.select(crime_report)
    if units is not None:
        codes = sorted(units)
        query = query.where(
            sa.or_(crime_report.c.from_unit_code.in_(codes), crime_report.c.to_unit_code.in_(codes))
        )
    if overdue_before is not None:
        query = query.where(
            crime_report.c.acknowledged_at.is_(None), crime_report.c.reported_at <= overdue_before
        ).order_by(crime_report.c.reported_at, crime_report.c.id)
    else:
        query = query.order_by(crime_report.c.reported_at.desc(), crime_report.c.id.desc())
    return [_row(r._mapping) for r in await conn.execute(query.limit(limit))]


async def claim_overdue(conn: AsyncConnection, *, overdue_before: datetime, now: datetime) -> list[ReportRow]:
    """The overdue reports nobody was told about yet, marked told in the same statement: a second
    sweep, or a second replica sweeping at once, finds none of them again."""
    claimed = await conn.execute(
        sa.update(crime_report)
        .where(
            crime_report.c.acknowledged_at.is_(None),
            crime_report.c.overdue_notified_at.is_(None),
            crime_report.c.reported_at <= overdue_before,
        )
        .values(overdue_notified_at=now)
        .returning(*crime_report.c)
    )
    return sorted((_row(r._mapping) for r in claimed), key=lambda r: (r.reported_at, r.id))


async def reseal(conn: AsyncConnection, rows: Sequence[tuple[int, dict[str, Any]]]) -> None:
    for report_id, values in rows:
        await conn.execute(sa.update(crime_report).where(crime_report.c.id == report_id).values(values))


async def all_sealed(conn: AsyncConnection) -> list[tuple[int, dict[str, Any]]]:
    rows = await conn.execute(sa.select(crime_report.c.id, *(crime_report.c[f] for f in SEALED)))
    return [(r.id, {f: r._mapping[f] for f in SEALED}) for r in rows]


async def anonymise_case(conn: AsyncConnection, case_id: int, placeholder: str) -> None:
    """A case's reports keep who reported to whom and when; what was said goes (PIPL retention)."""
    await conn.execute(
        sa.update(crime_report)
        .where(crime_report.c.case_id == case_id)
        .values(statement=placeholder, preventive_steps=None, ack_note=None)
    )
