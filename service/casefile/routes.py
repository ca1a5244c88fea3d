"""HTTP routes for the case file check: thin — parse, call the use case, return."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from service.casefile import service as casefile
from service.casefile.schemas import FileCheckOut
from service.context import ContextDep
from service.db import EngineDep
from service.errors import PROBLEM_CONTENT
from service.language import read_accept_language
from service.users.deps import ActorDep
from workflows.case_file import CaseFileRules

router = APIRouter(prefix="/api/v1", tags=["case file"], dependencies=[Depends(read_accept_language)])

ERRORS: dict[int | str, dict[str, object]] = {
    401: {"description": "not signed in", **PROBLEM_CONTENT},
    404: {"description": "no such case, or outside your scope", **PROBLEM_CONTENT},
}

CaseId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the case's id")]


async def get_rules(request: Request) -> CaseFileRules:
    found: CaseFileRules = request.app.state.case_file_rules
    return found


RulesDep = Annotated[CaseFileRules, Depends(get_rules)]


@router.get(
    "/cases/{case_id}/file-check",
    response_model=FileCheckOut,
    operation_id="case_file_check",
    responses=ERRORS,
)
async def case_file_check(
    case_id: CaseId, actor: ActorDep, engine: EngineDep, ctx: ContextDep, rules: RulesDep
) -> FileCheckOut:
    """What the case file (卷宗) still lacks: every item (application, consents, session record,
    the signed agreement and its art. 29 contents or the oral agreement's terms, follow-up,
    termination reason, 卷宗 number) with met / missing / not applicable and why, by
    ``config/case_file.yaml``. For those who see the case."""
    return await casefile.file_check(engine, ctx, rules, case_id, actor)
