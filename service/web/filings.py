"""报表报送 as pages: the filed versions of a unit's months, filing one, a version's grid with every
figure linking to the cases behind it, a correction with its reason, and the court reconciliation.
Every page calls the same use cases as the API (service.filings) with the signed-in user as actor."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from service import clock
from service.db import EngineDep
from service.errors import Conflict, InvalidInput
from service.exports import file_format
from service.filings import reconciliation
from service.filings import service as filings
from service.filings.export import export_response
from service.filings.schemas import FilingOut
from service.http_safety import client_ip
from service.web.base import CtxDep, SessionDep, WebRoute, form_text, read_form
from service.web.render import Page
from service.web.subsidy import last_month, local_moment, month_label
from workflows.lifecycle import Role
from workflows.org import UnitKind

router = APIRouter(route_class=WebRoute, include_in_schema=False)

FilingId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Month = Annotated[str | None, Query(max_length=16)]
Unit = Annotated[str | None, Query(max_length=32)]
PAGE_SIZE = 50


def fileable_units(page: Page) -> list[str]:
    """The town centres and the city centre the reader's subtree holds (all, for others)."""
    org, actor = page.ctx.org, page.session.actor if page.session else None
    units = [org.city_centre().code, *sorted(u.code for u in org.of_kind(UnitKind.town_centre))]
    if actor is not None and actor.role == Role.coordinator:
        return [u for u in units if u in org.subtree(actor.unit_code)]
    return units


def default_unit(session: SessionDep, units: list[str]) -> str:
    own = session.actor.unit_code
    return own if own in units else (units[0] if units else own)


async def _list_page(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
    unit: str | None,
    month: str | None,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    missing: list[str] | None = None,
) -> Response:
    page = Page(request, ctx, session)
    units = fileable_units(page)
    listing = await filings.list_filings(
        engine, ctx, session.actor, unit=unit or None, month=None, limit=200, offset=0
    )
    return page.render(
        "filings.html",
        status=status,
        items=listing.items,
        total=listing.total,
        units=units,
        unit_code=unit or "",
        month=month or last_month(clock.now()),
        may_file=session.actor.role in filings.FILERS,
        errors=errors or {},
        missing=missing or [],
        moment=lambda at: local_moment(page, at),
        month_text=lambda m: month_label(page, m),
    )


@router.get("/filings", response_class=HTMLResponse)
async def list_page(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
    unit: Unit = None,
    month: Month = None,
) -> Response:
    return await _list_page(request, session, engine, ctx, unit, month)


@router.post("/filings", response_class=HTMLResponse)
async def file_month(request: Request, session: SessionDep, engine: EngineDep, ctx: CtxDep) -> Response:
    form = await read_form(request, session)
    unit, month = form_text(form, "unit"), form_text(form, "month")
    try:
        out = await filings.file_month(
            engine, ctx, session.actor, unit, month, now=clock.now(), client_ip=client_ip(request)
        )
    except InvalidInput as exc:
        fields = {str(e["field"]).removeprefix("body.") for e in exc.extra.get("errors", [])}
        errors = {"month": "filings.month_not_over" if "month" in fields else "filings.unit_invalid"}
        if "unit" in fields:
            errors = {"unit": "filings.unit_invalid"}
        return await _list_page(request, session, engine, ctx, None, month, status=422, errors=errors)
    except Conflict as exc:
        missing = [str(t) for t in exc.extra.get("missing_towns", [])]
        errors = {"unit": "filings.towns_missing" if missing else "filings.already_filed"}
        return await _list_page(
            request, session, engine, ctx, None, month, status=409, errors=errors, missing=missing
        )
    return RedirectResponse(f"/filings/{out.id}?done=filed", status_code=303)


@router.get("/filings/reconciliation", response_class=HTMLResponse)
async def reconciliation_page(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
    unit: Unit = None,
    month: Month = None,
) -> Response:
    page = Page(request, ctx, session)
    units = fileable_units(page)
    code = unit or default_unit(session, units)
    label = month or last_month(clock.now())
    found = await reconciliation.reconcile(engine, ctx, session.actor, code, label)
    return page.render(
        "reconciliation.html",
        found=found,
        units=units,
        unit_code=code,
        month=found.month,
        month_text=month_label(page, found.month),
    )


def _grid(out: FilingOut) -> tuple[list[str], list[tuple[str, dict[str, Any]]]]:
    """The version's cells as rows × columns, in the order they were filed."""
    columns: list[str] = []
    rows: dict[str, dict[str, Any]] = {}
    for cell in out.cells:
        if cell.column not in columns:
            columns.append(cell.column)
        rows.setdefault(cell.row, {})[cell.column] = cell
    return columns, list(rows.items())


async def _filing_page(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
    filing_id: int,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    reason: str = "",
    done: str | None = None,
) -> Response:
    out = await filings.read_filing(engine, ctx, session.actor, filing_id)
    page = Page(request, ctx, session)
    columns, rows = _grid(out)
    return page.render(
        "filing.html",
        status=status,
        out=out,
        columns=columns,
        rows=rows,
        may_correct=session.actor.role in filings.FILERS and out.current,
        errors=errors or {},
        reason=reason,
        notice={"filed": "filings.done.filed", "corrected": "filings.done.corrected"}.get(done or ""),
        moment=lambda at: local_moment(page, at),
        month_text=month_label(page, out.month),
    )


@router.get("/filings/{filing_id}", response_class=HTMLResponse)
async def filing_page(
    request: Request,
    filing_id: FilingId,
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    return await _filing_page(request, session, engine, ctx, filing_id, done=done)


@router.post("/filings/{filing_id}/corrections", response_class=HTMLResponse)
async def correct(
    request: Request, filing_id: FilingId, session: SessionDep, engine: EngineDep, ctx: CtxDep
) -> Response:
    form = await read_form(request, session)
    reason = form_text(form, "reason").strip()
    if not reason:
        errors = {"reason": "filings.reason_needed"}
        return await _filing_page(request, session, engine, ctx, filing_id, status=422, errors=errors)
    try:
        out = await filings.correct(
            engine,
            ctx,
            session.actor,
            filing_id,
            reason[:1000],
            now=clock.now(),
            client_ip=client_ip(request),
        )
    except Conflict:
        errors = {"reason": "filings.not_current"}
        return await _filing_page(
            request, session, engine, ctx, filing_id, status=409, errors=errors, reason=reason
        )
    return RedirectResponse(f"/filings/{out.id}?done=corrected", status_code=303)


@router.get("/filings/{filing_id}/cells/{key}", response_class=HTMLResponse)
async def cell_page(
    request: Request,
    filing_id: FilingId,
    key: Annotated[str, Path(min_length=1, max_length=200)],
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    out = await filings.read_filing(engine, ctx, session.actor, filing_id)
    found = await filings.cell_cases(
        engine, ctx, session.actor, filing_id, key, limit=PAGE_SIZE, offset=offset
    )
    cell = next(c for c in out.cells if c.key == key)
    page = Page(request, ctx, session)
    return page.render(
        "filing_cell.html",
        out=out,
        cell=cell,
        found=found,
        offset=offset,
        page_size=PAGE_SIZE,
        month_text=month_label(page, out.month),
    )


@router.get("/filings/{filing_id}/export.{fmt}")
async def export(
    request: Request,
    filing_id: FilingId,
    fmt: Annotated[str, Path(max_length=8)],
    session: SessionDep,
    engine: EngineDep,
    ctx: CtxDep,
) -> Response:
    chosen = file_format(fmt)
    if chosen is None:
        raise InvalidInput("format: csv or xlsx", [{"field": "path.fmt", "message": "csv or xlsx"}])
    out, report = await filings.frozen_report(engine, ctx, session.actor, filing_id)
    return await export_response(
        engine, session.actor, out, report, chosen, client_ip=client_ip(request), now=clock.now()
    )
