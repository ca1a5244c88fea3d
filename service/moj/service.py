"""The MoJ report: gather the facts, evaluate every row's rule for the month and the year to date,
and write it as JSON, CSV or XLSX in the form's layout with each definition as a footnote.

Public interface (also for the monthly filings in ``service.filings``):

- ``compute(engine_or_conn, ctx, *, units, month, now) -> MojReport``: ``units`` as
  ``service.stats.queries.resolve_units`` gives them (None: the whole network), ``month`` "YYYY-MM".
- ``to_csv(report) -> bytes``; ``to_xlsx(report) -> bytes``.
- ``cell_cases(...)``: the cases behind one cell, a page at a time (the drill-down).
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.cases.scope import can_see
from service.context import AppContext
from service.errors import NotFound
from service.moj import queries
from service.moj.schemas import MojCase, MojCell, MojCellCases, MojReport, MojRound
from service.safe_text import spreadsheet_text
from service.screening import figures
from service.stats.queries import Period, parse_month
from workflows.lifecycle import Actor
from workflows.mediators import Employment
from workflows.moj_report import (
    COLUMN_LABELS,
    ROWS,
    SECTION_LABELS,
    Basis,
    Column,
    Counted,
    Dimension,
    Evaluation,
    Measure,
    Row,
    Tally,
    Window,
    cell_key,
    dimension_filter,
    fold,
    parse_cell,
    rate,
)
from workflows.org import OrgTree

TITLE = "人民调解工作统计报表"


def windows(month: str) -> dict[Column, Window]:
    """The month, and 1 January of its year to the end of the month (Asia/Shanghai)."""
    year, number = parse_month(month, "query.month")
    this = Period((year, number), (year, number))
    ytd = Period((year, 1), (year, number))
    return {
        Column.month: Window(this.start_at, this.end_at),
        Column.ytd: Window(ytd.start_at, ytd.end_at),
    }


async def _stocks(conn: AsyncConnection, org: OrgTree, units: frozenset[str] | None) -> dict[str, int]:
    committees = queries.committee_units(org, units)
    staff = await queries.mediators_by_employment(conn, committees) if committees else {}
    return {
        "committees": len(committees),
        "mediators_full_time": len(staff.get(Employment.full_time, [])),
        "mediators_part_time": len(staff.get(Employment.part_time, [])),
    }


async def _register(
    conn: AsyncConnection, org: OrgTree, units: frozenset[str] | None, spans: dict[Column, Window]
) -> dict[Column, dict[str, int]]:
    """The round figures (排查次数, 零报告, 预防纠纷) of the people's mediation units in scope, per
    column: ``service.screening.figures.screening_figures``, one statement each."""
    codes = queries.people_units(org, units)
    return {
        column: await figures.screening_figures(conn, codes, window.start, window.end)
        for column, window in spans.items()
    }


def _needs_case(rows: Iterable[Row]) -> bool:
    """Whether any of ``rows`` asks about the case (its type, source or people), not only the
    event: only then is the first event joined to its case."""
    return any(
        row.dimension in (Dimension.dispute_type, Dimension.source) or row.measure == Measure.people
        for row in rows
    )


async def _counted(
    conn: AsyncConnection,
    org: OrgTree,
    units: frozenset[str] | None,
    basis: Basis,
    rows: list[Row],
    window: Window,
    *,
    case_ids: bool,
) -> list[Counted] | None:
    """Step 1 for one basis: in SQL when its source is there, else from its gatherer's facts in
    Python; None when neither is installed (its rows count nothing yet)."""
    if basis.source in queries.SQL_SOURCES:
        unit_codes = queries.channel_units(org, basis, units)
        return await queries.counted(
            conn,
            basis,
            window,
            unit_codes,
            with_case=_needs_case(rows),
            with_amount=any(row.measure == Measure.amount for row in rows),
            case_ids=case_ids,
        )
    gatherer = queries.GATHERERS.get(basis.source)
    if gatherer is None:
        return None
    facts = await gatherer(conn, units, window)
    ids = {fact.case_id for fact in facts}
    cases = await queries.case_facts(conn, ids)
    delegated = await queries.delegations(conn, ids, window.end)
    found = Evaluation(facts, cases, delegated, org, units, window).counted(basis)
    return found if case_ids else [replace(c, case_ids=()) for c in found]


PARALLEL = 2  # statements of one report run at once when it is given an engine (two cores' worth)


async def _tallies(
    source: AsyncEngine | AsyncConnection,
    org: OrgTree,
    units: frozenset[str] | None,
    month: str,
    columns: tuple[Column, ...] = tuple(Column),
    *,
    case_ids: bool = True,
    only: Row | None = None,
) -> dict[str, Tally]:
    """Every cell of ``columns`` (or only ``only``'s): one SQL statement per basis and column,
    grouped unless the case ids are asked for; then each row folded from its basis's groups.
    Given a PostgreSQL engine, up to ``PARALLEL`` statements run at once, each on a connection of
    its own (none is held while waiting for another); given a connection (a filing's transaction)
    or SQLite, one after the other."""
    spans = {column: window for column, window in windows(month).items() if column in columns}
    wanted = [only] if only is not None else list(ROWS)
    bases: dict[Basis, list[Row]] = {}
    for row in wanted:
        if row.basis is not None:
            bases.setdefault(row.basis, []).append(row)
    # The widest window and the busiest basis first, so the longest statements start first.
    jobs = sorted(
        ((column, window, basis, rows) for column, window in spans.items() for basis, rows in bases.items()),
        key=lambda job: (job[1].start - job[1].end, -len(job[3])),
    )

    async def run(
        conn: AsyncConnection, job: tuple[Column, Window, Basis, list[Row]]
    ) -> list[Counted] | None:
        _, window, basis, rows = job
        return await _counted(conn, org, units, basis, rows, window, case_ids=case_ids)

    has_stocks = any(r.measure == Measure.stock for r in wanted)
    has_register = any(r.measure == Measure.register for r in wanted)
    if isinstance(source, AsyncEngine) and source.dialect.name != "postgresql":
        async with source.connect() as conn:  # SQLite: one connection, one statement at a time
            return await _tallies(conn, org, units, month, columns, case_ids=case_ids, only=only)
    if isinstance(source, AsyncEngine):
        gate = asyncio.Semaphore(PARALLEL)

        async def one(job: tuple[Column, Window, Basis, list[Row]]) -> list[Counted] | None:
            async with gate, source.connect() as conn:
                return await run(conn, job)

        results = await asyncio.gather(*(one(job) for job in jobs))
        async with source.connect() as conn:
            stocks = await _stocks(conn, org, units) if has_stocks else {}
            register = await _register(conn, org, units, spans) if has_register else {}
    else:
        results = [await run(source, job) for job in jobs]
        stocks = await _stocks(source, org, units) if has_stocks else {}
        register = await _register(source, org, units, spans) if has_register else {}
    tallies: dict[str, Tally] = {}
    for (column, _, _, rows), found in zip(jobs, results, strict=True):
        for row in rows:
            tallies[cell_key(row.key, column)] = Tally(0) if found is None else fold(row, found, org)
    for column in spans:
        for row in wanted:
            if row.measure == Measure.stock:
                tallies[cell_key(row.key, column)] = Tally(stocks.get(row.source, 0))
            if row.measure == Measure.register:
                tallies[cell_key(row.key, column)] = Tally(register[column][row.source])
        for row in ROWS if only is None else ():
            if row.measure == Measure.rate and row.rate_of is not None:
                top, bottom = (tallies[cell_key(k, column)].value for k in row.rate_of)
                tallies[cell_key(row.key, column)] = Tally(rate(top, bottom))
    return tallies


def _shown(value: int | Decimal | None) -> int | str:
    if value is None:
        return ""
    return value if isinstance(value, int) else str(value)


async def compute(
    engine_or_conn: AsyncEngine | AsyncConnection,
    ctx: AppContext,
    *,
    units: frozenset[str] | None,
    month: str,
    now: datetime,
    unit: str | None = None,
    case_ids: bool = True,
) -> MojReport:
    """Every cell of the report for ``month`` and its year to date, within ``units``; with
    ``case_ids`` (the filings) the cases behind each, otherwise empty lists (faster: the counting
    is grouped in the database)."""
    tallies = await _tallies(engine_or_conn, ctx.org, units, month, case_ids=case_ids)
    cells = [
        MojCell(
            key=cell_key(row.key, column),
            row=row.key,
            column=column.value,
            section=row.section.value,
            label=row.label_zh,
            label_en=row.label_en,
            item=row.item,
            level=row.level,
            value=_shown(tallies[cell_key(row.key, column)].value),
            definition=row.definition_zh,
            definition_en=row.definition_en,
        )
        for row in ROWS
        for column in Column
    ]
    year = month.strip()[:4]
    return MojReport(
        month=month.strip(),
        year_from=f"{year}-01",
        unit=unit,
        generated_at=now.isoformat(),
        cells=cells,
        # Every cell, rates and stocks with none: a filing can link each cell to its list.
        case_ids={cell.key: tallies[cell.key].case_ids for cell in cells},
    )


# --- the form's layout ------------------------------------------------------------------------


def layout(report: MojReport) -> list[tuple[Row, dict[str, MojCell], int]]:
    """(row, its cells by column, its footnote number) in the form's order."""
    by_key = {cell.key: cell for cell in report.cells}
    return [
        (row, {c.value: by_key[cell_key(row.key, c)] for c in Column}, number)
        for number, row in enumerate(ROWS, start=1)
    ]


def _figure(cell: MojCell, row: Row) -> str | int | float:
    if row.measure == Measure.rate:
        return "" if cell.value == "" else f"{float(cell.value) * 100:.2f}%"
    if row.measure == Measure.amount:
        return float(cell.value)
    return cell.value


def _table(report: MojReport) -> list[list[Any]]:
    """The sheet as rows of cells: title, headings, each section and its rows, the footnotes."""
    scope = report.unit or "全部"
    table: list[list[Any]] = [
        [f"{TITLE}({report.month})", f"统计范围:{scope}", f"本年累计自 {report.year_from}"],
        ["项目", "报表项目", *(COLUMN_LABELS[c][0] for c in Column), "注"],
    ]
    section = None
    for row, cells, number in layout(report):
        if row.section != section:
            section = row.section
            table.append([SECTION_LABELS[section][0]])
        indent = "  " * row.level
        table.append(
            [
                f"{indent}{row.label_zh}",
                row.item,
                *(_figure(cells[c.value], row) for c in Column),
                f"注{number}",
            ]
        )
    table.append([])
    table.append(["注:各项定义"])
    for row, _, number in layout(report):
        table.append([f"注{number}", row.label_zh, row.definition_zh])
    return table


def to_csv(report: MojReport) -> bytes:
    """UTF-8 with a byte-order mark (Excel reads the Chinese headings); formula-like text as text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for cells in _table(report):
        writer.writerow(["" if v is None else spreadsheet_text(v) for v in cells])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(report: MojReport) -> bytes:
    """One sheet in the same layout: section headings bold, amounts as numbers, rates as shown."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = f"{report.month} 人民调解"
    bold = Font(bold=True)
    for cells in _table(report):
        sheet.append(cells)
        if len(cells) == 1 or sheet.max_row <= 2:
            for cell in sheet[sheet.max_row]:
                cell.font = bold
    for letter, width in zip("ABCDE", (28, 34, 12, 12, 8), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A3"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- drill-down -------------------------------------------------------------------------------


async def cell_cases(
    engine: AsyncEngine,
    ctx: AppContext,
    actor: Actor,
    *,
    cell: str,
    units: frozenset[str] | None,
    month: str,
    now: datetime,
    after: int | None,
    limit: int,
) -> MojCellCases:
    """The cases behind ``cell``, by id, ``limit`` after ``after``: the same rule that counted them.
    Every counted case is listed; a sensitive one the reader may not open shows no number. A round
    figure (排查次数, 零报告, 预防纠纷) is not a case figure: its answer says so (``counts``:
    ``rounds``) and lists the rounds behind it instead, paged the same way by round id; a rate or a
    stock lists nothing (``counts``: ``none``)."""
    parsed = parse_cell(cell)
    if parsed is None:
        raise NotFound(f"The MoJ report has no cell {cell!r}.")
    row, column = parsed
    window = windows(month)[column]
    async with engine.connect() as conn:
        tally = (await _tallies(conn, ctx.org, units, month, (column,), case_ids=False, only=row))[cell]
        basis = row.basis
        page: list[int] = []
        more = False
        behind: list[figures.RoundBehind] = []
        if row.measure == Measure.register:
            behind = await figures.rounds_behind(
                conn,
                row.source,
                queries.people_units(ctx.org, units),
                window.start,
                window.end,
                after=after,
                limit=limit + 1,
            )
            more, behind = len(behind) > limit, behind[:limit]
        if basis is not None:
            narrow = dimension_filter(row, ctx.org)
            unit_codes = queries.channel_units(ctx.org, basis, units)
            if basis.source in queries.SQL_SOURCES:
                page = await queries.cell_page(
                    conn, basis, window, unit_codes, narrow, after=after, limit=limit + 1
                )
            else:  # a gatherer's facts: the cell's ids, paged here
                found = await _tallies(conn, ctx.org, units, month, (column,), only=row)
                page = [i for i in found[cell].case_ids if after is None or i > after][: limit + 1]
            more, page = len(page) > limit, page[:limit]
        found_cases: dict[int, MojCase] = {}
        if page:
            cases = queries.cases
            stmt = sa.select(
                cases.c.id,
                cases.c.number,
                cases.c.dispute_type,
                cases.c.unit_code,
                cases.c.court_linked,
                cases.c.sensitive,
            ).where(cases.c.id.in_(page))
            for r in await conn.execute(stmt):
                readable = can_see(actor, r.unit_code, r.court_linked, ctx.org, sensitive=r.sensitive)
                found_cases[r.id] = MojCase(
                    id=r.id,
                    number=r.number if readable or not r.sensitive else None,
                    dispute_type=r.dispute_type,
                    unit_code=r.unit_code,
                    readable=readable,
                )
    return MojCellCases(
        cell=cell,
        label=row.label_zh,
        label_en=row.label_en,
        definition=row.definition_zh,
        definition_en=row.definition_en,
        value=_shown(tally.value),
        counts="cases" if basis is not None else "rounds" if row.measure == Measure.register else "none",
        items=[found_cases[i] for i in page if i in found_cases],
        rounds=[
            MojRound(
                id=r.id,
                unit_code=r.unit_code,
                held_at=r.held_at,
                nothing_found=r.nothing_found,
                disputes_prevented=r.disputes_prevented,
            )
            for r in behind
        ],
        next_after=(behind[-1].id if behind else page[-1]) if more else None,
    )
