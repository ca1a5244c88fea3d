"""The SQL of the personal work pages and the caseload: small typed rows, both databases."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.cases.models import Case
from service.deadlines.models import Deadline
from service.mediators.models import CaseMediator, Mediator, MediatorUnit
from workflows.deadlines import DeadlineStatus
from workflows.lifecycle import CaseState

cases = Case.__table__  # type: ignore[attr-defined]
deadline = Deadline.__table__  # type: ignore[attr-defined]
case_mediator = CaseMediator.__table__  # type: ignore[attr-defined]
mediator = Mediator.__table__  # type: ignore[attr-defined]
mediator_unit = MediatorUnit.__table__  # type: ignore[attr-defined]

# A clock still counts for the person while it runs, ran out, or waits paused.
OPEN_DEADLINE = (DeadlineStatus.active.value, DeadlineStatus.breached.value, DeadlineStatus.paused.value)
CLOSED = CaseState.closed.value


def late(now: datetime) -> sa.ColumnElement[bool]:
    """A deadline overdue now: breached, or still running past its due time (as the stats say)."""
    return sa.or_(
        deadline.c.status == DeadlineStatus.breached.value,
        sa.and_(deadline.c.status == DeadlineStatus.active.value, deadline.c.due_at <= now),
    )


@dataclass(frozen=True, slots=True)
class RosterRecord:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class AssignedCase:
    case_id: int
    number: str
    dispute_type: str
    state: str
    unit_code: str
    role: str
    assigned_at: datetime


@dataclass(frozen=True, slots=True)
class OpenDeadline:
    id: int
    case_id: int
    kind: str
    status: str
    started_at: datetime
    due_at: datetime


@dataclass(frozen=True, slots=True)
class CaseloadFigures:
    mediator_id: int
    name: str
    employment: str
    active: bool
    has_sign_in: bool
    open_lead: int
    open_co: int
    overdue_deadlines: int
    closed_this_month: int


async def roster_record_of(conn: AsyncConnection, user_id: int) -> RosterRecord | None:
    row = (
        await conn.execute(sa.select(mediator.c.id, mediator.c.name).where(mediator.c.user_id == user_id))
    ).first()
    return RosterRecord(int(row.id), str(row.name)) if row else None


async def assigned_cases(conn: AsyncConnection, mediator_id: int) -> list[AssignedCase]:
    """The open cases the mediator is assigned to now (the partial index ix_case_mediator_current)."""
    stmt = (
        sa.select(
            cases.c.id,
            cases.c.number,
            cases.c.dispute_type,
            cases.c.state,
            cases.c.unit_code,
            case_mediator.c.role,
            case_mediator.c.assigned_at,
        )
        .select_from(case_mediator.join(cases, cases.c.id == case_mediator.c.case_id))
        .where(
            case_mediator.c.mediator_id == mediator_id,
            case_mediator.c.ended_at.is_(None),
            cases.c.state != CLOSED,
        )
    )
    return [
        AssignedCase(
            case_id=int(r.id),
            number=str(r.number),
            dispute_type=str(r.dispute_type),
            state=str(getattr(r.state, "value", r.state)),
            unit_code=str(r.unit_code),
            role=str(r.role),
            assigned_at=r.assigned_at,
        )
        for r in (await conn.execute(stmt)).all()
    ]


async def open_deadlines(conn: AsyncConnection, case_ids: Sequence[int]) -> list[OpenDeadline]:
    if not case_ids:
        return []
    stmt = sa.select(
        deadline.c.id,
        deadline.c.case_id,
        deadline.c.kind,
        deadline.c.status,
        deadline.c.started_at,
        deadline.c.due_at,
    ).where(deadline.c.case_id.in_(list(case_ids)), deadline.c.status.in_(OPEN_DEADLINE))
    return [
        OpenDeadline(int(r.id), int(r.case_id), str(r.kind), str(r.status), r.started_at, r.due_at)
        for r in (await conn.execute(stmt)).all()
    ]


async def caseload(
    conn: AsyncConnection,
    units: frozenset[str] | None,
    *,
    month_start: datetime,
    month_end: datetime,
    now: datetime,
) -> tuple[list[CaseloadFigures], dict[int, list[str]]]:
    """Every mediator on the roster of ``units`` (None: all) with what they carry now, and the
    units each serves. Three GROUP BY statements, each over the mediators' own assignments."""
    on_roster = sa.select(mediator_unit.c.mediator_id)
    if units is not None:
        on_roster = on_roster.where(mediator_unit.c.unit_code.in_(sorted(units)))
    people = (
        await conn.execute(
            sa.select(
                mediator.c.id, mediator.c.name, mediator.c.employment, mediator.c.active, mediator.c.user_id
            ).where(mediator.c.id.in_(on_roster))
        )
    ).all()
    if not people:
        return [], {}
    ids = [int(p.id) for p in people]
    current = sa.and_(
        case_mediator.c.mediator_id.in_(ids), case_mediator.c.ended_at.is_(None), cases.c.state != CLOSED
    )
    open_counts = {
        (int(r.mediator_id), str(r.role)): int(r.n)
        for r in (
            await conn.execute(
                sa.select(case_mediator.c.mediator_id, case_mediator.c.role, sa.func.count().label("n"))
                .select_from(case_mediator.join(cases, cases.c.id == case_mediator.c.case_id))
                .where(current)
                .group_by(case_mediator.c.mediator_id, case_mediator.c.role)
            )
        ).all()
    }
    overdue_counts = {
        int(r.mediator_id): int(r.n)
        for r in (
            await conn.execute(
                sa.select(case_mediator.c.mediator_id, sa.func.count().label("n"))
                .select_from(
                    case_mediator.join(cases, cases.c.id == case_mediator.c.case_id).join(
                        deadline, deadline.c.case_id == cases.c.id
                    )
                )
                .where(current, late(now))
                .group_by(case_mediator.c.mediator_id)
            )
        ).all()
    }
    # Assigned when the case closed: the assignment began before and had not ended (the closing
    # itself may end it at the same instant).
    closed_counts = {
        int(r.mediator_id): int(r.n)
        for r in (
            await conn.execute(
                sa.select(
                    case_mediator.c.mediator_id,
                    sa.func.count(sa.distinct(case_mediator.c.case_id)).label("n"),
                )
                .select_from(case_mediator.join(cases, cases.c.id == case_mediator.c.case_id))
                .where(
                    case_mediator.c.mediator_id.in_(ids),
                    cases.c.closed_at >= month_start,
                    cases.c.closed_at < month_end,
                    case_mediator.c.assigned_at <= cases.c.closed_at,
                    sa.or_(case_mediator.c.ended_at.is_(None), case_mediator.c.ended_at >= cases.c.closed_at),
                )
                .group_by(case_mediator.c.mediator_id)
            )
        ).all()
    }
    served: dict[int, list[str]] = {}
    for mediator_id, unit_code in (
        await conn.execute(
            sa.select(mediator_unit.c.mediator_id, mediator_unit.c.unit_code)
            .where(mediator_unit.c.mediator_id.in_(ids))
            .order_by(mediator_unit.c.unit_code)
        )
    ).all():
        served.setdefault(int(mediator_id), []).append(str(unit_code))
    figures = [
        CaseloadFigures(
            mediator_id=int(p.id),
            name=str(p.name),
            employment=str(p.employment),
            active=bool(p.active),
            has_sign_in=p.user_id is not None,
            open_lead=open_counts.get((int(p.id), "lead"), 0),
            open_co=open_counts.get((int(p.id), "co"), 0),
            overdue_deadlines=overdue_counts.get(int(p.id), 0),
            closed_this_month=closed_counts.get(int(p.id), 0),
        )
        for p in people
    ]
    return figures, served
