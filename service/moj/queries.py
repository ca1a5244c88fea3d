"""The facts the MoJ report's rules read, counted in SQL.

``first_events`` is step 1 of every row (see ``workflows.moj_report``) as one statement: per case,
the first event of the row's basis in the window at a unit of its channel within scope (a window
function over the events the index finds), joined to the case for its type, its people and its
source as the window sees it (court once a delegation happened before the window's end). Then
either grouped (``counted``: a few hundred groups however many cases; the report) or case by
case (``counted(case_ids=True)``: the filings; ``cell_page``: one cell's cases a page at a time).

Where the events come from is a ``SQL_SOURCES`` entry: the case transitions; the cases screening
rounds registered (发现纠纷) and the reported risks handled (防止民转刑, 防止自杀, 防止群体性械斗),
both the very statements of ``service.screening.figures`` so the register's figures and the
report's cells are one definition. A source not (yet) in SQL may add a gatherer to ``GATHERERS``
under the name its row gives as ``source``; it returns ``EventFact``s, which
``workflows.moj_report.Evaluation`` selects from in Python. ``people_units``: the units whose
rounds the register rows (排查次数, 零报告, 预防纠纷) count. Stocks as they stand: people's committees in scope, active mediators by employment.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.cases.models import Case, CaseEvent
from service.mediators.models import Mediator, MediatorUnit
from service.screening.figures import found_facts, prevented_facts
from workflows.lifecycle import Trigger
from workflows.mediators import Employment
from workflows.moj_report import (
    PREVENTED,
    PREVENTION,
    SCREENING,
    SCREENING_FOUND,
    Basis,
    CaseFact,
    Counted,
    Dimension,
    EventFact,
    Window,
)
from workflows.org import Channel, OrgTree, UnitKind
from workflows.vocab import Source

events = CaseEvent.__table__  # type: ignore[attr-defined]
cases = Case.__table__  # type: ignore[attr-defined]
mediator = Mediator.__table__  # type: ignore[attr-defined]
mediator_unit = MediatorUnit.__table__  # type: ignore[attr-defined]

COMMITTEE_KINDS = (
    UnitKind.village_station,
    UnitKind.town_centre,
    UnitKind.city_centre,
    UnitKind.sectoral_committee,
)

Gatherer = Callable[[AsyncConnection, frozenset[str] | None, Window], Awaitable[list[EventFact]]]


# Sources whose facts are gathered in Python (none today: every row's source is in SQL_SOURCES).
GATHERERS: dict[str, Gatherer] = {}


# --- step 1 in SQL -----------------------------------------------------------------------------

# The event source of a basis: a selectable with case_id, at, trigger, unit_code, detail and
# amount_fen, already narrowed to the basis's triggers, the window and the units given.
# ``amounts``: whether amount_fen is wanted (reading it reads the event's payload); NULL otherwise.
SqlSource = Callable[[frozenset[str], Window, Sequence[str], bool], sa.Subquery]

TRANSITION: sa.ColumnClause[str] = sa.literal_column(
    "'transition'"
)  # literal: the partial indexes' predicates match
DELEGATE: sa.ColumnClause[str] = sa.literal_column("'delegate'")


def _fen(text: sa.ColumnElement[str]) -> sa.ColumnElement[int]:
    """An amount in yuan (JSON text or number) as whole fen, rounded the same on both databases."""
    return sa.cast(sa.func.round(sa.cast(text, sa.Numeric) * 100), sa.BigInteger)


def _transitions(
    triggers: frozenset[str], window: Window, unit_codes: Sequence[str], amounts: bool
) -> sa.Subquery:
    payload = events.c.payload
    detail = sa.case(
        (events.c.trigger == Trigger.record_performance.value, payload["performance"].as_string()),
        (events.c.trigger == Trigger.close.value, payload["outcome"].as_string()),
        (events.c.trigger == Trigger.delegate.value, payload["procedure"].as_string()),
        else_=sa.null(),
    )
    amount = (
        sa.case(
            (
                events.c.trigger == Trigger.settle.value,
                _fen(payload[("agreement", "amount_yuan")].as_string()),
            ),
            else_=sa.null(),
        )
        if amounts
        else sa.cast(sa.null(), sa.BigInteger)
    )
    return (
        sa.select(
            events.c.case_id,
            events.c.at,
            events.c.trigger,
            events.c.from_unit_code.label("unit_code"),
            detail.label("detail"),
            amount.label("amount_fen"),
        )
        .where(
            events.c.kind == TRANSITION,
            events.c.trigger.in_(sorted(triggers)),
            events.c.at >= window.start,
            events.c.at < window.end,
            events.c.from_unit_code.in_(list(unit_codes)),
        )
        .subquery("facts")
    )


def _as_facts(found: sa.Select[Any] | sa.CompoundSelect, trigger: str) -> sa.Select[Any]:
    """A (case_id, at, unit_code) statement as event facts of ``trigger``."""
    inner = found.subquery()
    return sa.select(
        inner.c.case_id,
        inner.c.at,
        sa.cast(sa.literal(trigger), sa.String).label("trigger"),
        inner.c.unit_code,
        sa.cast(sa.null(), sa.String).label("detail"),
        sa.cast(sa.null(), sa.BigInteger).label("amount_fen"),
    )


def _screening_found(
    triggers: frozenset[str], window: Window, unit_codes: Sequence[str], amounts: bool
) -> sa.Subquery:
    """发现纠纷: the cases the rounds of the units registered, when the round was held
    (``service.screening.figures.found_facts``, the register's own figure)."""
    return _as_facts(found_facts(window.start, window.end, unit_codes), SCREENING_FOUND).subquery("facts")


def _prevented(
    triggers: frozenset[str], window: Window, unit_codes: Sequence[str], amounts: bool
) -> sa.Subquery:
    """防止民转刑 / 自杀 / 群体性械斗: the reported risks of the units handled in the window
    (``service.screening.figures.prevented_facts``, the register's own figures)."""
    parts = [
        _as_facts(prevented_facts(risk, window.start, window.end, unit_codes), trigger)
        for risk, trigger in sorted(PREVENTED.items())
        if trigger in triggers
    ]
    return (parts[0] if len(parts) == 1 else sa.union_all(*parts)).subquery("facts")


SQL_SOURCES: dict[str, SqlSource] = {
    "events": _transitions,
    SCREENING: _screening_found,
    PREVENTION: _prevented,
}


def channel_units(org: OrgTree, basis: Basis, units: frozenset[str] | None) -> list[str]:
    """The units whose events a basis counts: of its channel, within scope."""
    return sorted(u.code for u in org if u.channel == basis.channel and (units is None or u.code in units))


def first_events(
    basis: Basis,
    window: Window,
    unit_codes: Sequence[str],
    *,
    with_case: bool,
    with_amount: bool = False,
    narrow: tuple[Dimension, frozenset[str]] | None = None,
    after: int | None = None,
) -> sa.Subquery:
    """Per case, its first event of ``basis`` in ``window`` (by time, then trigger) at one of
    ``unit_codes``: case_id, unit_code, amount_fen (NULL unless ``with_amount``), and with
    ``with_case`` the case's
    dispute_type, people and source as the window sees it ('' and 0 without). ``narrow`` keeps
    the first events of one breakdown (``workflows.moj_report.dimension_filter``); ``after`` the
    cases after that id (a case's first event does not depend on other cases)."""
    facts = SQL_SOURCES[basis.source](basis.triggers, window, unit_codes, with_amount)
    ranked = sa.select(
        facts.c.case_id,
        facts.c.unit_code,
        facts.c.amount_fen,
        sa.func.row_number()
        .over(partition_by=facts.c.case_id, order_by=(facts.c.at, facts.c.trigger))
        .label("rank"),
    )
    if basis.details:
        ranked = ranked.where(facts.c.detail.in_(sorted(basis.details)))
    if after is not None:
        ranked = ranked.where(facts.c.case_id > after)
    first = ranked.subquery("ranked")
    if not with_case:
        stmt = sa.select(
            first.c.case_id,
            first.c.unit_code,
            first.c.amount_fen,
            sa.cast(sa.literal(""), sa.String).label("dispute_type"),
            sa.cast(sa.literal(0), sa.Integer).label("people"),
            sa.cast(sa.literal(""), sa.String).label("source"),
        ).where(first.c.rank == 1)
    else:
        # Every case delegated before the window's end, hashed once (not probed case by case).
        later = events.alias("delegation")
        delegated = first.c.case_id.in_(
            sa.select(later.c.case_id).where(later.c.trigger == DELEGATE, later.c.at < window.end)
        )
        court = Source.court.value
        seen = sa.case((sa.or_(cases.c.source == court, delegated), court), else_=cases.c.source)
        stmt = (
            sa.select(
                first.c.case_id,
                first.c.unit_code,
                first.c.amount_fen,
                cases.c.dispute_type,
                sa.func.coalesce(cases.c.people_involved, 0).label("people"),
                seen.label("source"),
            )
            .join_from(first, cases, cases.c.id == first.c.case_id)
            .where(first.c.rank == 1)
        )
    inner = stmt.subquery("first")
    if narrow is None:
        return inner
    dimension, raw = narrow
    column = {
        Dimension.org_type: inner.c.unit_code,
        Dimension.dispute_type: inner.c.dispute_type,
        Dimension.source: inner.c.source,
    }[dimension]
    return sa.select(inner).where(column.in_(sorted(raw))).subquery("narrowed")


async def counted(
    conn: AsyncConnection,
    basis: Basis,
    window: Window,
    unit_codes: Sequence[str],
    *,
    with_case: bool,
    with_amount: bool,
    case_ids: bool,
) -> list[Counted]:
    """The basis's first events, grouped by what the rows tell apart (unit, type, source), or one
    by one with their case ids."""
    if not unit_codes:
        return []
    first = first_events(basis, window, unit_codes, with_case=with_case, with_amount=with_amount)
    if case_ids:
        stmt = sa.select(first).order_by(first.c.case_id)
        return [
            Counted(
                r.unit_code, r.dispute_type, r.source, 1, int(r.people), int(r.amount_fen or 0), (r.case_id,)
            )
            for r in await conn.execute(stmt)
        ]
    keys = (first.c.unit_code, first.c.dispute_type, first.c.source)
    grouped = sa.select(
        *keys,
        sa.func.count().label("cases"),
        sa.func.coalesce(sa.func.sum(first.c.people), 0).label("people"),
        sa.func.coalesce(sa.func.sum(first.c.amount_fen), 0).label("amount_fen"),
    ).group_by(*keys)
    return [
        Counted(r.unit_code, r.dispute_type, r.source, int(r.cases), int(r.people), int(r.amount_fen))
        for r in await conn.execute(grouped)
    ]


async def cell_page(
    conn: AsyncConnection,
    basis: Basis,
    window: Window,
    unit_codes: Sequence[str],
    narrow: tuple[Dimension, frozenset[str]] | None,
    *,
    after: int | None,
    limit: int,
) -> list[int]:
    """The ids of up to ``limit`` cases behind one cell after ``after``, ascending."""
    if not unit_codes:
        return []
    first = first_events(
        basis,
        window,
        unit_codes,
        with_case=narrow is not None and narrow[0] != Dimension.org_type,
        narrow=narrow,
        after=after,
    )
    stmt = sa.select(first.c.case_id).order_by(first.c.case_id).limit(limit)
    return [int(r.case_id) for r in await conn.execute(stmt)]


# --- facts for gatherers not (yet) in SQL ----------------------------------------------------------


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


def people_units(org: OrgTree, units: frozenset[str] | None) -> list[str]:
    """The people's mediation units within scope: whose screening rounds the report counts."""
    return sorted(u.code for u in org if u.channel == Channel.people and (units is None or u.code in units))


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
