"""A case's major-dispute reports (重大、群体性纠纷即时报告) on its page: what was reported, when, to
whom, and whether the town or city acknowledged it (or it is overdue); a form to report the case
now; and, for a coordinator of a receiving unit, the one-tap acknowledgement. The rules are the
API's (service.screening.major); these handlers only turn a refusal into a message on the page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from service import clock
from service.cases.rows import CaseRow
from service.context import AppContext
from service.db import EngineDep
from service.screening import major
from service.screening.schemas import MajorReportIn, MajorReportPublic
from service.web.base import CtxDep, SessionDep, WebRoute, form_text, read_form
from workflows.lifecycle import Actor
from workflows.screening import MajorRisk

router = APIRouter(route_class=WebRoute, include_in_schema=False)

CaseId = Annotated[int, Path(ge=1, le=2**63 - 1)]
ReportId = Annotated[int, Path(ge=1, le=2**63 - 1)]
RISKS = [r.value for r in MajorRisk]
# What the page says after a report or an acknowledgement (?major=…): a message key's last part.
OUTCOMES = frozenset({"filed", "acknowledged", "already", "refused.risks", "refused.statement"})


@dataclass(frozen=True, slots=True)
class Section:
    items: list[MajorReportPublic]  # oldest first
    may_file: bool
    actor: Actor
    risks: list[str]
    outcome: str | None  # one of OUTCOMES

    def may_acknowledge(self, report: MajorReportPublic) -> bool:
        return report.acknowledged_at is None and major.may_acknowledge(report.to_unit_codes, self.actor)

    @property
    def refused(self) -> bool:
        return self.outcome is not None and self.outcome.startswith("refused")


async def section(
    request: Request, engine: AsyncEngine, ctx: AppContext, row: CaseRow, actor: Actor, *, now: datetime
) -> Section:
    """The section of a case the page has read for the actor (``visible_row``)."""
    outcome = request.query_params.get("major")
    return Section(
        items=await major.reports_of(engine, ctx, row.id, now=now),
        may_file=major.may_file_on(row, actor),
        actor=actor,
        risks=RISKS,
        outcome=outcome if outcome in OUTCOMES else None,
    )


def _back(case_id: int, outcome: str) -> RedirectResponse:
    return RedirectResponse(f"/cases/{case_id}?major={outcome}#major-reports", status_code=303)


@router.post("/cases/{case_id}/major-reports")
async def file_report(
    request: Request, case_id: CaseId, session: SessionDep, engine: EngineDep, ctx: CtxDep
) -> Response:
    """Report the case now, as ``POST /api/v1/cases/{id}/major-reports`` does: the risks ticked
    (``risk_<name>``) and the statement."""
    form = await read_form(request, session)
    risks = [r for r in RISKS if form_text(form, f"risk_{r}")]
    try:
        body = MajorReportIn.model_validate({"risks": risks, "statement": form_text(form, "statement")})
    except ValidationError as exc:
        where = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        return _back(case_id, "refused.risks" if "risks" in where else "refused.statement")
    await major.file_report(engine, ctx, case_id, body.risks, body.statement, session.actor, now=clock.now())
    return _back(case_id, "filed")


@router.post("/cases/{case_id}/major-reports/{report_id}/acknowledge")
async def acknowledge(
    request: Request,
    case_id: CaseId,
    report_id: ReportId,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
) -> Response:
    """A coordinator of the town or the city centre confirms the report, once; back to its case."""
    await read_form(request, session)
    try:
        done = await major.acknowledge(engine, ctx, report_id, None, session.actor, now=clock.now())
    except major.MajorReportAcknowledged:
        return _back(case_id, "already")
    return _back(done.case_id, "acknowledged")
