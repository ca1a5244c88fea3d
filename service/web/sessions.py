"""Mediation session records (调解笔录) from the phone: a section on the case page, a form to add
one (attendees as boxes to tick: the case's parties and its mediators), a page to read one, and
the same form to correct it (with the version it was read at: a record corrected meanwhile is
not overwritten, the form says so and keeps what was typed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import FormData

from service import clock
from service.cases import edits
from service.cases import service as cases
from service.cases.rows import CaseRow
from service.cases.schemas import CasePublic
from service.context import AppContext
from service.db import EngineDep
from service.errors import Conflict, InvalidInput, StaleVersion
from service.sessions import service as sessions
from service.sessions.schemas import CaseSessions, SessionCorrection, SessionPublic, SessionResult
from service.web.base import CtxDep, SessionDep, WebRoute, form_text, read_form
from service.web.forms import error_key
from service.web.render import Page
from service.web.session import WebSession
from workflows.lifecycle import Actor

router = APIRouter(route_class=WebRoute, include_in_schema=False)

CaseId = Annotated[int, Path(ge=1, le=2**63 - 1)]
RecordId = Annotated[int, Path(ge=1, le=2**63 - 1)]
RESULTS = tuple(r.value for r in SessionResult)
# Where an error of the API's record lands on the form, and what it says there.
FIELD_OF = {
    "started_at": "start",
    "ended_at": "end",
    "place": "place",
    "party_ids": "party_ids",
    "agents": "agents",
    "mediator_ids": "mediator_ids",
    "others": "others",
    "statements": "statements",
    "proposal": "proposal",
    "result": "result",
    "adjourned_to": "adjourned_to",
    "notes": "notes",
    "reason": "reason",
}
RULE_MESSAGES = {
    "start": "sessions.error.start",
    "end": "sessions.error.end",
    "party_ids": "sessions.error.parties",
    "agents": "sessions.error.agents",
    "mediator_ids": "sessions.error.mediators",
    "statements": "sessions.error.statements",
    "adjourned_to": "sessions.error.adjourned_to",
}


def chinese_time(value: datetime | None, lang: str = "zh") -> str:
    """2026年12月7日 09:30 (English: 7 Dec 2026 09:30), in Beijing time."""
    if value is None:
        return ""
    local = value.astimezone(clock.SHANGHAI)
    return f"{chinese_date(local.date(), lang)} {local:%H:%M}"


def chinese_date(value: date | None, lang: str = "zh") -> str:
    if value is None:
        return ""
    if lang == "en":
        return f"{value.day} {value:%b} {value.year}"
    return f"{value.year}年{value.month}月{value.day}日"


@dataclass
class Form:
    """What the form shows: the boxes to tick, the values typed, the errors by field."""

    parties: list[tuple[int, str]]
    mediators: list[tuple[int, str]]
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    stale: int | None = None  # the record's version now, when a correction came too late


@dataclass(frozen=True)
class Section:
    """The case page's 调解记录 section: the records, whether the reader may add one, and how a
    record's time reads (2026年12月7日 09:30–11:00, Beijing time)."""

    view: CaseSessions
    lang: str = "zh"

    @property
    def sessions(self) -> list[SessionPublic]:
        return self.view.sessions

    @property
    def may_record(self) -> bool:
        return self.view.may_record

    def when(self, record: SessionPublic) -> str:
        shown = chinese_time(record.started_at, self.lang)
        if record.ended_at is None:
            return shown
        end = record.ended_at.astimezone(clock.SHANGHAI)
        same_day = end.date() == record.started_at.astimezone(clock.SHANGHAI).date()
        return f"{shown}–{end:%H:%M}" if same_day else f"{shown} – {chinese_time(record.ended_at, self.lang)}"

    def day(self, value: date | None) -> str:
        return chinese_date(value, self.lang)


async def section(engine: AsyncEngine, case: CasePublic, *, may_record: bool, lang: str = "zh") -> Section:
    """The case page's 调解记录 section, for a reader who has the case in full (``may_record``: they
    handle it and it is open, the rule the case page already read for consents), in ``lang``."""
    found = await sessions.sessions_read(engine, case.id, {p.id: p.name for p in case.parties})
    return Section(CaseSessions(case_id=case.id, sessions=found, may_record=may_record), lang)


async def _read(
    engine: AsyncEngine, ctx: AppContext, case_id: int, actor: Actor
) -> tuple[CasePublic, CaseRow] | None:
    """The case as shown and as read, once; None for a unit that sent it on (it only follows it)."""
    row, full = await cases.sighted_row(engine, ctx, case_id, actor)
    return (cases.case_public(row, ctx, now=clock.now()), row) if full else None


async def _case(engine: AsyncEngine, ctx: AppContext, case_id: int, actor: Actor) -> CasePublic | None:
    found = await _read(engine, ctx, case_id, actor)
    return None if found is None else found[0]


async def _writable(engine: AsyncEngine, ctx: AppContext, case_id: int, actor: Actor) -> CasePublic | None:
    """The case, if the reader may record its sessions now; the error page if they may only read it."""
    found = await _read(engine, ctx, case_id, actor)
    if found is None:
        return None
    case, row = found
    if not edits.may_record_consent_on(ctx, row, actor, clock.now()):
        raise Conflict(f"{actor.username} may read case {case.number} but not record its sessions now.")
    return case


async def _choices(engine: AsyncEngine, case: CasePublic, record: SessionPublic | None) -> Form:
    on_case = await sessions.case_mediators(engine, case.id)
    listed = {m.mediator_id for m in on_case if m.current} | set(record_ids(record))
    return Form(
        parties=[(p.id, p.name) for p in case.parties],
        mediators=[(m.mediator_id, m.name) for m in on_case if m.mediator_id in listed],
    )


def record_ids(record: SessionPublic | None) -> list[int]:
    return [] if record is None else [m.id for m in record.mediators]


def _values_of(record: SessionPublic) -> dict[str, Any]:
    start = record.started_at.astimezone(clock.SHANGHAI)
    end = record.ended_at.astimezone(clock.SHANGHAI) if record.ended_at else None
    return {
        "day": start.date().isoformat(),
        "start": f"{start:%H:%M}",
        "end": f"{end:%H:%M}" if end else "",
        "place": record.place,
        "party_ids": [str(p.id) for p in record.parties],
        "mediator_ids": [str(m.id) for m in record.mediators],
        **{f"agent_{a.party_id}": a.name for a in record.agents},
        **{f"statement_{s.party_id}": s.text for s in record.statements},
        "others": "\n".join(f"{o.name} {o.role}" for o in record.others),
        "proposal": record.proposal or "",
        "result": record.result.value,
        "adjourned_to": record.adjourned_to.isoformat() if record.adjourned_to else "",
        "notes": record.notes or "",
        "version": str(record.version),
    }


def _values_from(sent: FormData, form: Form) -> dict[str, Any]:
    values: dict[str, Any] = {
        name: form_text(sent, name)
        for name in (
            "day",
            "start",
            "end",
            "place",
            "others",
            "proposal",
            "result",
            "adjourned_to",
            "notes",
            "reason",
            "version",
        )
    }
    values["party_ids"] = [v for v in sent.getlist("party_ids") if isinstance(v, str)]
    values["mediator_ids"] = [v for v in sent.getlist("mediator_ids") if isinstance(v, str)]
    for party_id, _ in form.parties:
        values[f"agent_{party_id}"] = form_text(sent, f"agent_{party_id}")
        values[f"statement_{party_id}"] = form_text(sent, f"statement_{party_id}")
    return values


def _local(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), tzinfo=clock.SHANGHAI)


def _body(values: dict[str, Any], form: Form) -> tuple[dict[str, Any], dict[str, str]]:
    """The API's record from the form, and the errors of what cannot even be read."""
    errors: dict[str, str] = {}
    body: dict[str, Any] = {}
    try:
        day = date.fromisoformat(values["day"])
    except ValueError:
        errors["day"] = "field.missing" if not values["day"] else "field.date"
        day = None
    for name, key in (("start", "started_at"), ("end", "ended_at")):
        if not values[name]:
            if name == "start":
                errors["start"] = "field.missing"
            continue
        try:
            if day is not None:
                body[key] = _local(day, values[name]).isoformat()
        except ValueError:
            errors[name] = "field.pattern"
    if "started_at" in body and "ended_at" in body and body["ended_at"] < body["started_at"]:
        errors["end"] = "sessions.error.end"  # an end before the start is not a session past midnight
    others = []
    for line in values["others"].splitlines():
        parts = line.replace("，", " ").replace(",", " ").split(maxsplit=1)
        if not parts:
            continue
        if len(parts) < 2:
            errors["others"] = "sessions.error.others"
            break
        others.append({"name": parts[0], "role": parts[1].strip()})
    body.update(
        place=values["place"],
        party_ids=values["party_ids"],
        mediator_ids=values["mediator_ids"],
        agents=[
            {"name": values[f"agent_{pid}"], "party_id": pid}
            for pid, _ in form.parties
            if values[f"agent_{pid}"]
        ],
        others=others,
        statements=[
            {"party_id": pid, "text": values[f"statement_{pid}"]}
            for pid, _ in form.parties
            if values[f"statement_{pid}"]
        ],
        result=values["result"],
    )
    for name in ("proposal", "adjourned_to", "notes", "reason"):
        if values[name]:
            body[name] = values[name]
    return body, errors


def _located(location: tuple[Any, ...] | list[Any]) -> str:
    path = [str(p) for p in location if p != "body"]
    return FIELD_OF.get(path[0].split("[")[0], "form") if path else "form"


def _render(
    request: Request,
    ctx: AppContext,
    session: WebSession,
    case: CasePublic,
    form: Form,
    record: SessionPublic | None,
    status: int = 200,
) -> Response:
    page = Page(request, ctx, session)
    return page.render(
        "session_form.html", status=status, case=case, form=form, record=record, results=RESULTS
    )


async def _submit(
    request: Request,
    case_id: int,
    record_id: int | None,
    session: WebSession,
    engine: AsyncEngine,
    ctx: AppContext,
) -> Response:
    sent = await read_form(request, session)
    case = await _case(engine, ctx, case_id, session.actor)
    if case is None:
        return RedirectResponse(f"/cases/{case_id}", status_code=303)
    record = (
        None
        if record_id is None
        else await sessions.get_session(engine, ctx, case_id, record_id, session.actor)
    )
    form = await _choices(engine, case, record)
    form.values = _values_from(sent, form)
    body, form.errors = _body(form.values, form)
    if not form.errors:
        try:
            parsed = SessionCorrection.model_validate(body)
        except ValidationError as exc:
            for error in exc.errors():
                form.errors.setdefault(_located(error["loc"]), error_key(error))
    if form.errors:
        return _render(request, ctx, session, case, form, record, status=422)
    now = clock.now()
    try:
        if record is None:
            written = await sessions.record_session(engine, ctx, case_id, parsed, session.actor, now=now)
        else:
            version = int(form.values["version"]) if form.values["version"].isdigit() else None
            written = await sessions.correct_session(
                engine, ctx, case_id, record.id, parsed, session.actor, now=now, if_match=version
            )
    except InvalidInput as error:
        for e in error.extra.get("errors", []):
            name = _located(str(e.get("field", "")).split("."))
            form.errors.setdefault(name, RULE_MESSAGES.get(name, "field.invalid"))
        return _render(request, ctx, session, case, form, record, status=422)
    except StaleVersion as error:
        form.stale = error.extra.get("current_version")
        return _render(request, ctx, session, case, form, record, status=412)
    return RedirectResponse(f"/cases/{case_id}?done=session#session-{written.id}", status_code=303)


@router.get("/cases/{case_id}/sessions/new", response_class=HTMLResponse)
async def new_session_form(
    request: Request, case_id: CaseId, session: SessionDep, engine: EngineDep, ctx: CtxDep
) -> Response:
    case = await _writable(engine, ctx, case_id, session.actor)
    if case is None:
        return RedirectResponse(f"/cases/{case_id}", status_code=303)
    form = await _choices(engine, case, None)
    today = clock.now().astimezone(clock.SHANGHAI)
    form.values = {"day": today.date().isoformat(), "result": "", "party_ids": [], "mediator_ids": []}
    return _render(request, ctx, session, case, form, None)


@router.post("/cases/{case_id}/sessions", response_class=HTMLResponse)
async def record_session(
    request: Request, case_id: CaseId, session: SessionDep, engine: EngineDep, ctx: CtxDep
) -> Response:
    return await _submit(request, case_id, None, session, engine, ctx)


@router.get("/cases/{case_id}/sessions/{record_id}", response_class=HTMLResponse)
async def session_page(
    request: Request,
    case_id: CaseId,
    record_id: RecordId,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
) -> Response:
    case = await _case(engine, ctx, case_id, session.actor)
    if case is None:
        return RedirectResponse(f"/cases/{case_id}", status_code=303)
    record = await sessions.get_session(engine, ctx, case_id, record_id, session.actor)
    listed = await sessions.list_sessions(engine, ctx, case_id, session.actor, now=clock.now())
    page = Page(request, ctx, session)
    return page.render(
        "session_view.html",
        case=case,
        record=record,
        may_record=listed.may_record,
        chinese_time=partial(chinese_time, lang=page.lang),
        chinese_date=partial(chinese_date, lang=page.lang),
    )


@router.get("/cases/{case_id}/sessions/{record_id}/edit", response_class=HTMLResponse)
async def correct_session_form(
    request: Request,
    case_id: CaseId,
    record_id: RecordId,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
) -> Response:
    case = await _writable(engine, ctx, case_id, session.actor)
    if case is None:
        return RedirectResponse(f"/cases/{case_id}", status_code=303)
    record = await sessions.get_session(engine, ctx, case_id, record_id, session.actor)
    form = await _choices(engine, case, record)
    form.values = _values_of(record)
    return _render(request, ctx, session, case, form, record)


@router.post("/cases/{case_id}/sessions/{record_id}", response_class=HTMLResponse)
async def correct_session(
    request: Request,
    case_id: CaseId,
    record_id: RecordId,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
) -> Response:
    return await _submit(request, case_id, record_id, session, engine, ctx)
