"""HTTP routes for the statistics: thin — resolve scope and period, call the query, return.

The web pages call the same functions without HTTP (each takes an open ``AsyncConnection``):

- ``queries.stats_scope(actor, org) -> frozenset[str] | None`` — units the actor may count (None: all);
  raises ``Forbidden`` for roles that read no statistics (the court desk).
- ``queries.resolve_units(actor, org, unit) -> frozenset[str] | None`` — scope narrowed to a unit's subtree.
- ``queries.Period.of(from_month, to_month, now=...)`` / ``queries.Period.month("2026-03")``.
- ``queries.StatsQuery(period, now, units)`` — what every figure function takes.
- ``queries.overview(conn, q) -> Overview``; ``queries.monthly(conn, q) -> list[MonthRow]``;
  ``queries.by_type(conn, q) -> list[TypeRow]``; ``queries.by_tier(conn, q) -> list[TierRow]``;
  ``queries.by_town(conn, org, q) -> list[TownRow]``; ``queries.by_source(conn, q) -> list[SourceRow]``.
- ``report.monthly_report(conn, org, q, by_mediator=False) -> MonthlyReport``
  ``report.to_csv(report) -> bytes``; ``report.to_xlsx(report) -> bytes``.
- ``by_mediator.by_mediator(conn, q) -> list[MediatorStatsRow]`` (``require_by_mediator_reader(actor)``
  first: only coordinators, auditors and administrators read figures by mediator).
- ``charts.bar_chart / hbar_chart / grouped_bar_chart / line_chart(...) -> str`` (SVG).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from service import clock
from service.context import ContextDep
from service.db import EngineDep, ReportingEngineDep
from service.errors import PROBLEM_CONTENT
from service.exports import FILE_CONTENT, ReportFormat, attachment_response, record_export
from service.stats import by_mediator as mediator_stats
from service.stats import queries, report
from service.stats.queries import Period, StatsQuery
from service.stats.schemas import (
    MediatorStats,
    MonthlyReport,
    MonthlyStats,
    Overview,
    SourceStats,
    TierStats,
    TownStats,
    TypeStats,
)
from service.users.deps import ActorDep, ClientAddress

router = APIRouter(prefix="/api/v1/stats", tags=["stats"])

STATS_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "not signed in", **PROBLEM_CONTENT},
    403: {"description": "your role reads no statistics (the court desk)", **PROBLEM_CONTENT},
    404: {"description": "the unit is outside your scope", **PROBLEM_CONTENT},
    422: {"description": "invalid month, period or unit, each named", **PROBLEM_CONTENT},
}

MonthParam = Query(min_length=1, max_length=16, pattern=r"^\s*\d{4}-\d{2}\s*$", examples=["2026-03"])
UnitParam = Annotated[
    str | None, Query(max_length=32, description="a unit code: its whole subtree, within your scope")
]


async def stats_query(
    actor: ActorDep,
    ctx: ContextDep,
    unit: UnitParam = None,
    from_month: Annotated[
        str | None,
        Query(
            alias="from",
            max_length=16,
            description="first month, YYYY-MM (default: 11 months before `to`)",
            examples=["2025-04"],
        ),
    ] = None,
    to_month: Annotated[
        str | None,
        Query(
            alias="to",
            max_length=16,
            description="last month, YYYY-MM, inclusive (default: this month in Asia/Shanghai)",
            examples=["2026-03"],
        ),
    ] = None,
) -> StatsQuery:
    now = clock.now()
    units = queries.resolve_units(actor, ctx.org, unit)
    return StatsQuery(Period.of(from_month, to_month, now=now), now=now, units=units)


QueryDep = Annotated[StatsQuery, Depends(stats_query)]


@router.get("/overview", response_model=Overview, operation_id="stats_overview", responses=STATS_ERRORS)
async def overview(q: QueryDep, engine: ReportingEngineDep) -> Overview:
    """Totals over the period for the cases in your scope.

    Every figure counts the cases *registered* in the period (months in Asia/Shanghai time), as
    they stand now — except `closed` and `avg_days_to_close`, which count cases *closed* in it.

    - **settled (调解成功)**: an agreement was reached and stands: state `settled` or `confirming`,
      or closed as `performed` or `confirmed`, or a court-delegated (委托) settlement back at the
      court (waiting, or closed as `mediation_statement`, `withdrawn` or `other_court`). A refused,
      rejected or withdrawn confirmation application leaves the agreement standing (`settled`).
    - **terminated (终止)**: a termination reason is recorded and no agreement stands.
    - **success_rate** = settled / (settled + terminated).
    - **overdue (逾期)**: a deadline breached, or still running past its due time now;
      **overdue_rate** = overdue / registered.
    - **criminal_prevented (有民转刑风险且调解成功)**: criminal-risk cases settled, with the people
      involved (not the MoJ report's 防止民转刑, which counts acknowledged risk reports).
    - **group_petition_prevented (群体性纠纷且调解成功)**: group disputes settled, with the people involved.

    Mediators and agency officers see their own unit; coordinators their subtree; auditors and
    administrators the whole network (counts carry no personal data). The court desk: 403.
    """
    async with engine.connect() as conn:
        return await queries.overview(conn, q)


@router.get("/monthly", response_model=MonthlyStats, operation_id="stats_monthly", responses=STATS_ERRORS)
async def monthly(q: QueryDep, engine: ReportingEngineDep) -> MonthlyStats:
    """Each month of the period (empty months included): registered, closed, settled, terminated,
    success and overdue rates. Definitions as for the overview."""
    async with engine.connect() as conn:
        return MonthlyStats(period=q.period.public(), months=await queries.monthly(conn, q))


@router.get(
    "/by-type", response_model=TypeStats, operation_id="stats_by_dispute_type", responses=STATS_ERRORS
)
async def by_type(q: QueryDep, engine: ReportingEngineDep) -> TypeStats:
    """All 20 Ministry of Justice dispute types in their fixed order, with zeros and Chinese labels."""
    async with engine.connect() as conn:
        return TypeStats(period=q.period.public(), rows=await queries.by_type(conn, q))


@router.get("/by-tier", response_model=TierStats, operation_id="stats_by_tier", responses=STATS_ERRORS)
async def by_tier(q: QueryDep, engine: ReportingEngineDep) -> TierStats:
    """Village, town and city tier, by the tier of the unit holding each case now."""
    async with engine.connect() as conn:
        return TierStats(period=q.period.public(), rows=await queries.by_tier(conn, q))


@router.get("/by-town", response_model=TownStats, operation_id="stats_by_town", responses=STATS_ERRORS)
async def by_town(q: QueryDep, engine: ReportingEngineDep, ctx: ContextDep) -> TownStats:
    """Towns compared: every town in your scope (zeros included), each folding the units it
    handles; cases held by units under no town (city centre, committees, agencies, court) form
    the city's own row, listed when it has cases."""
    async with engine.connect() as conn:
        return TownStats(period=q.period.public(), rows=await queries.by_town(conn, ctx.org, q))


@router.get("/by-source", response_model=SourceStats, operation_id="stats_by_source", responses=STATS_ERRORS)
async def by_source(q: QueryDep, engine: ReportingEngineDep) -> SourceStats:
    """Every intake source: 主动排查, 依申请, and referred by court, procuratorate, police,
    petition office or another department."""
    async with engine.connect() as conn:
        return SourceStats(period=q.period.public(), rows=await queries.by_source(conn, q))


async def by_mediator_query(
    actor: ActorDep,
    ctx: ContextDep,
    unit: UnitParam = None,
    from_month: Annotated[
        str | None,
        Query(alias="from", max_length=16, description="first month, YYYY-MM", examples=["2026-03"]),
    ] = None,
    to_month: Annotated[
        str | None, Query(alias="to", max_length=16, description="last month, YYYY-MM", examples=["2026-03"])
    ] = None,
) -> StatsQuery:
    # The role first: a mediator asking about another unit learns it may not ask at all (403),
    # not whether the unit is in its scope.
    mediator_stats.require_by_mediator_reader(actor)
    return await stats_query(actor, ctx, unit, from_month, to_month)


@router.get(
    "/by-mediator",
    response_model=MediatorStats,
    operation_id="stats_by_mediator",
    responses={
        **STATS_ERRORS,
        403: {
            "description": "figures by mediator are for coordinators, auditors, administrators",
            **PROBLEM_CONTENT,
        },
    },
)
async def by_mediator(
    q: Annotated[StatsQuery, Depends(by_mediator_query)], engine: ReportingEngineDep
) -> MediatorStats:
    """Each mediator who handled a case in the period (an assignment, lead or co, overlapping it),
    counted where the assignment was made (the unit holding the case then), within your scope:
    cases handled and led, settled / terminated / other (as the overview defines them), success
    rate, cases closed in the period with the median and mean days from registration to closing,
    and cases overdue now. Co-mediators each count the case. Coordinators (their subtree),
    auditors and administrators; mediators, agency officers and the court desk: 403."""
    async with engine.connect() as conn:
        return MediatorStats(period=q.period.public(), rows=await mediator_stats.by_mediator(conn, q))


@router.get(
    "/report",
    response_model=MonthlyReport,
    operation_id="stats_monthly_report",
    responses={
        **STATS_ERRORS,
        200: {
            "description": "the report as JSON, or as a CSV / XLSX attachment",
            "content": FILE_CONTENT,
        },
    },
)
async def monthly_report(
    actor: ActorDep,
    engine: EngineDep,
    reporting: ReportingEngineDep,
    ctx: ContextDep,
    client_ip: ClientAddress,
    month: Annotated[str, Query(max_length=16, description="the month, YYYY-MM", examples=["2026-03"])],
    format: Annotated[
        ReportFormat, Query(description="json, csv (UTF-8 with BOM) or xlsx")
    ] = ReportFormat.json,
    unit: UnitParam = None,
) -> MonthlyReport | Response:
    """案件登记月报（按登记月份统计，反映案件当前状态）: the cohort of cases registered in the month,
    as they stand now — NOT the report to file with the 司法局, which is the MoJ report
    (`/api/v1/stats/moj`, counted from events). One row per (town, dispute type), then a total
    row: 登记数 (every registration, accepted or not), 调解成功数 (agreement standing now) and
    rate, 终止数 by reason, oral / written agreements, the claimed amount, people, 有民转刑风险且
    调解成功 and 群体性纠纷且调解成功 (cases / people), 逾期数, and the intake sources. Each column
    carries its `definition`, also written below the table in the CSV and XLSX.
    For coordinators, auditors and administrators also 按调解员: each mediator's figures for the
    month (as `/stats/by-mediator`), a section of its own in the CSV and a second sheet in the XLSX."""
    units = queries.resolve_units(actor, ctx.org, unit)
    q = StatsQuery(report.report_period(month), now=clock.now(), units=units)
    async with reporting.connect() as conn:  # the figures from the replica, the export record to the primary
        result = await report.monthly_report(
            conn, ctx.org, q, by_mediator=mediator_stats.may_read_by_mediator(actor)
        )
    if format == ReportFormat.json:
        return result
    content = report.to_csv(result) if format == ReportFormat.csv else report.to_xlsx(result)
    await record_export(
        engine,
        actor,
        "stats_exported",
        {"report": "monthly", "month": result.month, "unit": unit, "format": format.value},
        client_ip=client_ip,
        now=q.now,
    )
    filename = f"jiefen-report-{result.month}{'-' + unit if unit else ''}.{format.value}"
    return attachment_response(content, format, filename)
