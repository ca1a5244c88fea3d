"""The screening and prevention rows of the Ministry of Justice report (人民调解工作统计报表),
counted in SQL over the register and the major-dispute reports, each with the ids behind it
for drill-down. The definitions are in words in docs/screening.md ("The figures"); they are
local practice, stated so a filed month can be checked against them.

``units``: the units whose rows count (None: all); ``start``/``end``: the period, end exclusive.

Screening (by the round's unit and when it was held):
  rounds              排查次数: rounds recorded, zero reports included
  disputes_found      发现纠纷: cases the rounds registered (source 主动排查)
  disputes_prevented  预防纠纷: disputes resolved on the spot, as the rounds counted them
  zero_reports        零报告: rounds that found nothing
Prevention (by the reporting unit and when the case closed): a case counts once per row when
it had a major-dispute report of that risk that was acknowledged, nobody recorded that the feared
event happened, and the case closed in the period; 防止民转刑 also counts acknowledged crime-risk
reports (the duty to report, service/reporting).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.cases.queries import cases
from service.reporting.queries import crime_report
from service.screening.queries import major, round_cases, rounds
from workflows.screening import PREVENTION_ROWS

SCREENING_KEYS = ("rounds", "disputes_found", "disputes_prevented", "zero_reports")


def _rounds_in(units: frozenset[str] | None, start: datetime, end: datetime) -> list[sa.ColumnElement[bool]]:
    where = [rounds.c.held_at >= start, rounds.c.held_at < end]
    if units is not None:
        where.append(rounds.c.unit_code.in_(sorted(units)))
    return where


async def screening_figures(
    conn: AsyncConnection, units: frozenset[str] | None, start: datetime, end: datetime
) -> dict[str, int]:
    """排查次数, 发现纠纷, 预防纠纷 and 零报告 of ``units`` in [start, end): one statement."""
    found = (
        await conn.execute(
            sa.select(
                sa.func.count().label("rounds"),
                sa.func.coalesce(sa.func.sum(rounds.c.disputes_found), 0).label("disputes_found"),
                sa.func.coalesce(sa.func.sum(rounds.c.disputes_prevented), 0).label("disputes_prevented"),
                sa.func.count().filter(rounds.c.nothing_found).label("zero_reports"),
            ).where(*_rounds_in(units, start, end))
        )
    ).one()
    return {k: int(found._mapping[k]) for k in SCREENING_KEYS}


async def screening_figure_ids(
    conn: AsyncConnection, units: frozenset[str] | None, start: datetime, end: datetime
) -> dict[str, list[int]]:
    """What stands behind each screening figure: round ids (rounds, disputes_prevented — the
    rounds that prevented any — and zero_reports) and the case ids of disputes_found."""
    listed = (
        await conn.execute(
            sa.select(rounds.c.id, rounds.c.nothing_found, rounds.c.disputes_prevented)
            .where(*_rounds_in(units, start, end))
            .order_by(rounds.c.id)
        )
    ).all()
    found = await conn.execute(
        sa.select(round_cases.c.case_id)
        .join(rounds, rounds.c.id == round_cases.c.round_id)
        .where(*_rounds_in(units, start, end))
        .order_by(round_cases.c.case_id)
    )
    return {
        "rounds": [r.id for r in listed],
        "disputes_found": list(found.scalars()),
        "disputes_prevented": [r.id for r in listed if r.disputes_prevented > 0],
        "zero_reports": [r.id for r in listed if r.nothing_found],
    }


def _prevented(key: str, units: frozenset[str] | None, start: datetime, end: datetime) -> sa.Select[Any]:
    """The cases a prevention row counts: a major report of the row's risk, acknowledged, not
    recorded as having happened, its case closed in the period. 防止民转刑 also counts the
    crime-risk reports of the duty to report (人民调解法 art. 25, ``crime_report``) acknowledged
    by a receiving unit, unless a major report of the case says the crime happened."""
    risk_column = f"risk_{PREVENTION_ROWS[key].value}"
    closed = (cases.c.closed_at >= start, cases.c.closed_at < end)
    query = (
        sa.select(major.c.case_id)
        .join(cases, cases.c.id == major.c.case_id)
        .where(
            major.c[risk_column].is_(True),
            major.c.acknowledged_at.is_not(None),
            major.c.occurred_at.is_(None),
            *closed,
        )
    )
    if units is not None:
        query = query.where(major.c.from_unit_code.in_(sorted(units)))
    if key != "crime_prevented":
        return query.distinct()
    happened = sa.select(major.c.case_id).where(
        major.c.risk_crime.is_(True), major.c.occurred_at.is_not(None)
    )
    reported = (
        sa.select(crime_report.c.case_id)
        .join(cases, cases.c.id == crime_report.c.case_id)
        .where(crime_report.c.acknowledged_at.is_not(None), crime_report.c.case_id.not_in(happened), *closed)
    )
    if units is not None:
        reported = reported.where(crime_report.c.from_unit_code.in_(sorted(units)))
    both = sa.union(query, reported).subquery()
    return sa.select(both.c.case_id)


async def prevention_figures(
    conn: AsyncConnection, units: frozenset[str] | None, start: datetime, end: datetime
) -> dict[str, int]:
    """防止自杀, 防止群体性械斗, 防止民转刑 and 防止群体性事件 of ``units`` in [start, end): one statement."""
    counts = [
        sa.select(sa.func.count())
        .select_from(_prevented(key, units, start, end).subquery())
        .scalar_subquery()
        .label(key)
        for key in PREVENTION_ROWS
    ]
    found = (await conn.execute(sa.select(*counts))).one()
    return {key: int(found._mapping[key]) for key in PREVENTION_ROWS}


async def prevention_figure_ids(
    conn: AsyncConnection, units: frozenset[str] | None, start: datetime, end: datetime
) -> dict[str, list[int]]:
    """The case ids behind each prevention figure."""
    result: dict[str, list[int]] = {}
    for key in PREVENTION_ROWS:
        query = _prevented(key, units, start, end)
        found = await conn.execute(query.order_by(query.selected_columns[0]))
        result[key] = list(found.scalars())
    return result
