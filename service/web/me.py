"""A person's own work on the phone (/me) and a unit's caseload by mediator (/mediators/caseload).

Both call the same use cases as the API (``service.caseload.service``) with the signed-in user as
the actor: a mediator asking for the caseload gets the API's 403 as an error page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from service import clock
from service.caseload import service as caseload
from service.caseload.schemas import MyDeadline
from service.db import EngineDep
from service.web.base import CtxDep, SessionDep, WebRoute
from service.web.render import Page
from workflows.lifecycle import Role

router = APIRouter(route_class=WebRoute, include_in_schema=False)


@router.get("/me", response_class=HTMLResponse)
async def my_work(request: Request, session: SessionDep, engine: EngineDep, ctx: CtxDep) -> Response:
    now = clock.now()
    cases = await caseload.my_cases(engine, ctx, session.actor, now=now)
    deadlines = await caseload.my_deadlines(engine, ctx, session.actor, now=now)
    page = Page(request, ctx, session)

    def when(d: MyDeadline) -> str:
        return caseload.due_words(d.due_at, now, page.lang)

    return page.render(
        "me.html",
        mine=cases,
        deadlines=deadlines.deadlines,
        when=when,
        sees_caseload=session.actor.role in caseload.CASELOAD_READERS,
    )


@router.get("/mediators/caseload", response_class=HTMLResponse)
async def caseload_page(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
    unit: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    actor = session.actor
    load = await caseload.caseload(engine, ctx, actor, unit or None, now=clock.now())
    # The units one may choose: one's own subtree (every unit for the city and the overseers).
    scope = (
        ctx.org.subtree(actor.unit_code)
        if actor.role == Role.coordinator
        else ctx.org.subtree(ctx.org.city_centre().code)
    )
    page = Page(request, ctx, session)
    choices = [(code, page.unit_path(code)) for code in sorted(scope)]
    year, month = (int(part) for part in load.month.split("-"))
    month_label = f"{year}年{month}月" if page.lang == "zh" else f"{caseload.MONTHS_EN[month - 1]} {year}"
    return page.render("caseload.html", load=load, choices=choices, month=month_label)
