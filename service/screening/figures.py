"""The screening and prevention rows of the Ministry of Justice report (人民调解工作统计报表),
counted in SQL over the register and the major-dispute reports, each with the ids behind it
for drill-down. The definitions are in words in docs/screening.md ("The figures"); they are
local practice, stated so a filed month can be checked against them.

These statements are the *one* definition of each figure: the MoJ report (``service.moj``) reads
the case facts (``found_facts``, ``prevented_facts``) as its rows' event sources and the round
figures through ``screening_figures``, so the register's own figures and the report's cells
cannot disagree.

``units``: the units whose rows count (None: all); ``start``/``end``: the period, end exclusive.

Screening (by the round's unit and when it was held):
  rounds              排查次数: rounds recorded, zero reports included
  disputes_found      发现纠纷: cases the rounds registered (source 主动排查)
  disputes_prevented  预防纠纷: disputes resolved on the spot, as the rounds counted them
  zero_reports        零报告: rounds that found nothing
Prevention (by the reporting unit, at the moment the risk counts as handled): a case counts once
per row when a report of that risk (a major-dispute report; for 防止民转刑 also a crime-risk
report of the duty to report) was acknowledged and the case closed — it counts when the later of
the two happened — and nobody had recorded by then that the feared event happened
(``workflows.screening.prevented_at``). Nothing after that moment changes the period it counts in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.cases.queries import cases
from service.reporting.queries import crime_report
from service.screening.queries import major, round_cases, rounds
from workflows.screening import PREVENTION_ROWS, MajorRisk

SCREENING_KEYS = ("rounds", "disputes_found", "disputes_prevented", "zero_reports")

# Which rounds stand behind each round figure (the drill-down lists them).
ROUND_FILTERS: dict[str, sa.ColumnElement[bool]] = {
    "rounds": sa.true(),
    "zero_reports": rounds.c.nothing_found.is_(True),
    "disputes_prevented": rounds.c.disputes_prevented > 0,
}


def _codes(units: frozenset[str] | Sequence[str] | None) -> list[str] | None:
    return None if units is None else sorted(units)


def _rounds_in(units: Sequence[str] | None, start: datetime, end: datetime) -> list[sa.ColumnElement[bool]]:
    where = [rounds.c.held_at >= start, rounds.c.held_at < end]
    if units is not None:
        where.append(rounds.c.unit_code.in_(list(units)))
    return where


def found_facts(start: datetime, end: datetime, units: Sequence[str] | None) -> sa.Select[Any]:
    """发现纠纷 as facts: each case a round of ``units`` held in [start, end) registered, with the
    round's time (``at``) and unit (``unit_code``)."""
    return (
        sa.select(
            round_cases.c.case_id,
            rounds.c.held_at.label("at"),
            rounds.c.unit_code.label("unit_code"),
        )
        .join_from(round_cases, rounds, rounds.c.id == round_cases.c.round_id)
        .where(*_rounds_in(units, start, end))
    )


def _handled(closed: sa.ColumnElement[Any], acknowledged: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """The moment a reported risk counts as handled: the later of the case's closing and the
    report's acknowledgement (``workflows.screening.prevented_at``)."""
    return sa.case((closed > acknowledged, closed), else_=acknowledged)


def _not_happened(risk: MajorRisk, case_id: sa.ColumnElement[Any], moment: sa.ColumnElement[Any]) -> Any:
    """Nobody recorded, by ``moment``, on any major report of the case naming ``risk``, that the
    feared event happened."""
    other = major.alias("happened")
    return ~sa.exists().where(
        other.c.case_id == case_id,
        other.c[f"risk_{risk.value}"].is_(True),
        other.c.occurred_at <= moment,
    )


def prevented_facts(
    risk: MajorRisk, start: datetime, end: datetime, units: Sequence[str] | None
) -> sa.Select[Any] | sa.CompoundSelect:
    """A prevention row as facts: per acknowledged report of ``risk`` filed by one of ``units``
    whose case is closed, the moment it counts (``at``, in [start, end)) and the reporting unit
    (``unit_code``); for 民转刑 also the acknowledged crime-risk reports. A case may appear more
    than once (several reports): the counts take each case once."""
    parts: list[sa.Select[Any]] = []
    for table, risky in (
        (major, major.c[f"risk_{risk.value}"].is_(True)),
        *(((crime_report, sa.true()),) if risk == MajorRisk.crime else ()),
    ):
        moment = _handled(cases.c.closed_at, table.c.acknowledged_at)
        query = (
            sa.select(table.c.case_id, moment.label("at"), table.c.from_unit_code.label("unit_code"))
            .join_from(table, cases, cases.c.id == table.c.case_id)
            .where(
                risky,
                table.c.acknowledged_at.is_not(None),
                cases.c.closed_at.is_not(None),
                moment >= start,
                moment < end,
                _not_happened(risk, table.c.case_id, moment),
            )
        )
        if units is not None:
            query = query.where(table.c.from_unit_code.in_(list(units)))
        parts.append(query)
    return parts[0] if len(parts) == 1 else sa.union_all(*parts)


async def screening_figures(
    conn: AsyncConnection, units: frozenset[str] | Sequence[str] | None, start: datetime, end: datetime
) -> dict[str, int]:
    """排查次数, 发现纠纷, 预防纠纷 and 零报告 of ``units`` in [start, end): one statement."""
    codes = _codes(units)
    found = found_facts(start, end, codes).subquery()
    counted = (
        await conn.execute(
            sa.select(
                sa.func.count().label("rounds"),
                sa.select(sa.func.count(sa.distinct(found.c.case_id)))
                .correlate(None)
                .scalar_subquery()
                .label("disputes_found"),
                sa.func.coalesce(sa.func.sum(rounds.c.disputes_prevented), 0).label("disputes_prevented"),
                sa.func.count().filter(ROUND_FILTERS["zero_reports"]).label("zero_reports"),
            ).where(*_rounds_in(codes, start, end))
        )
    ).one()
    return {k: int(counted._mapping[k]) for k in SCREENING_KEYS}


@dataclass(frozen=True, slots=True)
class RoundBehind:
    """A round behind a round figure (the drill-down of 排查次数, 零报告, 预防纠纷)."""

    id: int
    unit_code: str
    held_at: datetime
    nothing_found: bool
    disputes_prevented: int


async def rounds_behind(
    conn: AsyncConnection,
    key: str,
    units: frozenset[str] | Sequence[str] | None,
    start: datetime,
    end: datetime,
    *,
    after: int | None = None,
    limit: int | None = None,
) -> list[RoundBehind]:
    """The rounds behind the round figure ``key`` (rounds, zero_reports, disputes_prevented), by id."""
    stmt = (
        sa.select(
            rounds.c.id,
            rounds.c.unit_code,
            rounds.c.held_at,
            rounds.c.nothing_found,
            rounds.c.disputes_prevented,
        )
        .where(ROUND_FILTERS[key], *_rounds_in(_codes(units), start, end))
        .order_by(rounds.c.id)
    )
    if after is not None:
        stmt = stmt.where(rounds.c.id > after)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [
        RoundBehind(int(r.id), r.unit_code, r.held_at, bool(r.nothing_found), int(r.disputes_prevented))
        for r in await conn.execute(stmt)
    ]


async def screening_figure_ids(
    conn: AsyncConnection, units: frozenset[str] | None, start: datetime, end: datetime
) -> dict[str, list[int]]:
    """What stands behind each screening figure: round ids (rounds, disputes_prevented — the
    rounds that prevented any — and zero_reports) and the case ids of disputes_found."""
    result = {key: [r.id for r in await rounds_behind(conn, key, units, start, end)] for key in ROUND_FILTERS}
    found = found_facts(start, end, _codes(units)).subquery()
    ids = await conn.execute(sa.select(found.c.case_id).distinct().order_by(found.c.case_id))
    return {key: result[key] if key != "disputes_found" else list(ids.scalars()) for key in SCREENING_KEYS}


async def prevention_figures(
    conn: AsyncConnection, units: frozenset[str] | None, start: datetime, end: datetime
) -> dict[str, int]:
    """防止自杀, 防止群体性械斗, 防止民转刑 and 防止群体性事件 of ``units`` in [start, end): one statement."""
    counts = []
    for key, risk in PREVENTION_ROWS.items():
        facts = prevented_facts(risk, start, end, _codes(units)).subquery()
        counts.append(sa.select(sa.func.count(sa.distinct(facts.c.case_id))).scalar_subquery().label(key))
    found = (await conn.execute(sa.select(*counts))).one()
    return {key: int(found._mapping[key]) for key in PREVENTION_ROWS}


async def prevention_figure_ids(
    conn: AsyncConnection, units: frozenset[str] | None, start: datetime, end: datetime
) -> dict[str, list[int]]:
    """The case ids behind each prevention figure."""
    result: dict[str, list[int]] = {}
    for key, risk in PREVENTION_ROWS.items():
        facts = prevented_facts(risk, start, end, _codes(units)).subquery()
        found = await conn.execute(sa.select(facts.c.case_id).distinct().order_by(facts.c.case_id))
        result[key] = list(found.scalars())
    return result
