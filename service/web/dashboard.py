"""The statistics dashboard and the monthly report downloads, from the same queries as the API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from service import clock
from service.db import EngineDep, ReportingEngineDep
from service.errors import InvalidInput
from service.exports import ExportFormat, attachment_response, file_format, record_export
from service.http_safety import client_ip
from service.stats import charts, queries, report
from service.stats.by_mediator import may_read_by_mediator
from service.stats.queries import Period, StatsQuery
from service.web.base import CtxDep, SessionDep, WebRoute
from service.web.render import Page
from workflows.org import UnitKind

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Month = Annotated[str | None, Query(max_length=16)]
Unit = Annotated[str | None, Query(max_length=32)]


def town_label(page: Page, code: str) -> str:
    """A town by its name; the row of units under no town (city centre, committees, agencies)."""
    unit = page.ctx.org.find(code)
    if unit is not None and unit.kind == UnitKind.town_centre:
        return page.unit(code)
    return page.t("dash.city_row")


def _charts(page: Page, figures: dict[str, Any]) -> list[tuple[str, Markup]]:
    t = page.t
    months = [m.month for m in figures["monthly"]]
    per_month = charts.line_chart(
        t("dash.per_month"),
        months,
        [
            charts.Series(t("dash.registered"), [m.registered for m in figures["monthly"]]),
            charts.Series(t("dash.settled"), [m.settled for m in figures["monthly"]]),
            charts.Series(t("dash.closed"), [m.closed for m in figures["monthly"]]),
        ],
    )
    success = charts.line_chart(
        t("dash.success_by_month"),
        months,
        [charts.Series(t("dash.success_rate"), [m.success_rate or 0 for m in figures["monthly"]])],
        fmt=charts.percent_format,
    )
    by_type = charts.hbar_chart(
        t("dash.by_type"),
        [(page.label("dispute_type", r.code), r.registered) for r in figures["types"]],
        label_width=150,
    )
    by_tier = charts.bar_chart(
        t("dash.by_tier"), [(page.tier(r.tier), r.registered) for r in figures["tiers"]]
    )
    towns = figures["towns"]
    towns_compared = charts.grouped_bar_chart(
        t("dash.by_town"),
        [town_label(page, r.code) for r in towns],
        [
            charts.Series(t("dash.registered"), [r.registered for r in towns]),
            charts.Series(t("dash.settled"), [r.settled for r in towns]),
        ],
    )
    overdue = charts.hbar_chart(
        t("dash.overdue_by_town"),
        [(town_label(page, r.code), r.overdue_rate or 0) for r in towns],
        fmt=charts.percent_format,
        colour=charts.PALETTE[3],
    )
    drawn = {
        "per-month": per_month,
        "success": success,
        "by-type": by_type,
        "by-tier": by_tier,
        "by-town": towns_compared,
        "overdue": overdue,
    }
    # The chart module escapes every label it draws; the SVG is safe to place in the page as is.
    return [(name, Markup(_in_language(page, svg))) for name, svg in drawn.items()]


# The chart module writes its descriptions with Chinese punctuation and says "no data" in Chinese.
_ENGLISH_PUNCTUATION = {"；": "; ", "，": ", ", "：": ": "}


def _in_language(page: Page, svg: str) -> str:
    if page.lang != "en":
        return svg
    svg = svg.replace(charts.NO_DATA, page.t("dash.no_data"))
    for chinese, english in _ENGLISH_PUNCTUATION.items():
        svg = svg.replace(chinese, english)
    return svg


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(
    request: Request,
    session: SessionDep,
    engine: ReportingEngineDep,
    ctx: CtxDep,
    from_month: Annotated[str | None, Query(alias="from", max_length=16)] = None,
    to_month: Annotated[str | None, Query(alias="to", max_length=16)] = None,
    unit: Unit = None,
) -> Response:
    page = Page(request, ctx, session)
    now = clock.now()
    scope = queries.stats_scope(session.actor, ctx.org)
    units = queries.resolve_units(session.actor, ctx.org, unit or None)
    error = None
    try:
        period = Period.of(from_month or None, to_month or None, now=now)
    except InvalidInput:
        # A mistyped month: say so next to the filter and show the default period meanwhile.
        error = page.t("field.month")
        period = Period.of(None, None, now=now)
    q = StatsQuery(period, now=now, units=units)
    async with engine.connect() as conn:
        figures: dict[str, Any] = {
            "overview": await queries.overview(conn, q),
            "monthly": await queries.monthly(conn, q),
            "types": await queries.by_type(conn, q),
            "tiers": await queries.by_tier(conn, q),
            "towns": await queries.by_town(conn, ctx.org, q),
        }
    public = period.public()
    return page.render(
        "dashboard.html",
        o=figures["overview"],
        towns_table=[(town_label(page, r.code), r) for r in figures["towns"]],
        charts=_charts(page, figures),
        towns=queries.towns_in(ctx.org, scope),
        selected_unit=unit or "",
        period_from=public.from_month,
        period_to=public.to_month,
        report_month=public.to_month,
        error=error,
    )


@router.get("/dashboard/report.{fmt}")
async def report_download(
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    reporting: ReportingEngineDep,
    ctx: CtxDep,
    fmt: Annotated[str, Path(max_length=8)],
    month: Month = None,
    unit: Unit = None,
) -> Response:
    """The monthly statistics report as the centres file it: CSV (UTF-8 with BOM) or Excel."""
    chosen = file_format(fmt)
    if chosen is None:
        raise InvalidInput("format: csv or xlsx", [{"field": "path.fmt", "message": "csv or xlsx"}])
    units = queries.resolve_units(session.actor, ctx.org, unit or None)
    now = clock.now()
    period = report.report_period(month) if month else Period.of(None, None, now=now)
    q = StatsQuery(Period(period.last, period.last), now=now, units=units)
    async with reporting.connect() as conn:  # the figures from the replica, the export record to the primary
        result = await report.monthly_report(
            conn, ctx.org, q, by_mediator=may_read_by_mediator(session.actor)
        )
    content = report.to_csv(result) if chosen == ExportFormat.csv else report.to_xlsx(result)
    await record_export(
        engine,
        session.actor,
        "stats_exported",
        {"report": "monthly", "month": result.month, "unit": unit, "format": chosen.value},
        client_ip=client_ip(request),
        now=now,
    )
    filename = f"jiefen-report-{result.month}{'-' + unit if unit else ''}.{chosen.value}"
    return attachment_response(content, chosen, filename, no_store=True)
