"""The inbox as a page: one person's view of a unit's inbox, a page at a time (newest first),
with their unread count, and marking read, unread or all read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from service import clock
from service.db import EngineDep
from service.errors import field_error
from service.inbox import service
from service.inbox.service import For, InboxQuery
from service.inbox.text import item_text, note_of, words
from service.web.base import CtxDep, SessionDep, WebRoute, form_text, read_form
from service.web.render import Page

router = APIRouter(route_class=WebRoute, include_in_schema=False)

INBOX_PAGE = 20


def _back(code: str, own: str, *, unread: bool, for_: str | None) -> str:
    query = [f"unit={code}"] if code != own else []
    if unread:
        query.append("unread=1")
    if for_ in (For.me.value, For.unit.value):
        query.append(f"for={for_}")
    return "/inbox" + ("?" + "&".join(query) if query else "")


@router.get("/inbox", response_class=HTMLResponse)
async def inbox_page(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
    unit: Annotated[str | None, Query(max_length=32)] = None,
    unread: bool = False,
    for_text: Annotated[str, Query(alias="for", max_length=8)] = "",
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:
    # The form's "all" sends for= (empty): everything.
    if for_text and for_text not in {f.value for f in For}:
        raise field_error("for", "me, unit or empty")
    for_ = For(for_text) if for_text else None
    code = unit or session.actor.unit_code
    found = await service.list_inbox(
        engine,
        session.actor,
        code,
        ctx.org,
        InboxQuery(unread=unread, for_=for_, before=before, limit=INBOX_PAGE),
    )
    page = Page(request, ctx, session)
    w = words(page.lang, ctx.org, ctx.policies, now=clock.now())
    items = [
        {
            "row": r,
            "text": item_text(w, r.kind, r.payload),
            # A person's reason stays as typed; a triage reason carried with it reads in English.
            "note": page.server_text(note_of(r.kind, r.reason, r.caused_by)),
            "when": w.when(r.created_at),
            "read_when": w.when(r.read_at) if r.read_at else None,
        }
        for r in found.items
    ]
    return page.render(
        "inbox.html",
        inbox=found,
        items=items,
        code=code,
        unread=unread,
        for_=for_.value if for_ else "",
        before=before,
        back=_back(code, session.actor.unit_code, unread=unread, for_=for_.value if for_ else None),
        newest=found.newest,
        unread_shown=f"{found.unread}+" if found.unread_capped else str(found.unread),
    )


async def _form_back(request: Request, session: SessionDep) -> tuple[str, str]:
    form = await read_form(request, session)
    code = form_text(form, "unit") or session.actor.unit_code
    back = _back(
        code,
        session.actor.unit_code,
        unread=form_text(form, "unread") == "1",
        for_=form_text(form, "for"),
    )
    return code, back


@router.post("/inbox/{item_id}/read")
async def inbox_mark_read(
    request: Request,
    item_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
) -> Response:
    code, back = await _form_back(request, session)
    await service.mark_read(engine, session.actor, code, ctx.org, item_id, now=clock.now())
    return RedirectResponse(back, status_code=303)


@router.post("/inbox/{item_id}/unread")
async def inbox_mark_unread(
    request: Request,
    item_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
) -> Response:
    code, back = await _form_back(request, session)
    await service.mark_unread(engine, session.actor, code, ctx.org, item_id)
    return RedirectResponse(back, status_code=303)


@router.post("/inbox/read-all")
async def inbox_mark_all_read(
    request: Request, session: SessionDep, engine: EngineDep, ctx: CtxDep
) -> Response:
    form = await read_form(request, session)
    code = form_text(form, "unit") or session.actor.unit_code
    through = form_text(form, "through")
    await service.mark_all_read(
        engine,
        session.actor,
        code,
        ctx.org,
        through=int(through) if through and through.isdigit() else None,
        now=clock.now(),
    )
    return RedirectResponse(
        _back(
            code,
            session.actor.unit_code,
            unread=form_text(form, "unread") == "1",
            for_=form_text(form, "for"),
        ),
        status_code=303,
    )
