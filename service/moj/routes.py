"""HTTP routes for the MoJ report: thin — resolve scope and month, compute, return or export."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from service import clock
from service.context import ContextDep
from service.db import EngineDep, ReportingEngineDep
from service.exports import FILE_CONTENT, ReportFormat, attachment_response, record_export
from service.moj import service
from service.moj.schemas import MojCellCases, MojReport
from service.stats.queries import resolve_units
from service.stats.routes import STATS_ERRORS, UnitParam
from service.users.deps import ActorDep, ClientAddress

router = APIRouter(prefix="/api/v1/stats/moj", tags=["stats"])

Month = Annotated[str, Query(max_length=16, description="the month, YYYY-MM", examples=["2026-03"])]


@router.get(
    "",
    response_model=MojReport,
    operation_id="stats_moj_report",
    responses={
        **STATS_ERRORS,
        200: {
            "description": "the report as JSON, or as a CSV / XLSX attachment in the form's layout",
            "content": FILE_CONTENT,
        },
    },
)
async def moj_report(
    actor: ActorDep,
    engine: EngineDep,
    reporting: ReportingEngineDep,
    ctx: ContextDep,
    client_ip: ClientAddress,
    month: Month,
    unit: UnitParam = None,
    format: Annotated[
        ReportFormat, Query(description="json, csv (UTF-8 with BOM) or xlsx")
    ] = ReportFormat.json,
    case_ids: Annotated[
        bool,
        Query(
            description="include every cell's case ids (large for a city's year; the drill-down pages them)"
        ),
    ] = False,
) -> MojReport | Response:
    """人民调解工作统计报表: every cell counted from the case events of the month (本月) and of the
    year to that month (本年累计), each with its definition (docs/moj_report.md). People's mediation
    in the main section; administrative and court-connected mediation in sections of their own.
    With `case_ids=true`, `case_ids` lists the cases behind every cell (empty for rates, stocks and
    the round figures 排查次数, 零报告, 预防纠纷, which are not case figures);
    otherwise it is empty and `/cells/{cell}/cases` pages them. Scoped like the other statistics."""
    now = clock.now()
    units = resolve_units(actor, ctx.org, unit)
    report = await service.compute(
        reporting,  # the figures from the replica, the export record to the primary
        ctx,
        units=units,
        month=month,
        now=now,
        unit=unit,
        case_ids=case_ids and format == ReportFormat.json,
    )
    if format == ReportFormat.json:
        return report if case_ids else report.model_copy(update={"case_ids": {}})
    content = service.to_csv(report) if format == ReportFormat.csv else service.to_xlsx(report)
    await record_export(
        engine,
        actor,
        "stats_exported",
        {"report": "moj", "month": report.month, "unit": report.unit, "format": format.value},
        client_ip=client_ip,
        now=now,
    )
    filename = f"jiefen-moj-{report.month}{'-' + unit if unit else ''}.{format.value}"
    return attachment_response(content, format, filename)


@router.get(
    "/cells/{cell}/cases",
    response_model=MojCellCases,
    operation_id="stats_moj_cell_cases",
    responses=STATS_ERRORS,
)
async def moj_cell_cases(
    actor: ActorDep,
    reporting: ReportingEngineDep,
    ctx: ContextDep,
    cell: Annotated[str, Path(max_length=64, description="row.column, e.g. settled.month")],
    month: Month,
    unit: UnitParam = None,
    after: Annotated[
        int | None, Query(ge=0, le=2**63 - 1, description="the last id of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> MojCellCases:
    """The cases behind one cell, by id (keyset pages): the same rule that counted them, so the
    list has exactly as many cases as the cell counts. A round figure (排查次数, 零报告, 预防纠纷)
    is not a case figure: `counts` is `rounds` and `rounds` lists the screening rounds behind it
    (paged by round id). Rate and stock cells list none (`counts`: `none`)."""
    units = resolve_units(actor, ctx.org, unit)
    return await service.cell_cases(
        reporting, ctx, actor, cell=cell, units=units, month=month, now=clock.now(), after=after, limit=limit
    )
