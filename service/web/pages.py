"""The web pages: sign-in, the case list, registering a dispute, a case and its actions.

Every page calls the same use cases as the API (service.cases.service …) with the signed-in
user as the actor, so a page can never show or do what the API would refuse.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from service import clock
from service.cases import edits, reports
from service.cases import service as cases
from service.cases.queries import CaseFilter
from service.cases.schemas import CaseCreate, SentCase, TransitionIn, TriagePreview
from service.db import EngineDep
from service.errors import InvalidInput, ServiceError, StaleVersion, TransitionNotAllowed
from service.http_safety import client_ip
from service.i18n import LANGUAGES
from service.referrals.service import list_referrals
from service.users.service import attempt_sign_in, revoke_token
from service.users.throttle import ThrottlePolicy, TooManyAttempts
from service.web import assignment, case_file, file_check
from service.web import attachments as attachment_pages
from service.web import documents as document_pages
from service.web import majors as major_pages
from service.web import sessions as web_sessions
from service.web.base import CtxDep, SessionDep, WebRoute, form_text, read_form
from service.web.forms import (
    consent_body,
    error_key,
    fields_for,
    form_name,
    takes_consents,
    transition_body,
    unit_choices,
    validation_errors,
)
from service.web.render import Page, language_of
from service.web.session import (
    LANGUAGE_COOKIE,
    SESSION_COOKIE,
    check_origin,
    safe_next,
    set_session_cookie,
)
from service.web.views import badge, urgent_deadlines
from workflows.agreement import PRE_TICKED
from workflows.calendar import SHANGHAI
from workflows.intake import acceptance_bar
from workflows.lifecycle import CLOSE_OUTCOMES, CaseFacts, CaseState, Role, TransitionContext, Trigger
from workflows.org import Channel, UnitKind
from workflows.vocab import DisputeType, Flag, Source

router = APIRouter(route_class=WebRoute, include_in_schema=False)

PAGE_SIZE = 20
CaseId = Annotated[int, Path(ge=1, le=2**63 - 1)]
OPEN_STATES = [s.value for s in CaseState if s != CaseState.closed]


def _redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


# --- signing in -------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def home(session: SessionDep) -> Response:
    role = session.actor.role
    if role == Role.court_clerk:
        return _redirect("/court")
    if role == Role.coordinator:
        return _redirect("/inbox")
    if role == Role.admin:
        return _redirect("/dashboard")
    return _redirect("/cases")


@router.get("/signin", response_class=HTMLResponse)
async def signin_page(
    request: Request,
    ctx: CtxDep,
    next: Annotated[str | None, Query(max_length=500)] = None,
    expired: bool = False,
) -> Response:
    page = Page(request, ctx, None)
    return page.render(
        "signin.html", next=safe_next(next), error=page.t("signin.expired") if expired else None, username=""
    )


@router.post("/signin", response_class=HTMLResponse)
async def signin(
    request: Request,
    engine: EngineDep,
    ctx: CtxDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    check_origin(request)  # no session yet, so no CSRF token: the Origin is the check
    page = Page(request, ctx, None)
    ttl = timedelta(hours=ctx.settings.token_ttl_hours)
    result = await attempt_sign_in(
        engine,
        username.strip(),
        password,
        now=clock.now(),
        ttl=ttl,
        client_ip=client_ip(request),
        policy=ThrottlePolicy.from_settings(ctx.settings),
    )
    if isinstance(result, ServiceError):
        if isinstance(result, TooManyAttempts):
            message = page.t("signin.locked", until=result.extra.get("locked_until", ""))
        else:
            message = page.t("signin.failed")
        return page.render(
            "signin.html", status=result.status, next=safe_next(next), error=message, username=username
        )
    token, _expires = result
    response = _redirect(safe_next(next))
    set_session_cookie(response, request, token, int(ttl.total_seconds()))
    return response


@router.post("/signout")
async def signout(request: Request, session: SessionDep, engine: EngineDep) -> Response:
    await read_form(request, session)
    async with engine.begin() as conn:
        await revoke_token(
            conn, session.token, now=clock.now(), by=session.actor, client_ip=client_ip(request)
        )
    response = _redirect("/signin")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{lang}")
async def switch_language(lang: str, next: Annotated[str | None, Query(max_length=500)] = None) -> Response:
    response = _redirect(safe_next(next))
    if lang in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/")
    return response


# --- the case list ----------------------------------------------------------------------------


@router.get("/cases", response_class=HTMLResponse)
async def case_list(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
    view: Annotated[str, Query(pattern="^(open|all|closed)$")] = "open",
    overdue: bool = False,
    q: Annotated[str | None, Query(max_length=100)] = None,
    page_no: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    now = clock.now()
    states = {"open": OPEN_STATES, "closed": [CaseState.closed.value], "all": []}[view]
    search = q.strip() if q and "\x00" not in q else None
    requested = CaseFilter(state=states, q=search or None, overdue_as_of=now if overdue else None)
    listed = await cases.list_cases(
        engine,
        ctx,
        session.actor,
        requested,
        unit=None,
        limit=PAGE_SIZE,
        offset=(page_no - 1) * PAGE_SIZE,
    )
    due = await urgent_deadlines(engine, ctx, [c.id for c in listed.items], now=now)
    pages = max(1, -(-listed.total // PAGE_SIZE))
    if listed.total_is_lower_bound:  # a search past its counted matches: a next page while pages are full
        pages = page_no + (1 if len(listed.items) == PAGE_SIZE else 0)
    page = Page(request, ctx, session)
    return page.render(
        "cases.html",
        listed=listed,
        due=due,
        view=view,
        overdue=overdue,
        q=search or "",
        page_no=page_no,
        pages=pages,
    )


# --- registering a dispute --------------------------------------------------------------------

CASE_FORM_FIELDS = {
    ("dispute_type",): "dispute_type",
    ("summary",): "summary",
    ("location_code",): "location_code",
    ("amount_yuan",): "amount_yuan",
    ("people_involved",): "people_involved",
    ("flags",): "flags",
    ("source",): "source",
    ("parties", "0", "name"): "applicant_name",
    ("parties", "0", "phone"): "applicant_phone",
    ("parties", "0", "id_number"): "applicant_id",
    ("parties", "1", "name"): "respondent_name",
    ("parties", "1", "phone"): "respondent_phone",
    ("parties", "1", "id_number"): "respondent_id",
    ("parties",): "applicant_name",
    ("prior_proceedings", "authority"): "prior_authority",
    ("prior_proceedings", "authority_name"): "prior_authority_name",
    ("prior_proceedings", "accepted_on"): "prior_accepted_on",
    ("prior_proceedings", "case_number"): "prior_case_number",
    ("prior_proceedings",): "prior_authority",
}


def _case_field(location: tuple[str, ...]) -> str:
    for length in range(len(location), 0, -1):
        name = CASE_FORM_FIELDS.get(location[:length])
        if name:
            return name
    return "summary"


def _case_body(form: FormData) -> dict[str, Any]:
    parties = []
    for role in ("applicant", "respondent"):
        name = form_text(form, f"{role}_name")
        if not name:
            continue
        party: dict[str, Any] = {"name": name, "role": role}
        for field, key in (("phone", "phone"), ("id", "id_number")):
            value = form_text(form, f"{role}_{field}")
            if value:
                party[key] = value
                if key == "id_number":
                    party["id_type"] = "resident_id"
        parties.append(party)
    body: dict[str, Any] = {
        "dispute_type": form_text(form, "dispute_type"),
        "summary": form_text(form, "summary"),
        "location_code": form_text(form, "location_code"),
        "people_involved": form_text(form, "people_involved") or "1",
        "flags": [f for f in form.getlist("flags") if isinstance(f, str)],
        "source": form_text(form, "source") or Source.application.value,
        "parties": parties,
    }
    if form_text(form, "amount_yuan"):
        body["amount_yuan"] = form_text(form, "amount_yuan")
    if form_text(form, "prior_authority"):
        body["prior_proceedings"] = prior_body(form)
    return body


def prior_body(form: FormData) -> dict[str, Any]:
    """The intake's declaration from the form; empty boxes are left out."""
    prior: dict[str, Any] = {"authority": form_text(form, "prior_authority")}
    for key in ("authority_name", "accepted_on", "case_number"):
        if form_text(form, f"prior_{key}"):
            prior[key] = form_text(form, f"prior_{key}")
    return prior


def _case_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors():
        name = _case_field(tuple(str(p) for p in error["loc"]))
        errors.setdefault(name, error_key(error))
    return errors


def _locations(ctx: CtxDep) -> list[Any]:
    kinds = {UnitKind.village_station, UnitKind.town_centre}
    return sorted((u for u in ctx.org if u.kind in kinds), key=lambda u: u.code)


def _preview(ctx: CtxDep, body: dict[str, Any]) -> Any:
    fields = {k: body[k] for k in TriagePreview.model_fields if k in body}
    try:
        return cases.preview_triage(ctx, TriagePreview.model_validate(fields))
    except (ValidationError, ServiceError):
        return None


def _render_new(
    page: Page,
    ctx: CtxDep,
    values: dict[str, Any],
    *,
    errors: dict[str, str] | None = None,
    preview: Any = None,
    status: int = 200,
) -> Response:
    return page.render(
        "new_case.html",
        status=status,
        values=values,
        errors=errors or {},
        preview=preview,
        locations=_locations(ctx),
        flags=[f.value for f in Flag],
    )


@router.get("/cases/new", response_class=HTMLResponse)
async def new_case_form(request: Request, session: SessionDep, ctx: CtxDep) -> Response:
    page = Page(request, ctx, session)
    own = ctx.org.find(session.actor.unit_code)
    location = own.code if own and own.kind in (UnitKind.village_station, UnitKind.town_centre) else ""
    values = {
        "location_code": location,
        "people_involved": "1",
        "source": Source.application.value,
        "flags": [],
        "idempotency_key": uuid.uuid4().hex,
    }
    return _render_new(page, ctx, values)


def _form_values(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str) and k != "flags"}
    values["flags"] = [f for f in form.getlist("flags") if isinstance(f, str)]
    return values


@router.post("/cases/new/preview", response_class=HTMLResponse)
async def triage_fragment(request: Request, session: SessionDep, ctx: CtxDep) -> Response:
    """The triage decision as an HTML fragment, for the form's live preview."""
    form = await read_form(request, session)
    page = Page(request, ctx, session)
    return page.render("_triage.html", preview=_preview(ctx, _case_body(form)))


@router.post("/cases/new", response_class=HTMLResponse)
async def register_case(request: Request, session: SessionDep, engine: EngineDep, ctx: CtxDep) -> Response:
    form = await read_form(request, session)
    page = Page(request, ctx, session)
    values = _form_values(form)
    body = _case_body(form)
    preview = _preview(ctx, body)
    if form_text(form, "action") == "preview":
        return _render_new(page, ctx, values, preview=preview)
    try:
        create = CaseCreate.model_validate(body)
    except ValidationError as exc:
        return _render_new(page, ctx, values, errors=_case_errors(exc), preview=preview, status=422)
    key = form_text(form, "idempotency_key")[:200] or None
    try:
        case, _replayed = await cases.open_case(
            engine, ctx, create, session.actor, now=clock.now(), idempotency_key=key
        )
    except InvalidInput as exc:
        errors = {
            _case_field(tuple(e["field"].split(".")[1:])): "field.invalid"
            for e in exc.extra.get("errors", [])
        }
        return _render_new(page, ctx, values, errors=errors, preview=preview, status=422)
    if isinstance(case, SentCase):
        return _redirect(f"/cases/{case.id}?done=sent")  # triage sent it to another unit
    return _redirect(f"/cases/{case.id}?done=created")


# --- one case ---------------------------------------------------------------------------------


@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case_page(
    request: Request,
    case_id: CaseId,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
    done: Annotated[str | None, Query(max_length=40)] = None,
    language: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    now, actor = clock.now(), session.actor
    # The case is read once, with the reader's scope, and every section is given that read: the
    # sections' service calls are the API's inner functions, without the API's own read.
    row, full = await cases.sighted_row(engine, ctx, case_id, actor)
    if not full:
        return _sent_page(Page(request, ctx, session), await cases.sent_view(engine, ctx, row), done)
    case = cases.case_public(row, ctx, now=now)
    events = await cases.events_of(engine, case_id)
    options = cases.options_of(ctx, row, actor, now)
    async with engine.connect() as conn:
        referrals = await list_referrals(conn, case_id)
    crime_reports = await reports.reports_of(engine, ctx, case_id, now=now)
    may_report = reports.may_file_on(ctx, row, actor, now)
    may_consent = edits.may_record_consent_on(ctx, row, actor, now)
    mediators = await assignment.section(engine, ctx, case, row, actor, now=now, language=language)
    files = await attachment_pages.section(request, engine, ctx, row, actor, now=now)
    docs = await document_pages.section(request, engine, ctx, row, actor, now=now)
    session_records = await web_sessions.section(
        engine, case, may_record=may_consent, lang=language_of(request)
    )
    file = await case_file.section(request, engine, ctx, row, actor, now=now)
    check = await file_check.section(request, engine, row)
    majors = await major_pages.section(request, engine, ctx, row, actor, now=now)
    page = Page(request, ctx, session)
    notice = None
    if done == "created":
        notice = page.t("new.created", number=case.number)
    elif done in Trigger.__members__:
        notice = page.t("case.done", action=page.label("trigger", done))
    elif done == "crime_report":
        notice = page.t("report.filed")
    elif done == "consent":
        notice = page.t("consent.recorded")
    elif done == "session":
        notice = page.t("sessions.recorded")
    elif done in ("file_number", "file_number_refused"):
        notice = page.t(f"case_file.{done}")
    badges = {
        d.id: badge(d.status, d.due_at, d.name, ctx, now, d.started_at)
        for d in case.deadlines
        if d.status in ("active", "breached", "paused")
    }
    # Acceptance into people's mediation is barred (2002 规定 art. 22): say so before anyone tries.
    barred = case.state == CaseState.assigned and case.channel == Channel.people
    bar = acceptance_bar(case.prior_proceedings) if barred else None
    return page.render(
        "case.html",
        bar=None if bar is None else str(bar),
        case=case,
        events=list(reversed(events)),
        options=options,
        referrals=referrals,
        notice=notice,
        badges=badges,
        crime_reports=crime_reports,
        may_report=may_report,
        may_consent=may_consent,
        mediators=mediators,
        attachments=files,
        documents=docs,
        sessions=session_records,
        case_file=file,
        file_check=check,
        majors=majors,
    )


def _sent_page(page: Page, case: SentCase, done: str | None) -> Response:
    """A case the user's unit sent on: where it is and how it ended, read only. Just after the
    action (or registration) that sent it: "sent to <unit>, case <number>"."""
    notice = None
    if done is not None:
        notice = page.t("sent.notice", unit=page.unit(case.unit_code), number=case.number)
    return page.render("sent_case.html", case=case, notice=notice, steps=list(reversed(case.timeline)))


@router.get("/sent", response_class=HTMLResponse)
async def sent_list(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
    view: Annotated[str, Query(pattern="^(open|all|closed)$")] = "all",
    page_no: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    """The cases the user's unit sent on: where each is now and its result."""
    states = {"open": [CaseState(s) for s in OPEN_STATES], "closed": [CaseState.closed], "all": []}[view]
    listed = await cases.list_sent(
        engine,
        ctx,
        session.actor,
        states=states,
        outcomes=[],
        limit=PAGE_SIZE,
        offset=(page_no - 1) * PAGE_SIZE,
    )
    owed = await cases.owed_returns(engine, ctx, session.actor, now=clock.now())
    pages = max(1, -(-listed.total // PAGE_SIZE))
    page = Page(request, ctx, session)
    return page.render("sent.html", listed=listed, owed=owed, view=view, page_no=page_no, pages=pages)


def _render_action(
    page: Page,
    ctx: CtxDep,
    case: Any,
    trigger: Trigger,
    *,
    values: dict[str, Any],
    version: int,
    seen: int,
    errors: dict[str, str] | None = None,
    changes: list[Any] | None = None,
    status: int = 200,
    detail: str | None = None,
) -> Response:
    assert page.session is not None
    facts = CaseFacts(state=CaseState(case.state), unit_code=case.unit_code, channel=Channel(case.channel))
    units = unit_choices(trigger, TransitionContext(page.session.actor, facts, ctx.org, clock.now()))
    fields = fields_for(trigger)
    # A chosen outcome (closing) offers only what the lifecycle accepts from this state (a court
    # case: litigated or withdrawn), not the whole vocabulary.
    allowed = tuple(o.value for o in CLOSE_OUTCOMES.get(CaseState(case.state), ()))
    fields = [replace(f, choices=allowed) if f.name == "outcome" else f for f in fields]
    # The court the desk belongs to first (the default), then any other court of the deployment.
    desk = ctx.org.court_desk()
    first = desk.parent_code if desk is not None else None
    courts = sorted((ctx.org.get(c) for c in ctx.org.court_units()), key=lambda u: (u.code != first, u.code))
    # 民诉解释 art. 355 boxes ticked in advance for the dispute type (a family dispute: marriage).
    prechecked = {f"touches_{m.value}": True for m in PRE_TICKED.get(DisputeType(case.dispute_type), ())}
    return page.render(
        "action.html",
        status=status,
        case=case,
        trigger=trigger,
        fields=fields,
        units=units,
        values=values,
        version=version,
        seen=seen,
        errors=errors or {},
        changes=changes,
        courts=courts,
        prechecked=prechecked,
        detail=detail,
    )


async def _allowed(engine: EngineDep, ctx: CtxDep, case_id: int, session: Any, trigger: Trigger) -> None:
    options = await cases.transition_options(engine, ctx, case_id, session.actor, now=clock.now())
    allowed = [o.trigger.value for o in options]
    if trigger.value not in allowed:
        case = await cases.get_case(engine, ctx, case_id, session.actor)
        raise TransitionNotAllowed(
            f"'{trigger.value}' is not allowed now.", state=case.state.value, allowed=allowed
        )


@router.get("/cases/{case_id}/act/{trigger}", response_class=HTMLResponse)
async def action_form(
    request: Request, case_id: CaseId, trigger: Trigger, session: SessionDep, engine: EngineDep, ctx: CtxDep
) -> Response:
    await _allowed(engine, ctx, case_id, session, trigger)
    case = await cases.get_case(engine, ctx, case_id, session.actor)
    events = await cases.case_events(engine, ctx, case_id, session.actor)
    page = Page(request, ctx, session)
    today = clock.now().astimezone(SHANGHAI).date().isoformat()
    values = {"consent_on": today} if takes_consents(trigger) else {}
    return _render_action(page, ctx, case, trigger, values=values, version=case.version, seen=len(events))


@router.post("/cases/{case_id}/act/{trigger}", response_class=HTMLResponse)
async def act(
    request: Request, case_id: CaseId, trigger: Trigger, session: SessionDep, engine: EngineDep, ctx: CtxDep
) -> Response:
    form = await read_form(request, session)
    page = Page(request, ctx, session)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    version = int(form_text(form, "version")) if form_text(form, "version").isdigit() else None
    seen = int(form_text(form, "seen")) if form_text(form, "seen").isdigit() else 0

    async def again(
        status: int, errors: dict[str, str] | None = None, stale: bool = False, detail: str | None = None
    ) -> Response:
        """The form once more, with what was typed. A stale form moves to the current version and
        lists the events since it was opened; otherwise it keeps the version the user saw."""
        case = await cases.get_case(engine, ctx, case_id, session.actor)
        changes = None
        shown, counted = version or case.version, seen
        if stale:
            events = await cases.case_events(engine, ctx, case_id, session.actor)
            changes, shown, counted = events[seen:], case.version, len(events)
        return _render_action(
            page,
            ctx,
            case,
            trigger,
            values=values,
            version=shown,
            seen=counted,
            errors=errors,
            changes=changes,
            status=status,
            detail=detail,
        )

    body = transition_body(trigger, values)
    if takes_consents(trigger):
        shown = await cases.get_case(engine, ctx, case_id, session.actor)
        parties = [] if isinstance(shown, SentCase) else [p.id for p in shown.parties]
        body["consents"] = consent_body(values, parties)
    errors = validation_errors(trigger, body)
    if errors:
        return await again(422, errors)
    try:
        after = await cases.apply_transition(
            engine,
            ctx,
            case_id,
            TransitionIn.model_validate(body),
            session.actor,
            now=clock.now(),
            if_match=version,
        )
    except StaleVersion:
        # Kindly: say someone else changed the case, show exactly what, keep what was typed.
        return await again(409, stale=True)
    except InvalidInput as exc:
        fields = fields_for(trigger)
        mapped: dict[str, str] = {}
        for error in exc.extra.get("errors", []):
            name = form_name(fields, error["field"].split(".")) or "reason"
            problem = {"target_unit": "field.bad_target", "consent_on": "field.consent_missing"}.get(name)
            mapped.setdefault(name, problem or "field.invalid")
        return await again(422, mapped, detail=exc.detail)
    if isinstance(after, SentCase):
        return _redirect(f"/cases/{case_id}?done=sent")  # it left the user's unit: where it went
    return _redirect(f"/cases/{case_id}?done={trigger.value}")
