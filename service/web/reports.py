"""Reports of a risk of crime as pages: filing one from a case, the receiving unit's view and
acknowledgement, and the list of reports with the overdue ones first (人民调解法 art. 25)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from service import clock
from service.cases import reports
from service.cases import service as cases
from service.cases.report_schemas import AcknowledgementIn, CrimeReportIn
from service.cases.schemas import SentCase
from service.db import EngineDep
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
