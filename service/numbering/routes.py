"""HTTP routes for numbers: thin — parse, call the use case, return."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from service import clock
from service.context import ContextDep
from service.db import EngineDep
from service.errors import PROBLEM_CONTENT
from service.numbering import service as numbering
from service.numbering.schemas import NumberOut, RegisterOut
from service.users.deps import ActorDep

router = APIRouter(prefix="/api/v1", tags=["numbers"])

CASE_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "not signed in", **PROBLEM_CONTENT},
    404: {"description": "no such case, or outside your scope", **PROBLEM_CONTENT},
    409: {"description": "the case is not closed, or you read it but do not handle it", **PROBLEM_CONTENT},
    412: {"description": "the case changed while it was being numbered; retry", **PROBLEM_CONTENT},
}
REGISTER_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "not signed in", **PROBLEM_CONTENT},
    403: {"description": "your role keeps no register", **PROBLEM_CONTENT},
    404: {"description": "the unit is outside your scope", **PROBLEM_CONTENT},
    422: {"description": "unknown unit, year or kind, each named", **PROBLEM_CONTENT},
}

CaseId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the case's id")]
UnitCode = Annotated[str, Path(min_length=1, max_length=32, description="the unit whose register it is")]


async def get_numbering(request: Request) -> numbering.Numbering:
    found: numbering.Numbering = request.app.state.numbering
    return found


NumberingDep = Annotated[numbering.Numbering, Depends(get_numbering)]


@router.post(
    "/cases/{case_id}/file-number",
    response_model=NumberOut,
    status_code=201,
    operation_id="give_file_number",
    responses={200: {"description": "the case already had its number", "model": NumberOut}, **CASE_ERRORS},
)
async def give_file_number(
    case_id: CaseId,
    actor: ActorDep,
    engine: EngineDep,
    ctx: ContextDep,
    config: NumberingDep,
    response: Response,
) -> NumberOut:
    """Give a closed case its 卷宗 number, e.g. (2026)昆张调卷字第 0001 号: the next of the unit
    where it closed, in this year (Asia/Shanghai), without gaps. Idempotent: a case keeps its
    number (200 with it; 201 when this call gave it). Only those who handle the case; recorded on
    the case's audit trail."""
    out, created = await numbering.give_file_number(engine, ctx, config, case_id, actor, now=clock.now())
    if not created:
        response.status_code = 200
    return out


@router.get(
    "/cases/{case_id}/numbers",
    response_model=list[NumberOut],
    operation_id="case_numbers",
    responses=CASE_ERRORS,
)
async def case_numbers(
    case_id: CaseId, actor: ActorDep, engine: EngineDep, ctx: ContextDep, config: NumberingDep
) -> list[NumberOut]:
    """Every number the case was given: its 卷宗 number and its documents' numbers."""
    return await numbering.case_numbers(engine, ctx, config, case_id, actor)


@router.get(
    "/units/{unit_code}/numbers/{year}",
    response_model=RegisterOut,
    operation_id="number_register",
    responses=REGISTER_ERRORS,
)
async def register(
    unit_code: UnitCode,
    year: Annotated[int, Path(ge=2000, le=2999, description="the year (Asia/Shanghai)")],
    actor: ActorDep,
    engine: EngineDep,
    config: NumberingDep,
    kind: Annotated[str | None, Query(max_length=32, description="one kind only (file, ...)")] = None,
) -> RegisterOut:
    """The register of a unit's numbers in a year: every number taken, by kind then number, with
    the case it numbers, when and by whom. Read by the unit's mediators, the coordinators above
    it and the auditors."""
    return await numbering.read_register(engine, config, actor, unit_code, year, kind)
