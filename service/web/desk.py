"""The inbox of a unit and the court desk's queue, as pages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from service import clock
from service.cases import service as cases
from service.cases.queries import CaseFilter
from service.court import service as court
from service.db import EngineDep
from service.inbox.routes import get_inbox, mark_read
from service.web.base import CtxDep, SessionDep, WebRoute, form_text, read_form
from service.web.render import Page
from workflows.lifecycle import CaseState

router = APIRouter(route_class=WebRoute, include_in_schema=False)

INBOX_PAGE = 20


@router.get("/inbox", response_class=HTMLResponse)
async def inbox_page(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
    unit: Annotated[str | None, Query(max_length=32)] = None,
    unread: bool = False,
    page_no: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    code = unit or session.actor.unit_code
    items = await get_inbox(
        code=code,
        actor=session.actor,
        engine=engine,
        ctx=ctx,
        unread=unread,
        kind=None,
        limit=INBOX_PAGE,
        offset=(page_no - 1) * INBOX_PAGE,
    )
    page = Page(request, ctx, session)
    pages = max(1, -(-items.total // INBOX_PAGE))
    # An item's reason is written in Chinese when it is made; in English it is read in English.
    read = [item.model_copy(update={"reason": page.server_text(item.reason)}) for item in items.items]
    items = items.model_copy(update={"items": read})
    return page.render("inbox.html", inbox=items, code=code, unread=unread, page_no=page_no, pages=pages)


@router.post("/inbox/{item_id}/read")
async def inbox_mark_read(
    request: Request,
    item_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
) -> Response:
    form = await read_form(request, session)
    code = form_text(form, "unit") or session.actor.unit_code
    await mark_read(code=code, item_id=item_id, actor=session.actor, engine=engine, ctx=ctx)
    back = "/inbox?unread=1" if form_text(form, "unread") == "1" else "/inbox"
    if code != session.actor.unit_code:
        back += ("&" if "?" in back else "?") + f"unit={code}"
    return RedirectResponse(back, status_code=303)


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
