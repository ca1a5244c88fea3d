"""What the ledger reads: the cases closed in a month within a set of units, who mediated them,
what was already paid, and an approved month's rows. Small typed rows, one statement each."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.cases.models import Case, Party
from service.mediators.models import CaseMediator, Mediator, MediatorUnit
from service.subsidy.models import SubsidyCase, SubsidyLine, SubsidyMonth
from workflows.mediators import AssignmentEnd
from workflows.subsidy import CaseFile

cases = Case.__table__  # type: ignore[attr-defined]
parties = Party.__table__  # type: ignore[attr-defined]
case_mediators = CaseMediator.__table__  # type: ignore[attr-defined]
mediators = Mediator.__table__  # type: ignore[attr-defined]
months = SubsidyMonth.__table__  # type: ignore[attr-defined]
paid_cases = SubsidyCase.__table__  # type: ignore[attr-defined]
lines = SubsidyLine.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class FileRecord:
    """What the case file check reads from the case's own row (the rest: service.casefile)."""

    state: str
    termination_reason: str | None
    summary: str
    parties: tuple[tuple[int, str], ...]
    consents: tuple[Any, ...]


@dataclass(frozen=True)
class ClosedCase:
    file: CaseFile
    number: str
    unit_code: str
    closed_at: datetime
    record: FileRecord


@dataclass(frozen=True)
class Mediating:
    mediator_id: int
    name: str
    role: str


@dataclass(frozen=True)
class PaidElsewhere:
    unit_code: str
    month: str


@dataclass(frozen=True)
class ApprovedMonth:
    id: int
    unit_code: str
    month: str
    approved_at: datetime
    approved_by: str
    total_yuan: Decimal


@dataclass(frozen=True)
class LedgerCase:
    case_id: int
    number: str
    dispute_type: str
    difficulty: str
    closed_at: datetime
    amount_yuan: Decimal


@dataclass(frozen=True)
class LedgerLine:
    id: int
    mediator_id: int
    mediator_name: str
    case_id: int | None
    kind: str
    role: str | None
    amount_yuan: Decimal
    reason: str | None
    recorded_at: datetime
    recorded_by: str


def _closed_in(units: Collection[str], start: datetime, end: datetime) -> list[sa.ColumnElement[bool]]:
    return [
        cases.c.state == "closed",
        cases.c.closed_at >= start,
        cases.c.closed_at < end,
        cases.c.unit_code.in_(sorted(units)),
    ]


async def closed_cases(
    conn: AsyncConnection, units: Collection[str], start: datetime, end: datetime
) -> list[ClosedCase]:
    """The cases closed in [start, end) while held by one of ``units``, oldest closing first."""
    where = _closed_in(units, start, end)
    rows = (
        await conn.execute(
            sa.select(
                cases.c.id,
                cases.c.number,
                cases.c.dispute_type,
                cases.c.tier,
                cases.c.outcome,
                cases.c.agreement,
                cases.c.summary,
                cases.c.consents,
                cases.c.performance,
                cases.c.unit_code,
                cases.c.closed_at,
                cases.c.state,
                cases.c.termination_reason,
            )
            .where(*where)
            .order_by(cases.c.closed_at, cases.c.id)
        )
    ).all()
    people: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for row in await conn.execute(
        sa.select(parties.c.case_id, parties.c.id, parties.c.role)
        .join(cases, cases.c.id == parties.c.case_id)
        .where(*where)
        .order_by(parties.c.id)
    ):
        people[row.case_id].append((row.id, row.role))
    return [
        ClosedCase(
            CaseFile(
                case_id=row.id,
                dispute_type=row.dispute_type,
                tier=str(row.tier),
                outcome=row.outcome,
                agreement=row.agreement,
                performance=row.performance,
            ),
            row.number,
            row.unit_code,
            row.closed_at,
            FileRecord(
                state=str(row.state),
                termination_reason=row.termination_reason,
                summary=row.summary or "",
                parties=tuple(people[row.id]),
                consents=tuple(row.consents or ()),
            ),
        )
        for row in rows
    ]


async def mediating(
    conn: AsyncConnection, units: Collection[str], start: datetime, end: datetime
) -> dict[int, list[Mediating]]:
    """For each case closed in the window, the mediators on it when it closed: assignments still
    current, or ended by the closing itself (end ``closed`` at the case's ``closed_at``). Those
    reassigned, removed, withdrawn or refused before the end did not mediate it to its outcome, nor
    did those whose assignment ended ``closed`` earlier, when the case left their unit (escalated,
    handed off) or went to the court, and came back to close elsewhere."""
    ended_by_closing = sa.or_(
        case_mediators.c.ended_at.is_(None),
        sa.and_(
            case_mediators.c.end == AssignmentEnd.closed,
            case_mediators.c.ended_at >= cases.c.closed_at,
        ),
    )
    stmt = (
        sa.select(
            case_mediators.c.case_id, case_mediators.c.mediator_id, case_mediators.c.role, mediators.c.name
        )
        .join(cases, cases.c.id == case_mediators.c.case_id)
        .join(mediators, mediators.c.id == case_mediators.c.mediator_id)
        .where(*_closed_in(units, start, end), ended_by_closing)
        .order_by(case_mediators.c.case_id, case_mediators.c.id)
    )
    found: dict[int, list[Mediating]] = defaultdict(list)
    for row in await conn.execute(stmt):
        if all(m.mediator_id != row.mediator_id for m in found[row.case_id]):
            found[row.case_id].append(Mediating(row.mediator_id, row.name, row.role))
    return found


async def paid_elsewhere(
    conn: AsyncConnection, units: Collection[str], start: datetime, end: datetime
) -> dict[int, PaidElsewhere]:
    """Cases of the window already in an approved month's ledger (of this or another unit)."""
    stmt = (
        sa.select(paid_cases.c.case_id, months.c.unit_code, months.c.month)
        .join(months, months.c.id == paid_cases.c.month_id)
        .join(cases, cases.c.id == paid_cases.c.case_id)
        .where(*_closed_in(units, start, end))
    )
    return {row.case_id: PaidElsewhere(row.unit_code, row.month) for row in await conn.execute(stmt)}


async def approved_month(conn: AsyncConnection, unit_code: str, month: str) -> ApprovedMonth | None:
    row = (
        await conn.execute(
            sa.select(
                months.c.id,
                months.c.unit_code,
                months.c.month,
                months.c.approved_at,
                months.c.approved_by,
                months.c.total_yuan,
            ).where(months.c.unit_code == unit_code, months.c.month == month)
        )
    ).one_or_none()
    if row is None:
        return None
    return ApprovedMonth(row.id, row.unit_code, row.month, row.approved_at, row.approved_by, row.total_yuan)


async def ledger_cases(conn: AsyncConnection, month_id: int) -> list[LedgerCase]:
    stmt = (
        sa.select(
            paid_cases.c.case_id,
            paid_cases.c.case_number.label("number"),
            paid_cases.c.dispute_type,
            paid_cases.c.difficulty,
            paid_cases.c.closed_at,
            paid_cases.c.amount_yuan,
        )
        .where(paid_cases.c.month_id == month_id)
        .order_by(paid_cases.c.closed_at, paid_cases.c.case_id)
    )
    return [LedgerCase(**row) for row in (await conn.execute(stmt)).mappings()]


async def ledger_lines(conn: AsyncConnection, month_id: int) -> list[LedgerLine]:
    stmt = (
        sa.select(
            lines.c.id,
            lines.c.mediator_id,
            mediators.c.name.label("mediator_name"),
            lines.c.case_id,
            lines.c.kind,
            lines.c.role,
            lines.c.amount_yuan,
            lines.c.reason,
            lines.c.recorded_at,
            lines.c.recorded_by,
        )
        .join(mediators, mediators.c.id == lines.c.mediator_id)
        .where(lines.c.month_id == month_id)
        .order_by(lines.c.id)
    )
    return [LedgerLine(**row) for row in (await conn.execute(stmt)).mappings()]


async def mediator_of_user(conn: AsyncConnection, user_id: int | None) -> int | None:
    if user_id is None:
        return None
    found: int | None = (
        await conn.execute(sa.select(mediators.c.id).where(mediators.c.user_id == user_id))
    ).scalar_one_or_none()
    return found


async def mediator_name(conn: AsyncConnection, mediator_id: int) -> str | None:
    name: str | None = (
        await conn.execute(sa.select(mediators.c.name).where(mediators.c.id == mediator_id))
    ).scalar_one_or_none()
    return name


async def insert_month(conn: AsyncConnection, values: dict[str, Any]) -> int:
    month_id: int = (
        await conn.execute(sa.insert(months).values(**values).returning(months.c.id))
    ).scalar_one()
    return month_id


async def insert_rows(
    conn: AsyncConnection, case_rows: list[dict[str, Any]], line_rows: list[dict[str, Any]]
) -> None:
    if case_rows:
        await conn.execute(sa.insert(paid_cases), case_rows)
    if line_rows:
        await conn.execute(sa.insert(lines), line_rows)


async def insert_line(conn: AsyncConnection, values: dict[str, Any]) -> int:
    line_id: int = (await conn.execute(sa.insert(lines).values(**values).returning(lines.c.id))).scalar_one()
    return line_id


async def roster(conn: AsyncConnection, units: Collection[str]) -> list[tuple[int, str]]:
    """(id, name) of the mediators serving any of ``units``, by name: whom a correction may name."""
    serving = MediatorUnit.__table__  # type: ignore[attr-defined]
    stmt = (
        sa.select(mediators.c.id, mediators.c.name)
        .where(
            mediators.c.id.in_(sa.select(serving.c.mediator_id).where(serving.c.unit_code.in_(sorted(units))))
        )
        .order_by(mediators.c.name, mediators.c.id)
    )
    return [(row.id, row.name) for row in await conn.execute(stmt)]
