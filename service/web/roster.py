"""The roster pages: the mediators of one's units, one mediator, the add/edit form, deactivation and
the spreadsheet import that lists every bad row.

They call the same use cases as the API (``service.mediators.service``) with the signed-in user
as the actor, so scope and the security log are the API's: a mediator reads their unit's roster,
a coordinator keeps the subtree's.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from service import clock
from service.clock import SHANGHAI
from service.db import EngineDep
from service.errors import Conflict, InvalidInput, NotFound, ServiceError, StaleVersion
from service.http_safety import client_ip
from service.mediators import service as roster
from service.mediators.importer import COLUMNS, MAX_BYTES, UnsupportedUpload, UploadTooLarge
from service.mediators.schemas import MediatorEdit, MediatorIn, MediatorPublic
from service.request_id import current_request_id
from service.web.base import CtxDep, SessionDep, WebRoute, form_text, read_form
from service.web.render import Page
from workflows.lifecycle import Role
from workflows.mediators import Employment
from workflows.org import UnitKind
from workflows.vocab import DisputeType

router = APIRouter(route_class=WebRoute, include_in_schema=False)

PAGE_SIZE = 50
MediatorId = Annotated[int, Path(ge=1, le=2**63 - 1)]
# The units a roster belongs to: committees and centres, not the agencies or the court.
ROSTER_KINDS = (
    UnitKind.city_centre,
    UnitKind.town_centre,
    UnitKind.village_station,
    UnitKind.sectoral_committee,
)
FORM_FIELDS = (
    "name",
    "employment",
    "languages",
    "qualifications",
    "grade",
    "court_roster_no",
    "court_roster_from",
    "court_roster_until",
    "id_number",
    "phone",
    "username",
)


def cn_date(lang: str, value: date | datetime | None) -> str:
    """A day as people write it: 2026年1月31日 (or 31 Jan 2026), a moment in Kunshan's time."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        local = value.astimezone(SHANGHAI)
        day = f"{local.year}年{local.month}月{local.day}日" if lang == "zh" else local.strftime("%-d %b %Y")
        return f"{day} {local:%H:%M}"
    return f"{value.year}年{value.month}月{value.day}日" if lang == "zh" else value.strftime("%-d %b %Y")


def _not_found(page: Page, error: ServiceError) -> Response:
    return page.render(
        "error.html",
        status=404,
        message=page.t("roster.not_found"),
        detail=error.detail,
        fields=[],
        request_id=current_request_id(),
    )


def _units_for(ctx: CtxDep, scope: frozenset[str] | None) -> list[str]:
    units = [u.code for u in ctx.org.of_kind(*ROSTER_KINDS)]
    return [code for code in units if scope is None or code in scope]


def _render(page: Page, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
    return page.render(
        template,
        status=status,
        day=lambda value: cn_date(page.lang, value),
        employment_label=lambda value: page.t(f"roster.employment.{value}"),
        units_text=lambda codes: page.t("roster.sep").join(page.unit_path(c) for c in codes),
        specialties_text=lambda items: page.t("roster.sep").join(
            page.label("dispute_type", s) for s in items
        ),
        **values,
    )


# --- the list and one mediator ------------------------------------------------------------------


@router.get("/roster", response_class=HTMLResponse)
async def roster_page(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
    unit: Annotated[str | None, Query(max_length=32)] = None,
    active: Annotated[str | None, Query(max_length=8)] = "yes",
    specialty: Annotated[str | None, Query(max_length=40)] = None,
    q: Annotated[str | None, Query(max_length=64)] = None,
    page_no: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    page = Page(request, ctx, session)
    actor = session.actor
    scope = roster.readable_units(actor, ctx.org)
    chosen_specialty = specialty if specialty in {v for v, _ in page.options("dispute_type")} else None
    try:
        listed = await roster.list_mediators(
            engine,
            ctx,
            actor,
            unit=unit or None,
            active={"yes": True, "no": False}.get(active or ""),
            specialty=DisputeType(chosen_specialty) if chosen_specialty else None,
            q=(q or "").replace("\x00", "").strip() or None,
            limit=PAGE_SIZE,
            offset=(page_no - 1) * PAGE_SIZE,
        )
    except NotFound as exc:
        return _not_found(page, exc)
    values = {"unit": unit or "", "active": active or "", "specialty": chosen_specialty or "", "q": q or ""}
    keeps = actor.role in roster.KEEPERS
    return _render(
        page,
        "roster.html",
        listed=listed,
        values=values,
        units=_units_for(ctx, scope) if actor.role != Role.mediator else [],
        keeps=keeps,
        notice=page.t(f"roster.done.{done}") if done in ("imported",) else None,
        query=urlencode({k: v for k, v in values.items() if v}),
        page_no=page_no,
        pages=max(1, -(-listed.total // PAGE_SIZE)),
    )


@router.get("/roster/new", response_class=HTMLResponse)
async def new_mediator_form(request: Request, session: SessionDep, ctx: CtxDep) -> Response:
    page = Page(request, ctx, session)
    scope = roster.writable_units(session.actor, ctx.org)
    own = session.actor.unit_code
    values: dict[str, Any] = {
        "units": [own] if own in _units_for(ctx, scope) else [],
        "employment": "full_time",
    }
    return _form(page, ctx, scope, None, values, {})


@router.post("/roster/new", response_class=HTMLResponse)
async def add_mediator(request: Request, session: SessionDep, engine: EngineDep, ctx: CtxDep) -> Response:
    form = await read_form(request, session)
    page = Page(request, ctx, session)
    scope = roster.writable_units(session.actor, ctx.org)
    values = _form_values(form)
    try:
        body = MediatorIn.model_validate(_body(values, editing=False))
        created = await roster.create_mediator(
            engine, ctx, session.actor, body, now=clock.now(), client_ip=client_ip(request)
        )
    except ValidationError as exc:
        return _form(page, ctx, scope, None, values, _pydantic_errors(exc), status=422)
    except (InvalidInput, Conflict, NotFound) as exc:
        return _form(page, ctx, scope, None, values, _service_errors(exc), status=_status(exc))
    return RedirectResponse(f"/roster/{created.id}?done=created", status_code=303)


@router.get("/roster/import", response_class=HTMLResponse)
async def import_page(request: Request, session: SessionDep, ctx: CtxDep) -> Response:
    page = Page(request, ctx, session)
    roster.writable_units(session.actor, ctx.org)
    return _import(page)


@router.post("/roster/import", response_class=HTMLResponse)
async def import_roster(request: Request, session: SessionDep, engine: EngineDep, ctx: CtxDep) -> Response:
    form = await read_form(request, session)
    page = Page(request, ctx, session)
    roster.writable_units(session.actor, ctx.org)
    upload = form.get("file")
    dry_run = form_text(form, "dry_run") == "1"
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _import(page, problem=page.t("roster.import.no_file"), status=422, dry_run=dry_run)
    content = await upload.read(MAX_BYTES + 1)
    try:
        result = await roster.import_roster(
            engine,
            ctx,
            session.actor,
            upload.filename,
            content,
            dry_run=dry_run,
            now=clock.now(),
            client_ip=client_ip(request),
        )
    except roster.RosterRejected as exc:
        return _import(page, rows=exc.rows, filename=upload.filename, status=422, dry_run=dry_run)
    except UploadTooLarge:
        return _import(page, problem=page.t("roster.import.too_large"), status=413, dry_run=dry_run)
    except UnsupportedUpload:
        return _import(page, problem=page.t("roster.import.unsupported"), status=415, dry_run=dry_run)
    except Conflict as exc:
        return _import(page, problem=exc.detail, status=409, dry_run=dry_run)
    return _import(page, result=result, filename=upload.filename, dry_run=dry_run)


def _import(page: Page, *, status: int = 200, dry_run: bool = False, **values: Any) -> HTMLResponse:
    return _render(
        page,
        "roster_import.html",
        status=status,
        dry_run=dry_run,
        columns=[words for words in COLUMNS.values()],
        max_kb=MAX_BYTES // 1000,
        **{"rows": [], "result": None, "problem": None, "filename": "", **values},
    )


@router.get("/roster/{mediator_id}", response_class=HTMLResponse)
async def mediator_page(
    request: Request,
    mediator_id: MediatorId,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    page = Page(request, ctx, session)
    try:
        row = await roster.visible_mediator(engine, ctx, mediator_id, session.actor)
    except NotFound as exc:
        return _not_found(page, exc)
    known = ("created", "edited", "deactivated", "reactivated")
    return _render(
        page,
        "roster_mediator.html",
        m=roster.mediator_public(row, ctx),
        keeps=roster.may_keep(session.actor, ctx.org, row),
        notice=page.t(f"roster.done.{done}") if done in known else None,
    )


@router.get("/roster/{mediator_id}/edit", response_class=HTMLResponse)
async def edit_mediator_form(
    request: Request, mediator_id: MediatorId, session: SessionDep, engine: EngineDep, ctx: CtxDep
) -> Response:
    page = Page(request, ctx, session)
    scope = roster.writable_units(session.actor, ctx.org)
    try:
        row = await roster.visible_mediator(engine, ctx, mediator_id, session.actor)
        if not roster.may_keep(session.actor, ctx.org, row):
            raise NotFound(f"No mediator {mediator_id} on a roster you keep.")
    except NotFound as exc:
        return _not_found(page, exc)
    m = roster.mediator_public(row, ctx)
    values: dict[str, Any] = {
        **{name: getattr(m, name) or "" for name in FORM_FIELDS if name not in ("id_number", "phone")},
        "employment": m.employment.value,
        "languages": "；".join(m.languages),
        "units": list(m.units),
        "specialties": [s.value for s in m.specialties],
        "version": str(m.version),
    }
    for name in ("court_roster_from", "court_roster_until"):
        values[name] = getattr(m, name).isoformat() if getattr(m, name) else ""
    return _form(page, ctx, scope, m, values, {})


@router.post("/roster/{mediator_id}/edit", response_class=HTMLResponse)
async def edit_mediator(
    request: Request, mediator_id: MediatorId, session: SessionDep, engine: EngineDep, ctx: CtxDep
) -> Response:
    form = await read_form(request, session)
    page = Page(request, ctx, session)
    scope = roster.writable_units(session.actor, ctx.org)
    values = _form_values(form)
    try:
        current = await roster.get_mediator(engine, ctx, mediator_id, session.actor)
    except NotFound as exc:
        return _not_found(page, exc)
    version = form_text(form, "version")
    try:
        body = MediatorEdit.model_validate(_body(values, editing=True))
        await roster.edit_mediator(
            engine,
            ctx,
            session.actor,
            mediator_id,
            body,
            if_match=int(version) if version.isdigit() and len(version) < 18 else None,
            now=clock.now(),
            client_ip=client_ip(request),
        )
    except ValidationError as exc:
        return _form(page, ctx, scope, current, values, _pydantic_errors(exc), status=422)
    except StaleVersion:
        return _form(page, ctx, scope, current, values, {}, status=412, stale=True)
    except NotFound as exc:
        if exc.detail.startswith("No unit"):
            return _form(page, ctx, scope, current, values, {"units": "field.no_unit"}, status=404)
        return _not_found(page, exc)
    except (InvalidInput, Conflict) as exc:
        return _form(page, ctx, scope, current, values, _service_errors(exc), status=_status(exc))
    return RedirectResponse(f"/roster/{mediator_id}?done=edited", status_code=303)


@router.post("/roster/{mediator_id}/{change}")
async def change_status(
    request: Request,
    mediator_id: MediatorId,
    change: Annotated[str, Path(pattern="^(deactivate|reactivate)$")],
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
) -> Response:
    form = await read_form(request, session)
    page = Page(request, ctx, session)
    try:
        await roster.set_active(
            engine,
            ctx,
            session.actor,
            mediator_id,
            change == "reactivate",
            reason=form_text(form, "reason")[:2000].replace("\x00", "") or None,
            if_match=None,
            now=clock.now(),
            client_ip=client_ip(request),
        )
    except NotFound as exc:
        return _not_found(page, exc)
    return RedirectResponse(f"/roster/{mediator_id}?done={change}d", status_code=303)


# --- the form --------------------------------------------------------------------------------------


def _form_values(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {name: form_text(form, name) for name in FORM_FIELDS}
    values["units"] = [u for u in form.getlist("units") if isinstance(u, str)]
    values["specialties"] = [s for s in form.getlist("specialties") if isinstance(s, str)]
    values["version"] = form_text(form, "version")
    return values


def _body(values: dict[str, Any], *, editing: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": values["name"],
        "units": values["units"],
        "employment": values["employment"],
        "specialties": values["specialties"],
        "languages": [w.strip() for w in values["languages"].replace("；", ";").split(";") if w.strip()],
        "qualifications": values["qualifications"],
        "grade": values["grade"],
    }
    for name in ("court_roster_no", "court_roster_from", "court_roster_until", "username"):
        if values[name] or editing:
            body[name] = values[name] or None
    # A blank id number or phone keeps the one on file (the form never shows them in full).
    for name in ("id_number", "phone"):
        if values[name]:
            body[name] = values[name]
    return body


def _pydantic_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors():
        loc = error.get("loc", ())
        name = str(loc[0]) if loc else "name"
        kind = error.get("type", "")
        key = {
            "missing": "field.missing",
            "string_too_short": "field.missing",
            "too_short": "field.missing",
            "string_too_long": "field.too_long",
            "enum": "field.choice",
            "date_from_datetime_parsing": "field.date",
            "date_parsing": "field.date",
            "date_from_datetime_inexact": "field.date",
            "string_pattern_mismatch": "field.pattern",
        }.get(kind, "field.invalid")
        if name == "id_number" and kind == "value_error":
            key = "roster.rule.bad_id_number"
        errors.setdefault(name, key)
    return errors


def _service_errors(exc: ServiceError) -> dict[str, str]:
    if isinstance(exc, Conflict):
        return {"username": "roster.rule.user_linked"}
    if isinstance(exc, NotFound):
        return {"units": "field.no_unit"}
    errors: dict[str, str] = {}
    for e in exc.extra.get("errors", []):
        name = e["field"].split(".")[-1].split("[")[0]
        errors[name] = {
            "court_roster_until": "roster.rule.dates_order",
            "username": "roster.rule.unknown_user",
            "units": "field.no_unit",
        }.get(name, "field.invalid")
    return errors


def _status(exc: ServiceError) -> int:
    return exc.status


def _form(
    page: Page,
    ctx: CtxDep,
    scope: frozenset[str] | None,
    current: MediatorPublic | None,
    values: dict[str, Any],
    errors: dict[str, str],
    *,
    status: int = 200,
    stale: bool = False,
) -> HTMLResponse:
    units = _units_for(ctx, scope)
    # A unit outside the editor's scope the person also serves: shown, kept, not offered.
    fixed = [code for code in (current.units if current else []) if code not in units]
    return _render(
        page,
        "roster_form.html",
        status=status,
        m=current,
        values=values,
        errors=errors,
        units=units,
        fixed=fixed,
        employments=[e.value for e in Employment],
        stale=stale,
    )
