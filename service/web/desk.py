"""The court desk's queue, as a page (the inbox's page is service.inbox.pages)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from service import clock
from service.cases import service as cases
from service.cases.queries import CaseFilter
from service.court import service as court
from service.db import EngineDep
from service.web.base import CtxDep, SessionDep, WebRoute, read_form
from service.web.render import Page
from workflows.lifecycle import CaseState

router = APIRouter(route_class=WebRoute, include_in_schema=False)


@router.get("/court", response_class=HTMLResponse)
async def court_page(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
    empty: bool = False,
) -> Response:
    queue, total = await court.list_queue(engine, session.actor, limit=50, offset=0)

    async def in_state(state: CaseState) -> list[Any]:
        found = await cases.list_cases(
            engine, ctx, session.actor, CaseFilter(state=[state.value]), unit=None, limit=50, offset=0
        )
        return list(found.items)

    held = await in_state(CaseState.in_court)
    # Judicial-confirmation applications: the case stays with its mediation unit, the court decides.
    applications = await in_state(CaseState.confirming)
    page = Page(request, ctx, session)
    return page.render(
        "court.html",
        queue=queue,
        total=total,
        held=held,
        applications=applications,
        empty=empty,
    )


@router.post("/court/claim")
async def court_claim(request: Request, session: SessionDep, engine: EngineDep, ctx: CtxDep) -> Response:
    await read_form(request, session)
    case = await court.claim_next(engine, ctx, session.actor, now=clock.now())
    if case is None:
        return RedirectResponse("/court?empty=1", status_code=303)
    return RedirectResponse(f"/cases/{case.id}?done=claim", status_code=303)
