"""The 卷宗 of a closed case on its page: its number once given, and for those who handle the case
a button that gives it (the rules are the API's, service.numbering; these handlers only show a
refusal as a message on the page)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from service import clock
from service.cases.rows import CaseRow
from service.cases.service import transition_context
from service.context import AppContext
from service.db import EngineDep
from service.dossier import service as dossiers
from service.dossier.routes import pdf_response
from service.errors import ServiceError
from service.http_safety import client_ip
from service.numbering import service as numbers
from service.numbering.service import Numbering
from service.web.base import CtxDep, SessionDep, WebRoute, read_form
from workflows.case_file import CaseFileRules
from workflows.lifecycle import Actor, CaseState, handles_case
from workflows.numbering import keeps_case_files

router = APIRouter(route_class=WebRoute, include_in_schema=False)

CaseId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@dataclass(frozen=True, slots=True)
class Section:
    number: str | None  # as printed: (2026)昆张大调卷字第 0001 号
    may_give: bool  # a closed case at a committee or centre without a number yet
    dossier_url: str  # the bound 卷宗 (cover, index, documents and scans) as one PDF


async def section(
    request: Request, engine: AsyncEngine, ctx: AppContext, case: CaseRow, actor: Actor, *, now: datetime
) -> Section | None:
    """None while the case is open, or when it closed where no 卷宗 is kept (an agency, the court).
    The button is offered to those who handle the case, as the API allows."""
    numbering: Numbering = request.app.state.numbering
    if case.state != CaseState.closed or not keeps_case_files(numbering.org, case.unit_code):
        return None
    # The page has read the case for this reader already (``case``): nothing reads it again.
    given = await numbers.file_number_of(engine, case.id, numbering)
    if given is not None:
        return Section(number=given.text, may_give=False, dossier_url=_dossier_url(case.id))
    may = handles_case(transition_context(ctx, case, actor, now))
    return Section(number=None, may_give=may, dossier_url=_dossier_url(case.id))


def _dossier_url(case_id: int) -> str:
    return f"/cases/{case_id}/dossier.pdf"


@router.post("/cases/{case_id}/file-number")
async def give(
    request: Request, case_id: CaseId, session: SessionDep, engine: EngineDep, ctx: CtxDep
) -> Response:
    await read_form(request, session)  # the CSRF check
    numbering: Numbering = request.app.state.numbering
    try:
        await numbers.give_file_number(engine, ctx, numbering, case_id, session.actor, now=clock.now())
    except ServiceError:
        return RedirectResponse(f"/cases/{case_id}?done=file_number_refused#case-file", status_code=303)
    return RedirectResponse(f"/cases/{case_id}?done=file_number#case-file", status_code=303)


@router.get("/cases/{case_id}/dossier.pdf")
async def dossier(
    request: Request, case_id: CaseId, session: SessionDep, engine: EngineDep, ctx: CtxDep
) -> Response:
    """The bound 卷宗, as the API binds it (an open case or one out of sight: the error page)."""
    rules: CaseFileRules = request.app.state.case_file_rules
    numbering: Numbering = request.app.state.numbering
    found = await dossiers.dossier(
        engine, ctx, rules, numbering, case_id, session.actor, now=clock.now(), client_ip=client_ip(request)
    )
    return pdf_response(found)
