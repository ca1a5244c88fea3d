"""The ledger as files for finance: CSV (UTF-8 with a byte-order mark, so Excel reads the Chinese)
and XLSX. Three parts: per-mediator totals, per-case lines (one per mediator's share), corrections.
Text a spreadsheet would take for a formula is written as text."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal

from fastapi import Response
from sqlalchemy.ext.asyncio import AsyncEngine

from service.clock import SHANGHAI
from service.exports import ExportFormat, attachment_response, record_export
from service.safe_text import looks_like_formula, spreadsheet_text
from service.subsidy.schemas import SubsidyMonthOut
from workflows.lifecycle import Actor

ROLE_LABELS = {"lead": "主办", "co": "协办"}
STATUS_LABELS = {"computed": "未审核（试算）", "approved": "已审核"}

Cell = str | int | Decimal | None


def local_day(at: datetime | None) -> str:
    if at is None:
        return ""
    local = at.astimezone(SHANGHAI)
    return f"{local.year}年{local.month}月{local.day}日"


def sections(out: SubsidyMonthOut, unit_name: str) -> list[tuple[str, list[str], list[list[Cell]]]]:
    """(title, headings, rows) of each part."""
    totals: list[list[Cell]] = [
        [m.name, m.mediator_id, m.cases, m.shares_yuan, m.corrections_yuan, m.total_yuan]
        for m in out.mediators
    ]
    totals.append(["合计", None, out.eligible_cases, None, None, out.total_yuan])
    case_rows: list[list[Cell]] = []
    for case in out.cases:
        if not case.eligible:
            continue
        for share in case.shares:
            case_rows.append(
                [
                    case.number,
                    case.dispute_type_label,
                    case.difficulty_label,
                    local_day(case.closed_at),
                    case.amount_yuan,
                    share.name,
                    ROLE_LABELS.get(share.role, share.role),
                    share.amount_yuan,
                ]
            )
    corrections: list[list[Cell]] = [
        [c.name, c.mediator_id, c.amount_yuan, c.reason, c.recorded_by, local_day(c.recorded_at)]
        for c in out.corrections
    ]
    title = f"{unit_name} {out.month} 以案定补（{STATUS_LABELS[out.status]}）"
    return [
        (
            f"{title} 调解员汇总",
            ["调解员", "调解员编号", "案件数", "案件补贴(元)", "更正(元)", "应发合计(元)"],
            totals,
        ),
        (
            "案件明细",
            [
                "案件编号",
                "纠纷类型",
                "难易程度",
                "结案日期",
                "案件补贴(元)",
                "调解员",
                "角色",
                "分配金额(元)",
            ],
            case_rows,
        ),
        ("更正记录", ["调解员", "调解员编号", "金额(元)", "原因", "记录人", "记录日期"], corrections),
    ]


def _text(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return spreadsheet_text(value) if isinstance(value, str) else str(value)


def to_csv(out: SubsidyMonthOut, unit_name: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for index, (title, headings, rows) in enumerate(sections(out, unit_name)):
        if index:
            writer.writerow([])
        writer.writerow([spreadsheet_text(title)])
        writer.writerow(headings)
        for row in rows:
            writer.writerow([_text(v) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(out: SubsidyMonthOut, unit_name: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    bold = Font(bold=True)
    for index, (title, headings, rows) in enumerate(sections(out, unit_name)):
        sheet = workbook.active if index == 0 else workbook.create_sheet()
        sheet.title = ["调解员汇总", "案件明细", "更正记录"][index]
        sheet.append([title])
        sheet.append(headings)
        for row in rows:
            sheet.append([float(v) if isinstance(v, Decimal) else v for v in row])
        for cells in sheet.iter_rows(min_row=3):
            for cell in cells:
                if isinstance(cell.value, str) and looks_like_formula(cell.value):
                    cell.data_type = "s"
                    cell.quotePrefix = True
                elif isinstance(cell.value, float):
                    cell.number_format = "#,##0.00"
        for cell in (*sheet[1], *sheet[2]):
            cell.font = bold
        sheet.freeze_panes = "A3"
        for column in sheet.columns:
            letter = column[0].column_letter
            sheet.column_dimensions[letter].width = min(
                max(len(str(c.value or "")) * 2 for c in column[1:] or column) + 2, 40
            )
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def export_response(
    engine: AsyncEngine,
    actor: Actor,
    out: SubsidyMonthOut,
    unit_name: str,
    fmt: ExportFormat,
    *,
    client_ip: str | None,
    now: datetime,
) -> Response:
    """The ledger as a file, its leaving recorded as a security event (`subsidy_exported`)."""
    content = to_csv(out, unit_name) if fmt == ExportFormat.csv else to_xlsx(out, unit_name)
    payload = {"unit": out.unit_code, "month": out.month, "format": fmt.value}
    await record_export(engine, actor, "subsidy_exported", payload, client_ip=client_ip, now=now)
    filename = f"jiefen-subsidy-{out.unit_code}-{out.month}.{fmt.value}"
    return attachment_response(content, fmt, filename, no_store=True)
