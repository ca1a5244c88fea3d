"""Statistics by mediator: what each named mediator handled in a period (issue 18, part 6).

Definitions (the API docs, the coordinator's page and the monthly report say the same):

- A mediator *handled* a case in the period when one of their assignments to it (lead or co)
  overlapped the period: assigned before the period ended and not ended before it began. A case
  counts once per mediator, for each of its mediators (co-mediators each count it).
- Scope: an assignment counts where it was made (``case_mediator.unit_code``, the unit that held
  the case then), so a town's figures are its own and its villages' mediators' work.
- ``lead``: of those, the cases the mediator led at some time in the period.
- Outcomes as in ``service.stats.queries``: ``settled`` (an agreement stands), ``terminated`` (a
  termination reason and no agreement that stands); ``other`` is the rest (still being
  mediated, or ended another way: referred, withdrawn).
- ``closed``: handled cases closed in the period, also by the outcome recorded when each closed
  (``closed_by_outcome``: every outcome, zeros included); the days to close (median and mean, from
  registration to closing, as the overview's ``avg_days_to_close``) are over those.
- ``overdue``: handled cases with a deadline breached, or running past its due time now.

Who reads them: the coordinators (their subtree), auditors and administrators. A mediator's
figures are about a named person, so mediators and agency officers read the unit's figures
(``/stats/overview``) but not their colleagues' one by one.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.errors import Forbidden
from service.mediators.models import CaseMediator, Mediator, MediatorUnit
from service.stats.queries import (
    SUCCESS,
    TERMINATED,
    StatsQuery,
    cases,
    count_if,
    days_between,
    overdue,
    rate,
)
from service.stats.schemas import MediatorStatsRow
from workflows.lifecycle import Actor, Outcome, Role

case_mediator = CaseMediator.__table__  # type: ignore[attr-defined]
mediator = Mediator.__table__  # type: ignore[attr-defined]
mediator_unit = MediatorUnit.__table__  # type: ignore[attr-defined]

MEDIATOR_STATS_READERS = frozenset({Role.coordinator, Role.auditor, Role.admin, Role.system})


def may_read_by_mediator(actor: Actor) -> bool:
    return actor.role in MEDIATOR_STATS_READERS


def require_by_mediator_reader(actor: Actor) -> None:
    if not may_read_by_mediator(actor):
        raise Forbidden(
            "Figures by mediator are for coordinators, auditors and administrators; "
            "your unit's own figures are in /api/v1/stats/overview."
        )


def handled_pairs(q: StatsQuery) -> sa.Subquery:
    """(mediator, case) once per pair handled in the period within scope, with whether they led."""
    clauses = [
        case_mediator.c.assigned_at < q.period.end_at,
        sa.or_(case_mediator.c.ended_at.is_(None), case_mediator.c.ended_at >= q.period.start_at),
    ]
    if q.units is not None:
        clauses.append(case_mediator.c.unit_code.in_(sorted(q.units)))
    return (
        sa.select(
            case_mediator.c.mediator_id,
            case_mediator.c.case_id,
            sa.func.max(sa.case((case_mediator.c.role == "lead", 1), else_=0)).label("led"),
        )
        .where(*clauses)
        .group_by(case_mediator.c.mediator_id, case_mediator.c.case_id)
        .subquery("handled")
    )


async def by_mediator(conn: AsyncConnection, q: StatsQuery) -> list[MediatorStatsRow]:
    """One row per mediator who handled a case in the period, by name (then roster number)."""
    pairs = handled_pairs(q)
    closed_in_period = sa.and_(cases.c.closed_at >= q.period.start_at, cases.c.closed_at < q.period.end_at)
    stmt = (
        sa.select(
            pairs.c.mediator_id,
            sa.func.count().label("handled"),
            sa.func.coalesce(sa.func.sum(pairs.c.led), 0).label("lead"),
            count_if(SUCCESS).label("settled"),
            count_if(TERMINATED).label("terminated"),
            count_if(closed_in_period).label("closed"),
            *[
                count_if(sa.and_(closed_in_period, cases.c.outcome == o.value)).label(f"outcome_{o.value}")
                for o in Outcome
            ],
            count_if(overdue(q.now)).label("overdue"),
        )
        .select_from(pairs.join(cases, cases.c.id == pairs.c.case_id))
        .group_by(pairs.c.mediator_id)
    )
    rows = (await conn.execute(stmt)).mappings().all()
    if not rows:
        return []
    # Medians need every value: one row per closed case (SQLite has no percentile aggregate).
    days_stmt = (
        sa.select(
            pairs.c.mediator_id,
            days_between(cases.c.created_at, cases.c.closed_at, conn.dialect.name).label("days"),
        )
        .select_from(pairs.join(cases, cases.c.id == pairs.c.case_id))
        .where(closed_in_period)
    )
    days: dict[int, list[float]] = defaultdict(list)
    for mediator_id, value in (await conn.execute(days_stmt)).all():
        days[int(mediator_id)].append(float(value))
    units: dict[int, list[str]] = defaultdict(list)
    ids = [int(r["mediator_id"]) for r in rows]
    names = {
        int(i): str(n)
        for i, n in (
            await conn.execute(sa.select(mediator.c.id, mediator.c.name).where(mediator.c.id.in_(ids)))
        )
    }
    for mediator_id, unit_code in (
        await conn.execute(
            sa.select(mediator_unit.c.mediator_id, mediator_unit.c.unit_code)
            .where(mediator_unit.c.mediator_id.in_(ids))
            .order_by(mediator_unit.c.unit_code)
        )
    ).all():
        units[int(mediator_id)].append(str(unit_code))
    result = []
    for r in rows:
        mediator_id = int(r["mediator_id"])
        settled, terminated, handled = int(r["settled"]), int(r["terminated"]), int(r["handled"])
        spans = days.get(mediator_id, [])
        result.append(
            MediatorStatsRow(
                mediator_id=mediator_id,
                name=names.get(mediator_id, ""),
                unit_codes=units.get(mediator_id, []),
                handled=handled,
                lead=int(r["lead"]),
                settled=settled,
                terminated=terminated,
                other=handled - settled - terminated,
                success_rate=rate(settled, settled + terminated),
                closed=int(r["closed"]),
                closed_by_outcome={o.value: int(r[f"outcome_{o.value}"]) for o in Outcome},
                median_days_to_close=round(statistics.median(spans), 1) if spans else None,
                mean_days_to_close=round(statistics.fmean(spans), 1) if spans else None,
                overdue=int(r["overdue"]),
            )
        )
    return sorted(result, key=lambda row: (row.name, row.mediator_id))
