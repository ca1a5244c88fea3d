"""HTTP routes for reports of a risk of crime (人民调解法 art. 25): file, read, acknowledge, list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from service import clock
from service.cases import reports
from service.cases.report_schemas import (
    AcknowledgementIn,
    CrimeReportIn,
    CrimeReportList,
    CrimeReportPublic,
    CrimeReportView,
)
from service.cases.routes import CASE_ERRORS, PROBLEM, CaseId, IfMatch, _parse_if_match
from service.context import ContextDep
from service.db import EngineDep
from service.language import read_accept_language
from service.users.deps import ActorDep

router = APIRouter(prefix="/api/v1", tags=["crime reports"], dependencies=[Depends(read_accept_language)])

ReportId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the report's id")]
REPORT_ERRORS: dict[int | str, dict[str, object]] = {
    **CASE_ERRORS,
    403: {"description": "you may read this but not do it", **PROBLEM},
    404: {"description": "no such case or report, or outside your scope", **PROBLEM},
}


@router.post(
    "/cases/{case_id}/crime-reports",
    response_model=list[CrimeReportPublic],
    status_code=201,
    operation_id="file_crime_report",
    responses={
        **REPORT_ERRORS,
        409: {"description": "the case is closed", **PROBLEM},
        412: {"description": "If-Match names an old version", **PROBLEM},
    },
)
async def file_crime_report(
    case_id: CaseId,
    body: CrimeReportIn,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    if_match: IfMatch = None,
) -> list[CrimeReportPublic]:
    """Report a risk of crime found while working the case: one report to each receiving unit
    (the town's 派出所 and 司法所, and for a possible mass incident the local government), each
    told through its inbox and an audited event on the case."""
    return await reports.file_report(
        engine, ctx, case_id, body, actor, now=clock.now(), if_match=_parse_if_match(if_match)
    )


@router.get(
    "/cases/{case_id}/crime-reports",
    response_model=list[CrimeReportPublic],
    operation_id="list_case_crime_reports",
    responses=REPORT_ERRORS,
)
async def list_case_crime_reports(
    case_id: CaseId, actor: ActorDep, engine: EngineDep, ctx: ContextDep
) -> list[CrimeReportPublic]:
    """The case's reports with their acknowledgements, oldest first."""
    return await reports.case_reports(engine, ctx, case_id, actor, now=clock.now())


@router.get(
    "/cases/{case_id}/crime-reports/{report_id}",
    response_model=CrimeReportView,
    operation_id="get_crime_report",
    responses=REPORT_ERRORS,
)
async def get_crime_report(
    case_id: CaseId, report_id: ReportId, actor: ActorDep, engine: EngineDep, ctx: ContextDep
) -> CrimeReportView:
    """A report and a brief of its case (parties masked): for the receiving unit, and for those
    who may see the case."""
    return await reports.read_report(engine, ctx, case_id, report_id, actor, now=clock.now())


@router.post(
    "/cases/{case_id}/crime-reports/{report_id}/acknowledge",
    response_model=CrimeReportPublic,
    operation_id="acknowledge_crime_report",
    responses={**REPORT_ERRORS, 409: {"description": "acknowledged already", **PROBLEM}},
)
async def acknowledge_crime_report(
    case_id: CaseId,
    report_id: ReportId,
    body: AcknowledgementIn,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
) -> CrimeReportPublic:
    """The receiving unit confirms it has the report, once; the reporting unit is told."""
    return await reports.acknowledge(engine, ctx, case_id, report_id, body, actor, now=clock.now())


@router.get(
    "/crime-reports",
    response_model=CrimeReportList,
    operation_id="list_crime_reports",
    responses={401: CASE_ERRORS[401], 403: REPORT_ERRORS[403], 422: CASE_ERRORS[422]},
)
async def list_crime_reports(
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    overdue: Annotated[
        bool, Query(description="only reports unacknowledged past JIEFEN_CRIME_REPORT_ACK_HOURS")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> CrimeReportList:
    """Reports sent by or to your unit (a coordinator: the units below too), newest first; with
    ``overdue``, those still waiting for an acknowledgement past the local time limit, oldest first."""
    return await reports.list_reports(engine, ctx, actor, overdue=overdue, limit=limit, now=clock.now())
