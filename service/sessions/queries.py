"""Reads and writes of session records: typed rows, no rules (those are in ``service``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.mediators.models import CaseMediator, Mediator
from service.sessions.models import MediationSession

session_table = MediationSession.__table__  # type: ignore[attr-defined]
case_mediator = CaseMediator.__table__  # type: ignore[attr-defined]
mediator = Mediator.__table__  # type: ignore[attr-defined]

# The columns a record is made of (what a correction may change, and what it compares).
RECORD_COLUMNS = (
    "started_at",
    "ended_at",
    "place",
    "party_ids",
    "agents",
    "mediator_ids",
    "others",
    "statements",
    "proposal",
    "result",
    "adjourned_to",
    "notes",
)


@dataclass(frozen=True)
class SessionRow:
    id: int
    case_id: int
    number: int
    started_at: datetime
    ended_at: datetime | None
    place: str
    party_ids: list[int]
    agents: list[dict[str, Any]]
    mediator_ids: list[int]
    others: list[dict[str, Any]]
    statements: list[dict[str, Any]]
    proposal: str | None
    result: str
    adjourned_to: date | None
    notes: str | None
    recorded_at: datetime
    recorded_by: str
    corrected_at: datetime | None
    corrected_by: str | None
    version: int

    def record(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in RECORD_COLUMNS}


@dataclass(frozen=True)
class CaseMediatorRow:
    mediator_id: int
    name: str
    current: bool  # assigned now (``ended_at`` NULL)


def _row(r: Any) -> SessionRow:
    return SessionRow(
        id=int(r.id),
        case_id=int(r.case_id),
        number=int(r.number),
        started_at=r.started_at,
        ended_at=r.ended_at,
        place=r.place,
        party_ids=[int(i) for i in r.party_ids or []],
        agents=list(r.agents or []),
        mediator_ids=[int(i) for i in r.mediator_ids or []],
        others=list(r.others or []),
        statements=list(r.statements or []),
        proposal=r.proposal,
        result=r.result,
        adjourned_to=r.adjourned_to,
        notes=r.notes,
        recorded_at=r.recorded_at,
        recorded_by=r.recorded_by,
        corrected_at=r.corrected_at,
        corrected_by=r.corrected_by,
        version=int(r.version),
    )


async def sessions_of(conn: AsyncConnection, case_id: int) -> list[SessionRow]:
    rows = await conn.execute(
        sa.select(session_table)
        .where(session_table.c.case_id == case_id)
        .order_by(session_table.c.started_at, session_table.c.number)
    )
    return [_row(r) for r in rows]


async def find_session(conn: AsyncConnection, case_id: int, session_id: int) -> SessionRow | None:
    row = (
        await conn.execute(
            sa.select(session_table).where(
                session_table.c.case_id == case_id, session_table.c.id == session_id
            )
        )
    ).first()
    return None if row is None else _row(row)


async def next_number(conn: AsyncConnection, case_id: int) -> int:
    found = (
        await conn.execute(
            sa.select(sa.func.coalesce(sa.func.max(session_table.c.number), 0)).where(
                session_table.c.case_id == case_id
            )
        )
    ).scalar_one()
    return int(found) + 1


async def case_mediators(conn: AsyncConnection, case_id: int) -> list[CaseMediatorRow]:
    """Everyone who is or was assigned to the case, current ones first, by name."""
    rows = await conn.execute(
        sa.select(
            mediator.c.id,
            mediator.c.name,
            sa.func.max(sa.case((case_mediator.c.ended_at.is_(None), 1), else_=0)).label("current"),
        )
        .select_from(case_mediator.join(mediator, mediator.c.id == case_mediator.c.mediator_id))
        .where(case_mediator.c.case_id == case_id)
        .group_by(mediator.c.id, mediator.c.name)
    )
    found = [CaseMediatorRow(int(r.id), r.name, bool(r.current)) for r in rows]
    return sorted(found, key=lambda m: (not m.current, m.name, m.mediator_id))


async def insert_session(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(sa.insert(session_table).values(**values))


async def update_session(
    conn: AsyncConnection, session_id: int, version: int, values: dict[str, Any]
) -> bool:
    """Rewrite the record if it is still at ``version``; whether it was."""
    result = await conn.execute(
        sa.update(session_table)
        .where(session_table.c.id == session_id, session_table.c.version == version)
        .values(**values, version=version + 1)
    )
    return bool(result.rowcount)


async def anonymise_case(conn: AsyncConnection, case_id: int, placeholder: str) -> None:
    """A case's session records keep when, where, who of the case attended (by id) and the result;
    what was said and the names of agents and others go (PIPL retention)."""
    for s in await sessions_of(conn, case_id):
        await conn.execute(
            sa.update(session_table)
            .where(session_table.c.id == s.id)
            .values(
                agents=[{**a, "name": placeholder} for a in s.agents],
                others=[{**o, "name": placeholder} for o in s.others],
                statements=[{**t, "text": placeholder} for t in s.statements],
                proposal=None,
                notes=None,
            )
        )
