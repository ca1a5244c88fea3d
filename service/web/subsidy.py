"""以案定补 as pages: a unit's month with the totals per mediator and each case's line (or why it is
not paid), the approval with its confirmation, corrections, and the files for finance. Every page
calls the same use cases as the API (service.subsidy.service) with the signed-in user as actor."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from service import clock
from service.db import EngineDep
from service.errors import Conflict, InvalidInput
from service.exports import file_format
from service.http_safety import client_ip
from service.subsidy import service as subsidy
from service.subsidy.export import export_response
from service.subsidy.schemas import ApprovalIn, CorrectionIn
from service.web.base import CtxDep, SessionDep, WebRoute, form_text, read_form
from service.web.forms import field_errors
from service.web.render import Page
from workflows.calendar import SHANGHAI
from workflows.lifecycle import Role
from workflows.org import Tier
from workflows.subsidy import SubsidyRules

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Month = Annotated[str | None, Query(max_length=16)]
Unit = Annotated[str | None, Query(max_length=32)]
FIELDS = ("mediator_id", "case_id", "amount_yuan", "reason")


def last_month(now: datetime) -> str:
    """The month a ledger is usually reviewed for: the one before today's (Asia/Shanghai)."""
    first = now.astimezone(SHANGHAI).replace(day=1)
    return (first - timedelta(days=1)).strftime("%Y-%m")


def local_day(page: Page, at: datetime | None) -> str:
    if at is None:
        return ""
    local = at.astimezone(SHANGHAI)
    if page.lang == "en":
        return local.strftime("%-d %b %Y")
    return f"{local.year}年{local.month}月{local.day}日"


def local_moment(page: Page, at: datetime | None) -> str:
    if at is None:
        return ""
    local = at.astimezone(SHANGHAI)
    return f"{local_day(page, at)} {local:%H:%M}"


def month_label(page: Page, month: str) -> str:
    year, number = month.split("-")
    return (
        f"{year}年{int(number)}月"
        if page.lang != "en"
        else datetime(int(year), int(number), 1).strftime("%B %Y")
    )


def rules_of(request: Request) -> SubsidyRules:
    rules: SubsidyRules = request.app.state.subsidy_rules
    return rules


async def _page(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
    unit: str,
    month: str,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
) -> Response:
    page = Page(request, ctx, session)
    actor = session.actor
    out = await subsidy.read_month(engine, ctx.org, rules_of(request), actor, unit, month)
    _, may_write, _ = subsidy.check_access(actor, ctx.org, unit)
    over = clock.now() >= subsidy.month_period(month).end_at
    roster = (
        await subsidy.roster(engine, ctx.org, actor, unit) if may_write and out.status == "approved" else []
    )
    units = []
    if actor.role == Role.coordinator:
        units = [
            code
            for code in sorted(ctx.org.subtree(actor.unit_code))
            if (found := ctx.org.find(code)) is not None
            and found.tier in (Tier.town, Tier.village, Tier.city)
        ]
    return page.render(
        "subsidy.html",
        status=status,
        out=out,
        unit_code=unit,
        month=month,
        month_text=month_label(page, month),
        may_write=may_write,
        over=over,
        roster=roster,
        units=units,
        day=lambda at: local_day(page, at),
        moment=lambda at: local_moment(page, at),
        values=values or {},
        errors=errors or {},
        notice=notice,
    )


def _unit_and_month(session: SessionDep, unit: str | None, month: str | None) -> tuple[str, str]:
    return unit or session.actor.unit_code, month or last_month(clock.now())


@router.get("/subsidy", response_class=HTMLResponse)
async def month_page(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
    unit: Unit = None,
    month: Month = None,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    code, label = _unit_and_month(session, unit, month)
    notice = {"approved": "subsidy.done.approved", "corrected": "subsidy.done.corrected"}.get(done or "")
    return await _page(request, session, engine, ctx, code, label, notice=notice)


def _back(unit: str, month: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"/subsidy?unit={unit}&month={month}&done={done}", status_code=303)


@router.post("/subsidy/approve", response_class=HTMLResponse)
async def approve(request: Request, session: SessionDep, engine: EngineDep, ctx: CtxDep) -> Response:
    form = await read_form(request, session)
    unit, month = form_text(form, "unit"), form_text(form, "month")
    if form_text(form, "confirm") != "1":
        return await _page(
            request,
            session,
            engine,
            ctx,
            unit,
            month,
            status=422,
            errors={"confirm": "subsidy.confirm_needed"},
        )
    try:
        body = ApprovalIn.model_validate(
            {"reviewed_total_yuan": form_text(form, "reviewed_total_yuan") or None}
        )
    except ValidationError:
        body = ApprovalIn()
    try:
        await subsidy.approve(
            engine,
            ctx.org,
            rules_of(request),
            session.actor,
            unit,
            month,
            body,
            now=clock.now(),
            client_ip=client_ip(request),
        )
    except Conflict as exc:
        if "total_yuan" not in exc.extra:
            raise
        # The figures moved since the page was read: show them again, saying so.
        return await _page(
            request, session, engine, ctx, unit, month, status=409, errors={"confirm": "subsidy.changed"}
        )
    return _back(unit, month, "approved")


@router.post("/subsidy/corrections", response_class=HTMLResponse)
async def correct(request: Request, session: SessionDep, engine: EngineDep, ctx: CtxDep) -> Response:
    form = await read_form(request, session)
    unit, month = form_text(form, "unit"), form_text(form, "month")
    values = {name: form_text(form, name) for name in FIELDS}
    try:
        body = CorrectionIn.model_validate({k: v for k, v in values.items() if v})
        await subsidy.correct(
            engine,
            ctx.org,
            rules_of(request),
            session.actor,
            unit,
            month,
            body,
            now=clock.now(),
            client_ip=client_ip(request),
        )
    except ValidationError as exc:
        errors = field_errors(exc, FIELDS, "reason")
        if "amount_yuan" in errors and values["amount_yuan"] in {"0", "0.0", "0.00"}:
            errors["amount_yuan"] = "subsidy.not_zero"
        return await _page(
            request, session, engine, ctx, unit, month, status=422, values=values, errors=errors
        )
    except InvalidInput as exc:
        errors = {str(e["field"]).removeprefix("body."): "field.choice" for e in exc.extra.get("errors", [])}
        return await _page(
            request, session, engine, ctx, unit, month, status=422, values=values, errors=errors
        )
    return _back(unit, month, "corrected")


@router.get("/subsidy/export.{fmt}")
async def export(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
    fmt: Annotated[str, Path(max_length=8)],
    unit: Unit = None,
    month: Month = None,
) -> Response:
    """The month for finance: per-mediator totals, per-case lines, corrections (CSV or Excel)."""
    chosen = file_format(fmt)
    if chosen is None:
        raise InvalidInput("format: csv or xlsx", [{"field": "path.fmt", "message": "csv or xlsx"}])
    code, label = _unit_and_month(session, unit, month)
    out = await subsidy.read_month(engine, ctx.org, rules_of(request), session.actor, code, label)
    name = ctx.org.name_of(code) or code
    return await export_response(
        engine, session.actor, out, name, chosen, client_ip=client_ip(request), now=clock.now()
    )
