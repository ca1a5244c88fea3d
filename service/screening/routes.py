"""HTTP routes for the screening register (排查) and major-dispute reports (重大纠纷即时报告)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from service import clock
from service.cases.routes import CASE_ERRORS, PROBLEM, CaseId, IdempotencyKey
from service.context import ContextDep
from service.db import EngineDep
from service.language import read_accept_language
from service.screening import major, service
from service.screening.schemas import (
    MajorAckIn,
    MajorReportIn,
    MajorReportList,
    MajorReportPublic,
    MissingList,
    RoundIn,
    RoundList,
    RoundPublic,
)
from service.users.deps import ActorDep

router = APIRouter(prefix="/api/v1", tags=["screening"], dependencies=[Depends(read_accept_language)])

RoundId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the round's id")]
ReportId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the report's id")]
ERRORS: dict[int | str, dict[str, object]] = {
    **CASE_ERRORS,
    403: {"description": "your role may not do this", **PROBLEM},
    404: {"description": "no such record, or outside your scope", **PROBLEM},
}


@router.post(
    "/screening",
    response_model=RoundPublic,
    status_code=201,
    operation_id="record_screening_round",
    responses=ERRORS,
)
async def record_screening_round(
    body: RoundIn,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> RoundPublic:
    """Record a screening round of your unit: when, where, who, the scope and what was found, or
    a zero report (``nothing_found``). Each dispute found is registered as a case with source
    主动排查 in the same transaction, and reported at once when flagged ``major``."""
    found, replayed = await service.record_round(
        engine, ctx, body, actor, now=clock.now(), idempotency_key=idempotency_key
    )
    response.headers["Location"] = f"/api/v1/screening/{found.id}"
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return found


@router.get("/screening", response_model=RoundList, operation_id="list_screening_rounds", responses=ERRORS)
async def list_screening_rounds(
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    unit: Annotated[str | None, Query(max_length=32, description="this unit and those below it")] = None,
    start: Annotated[datetime | None, Query(description="held at or after")] = None,
    end: Annotated[datetime | None, Query(description="held before")] = None,
    after: Annotated[str | None, Query(max_length=200, description="next_after of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RoundList:
    """Rounds in your scope (a station: its own; a town: its stations'), newest first, a page at a
    time (keyset: pass ``next_after`` as ``after``)."""
    return await service.list_rounds(
        engine, ctx, actor, unit=unit, start=start, end=end, after=after, limit=limit
    )


@router.get(
    "/screening/missing", response_model=MissingList, operation_id="list_screening_missing", responses=ERRORS
)
async def list_screening_missing(
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    period: Annotated[
        str | None,
        Query(
            max_length=16, description="2026-03 or 2026-W10; default: the last complete period of each kind"
        ),
    ] = None,
) -> MissingList:
    """The units in your scope that owed a round in the period and recorded none, not even a zero
    report (periods per unit kind: config/screening.yaml, local practice)."""
    return await service.missing_units(engine, ctx, actor, period=period, now=clock.now())


@router.get("/screening/figures", operation_id="screening_figures", responses=ERRORS)
async def screening_figures(
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    start: Annotated[datetime, Query(description="from (inclusive)")],
    end: Annotated[datetime, Query(description="to (exclusive)")],
    unit: Annotated[str | None, Query(max_length=32, description="this unit and those below it")] = None,
) -> dict[str, dict[str, int]]:
    """The MoJ report's screening rows (排查次数, 发现纠纷, 预防纠纷, 零报告) and prevention rows
    (防止自杀, 防止群体性械斗, 防止民转刑, 防止群体性事件) for your scope; definitions in
    docs/screening.md."""
    return await service.figures_for(engine, ctx, actor, unit=unit, start=start, end=end)


@router.get(
    "/screening/{round_id}", response_model=RoundPublic, operation_id="get_screening_round", responses=ERRORS
)
async def get_screening_round(
    round_id: RoundId, actor: ActorDep, engine: EngineDep, ctx: ContextDep
) -> RoundPublic:
    """A round with the cases it registered."""
    return await service.get_round(engine, ctx, round_id, actor)


# --- major-dispute reports ------------------------------------------------------------------------


@router.post(
    "/cases/{case_id}/major-reports",
    response_model=MajorReportPublic,
    status_code=201,
    operation_id="file_major_report",
    responses={**ERRORS, 409: {"description": "the case is closed", **PROBLEM}},
)
async def file_major_report(
    case_id: CaseId, body: MajorReportIn, actor: ActorDep, engine: EngineDep, ctx: ContextDep
) -> MajorReportPublic:
    """Report the case at once as a major or group dispute (risk of 民转刑, suicide, group fight,
    mass incident) to the town and the city centre: inbox items to both, webhook events, and an
    event on the case's trail."""
    return await major.file_report(engine, ctx, case_id, body.risks, body.statement, actor, now=clock.now())


@router.get(
    "/cases/{case_id}/major-reports",
    response_model=list[MajorReportPublic],
    operation_id="list_case_major_reports",
    responses=ERRORS,
)
async def list_case_major_reports(
    case_id: CaseId, actor: ActorDep, engine: EngineDep, ctx: ContextDep
) -> list[MajorReportPublic]:
    return await major.case_reports(engine, ctx, case_id, actor, now=clock.now())


@router.get(
    "/major-reports", response_model=MajorReportList, operation_id="list_major_reports", responses=ERRORS
)
async def list_major_reports(
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    open_only: Annotated[bool, Query(alias="open", description="only those not yet acknowledged")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> MajorReportList:
    """Reports from or to your units, newest first."""
    return await major.list_reports(engine, ctx, actor, open_only=open_only, limit=limit, now=clock.now())


@router.get(
    "/major-reports/{report_id}",
    response_model=MajorReportPublic,
    operation_id="get_major_report",
    responses=ERRORS,
)
async def get_major_report(
    report_id: ReportId, actor: ActorDep, engine: EngineDep, ctx: ContextDep
) -> MajorReportPublic:
    return await major.read_report(engine, ctx, report_id, actor, now=clock.now())


@router.post(
    "/major-reports/{report_id}/acknowledge",
    response_model=MajorReportPublic,
    operation_id="acknowledge_major_report",
    responses={**ERRORS, 409: {"description": "acknowledged already", **PROBLEM}},
)
async def acknowledge_major_report(
    report_id: ReportId, body: MajorAckIn, actor: ActorDep, engine: EngineDep, ctx: ContextDep
) -> MajorReportPublic:
    """A coordinator of the town or the city centre confirms the report, once."""
    return await major.acknowledge(engine, ctx, report_id, body.note, actor, now=clock.now())


@router.post(
    "/major-reports/{report_id}/occurred",
    response_model=MajorReportPublic,
    operation_id="mark_major_report_occurred",
    responses={**ERRORS, 409: {"description": "marked already", **PROBLEM}},
)
async def mark_major_report_occurred(
    report_id: ReportId, actor: ActorDep, engine: EngineDep, ctx: ContextDep
) -> MajorReportPublic:
    """Record that the reported risk came about after all: the report is not counted as prevented."""
    return await major.mark_occurred(engine, ctx, report_id, actor, now=clock.now())
