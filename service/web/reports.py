"""Reports as pages: a risk of crime — filing one from a case, the receiving unit's view and
acknowledgement, the list with the overdue ones first (人民调解法 art. 25) — and the Ministry of
Justice people's mediation report, each figure with its definition and its list of cases."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from service import clock
from service.cases import reports
from service.cases import service as cases
from service.cases.report_schemas import AcknowledgementIn, CrimeReportIn
from service.cases.schemas import SentCase
from service.db import EngineDep, ReportingEngineDep
from service.errors import InvalidInput
from service.moj import service as moj
from service.stats.queries import resolve_units, stats_scope, towns_in
from service.web.base import CtxDep, SessionDep, WebRoute, form_text, read_form
from service.web.forms import field_errors
from service.web.render import Page

router = APIRouter(route_class=WebRoute, include_in_schema=False)

CaseId = Annotated[int, Path(ge=1, le=2**63 - 1)]
ReportId = Annotated[int, Path(ge=1, le=2**63 - 1)]
FIELDS = ("statement", "preventive_steps")


@router.get("/cases/{case_id}/crime-reports/new", response_class=HTMLResponse)
async def new_report_form(
    request: Request, case_id: CaseId, session: SessionDep, engine: EngineDep, ctx: CtxDep
) -> Response:
    case = await cases.get_case(engine, ctx, case_id, session.actor)
    if isinstance(case, SentCase):  # a unit that sent the case on follows it, it does not act on it
        return RedirectResponse(f"/cases/{case_id}", status_code=303)
    page = Page(request, ctx, session)
    values = {"mass_incident": "1" if "group_dispute" in case.flags else ""}
    return page.render("crime_report_new.html", case=case, values=values, errors={})


@router.post("/cases/{case_id}/crime-reports", response_class=HTMLResponse)
async def file_report(
    request: Request, case_id: CaseId, session: SessionDep, engine: EngineDep, ctx: CtxDep
) -> Response:
    form = await read_form(request, session)
    values = {name: form_text(form, name) for name in (*FIELDS, "mass_incident")}
    try:
        body = CrimeReportIn.model_validate(
            {
                "statement": values["statement"],
                "preventive_steps": values["preventive_steps"],
                "mass_incident": values["mass_incident"] == "1",
            }
        )
    except ValidationError as exc:
        case = await cases.get_case(engine, ctx, case_id, session.actor)
        if isinstance(case, SentCase):
            return RedirectResponse(f"/cases/{case_id}", status_code=303)
        page = Page(request, ctx, session)
        return page.render(
            "crime_report_new.html",
            status=422,
            case=case,
            values=values,
            errors=field_errors(exc, FIELDS, "statement"),
        )
    await reports.file_report(engine, ctx, case_id, body, session.actor, now=clock.now(), if_match=None)
    return RedirectResponse(f"/cases/{case_id}?done=crime_report", status_code=303)


@router.get("/cases/{case_id}/crime-reports/{report_id}", response_class=HTMLResponse)
async def report_page(
    request: Request,
    case_id: CaseId,
    report_id: ReportId,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
) -> Response:
    view = await reports.read_report(engine, ctx, case_id, report_id, session.actor, now=clock.now())
    page = Page(request, ctx, session)
    receiver = session.actor.unit_code == view.report.to_unit_code and session.actor.role in reports.RECEIVERS
    return page.render("crime_report.html", view=view, receiver=receiver)


@router.post("/cases/{case_id}/crime-reports/{report_id}/acknowledge")
async def acknowledge(
    request: Request,
    case_id: CaseId,
    report_id: ReportId,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
) -> Response:
    form = await read_form(request, session)
    note = form_text(form, "note").strip() or None
    await reports.acknowledge(
        engine, ctx, case_id, report_id, AcknowledgementIn(note=note), session.actor, now=clock.now()
    )
    return RedirectResponse(f"/cases/{case_id}/crime-reports/{report_id}", status_code=303)


@router.get("/reports", response_class=HTMLResponse)
async def reports_page(request: Request, session: SessionDep, engine: EngineDep, ctx: CtxDep) -> Response:
    now = clock.now()
    overdue = await reports.list_reports(engine, ctx, session.actor, overdue=True, limit=200, now=now)
    recent = await reports.list_reports(engine, ctx, session.actor, overdue=False, limit=50, now=now)
    page = Page(request, ctx, session)
    return page.render("reports.html", overdue=overdue, recent=recent)


# --- the MoJ report (人民调解工作统计报表) ----------------------------------------------------------

MonthQuery = Annotated[str | None, Query(max_length=16)]
UnitQuery = Annotated[str | None, Query(max_length=32)]


def _month(value: str | None) -> str:
    """The month asked for, else the current one in Kunshan."""
    return (
        value.strip() if value and value.strip() else clock.now().astimezone(clock.SHANGHAI).strftime("%Y-%m")
    )


@router.get("/stats/moj", response_class=HTMLResponse)
async def moj_page(
    request: Request,
    session: SessionDep,
    reporting: ReportingEngineDep,  # the figures from the replica, like the statistics
    ctx: CtxDep,
    month: MonthQuery = None,
    unit: UnitQuery = None,
) -> Response:
    """Every figure with its definition as a hover and a numbered footnote, each linking to its cases."""
    page = Page(request, ctx, session)
    units = resolve_units(session.actor, ctx.org, unit or None)
    chosen, error = _month(month), None
    try:
        report = await moj.compute(
            reporting, ctx, units=units, month=chosen, now=clock.now(), unit=unit or None, case_ids=False
        )
    except InvalidInput:
        error, chosen = page.t("field.month"), _month(None)
        report = await moj.compute(
            reporting, ctx, units=units, month=chosen, now=clock.now(), unit=unit or None, case_ids=False
        )
    return page.render(
        "moj_report.html",
        report=report,
        rows=moj.layout(report),
        towns=towns_in(ctx.org, stats_scope(session.actor, ctx.org)),
        selected_unit=unit or "",
        error=error,
    )


@router.get("/stats/moj/cells/{cell}", response_class=HTMLResponse)
async def moj_cell_page(
    request: Request,
    session: SessionDep,
    reporting: ReportingEngineDep,  # the figures from the replica, like the statistics
    ctx: CtxDep,
    cell: Annotated[str, Path(max_length=64)],
    month: MonthQuery = None,
    unit: UnitQuery = None,
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
) -> Response:
    """The cases behind one figure, a hundred at a time, by the rule that counted them."""
    page = Page(request, ctx, session)
    units = resolve_units(session.actor, ctx.org, unit or None)
    chosen = _month(month)
    found = await moj.cell_cases(
        reporting,
        ctx,
        session.actor,
        cell=cell,
        units=units,
        month=chosen,
        now=clock.now(),
        after=after,
        limit=100,
    )
    return page.render("moj_cell.html", found=found, month=chosen, selected_unit=unit or "")
