"""A party's consent or refusal recorded from the case page at any time (人民调解法 arts. 17, 18,
26): which party, consented or refused, how, on which day, and why."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from service import clock
from service.cases import edits
from service.cases import service as cases
from service.cases.schemas import CasePublic, ConsentRecordIn
from service.context import AppContext
from service.db import EngineDep
from service.web.base import CtxDep, SessionDep, WebRoute, form_text, read_form
from service.web.forms import field_errors
from service.web.render import Page
from service.web.session import WebSession

router = APIRouter(route_class=WebRoute, include_in_schema=False)

CaseId = Annotated[int, Path(ge=1, le=2**63 - 1)]
FIELDS = ("party_id", "decision", "manner", "on", "reason")


async def _form(
    request: Request,
    case_id: int,
    session: WebSession,
    engine: AsyncEngine,
    ctx: AppContext,
    values: dict[str, str],
    errors: dict[str, str],
) -> Response:
    case = await cases.get_case(engine, ctx, case_id, session.actor)
    if not isinstance(case, CasePublic):  # a unit that sent the case on follows it, it does not act on it
        return RedirectResponse(f"/cases/{case_id}", status_code=303)
    page = Page(request, ctx, session)
    status = 422 if errors else 200
    return page.render("consent_new.html", status=status, case=case, values=values, errors=errors)


@router.get("/cases/{case_id}/consents/new", response_class=HTMLResponse)
async def new_consent_form(
    request: Request, case_id: CaseId, session: SessionDep, engine: EngineDep, ctx: CtxDep
) -> Response:
    today = clock.now().astimezone(clock.SHANGHAI).date().isoformat()
    return await _form(request, case_id, session, engine, ctx, {"decision": "refused", "on": today}, {})


@router.post("/cases/{case_id}/consents", response_class=HTMLResponse)
async def record_consent(
    request: Request, case_id: CaseId, session: SessionDep, engine: EngineDep, ctx: CtxDep
) -> Response:
    form = await read_form(request, session)
    values = {name: form_text(form, name).strip() for name in FIELDS}
    try:
        body = ConsentRecordIn.model_validate({k: v for k, v in values.items() if v})
    except ValidationError as exc:
        return await _form(
            request, case_id, session, engine, ctx, values, field_errors(exc, FIELDS, "party_id")
        )
    await edits.record_consent(engine, ctx, case_id, body, session.actor, now=clock.now(), if_match=None)
    return RedirectResponse(f"/cases/{case_id}?done=consent#consents", status_code=303)
