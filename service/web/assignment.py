"""The case page's mediators section (调解员): who handles the case, its history, and the forms to
assign, reassign, remove, and record a party's choice or refusal or a mediator's withdrawal (回避),
with the suggestions and their reasons. A form with errors comes back on its own page, naming them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from service import clock
from service.assignment import service as assignment
from service.assignment.schemas import (
    AssignIn,
    CaseMediators,
    DecisionIn,
    ReassignLeadIn,
    RemoveIn,
    SuggestionPublic,
)
from service.cases import service as cases
from service.cases.rows import CaseRow
from service.cases.schemas import CasePublic
from service.context import AppContext
from service.db import EngineDep
from service.errors import Conflict, InvalidInput, ServiceError
from service.web.base import CtxDep, SessionDep, WebRoute, form_text, read_form
from service.web.forms import field_errors
from service.web.render import Page
from service.web.session import WebSession
from workflows.lifecycle import Actor

router = APIRouter(route_class=WebRoute, include_in_schema=False)

CaseId = Annotated[int, Path(ge=1, le=2**63 - 1)]

# form → (its fields, the API model it is checked against)
FORMS: dict[str, tuple[tuple[str, ...], type[BaseModel]]] = {
    "assign": (("mediator_id", "role", "reason"), AssignIn),
    "reassign": (("mediator_id", "reason"), ReassignLeadIn),
    "remove": (("mediator_id", "reason"), RemoveIn),
    "decision": (("kind", "mediator_id", "party_id", "ground", "note"), DecisionIn),
}
# A refusal of the service's rules → the catalogue key that explains it.
RULE_MESSAGES = {
    "barred-after-refusal-or-withdrawal": "mediators.error.barred",
    "one-lead": "mediators.error.one_lead",
    "already-assigned": "mediators.error.already",
    "no-lead": "mediators.error.no_lead",
}


@dataclass
class Section:
    """What ``_mediators.html`` shows; ``form``, ``values`` and ``errors``: a form sent back."""

    view: CaseMediators
    suggestions: list[SuggestionPublic]
    parties: list[tuple[int, str]]
    names: dict[int, str]  # every mediator the forms may name: the unit's roster and those on the case
    form: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    language: str | None = None  # the language the parties need, chosen on the page to rank by
    languages: list[str] = field(default_factory=list)  # those the unit's roster speaks, to choose from


async def section(
    engine: AsyncEngine,
    ctx: AppContext,
    case: CasePublic,
    row: CaseRow,
    actor: Actor,
    *,
    now: datetime,
    language: str | None = None,
) -> Section:
    """The section of a case read for the actor (``row``, from ``visible_row``; ``case``: as shown)."""
    view = await assignment.view_of(engine, ctx, row, actor, now=now)
    wanted = frozenset({language}) if language else frozenset()
    suggestions = await assignment.suggestions_for(engine, row, languages=wanted) if view.may_change else []
    names = {s.mediator_id: s.name for s in suggestions}
    for a in [*([view.lead] if view.lead else []), *view.co]:
        names.setdefault(a.mediator_id, a.mediator_name)
    spoken = sorted({lang for s in suggestions for lang in s.languages})
    return Section(
        view,
        suggestions,
        [(p.id, p.name) for p in case.parties],
        names,
        language=language if language in spoken else None,
        languages=spoken,
    )


async def _page(
    request: Request,
    case_id: int,
    session: WebSession,
    engine: AsyncEngine,
    ctx: AppContext,
    *,
    form: str | None = None,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    row, full = await cases.sighted_row(engine, ctx, case_id, session.actor)
    if not full:  # a unit that sent the case on follows it, it does not act on it
        return RedirectResponse(f"/cases/{case_id}", status_code=303)
    now = clock.now()
    case = cases.case_public(row, ctx, now=now)
    shown = await section(engine, ctx, case, row, session.actor, now=now)
    shown.form, shown.values, shown.errors = form, values or {}, errors or {}
    page = Page(request, ctx, session)
    return page.render("mediators.html", status=status, case=case, mediators=shown)


@router.get("/cases/{case_id}/mediators", response_class=HTMLResponse)
async def mediators_page(
    request: Request, case_id: CaseId, session: SessionDep, engine: EngineDep, ctx: CtxDep
) -> Response:
    return await _page(request, case_id, session, engine, ctx)


def _refusal(error: ServiceError, form: str, names: tuple[str, ...]) -> dict[str, str]:
    """A problem of the service as form errors: its fields, or the rule it names."""
    if isinstance(error, InvalidInput):
        found: dict[str, str] = {}
        for e in error.extra.get("errors", []):
            name = str(e.get("field", "")).removeprefix("body.")
            shown = name if name in names else "form"
            if form == "remove" and shown == "mediator_id":
                found.setdefault(shown, "mediators.error.not_on_case")
            found.setdefault(shown, f"mediators.error.{shown}")
        return found
    rule = error.extra.get("rule")
    if isinstance(error, Conflict) and isinstance(rule, str) and rule in RULE_MESSAGES:
        return {"mediator_id" if rule != "no-lead" else "form": RULE_MESSAGES[rule]}
    raise error  # not a form problem (not handling the case, closed, stale): the error page says so


@router.post("/cases/{case_id}/mediators/{form}", response_class=HTMLResponse)
async def change_mediators(
    request: Request,
    case_id: CaseId,
    form: Annotated[str, Path(pattern="^(assign|reassign|remove|decision)$")],
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
) -> Response:
    sent = await read_form(request, session)
    names, model = FORMS[form]
    values = {name: form_text(sent, name) for name in names}
    try:
        body: Any = model.model_validate({k: v for k, v in values.items() if v})
    except ValidationError as exc:
        errors = field_errors(exc, names, names[0])
        return await _page(
            request, case_id, session, engine, ctx, form=form, values=values, errors=errors, status=422
        )
    actor, now = session.actor, clock.now()
    try:
        if isinstance(body, AssignIn):
            await assignment.assign(engine, ctx, case_id, body, actor, now=now)
        elif isinstance(body, ReassignLeadIn):
            await assignment.reassign_lead(engine, ctx, case_id, body, actor, now=now)
        elif isinstance(body, RemoveIn):
            await assignment.remove(engine, ctx, case_id, body, actor, now=now)
        else:
            await assignment.record_decision(engine, ctx, case_id, body, actor, now=now)
    except (InvalidInput, Conflict) as error:
        errors = _refusal(error, form, names)
        status = 422 if isinstance(error, InvalidInput) else 409
        return await _page(
            request, case_id, session, engine, ctx, form=form, values=values, errors=errors, status=status
        )
    return RedirectResponse(f"/cases/{case_id}#mediators", status_code=303)
