"""The auditor's pages (the security log and its CSV) and the administrators' role-grant page.

They call the same use cases as the API (``service.auditor.service``, ``service.users.grants``)
with the signed-in user as the actor: only an auditor reads the log, and each reading is recorded;
only an administrator decides grants, never their own.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse

from service import clock
from service.audit.queries import KNOWN_KINDS, EventFilter, SecurityEventRow
from service.auditor import service as auditor
from service.clock import SHANGHAI
from service.db import EngineDep
from service.errors import Forbidden, InvalidInput, field_error
from service.http_safety import client_ip
from service.users import grants
from service.web.base import CtxDep, SessionDep, WebRoute, form_text, read_form
from service.web.render import Page
from workflows.lifecycle import Role

router = APIRouter(route_class=WebRoute, include_in_schema=False)

LOG_PAGE = 50
Text = Annotated[str | None, Query(max_length=64)]
Day = Annotated[str | None, Query(max_length=10)]


def _day(value: str | None, name: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise field_error(f"query.{name}", "a date, YYYY-MM-DD") from None


def _log_filter(
    ctx: CtxDep,
    actor: str | None,
    unit: str | None,
    case_id: str | None,
    kind: str | None,
    since: str | None,
    until: str | None,
) -> EventFilter:
    """The form's filter: whole Kunshan days, ``until`` included."""
    first, last = _day(since, "since"), _day(until, "until")
    if case_id and not (case_id.isdigit() and 0 < int(case_id) < 2**63):
        raise field_error("query.case_id", "a case id, a positive whole number")
    return auditor.event_filter(
        ctx.org,
        actor=actor or None,
        unit=unit or None,
        case_id=int(case_id) if case_id else None,
        kinds=[kind] if kind else [],
        since=datetime.combine(first, time(0), tzinfo=SHANGHAI) if first else None,
        until=datetime.combine(last + timedelta(days=1), time(0), tzinfo=SHANGHAI) if last else None,
    )


@router.get("/audit", response_class=HTMLResponse)
async def log_page(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
    actor: Text = None,
    unit: Annotated[str | None, Query(max_length=32)] = None,
    case_id: Annotated[str | None, Query(max_length=20)] = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    since: Day = None,
    until: Day = None,
    page_no: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    auditor.require_auditor(session.actor)
    page = Page(request, ctx, session)
    values = {"actor": actor, "unit": unit, "case_id": case_id, "kind": kind, "since": since, "until": until}
    shown = {k: v for k, v in values.items() if v}
    error = None
    rows: list[SecurityEventRow] = []
    total = 0
    try:
        f = _log_filter(ctx, actor, unit, case_id, kind, since, until)
    except InvalidInput as exc:
        # A mistyped filter: say which, next to the form, and show nothing rather than everything.
        error = exc.extra["errors"][0]["field"].split(".")[-1]
    else:
        rows, total = await auditor.read_log(
            engine,
            session.actor,
            f,
            limit=LOG_PAGE,
            offset=(page_no - 1) * LOG_PAGE,
            client_ip=client_ip(request),
            now=clock.now(),
        )
    return page.render(
        "audit.html",
        status=422 if error else 200,
        rows=rows,
        total=total,
        values=values,
        error=error,
        kinds=KNOWN_KINDS,
        query=urlencode(shown),
        page_no=page_no,
        pages=max(1, -(-total // LOG_PAGE)),
    )


@router.get("/audit/export.csv")
async def log_export(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
    actor: Text = None,
    unit: Annotated[str | None, Query(max_length=32)] = None,
    case_id: Annotated[str | None, Query(max_length=20)] = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    since: Day = None,
    until: Day = None,
) -> Response:
    """The log page's selection, all of it, as the CSV the API exports."""
    auditor.require_auditor(session.actor)
    f = _log_filter(ctx, actor, unit, case_id, kind, since, until)
    now = clock.now()
    export = await auditor.export_log(engine, session.actor, f, client_ip=client_ip(request), now=now)
    filename = f"jiefen-security-events-{now.astimezone(SHANGHAI):%Y%m%d-%H%M%S}.csv"
    return StreamingResponse(
        export.chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


# --- role grants (administrators) ----------------------------------------------------------------


def _require_admin(session: SessionDep) -> None:
    if session.actor.role != Role.admin:
        raise Forbidden("Only an administrator decides role grants.")


@router.get("/admin/role-grants", response_class=HTMLResponse)
async def grants_page(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    _require_admin(session)
    async with engine.connect() as conn:
        everything = await grants.list_grants(conn, None)
    pending = [g for g in everything if g.status == grants.GrantStatus.pending]
    decided = [g for g in everything if g.status != grants.GrantStatus.pending][:50]
    page = Page(request, ctx, session)
    notice = (
        page.t(f"grants.done.{done}") if done in ("approved", "rejected", "requested", "changed") else None
    )
    return page.render(
        "role_grants.html", pending=pending, decided=decided, notice=notice, roles=_assignable()
    )


def _assignable() -> list[str]:
    return [r.value for r in Role if r != Role.system]


@router.post("/admin/role-grants/{grant_id}/{decision}")
async def decide_grant(
    request: Request,
    grant_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    decision: Annotated[str, Path(pattern="^(approve|reject)$")],
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
) -> Response:
    form = await read_form(request, session)
    _require_admin(session)
    reason = form_text(form, "reason")[:500] or None
    async with engine.begin() as conn:
        if decision == "approve":
            await grants.approve(
                conn,
                grant_id,
                by=session.actor,
                org=ctx.org,
                now=clock.now(),
                reason=reason,
                client_ip=client_ip(request),
            )
        else:
            await grants.reject(
                conn,
                grant_id,
                by=session.actor,
                now=clock.now(),
                reason=reason,
                client_ip=client_ip(request),
            )
    done = "approved" if decision == "approve" else "rejected"
    return RedirectResponse(f"/admin/role-grants?done={done}", status_code=303)


@router.post("/admin/role-grants")
async def request_role_change(
    request: Request, session: SessionDep, engine: EngineDep, ctx: CtxDep
) -> Response:
    """The page's form: change an account's role (at once, or as a request for a second admin)."""
    form = await read_form(request, session)
    _require_admin(session)
    username = form_text(form, "username")[:64]
    if not username:
        raise field_error("body.username", "the account to change")
    async with engine.begin() as conn:
        result = await grants.change_role(
            conn,
            username,
            role=form_text(form, "role"),
            unit_code=form_text(form, "unit")[:32] or None,
            org=ctx.org,
            by=session.actor,
            now=clock.now(),
            reason=form_text(form, "reason")[:500] or None,
            client_ip=client_ip(request),
        )
    done = "requested" if isinstance(result, grants.GrantRecord) else "changed"
    return RedirectResponse(f"/admin/role-grants?done={done}", status_code=303)
