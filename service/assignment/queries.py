"""Reads and writes of who handles a case: typed rows, no rules (those are in ``service``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.cases.models import Case, Party
from service.mediators.models import CaseMediator, Mediator, MediatorDecision, MediatorUnit
from service.users.models import User
from workflows.lifecycle import CaseState
from workflows.mediators import BARRING_DECISIONS, BARRING_ENDS, AssignmentEnd, AssignmentRole

case_mediator = CaseMediator.__table__  # type: ignore[attr-defined]
mediator = Mediator.__table__  # type: ignore[attr-defined]
mediator_unit = MediatorUnit.__table__  # type: ignore[attr-defined]
decision = MediatorDecision.__table__  # type: ignore[attr-defined]
users = User.__table__  # type: ignore[attr-defined]
party = Party.__table__  # type: ignore[attr-defined]
cases = Case.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RosterRow:
    id: int
    name: str
    active: bool
    username: str | None  # their sign-in, if they have one
    specialties: tuple[str, ...]
    languages: tuple[str, ...]
    indexes: frozenset[str]  # blind indexes of their id number and phone
    serves_unit: bool  # on the roster of the unit asked about


@dataclass(frozen=True)
class AssignmentRow:
    id: int
    mediator_id: int
    mediator_name: str
    mediator_active: bool
    username: str | None
    role: AssignmentRole
    unit_code: str
    assigned_at: datetime
    assigned_by: str
    reason: str | None
    ended_at: datetime | None
    ended_by: str | None
    end: AssignmentEnd | None
    end_reason: str | None


@dataclass(frozen=True)
class DecisionRow:
    id: int
    mediator_id: int
    mediator_name: str
    kind: str
    party_id: int | None
    party_name: str | None
    ground: str | None
    note: str | None
    recorded_at: datetime
    recorded_by: str


@dataclass(frozen=True)
class NeedsRow:
    case_id: int
    number: str
    unit_code: str
    state: str
    lead_mediator_id: int | None
    lead_name: str | None


def _roster_columns(unit_code: str) -> list[Any]:
    on_roster = mediator_unit.alias("on_roster")
    serves = sa.exists().where(on_roster.c.mediator_id == mediator.c.id, on_roster.c.unit_code == unit_code)
    return [
        mediator.c.id,
        mediator.c.name,
        mediator.c.active,
        users.c.username,
        mediator.c.specialties,
        mediator.c.languages,
        mediator.c.id_number_index,
        mediator.c.phone_index,
        serves.label("serves_unit"),
    ]


def _roster_row(r: Any) -> RosterRow:
    return RosterRow(
        id=int(r.id),
        name=r.name,
        active=bool(r.active),
        username=r.username,
        specialties=tuple(r.specialties or ()),
        languages=tuple(r.languages or ()),
        indexes=frozenset(i for i in (r.id_number_index, r.phone_index) if i),
        serves_unit=bool(r.serves_unit),
    )


def _with_user() -> Any:
    return mediator.outerjoin(users, users.c.id == mediator.c.user_id)


async def roster_of(conn: AsyncConnection, unit_code: str) -> list[RosterRow]:
    """The active mediators who serve ``unit_code``, by name."""
    rows = await conn.execute(
        sa.select(*_roster_columns(unit_code))
        .select_from(_with_user().join(mediator_unit, mediator_unit.c.mediator_id == mediator.c.id))
        .where(mediator_unit.c.unit_code == unit_code, mediator.c.active.is_(True))
        .order_by(mediator.c.name, mediator.c.id)
    )
    return [_roster_row(r) for r in rows]


async def find_mediator(conn: AsyncConnection, mediator_id: int, unit_code: str) -> RosterRow | None:
    row = (
        await conn.execute(
            sa.select(*_roster_columns(unit_code))
            .select_from(_with_user())
            .where(mediator.c.id == mediator_id)
        )
    ).first()
    return None if row is None else _roster_row(row)


async def assignments(conn: AsyncConnection, case_id: int) -> list[AssignmentRow]:
    """Every assignment on the case, oldest first."""
    rows = await conn.execute(
        sa.select(
            case_mediator,
            mediator.c.name.label("mediator_name"),
            mediator.c.active.label("mediator_active"),
            users.c.username,
        )
        .select_from(case_mediator.join(_with_user(), mediator.c.id == case_mediator.c.mediator_id))
        .where(case_mediator.c.case_id == case_id)
        .order_by(case_mediator.c.assigned_at, case_mediator.c.id)
    )
    return [
        AssignmentRow(
            id=int(r.id),
            mediator_id=int(r.mediator_id),
            mediator_name=r.mediator_name,
            mediator_active=bool(r.mediator_active),
            username=r.username,
            role=AssignmentRole(r.role),
            unit_code=r.unit_code,
            assigned_at=r.assigned_at,
            assigned_by=r.assigned_by,
            reason=r.reason,
            ended_at=r.ended_at,
            ended_by=r.ended_by,
            end=None if r.end is None else AssignmentEnd(r.end),
            end_reason=r.end_reason,
        )
        for r in rows
    ]


async def decisions(conn: AsyncConnection, case_id: int) -> list[DecisionRow]:
    rows = await conn.execute(
        sa.select(decision, mediator.c.name.label("mediator_name"), party.c.name.label("party_name"))
        .select_from(
            decision.join(mediator, mediator.c.id == decision.c.mediator_id).outerjoin(
                party, party.c.id == decision.c.party_id
            )
        )
        .where(decision.c.case_id == case_id)
        .order_by(decision.c.recorded_at, decision.c.id)
    )
    return [
        DecisionRow(
            id=int(r.id),
            mediator_id=int(r.mediator_id),
            mediator_name=r.mediator_name,
            kind=r.kind,
            party_id=r.party_id,
            party_name=r.party_name,
            ground=r.ground,
            note=r.note,
            recorded_at=r.recorded_at,
            recorded_by=r.recorded_by,
        )
        for r in rows
    ]


def barred_of(rows: Sequence[AssignmentRow], decided: Sequence[DecisionRow]) -> frozenset[int]:
    """The mediators a refusal or a withdrawal bars from the case for good."""
    return frozenset(
        [a.mediator_id for a in rows if a.end in BARRING_ENDS]
        + [d.mediator_id for d in decided if d.kind in {k.value for k in BARRING_DECISIONS}]
    )


async def loads(conn: AsyncConnection, mediator_ids: Sequence[int]) -> dict[int, int]:
    """Current assignments per mediator (assignments end when their case closes or leaves)."""
    if not mediator_ids:
        return {}
    rows = await conn.execute(
        sa.select(case_mediator.c.mediator_id, sa.func.count())
        .where(case_mediator.c.mediator_id.in_(list(mediator_ids)), case_mediator.c.ended_at.is_(None))
        .group_by(case_mediator.c.mediator_id)
    )
    return {int(m): int(n) for m, n in rows.all()}


async def party_indexes(conn: AsyncConnection, case_id: int) -> frozenset[str]:
    rows = await conn.execute(
        sa.select(party.c.id_number_index, party.c.phone_index).where(party.c.case_id == case_id)
    )
    return frozenset(i for r in rows for i in (r.id_number_index, r.phone_index) if i)


async def insert_assignment(
    conn: AsyncConnection,
    *,
    case_id: int,
    mediator_id: int,
    role: AssignmentRole,
    unit_code: str,
    at: datetime,
    by: str,
    reason: str | None,
) -> None:
    await conn.execute(
        sa.insert(case_mediator).values(
            case_id=case_id,
            mediator_id=mediator_id,
            role=role.value,
            unit_code=unit_code,
            assigned_at=at,
            assigned_by=by,
            reason=reason,
        )
    )


async def end_assignment(
    conn: AsyncConnection,
    assignment_id: int,
    *,
    end: AssignmentEnd,
    at: datetime,
    by: str,
    reason: str | None,
) -> None:
    await conn.execute(
        sa.update(case_mediator)
        .where(case_mediator.c.id == assignment_id, case_mediator.c.ended_at.is_(None))
        .values(ended_at=at, ended_by=by, end=end.value, end_reason=reason)
    )


async def insert_decision(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(sa.insert(decision).values(values))


async def needing_reassignment(conn: AsyncConnection, unit_codes: frozenset[str] | None) -> list[NeedsRow]:
    """Open cases in ``unit_codes`` (None: everywhere) whose current lead is deactivated, and cases
    in mediation with no lead at all; by case number."""
    lead = case_mediator.alias("lead")
    lead_mediator = mediator.alias("lead_mediator")
    joined = cases.outerjoin(
        lead,
        sa.and_(
            lead.c.case_id == cases.c.id,
            lead.c.ended_at.is_(None),
            lead.c.role == AssignmentRole.lead.value,
        ),
    ).outerjoin(lead_mediator, lead_mediator.c.id == lead.c.mediator_id)
    stmt = (
        sa.select(
            cases.c.id,
            cases.c.number,
            cases.c.unit_code,
            cases.c.state,
            lead.c.mediator_id,
            lead_mediator.c.name,
        )
        .select_from(joined)
        .where(
            cases.c.state != CaseState.closed,
            sa.or_(
                lead_mediator.c.active.is_(False),
                sa.and_(lead.c.id.is_(None), cases.c.state == CaseState.mediating),
            ),
        )
        .order_by(cases.c.number)
        .limit(500)
    )
    if unit_codes is not None:
        stmt = stmt.where(cases.c.unit_code.in_(sorted(unit_codes)))
    return [
        NeedsRow(
            case_id=int(r.id),
            number=r.number,
            unit_code=r.unit_code,
            state=str(r.state),
            lead_mediator_id=None if r.mediator_id is None else int(r.mediator_id),
            lead_name=r.name,
        )
        for r in await conn.execute(stmt)
    ]
