"""The screening register as pages: a station's phone-sized form to record a round (a zero report
in two taps, or what was found, with one found dispute registered as a case in the same step),
and the list a town reads: its stations' rounds and those that have not reported."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from service import clock
from service.db import EngineDep
from service.errors import InvalidInput
from service.screening import major
from service.screening import service as screening
from service.screening.schemas import RoundIn
from service.web.base import CtxDep, SessionDep, WebRoute, form_text, read_form
from service.web.forms import error_key
from service.web.render import Page
from workflows.calendar import SHANGHAI
from workflows.lifecycle import Role
from workflows.screening import MajorRisk
from workflows.vocab import DisputeType

router = APIRouter(route_class=WebRoute, include_in_schema=False)

ReportId = Annotated[int, Path(ge=1, le=2**63 - 1)]

FIELDS = (
    "held_at",
    "place",
    "scope",
    "participants",
    "findings",
    "nothing_found",
    "disputes_prevented",
    "dispute_type",
    "summary",
    "applicant",
    "respondent",
    "major_statement",
    "request_key",  # drawn when the form is shown: a second tap, or a retry, records one round
)


def _body(values: dict[str, str], unit_code: str, risks: list[str]) -> dict[str, Any]:
    """The form as the API's body: participants one per line, at most one found dispute (placed
    at the station; the API takes more)."""
    held = values["held_at"]
    body: dict[str, Any] = {
        "held_at": datetime.fromisoformat(held).replace(tzinfo=SHANGHAI) if held else None,
        "place": values["place"],
        "scope": values["scope"],
        "participants": [{"name": n.strip()} for n in values["participants"].splitlines() if n.strip()],
        "findings": values["findings"] or None,
        "nothing_found": values["nothing_found"] == "1",
        "disputes_prevented": int(values["disputes_prevented"] or 0),
        "disputes": [],
    }
    if values["summary"]:
        parties = [{"name": values["applicant"], "role": "applicant"}]
        if values["respondent"]:
            parties.append({"name": values["respondent"], "role": "respondent"})
        dispute: dict[str, Any] = {
            "dispute_type": values["dispute_type"] or DisputeType.OTHER.value,
            "summary": values["summary"],
            "location_code": unit_code,
            "parties": parties,
            "prior_proceedings": {"authority": "none"},
        }
        if risks:  # reported at once to the town and the city centre
            dispute["major"] = {"risks": risks, "statement": values["major_statement"] or values["summary"]}
        body["disputes"].append(dispute)
    return body


async def _render(
    request: Request,
    session: Any,
    engine: Any,
    ctx: Any,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
    done: bool = False,
    checked: list[str] | None = None,
) -> Response:
    actor = session.actor
    now = clock.now()
    rounds = await screening.list_rounds(
        engine, ctx, actor, unit=None, start=None, end=None, after=None, limit=30
    )
    reports = await major.list_reports(engine, ctx, actor, open_only=False, limit=20, now=now)
    missing = None
    if actor.role in (Role.coordinator, Role.auditor):  # a town reads who has not reported
        missing = await screening.missing_units(engine, ctx, actor, period=None, now=now)
    page = Page(request, ctx, session)
    return page.render(
        "screening.html",
        status=status,
        rounds=rounds,
        missing=missing,
        values=values,
        errors=errors,
        done=done,
        may_record=actor.role in screening.RECORDERS,
        reports=reports.items,
        risks=[r.value for r in MajorRisk],
        checked=checked or [],
        dispute_types=[t.value for t in DisputeType],
    )


@router.get("/screening", response_class=HTMLResponse)
async def screening_page(request: Request, session: SessionDep, engine: EngineDep, ctx: CtxDep) -> Response:
    screening.readable_units(session.actor, ctx)  # a role that keeps no register: 403
    now = clock.now().astimezone(SHANGHAI)
    values = dict.fromkeys(FIELDS, "")
    values["held_at"] = now.strftime("%Y-%m-%dT%H:%M")
    values["request_key"] = f"web-{uuid.uuid4()}"
    return await _render(
        request, session, engine, ctx, values=values, errors={}, done=request.query_params.get("done") == "1"
    )


@router.post("/screening", response_class=HTMLResponse)
async def record_round(request: Request, session: SessionDep, engine: EngineDep, ctx: CtxDep) -> Response:
    form = await read_form(request, session)
    values = {name: form_text(form, name) for name in FIELDS}
    checked = [r.value for r in MajorRisk if form.get(f"risk_{r.value}") == "1"]
    try:
        body = RoundIn.model_validate(_body(values, session.actor.unit_code, checked))
    except ValidationError as exc:
        return await _render(request, session, engine, ctx, values=values, errors=_errors(exc), status=422)
    except ValueError:
        return await _render(
            request,
            session,
            engine,
            ctx,
            values=values,
            errors={"held_at": "field.invalid"},
            status=422,
            checked=checked,
        )
    try:
        await screening.record_round(
            engine, ctx, body, session.actor, now=clock.now(), idempotency_key=values["request_key"] or None
        )
    except InvalidInput as exc:
        # The round's own rules (a zero report names nothing; not in the future) or a found
        # dispute's registration: said at the field, in the catalogue's words.
        errors = {}
        for e in exc.extra.get("errors", []):
            name = e["field"].split(".")[-1]
            if name == "nothing_found":
                errors["nothing_found"] = "screening.error.nothing_found"
            elif name == "held_at":
                errors["held_at"] = "screening.error.held_at"
            else:
                errors["summary"] = "field.invalid"
        return await _render(
            request, session, engine, ctx, values=values, errors=errors, status=422, checked=checked
        )
    return RedirectResponse("/screening?done=1", status_code=303)


def _errors(exc: ValidationError) -> dict[str, str]:
    """Field errors keyed by the form's field names (a found dispute's fields by their own)."""
    errors: dict[str, str] = {}
    for e in exc.errors():
        loc = [str(p) for p in e["loc"]]
        name = next((p for p in reversed(loc) if p in FIELDS), None)
        if name is None and "parties" in loc:
            name = "applicant"
        errors.setdefault(name or "place", error_key(e))
    return errors


@router.post("/screening/major/{report_id}/acknowledge")
async def acknowledge_major(
    request: Request, report_id: ReportId, session: SessionDep, engine: EngineDep, ctx: CtxDep
) -> Response:
    """A town's or the city centre's coordinator confirms a major-dispute report from the list."""
    await read_form(request, session)
    await major.acknowledge(engine, ctx, report_id, None, session.actor, now=clock.now())
    return RedirectResponse("/screening#major-heading", status_code=303)
