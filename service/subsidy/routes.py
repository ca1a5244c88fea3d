"""HTTP routes for the 以案定补 ledger: thin — parse, call the use case, return."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from service import clock
from service.context import ContextDep
from service.db import EngineDep
from service.errors import PROBLEM_CONTENT
from service.exports import FILE_CONTENT, ExportFormat
from service.subsidy import service as subsidy
from service.subsidy.export import export_response
from service.subsidy.schemas import ApprovalIn, CorrectionIn, CorrectionOut, SubsidyMonthOut
from service.users.deps import ActorDep, ClientAddress
from workflows.subsidy import SubsidyRules

router = APIRouter(prefix="/api/v1/subsidy", tags=["subsidy"])

ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "not signed in", **PROBLEM_CONTENT},
    403: {"description": "your role keeps no ledger, or may only read it", **PROBLEM_CONTENT},
    404: {"description": "the unit is outside your scope", **PROBLEM_CONTENT},
    409: {"description": "already approved, not yet approved, or the month is not over", **PROBLEM_CONTENT},
    422: {"description": "invalid unit, month or body, each named", **PROBLEM_CONTENT},
}

UnitCode = Annotated[str, Path(min_length=1, max_length=32, description="the unit whose ledger it is")]
Month = Annotated[
    str, Path(min_length=1, max_length=16, description="YYYY-MM (Asia/Shanghai)", examples=["2026-03"])
]


async def get_rules(request: Request) -> SubsidyRules:
    rules: SubsidyRules = request.app.state.subsidy_rules
    return rules


RulesDep = Annotated[SubsidyRules, Depends(get_rules)]


@router.get(
    "/{unit_code}/{month}", response_model=SubsidyMonthOut, operation_id="get_subsidy_month", responses=ERRORS
)
async def get_month(
    unit_code: UnitCode, month: Month, actor: ActorDep, engine: EngineDep, ctx: ContextDep, rules: RulesDep
) -> SubsidyMonthOut:
    """以案定补 of a unit's month: each case closed in it (by the closing time in Asia/Shanghai)
    within the unit's subtree, with its amount and each mediator's share, or the reasons it is not
    paid; then the totals per mediator. Once a coordinator approved the month, the frozen ledger
    (and its corrections) instead. A mediator reads their own station's month, their own lines only."""
    return await subsidy.read_month(engine, ctx.org, rules, actor, unit_code, month)


@router.post(
    "/{unit_code}/{month}/approval",
    response_model=SubsidyMonthOut,
    status_code=201,
    operation_id="approve_subsidy_month",
    responses=ERRORS,
)
async def approve_month(
    unit_code: UnitCode,
    month: Month,
    body: ApprovalIn,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    rules: RulesDep,
    client_ip: ClientAddress,
) -> SubsidyMonthOut:
    """Approve and freeze the month (coordinators of the unit only, once the month is over). Give
    `reviewed_total_yuan` to refuse the approval when the figures changed since you reviewed them.
    Approving twice: 409."""
    return await subsidy.approve(
        engine, ctx.org, rules, actor, unit_code, month, body, now=clock.now(), client_ip=client_ip
    )


@router.post(
    "/{unit_code}/{month}/corrections",
    response_model=CorrectionOut,
    status_code=201,
    operation_id="correct_subsidy_month",
    responses=ERRORS,
)
async def add_correction(
    unit_code: UnitCode,
    month: Month,
    body: CorrectionIn,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    rules: RulesDep,
    client_ip: ClientAddress,
) -> CorrectionOut:
    """A correction to an approved month: a new line for a mediator (positive or negative), with
    its reason, recorded in the security log. The approved lines never change."""
    return await subsidy.correct(
        engine, ctx.org, rules, actor, unit_code, month, body, now=clock.now(), client_ip=client_ip
    )


@router.get(
    "/{unit_code}/{month}/export",
    operation_id="export_subsidy_month",
    response_class=Response,
    responses={
        **ERRORS,
        200: {
            "description": "per-mediator totals, per-case lines and corrections",
            "content": FILE_CONTENT,
        },
    },
)
async def export_month(
    unit_code: UnitCode,
    month: Month,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    rules: RulesDep,
    client_ip: ClientAddress,
    format: Annotated[ExportFormat, Query(description="csv (UTF-8 with BOM) or xlsx")] = ExportFormat.csv,
) -> Response:
    """The month for finance, as the reader may see it (computed, or frozen once approved)."""
    out = await subsidy.read_month(engine, ctx.org, rules, actor, unit_code, month)
    name = ctx.org.name_of(unit_code) or unit_code
    return await export_response(engine, actor, out, name, format, client_ip=client_ip, now=clock.now())
