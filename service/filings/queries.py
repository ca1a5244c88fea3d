"""Reading and writing filings (insert only: the table has no update path) and reading the two
sides of the court reconciliation (the court desk's referral records, the bureau's case events)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from service.cases.models import Case, CaseEvent
from service.filings.models import Filing
from service.referrals.models import Referral
from workflows.vocab import ReferralKind, Source

filing = Filing.__table__  # type: ignore[attr-defined]
cases = Case.__table__  # type: ignore[attr-defined]
events = CaseEvent.__table__  # type: ignore[attr-defined]
referral = Referral.__table__  # type: ignore[attr-defined]

SUMMARY = [c for c in filing.c if c.name not in ("cells", "case_ids", "sources")]
DELEGATIONS = (ReferralKind.court_delegation.value, ReferralKind.court_assignment.value)
DELEGATE = "delegate"


async def insert_filing(conn: AsyncConnection, values: dict[str, Any]) -> int:
    new_id: int = (await conn.execute(sa.insert(filing).values(**values).returning(filing.c.id))).scalar_one()
    return new_id


async def get_filing(conn: AsyncConnection, filing_id: int) -> RowMapping | None:
    return (await conn.execute(sa.select(filing).where(filing.c.id == filing_id))).mappings().first()


async def versions(conn: AsyncConnection, unit_code: str, month: str) -> list[RowMapping]:
    """Every version of a unit's month, oldest first (without their cells)."""
    stmt = (
        sa.select(*SUMMARY)
        .where(filing.c.unit_code == unit_code, filing.c.month == month)
        .order_by(filing.c.version)
    )
    return list((await conn.execute(stmt)).mappings())


async def current(conn: AsyncConnection, unit_codes: Sequence[str], month: str) -> dict[str, RowMapping]:
    """The current (latest) version of each unit's month that has been filed, whole."""
    latest = (
        sa.select(filing.c.unit_code, sa.func.max(filing.c.version).label("version"))
        .where(filing.c.unit_code.in_(list(unit_codes)), filing.c.month == month)
        .group_by(filing.c.unit_code)
        .subquery()
    )
    stmt = sa.select(filing).join(
        latest, sa.and_(filing.c.unit_code == latest.c.unit_code, filing.c.version == latest.c.version)
    )
    return {r["unit_code"]: r for r in (await conn.execute(stmt)).mappings()}


async def list_filings(
    conn: AsyncConnection,
    *,
    units: frozenset[str] | None,
    unit: str | None,
    month: str | None,
    limit: int,
    offset: int,
) -> tuple[list[RowMapping], int, dict[tuple[str, str], int]]:
    """A page of versions, newest month first, then unit, then version; their total; and the
    latest version number of each (unit, month) on the page (to mark the current ones)."""
    where: list[sa.ColumnElement[bool]] = []
    if units is not None:
        where.append(filing.c.unit_code.in_(sorted(units)))
    if unit is not None:
        where.append(filing.c.unit_code == unit)
    if month is not None:
        where.append(filing.c.month == month)
    rows = list(
        (
            await conn.execute(
                sa.select(*SUMMARY)
                .where(*where)
                .order_by(filing.c.month.desc(), filing.c.unit_code, filing.c.version.desc())
                .limit(limit)
                .offset(offset)
            )
        ).mappings()
    )
    total = (await conn.execute(sa.select(sa.func.count()).select_from(filing).where(*where))).scalar_one()
    latest: dict[tuple[str, str], int] = {}
    pairs = {(r["unit_code"], r["month"]) for r in rows}
    if pairs:
        stmt = (
            sa.select(filing.c.unit_code, filing.c.month, sa.func.max(filing.c.version))
            .where(sa.tuple_(filing.c.unit_code, filing.c.month).in_(sorted(pairs)))
            .group_by(filing.c.unit_code, filing.c.month)
        )
        latest = {(u, m): int(v) for u, m, v in (await conn.execute(stmt)).all()}
    return rows, int(total), latest


async def case_rows(conn: AsyncConnection, case_ids: Sequence[int]) -> dict[int, RowMapping]:
    """The listed cases as they are now (number, type, unit, state), by id."""
    if not case_ids:
        return {}
    stmt = sa.select(
        cases.c.id,
        cases.c.number,
        cases.c.dispute_type,
        cases.c.unit_code,
        cases.c.state,
        cases.c.sensitive,
        cases.c.created_at,
        cases.c.source,
    ).where(cases.c.id.in_(list(case_ids)))
    return {int(r["id"]): r for r in (await conn.execute(stmt)).mappings()}


# --- the court reconciliation -------------------------------------------------------------------


async def touched_cases(
    conn: AsyncConnection, units: frozenset[str] | None, start: datetime, end: datetime
) -> list[int]:
    """Cases with a court delegation or a return on either side in [start, end), or registered
    then from a court referral, within ``units`` (None: everywhere)."""

    def within(column: Any) -> list[sa.ColumnElement[bool]]:
        return [] if units is None else [column.in_(sorted(units))]

    def during(column: Any) -> sa.ColumnElement[bool]:
        return sa.and_(column >= start, column < end)

    delegated_cases = sa.select(events.c.case_id).where(events.c.trigger == DELEGATE)
    parts = [
        sa.select(referral.c.case_id).where(
            referral.c.kind.in_(DELEGATIONS),
            *within(referral.c.to_unit_code),
            sa.or_(
                during(referral.c.offered_at),
                during(referral.c.responded_at),
                during(referral.c.completed_at),
            ),
        ),
        sa.select(events.c.case_id).where(
            events.c.trigger == DELEGATE, during(events.c.at), *within(events.c.to_unit_code)
        ),
        sa.select(events.c.case_id).where(
            during(events.c.at),
            events.c.case_id.in_(delegated_cases),
            sa.or_(*within(events.c.from_unit_code), *within(events.c.to_unit_code))
            if units is not None
            else sa.true(),
        ),
        sa.select(cases.c.id).where(
            cases.c.source == Source.court.value, during(cases.c.created_at), *within(cases.c.unit_code)
        ),
    ]
    union = sa.union(*parts).subquery()
    return sorted(int(i) for i in (await conn.execute(sa.select(union.c[0]))).scalars())


async def delegation_referrals(conn: AsyncConnection, case_ids: Sequence[int]) -> list[RowMapping]:
    """The court desk's records: its 委托 / 委派 referrals of these cases, oldest first."""
    if not case_ids:
        return []
    stmt = (
        sa.select(referral)
        .where(referral.c.case_id.in_(list(case_ids)), referral.c.kind.in_(DELEGATIONS))
        .order_by(referral.c.case_id, referral.c.offered_at, referral.c.id)
    )
    return list((await conn.execute(stmt)).mappings())


async def case_events(conn: AsyncConnection, case_ids: Sequence[int]) -> list[RowMapping]:
    """The bureau's records: the cases' events (what happened to them, when), oldest first."""
    if not case_ids:
        return []
    stmt = (
        sa.select(
            events.c.case_id,
            events.c.at,
            events.c.kind,
            events.c.trigger,
            events.c.from_state,
            events.c.to_state,
            events.c.from_unit_code,
            events.c.to_unit_code,
            events.c.payload,
        )
        .where(events.c.case_id.in_(list(case_ids)))
        .order_by(events.c.case_id, events.c.at, events.c.id)
    )
    return list((await conn.execute(stmt)).mappings())
