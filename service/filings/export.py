"""A filed version as a file: its cells laid out as the report's grid (rows × columns, in the order
they were filed), with a heading block naming the unit, month, version, reason and SHA-256."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime

from fastapi import Response
from sqlalchemy.ext.asyncio import AsyncEngine

from service.exports import ExportFormat, attachment_response, record_export
from service.filings.schemas import FilingOut
from service.filings.source import FrozenReport
from service.safe_text import looks_like_formula, spreadsheet_text
from workflows.lifecycle import Actor


def grid(report: FrozenReport) -> tuple[list[str], list[list[str | int]]]:
    """(column headings, rows): each row its label then a value per column, blank where none."""
    columns: list[str] = []
    rows: dict[str, dict[str, int | str]] = {}
    for cell in report.cells:
        if cell.column not in columns:
            columns.append(cell.column)
        rows.setdefault(cell.row, {})[cell.column] = cell.value
    return columns, [[row, *(values.get(c, "") for c in columns)] for row, values in rows.items()]


def _heading(out: FilingOut) -> list[list[str | int]]:
    lines: list[list[str | int]] = [
        ["单位", f"{out.unit_name} ({out.unit_code})"],
        ["月份", out.month],
        ["版本", out.version],
        ["报送", f"{out.filed_by} {out.filed_at.isoformat()}"],
        ["SHA-256", out.sha256],
    ]
    if out.reason:
        lines.insert(3, ["更正理由", out.reason])
    return lines


def to_csv(out: FilingOut, report: FrozenReport) -> bytes:
    """UTF-8 with a byte-order mark (Excel reads the headings); formula-like text stays text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for line in _heading(out):
        writer.writerow([spreadsheet_text(v) for v in line])
    writer.writerow([])
    columns, rows = grid(report)
    writer.writerow(["", *columns])
    for row in rows:
        writer.writerow([spreadsheet_text(v) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


AMOUNT = re.compile(r"-?\d+\.\d{2}")


def to_xlsx(out: FilingOut, report: FrozenReport) -> bytes:
    """One sheet: the heading block, then the grid with a bold header; amounts (text in the
    filing, to keep them exact) as numbers with two decimals; typed text never a formula."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = f"{out.month} v{out.version}"
    for line in _heading(out):
        sheet.append(line)
    sheet.append([])
    columns, rows = grid(report)
    sheet.append(["", *columns])
    header_row = sheet.max_row
    for row in rows:
        sheet.append([float(v) if isinstance(v, str) and AMOUNT.fullmatch(v) else v for v in row])
    for cells in sheet.iter_rows(min_row=header_row + 1):
        for cell in cells:
            if isinstance(cell.value, float):
                cell.number_format = "#,##0.00"
    for cells in sheet.iter_rows():
        for cell in cells:
            if isinstance(cell.value, str) and looks_like_formula(cell.value):
                cell.data_type = "s"
                cell.quotePrefix = True
    for cell in sheet[header_row]:
        cell.font = Font(bold=True)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def export_response(
    engine: AsyncEngine,
    actor: Actor,
    out: FilingOut,
    report: FrozenReport,
    fmt: ExportFormat,
    *,
    client_ip: str | None,
    now: datetime,
) -> Response:
    """The filed version as a file, its leaving recorded as a security event (`stats_exported`)."""
    content = to_csv(out, report) if fmt == ExportFormat.csv else to_xlsx(out, report)
    payload = {
        "report": "filing",
        "filing_id": out.id,
        "unit": out.unit_code,
        "month": out.month,
        "version": out.version,
        "format": fmt.value,
    }
    await record_export(engine, actor, "stats_exported", payload, client_ip=client_ip, now=now)
    filename = f"jiefen-filing-{out.unit_code}-{out.month}-v{out.version}.{fmt.value}"
    return attachment_response(content, fmt, filename)
