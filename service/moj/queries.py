"""The facts the MoJ report's rules read, gathered in a few statements.

- the case events of the triggers the rows count, in the window, at units within scope;
- the court delegations of those cases up to the window's end (the 委托 source), wherever made;
- the crime reports filed in the window (防止民转刑);
- the cases' type, intake source and people involved;
- stocks as they stand: people's committees in scope, active mediators by employment.

Rows whose facts live elsewhere (the screening register, major-dispute reports) add a gatherer to
``GATHERERS`` under the name their row gives as ``source``; it returns ``EventFact``s.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.cases.models import Case, CaseEvent
from service.mediators.models import Mediator, MediatorUnit
from service.reporting.models import CrimeReport
from workflows.lifecycle import Trigger
from workflows.mediators import Employment
from workflows.moj_report import CRIME_REPORT, ROWS, CaseFact, EventFact, Window
from workflows.org import Channel, OrgTree, UnitKind

events = CaseEvent.__table__  # type: ignore[attr-defined]
cases = Case.__table__  # type: ignore[attr-defined]
crime = CrimeReport.__table__  # type: ignore[attr-defined]
mediator = Mediator.__table__  # type: ignore[attr-defined]
mediator_unit = MediatorUnit.__table__  # type: ignore[attr-defined]

EVENT_TRIGGERS: frozenset[str] = frozenset(
    trigger for row in ROWS if row.source == "events" for trigger in row.triggers
)
COMMITTEE_KINDS = (
    UnitKind.village_station,
    UnitKind.town_centre,
    UnitKind.city_centre,
    UnitKind.sectoral_committee,
)

Gatherer = Callable[[AsyncConnection, frozenset[str] | None, Window], Awaitable[list[EventFact]]]


def _money(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


async def case_events(conn: AsyncConnection, units: frozenset[str] | None, window: Window) -> list[EventFact]:
    """The transitions the rows count, in the window, where the case was at a unit in scope."""
    payload = events.c.payload
    detail = sa.case(
        (events.c.trigger == Trigger.record_performance.value, payload["performance"].as_string()),
        (events.c.trigger == Trigger.close.value, payload["outcome"].as_string()),
        (events.c.trigger == Trigger.delegate.value, payload["procedure"].as_string()),
        else_=sa.null(),
    )
    amount = sa.case(
        (events.c.trigger == Trigger.settle.value, payload[("agreement", "amount_yuan")].as_string()),
        else_=sa.null(),
    )
    stmt = sa.select(
        events.c.case_id,
        events.c.at,
        events.c.trigger,
        events.c.from_unit_code,
        amount.label("amount"),
        detail.label("detail"),
    ).where(
        events.c.kind == "transition",
        events.c.trigger.in_(sorted(EVENT_TRIGGERS)),
        events.c.at >= window.start,
        events.c.at < window.end,
    )
    if units is not None:
        stmt = stmt.where(events.c.from_unit_code.in_(sorted(units)))
    return [
        EventFact(row.case_id, row.at, row.trigger, row.from_unit_code, _money(row.amount), row.detail)
        for row in await conn.execute(stmt)
    ]


async def crime_reports(
    conn: AsyncConnection, units: frozenset[str] | None, window: Window
) -> list[EventFact]:
    """Reports of a risk of crime filed in the window by a unit in scope (one per addressee: the
    rule counts each case once)."""
    stmt = sa.select(crime.c.case_id, crime.c.reported_at, crime.c.from_unit_code).where(
        crime.c.reported_at >= window.start, crime.c.reported_at < window.end
    )
    if units is not None:
        stmt = stmt.where(crime.c.from_unit_code.in_(sorted(units)))
    return [
        EventFact(r.case_id, r.reported_at, CRIME_REPORT, r.from_unit_code) for r in await conn.execute(stmt)
    ]


GATHERERS: dict[str, Gatherer] = {CRIME_REPORT: crime_reports}


async def delegations(
    conn: AsyncConnection, case_ids: Iterable[int], before: datetime
) -> dict[int, list[datetime]]:
    """When the court delegated (委托/委派) each of ``case_ids``, up to ``before``."""
    ids = sorted(set(case_ids))
    found: dict[int, list[datetime]] = {}
    for start in range(0, len(ids), 5000):
        stmt = sa.select(events.c.case_id, events.c.at).where(
            events.c.case_id.in_(ids[start : start + 5000]),
            events.c.trigger == Trigger.delegate.value,
            events.c.at < before,
        )
        for row in await conn.execute(stmt):
            found.setdefault(row.case_id, []).append(row.at)
    return found


async def case_facts(conn: AsyncConnection, case_ids: Iterable[int]) -> dict[int, CaseFact]:
    ids = sorted(set(case_ids))
    found: dict[int, CaseFact] = {}
    for start in range(0, len(ids), 5000):
        stmt = sa.select(cases.c.id, cases.c.dispute_type, cases.c.source, cases.c.people_involved).where(
            cases.c.id.in_(ids[start : start + 5000])
        )
        for row in await conn.execute(stmt):
            found[row.id] = CaseFact(row.id, row.dispute_type, row.source, int(row.people_involved or 0))
    return found


def committee_units(org: OrgTree, units: frozenset[str] | None) -> list[str]:
    """People's mediation committees and centres within scope (the 组织 rows)."""
    return sorted(
        u.code
        for u in org.of_kind(*COMMITTEE_KINDS)
        if u.channel == Channel.people and (units is None or u.code in units)
    )


async def mediators_by_employment(
    conn: AsyncConnection, unit_codes: list[str]
) -> dict[Employment, list[int]]:
    """Active mediators on the roster serving any of ``unit_codes``, each once, by 专职/兼职."""
    stmt = (
        sa.select(mediator.c.id, mediator.c.employment)
        .where(
            mediator.c.active.is_(True),
            mediator.c.id.in_(
                sa.select(mediator_unit.c.mediator_id).where(mediator_unit.c.unit_code.in_(unit_codes))
            ),
        )
        .order_by(mediator.c.id)
    )
    found: dict[Employment, list[int]] = {e: [] for e in Employment}
    for row in await conn.execute(stmt):
        if row.employment in Employment.__members__:
            found[Employment(row.employment)].append(int(row.id))
    return found
