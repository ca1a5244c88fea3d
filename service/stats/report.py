"""The case registration report (案件登记月报), as rows, CSV and XLSX: the cohort of cases
registered in a month, as they stand now. It is NOT the report filed with the 司法局 — that is the
MoJ report (service/moj, /stats/moj), counted from events — and its headings say so: 登记数, not
受理数; "有民转刑风险且调解成功", not the MoJ row 防止民转刑; each column's definition below the table.

One row per (town, dispute type) that has cases registered in the month, in town code and
Ministry-of-Justice type order, then a total row. Figures follow the definitions in
``service.stats.queries``; one GROUP BY (unit, type) statement, folded into towns in Python.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.safe_text import looks_like_formula, spreadsheet_text
from service.stats.by_mediator import by_mediator as mediator_rows
from service.stats.queries import (
    SUCCESS,
    TERMINATED,
    Period,
    StatsQuery,
    cases,
    cohort_where,
    count_if,
    money,
    overdue,
    rate,
    sum_if,
    town_of,
)
from service.stats.schemas import REPORT_TITLE, MonthlyReport, ReportColumn
from workflows.lifecycle import OUTCOME_LABELS, Outcome, TerminationReason
from workflows.org import OrgTree
from workflows.vocab import DISPUTE_TYPE_LABELS, SOURCE_LABELS, AgreementForm, DisputeType, Source

TERMINATION_REASON_LABELS: dict[TerminationReason, str] = {
    TerminationReason.party_refused: "当事人拒绝或撤回调解",
    TerminationReason.gap_too_wide: "分歧过大",
    TerminationReason.party_unreachable: "期限内无法联系",
    TerminationReason.period_expired: "期满未同意延长",
    TerminationReason.refused_to_sign: "拒绝签字",
    TerminationReason.sham_mediation: "涉嫌虚假调解",
    TerminationReason.other: "其他原因",
}
AGREEMENT_FORM_LABELS = {AgreementForm.oral: "口头协议", AgreementForm.written: "书面协议"}

# (key, heading): the order of the report's columns.
LABEL_COLUMNS = [
    ("town_code", "单位代码"),
    ("town_name", "单位"),
    ("dispute_type", "纠纷类型代码"),
    ("dispute_type_label", "纠纷类型"),
]
COUNT_COLUMNS = [
    ("registered", "登记数"),
    ("settled", "调解成功数"),
    ("terminated", "终止数"),
    *[(f"terminated_{r.value}", f"终止:{TERMINATION_REASON_LABELS[r]}") for r in TerminationReason],
    *[(f"agreement_{f.value}", AGREEMENT_FORM_LABELS[f]) for f in AgreementForm],
    ("people_involved", "涉及人数"),
    ("criminal_prevented_cases", "有民转刑风险且调解成功(件)"),
    ("criminal_prevented_people", "有民转刑风险且调解成功(人)"),
    ("group_prevented_cases", "群体性纠纷且调解成功(件)"),
    ("group_prevented_people", "群体性纠纷且调解成功(人)"),
    ("overdue", "逾期数"),
    *[(f"source_{s.value}", f"来源:{SOURCE_LABELS[s]}") for s in Source],
]
RATE_KEY, AMOUNT_KEY = "success_rate", "amount_yuan"
COLUMNS = [
    *LABEL_COLUMNS,
    *COUNT_COLUMNS[:2],
    (RATE_KEY, "调解成功率"),
    *COUNT_COLUMNS[2:],
    (AMOUNT_KEY, "涉及金额(元)"),
]

MOJ_NOTE = "本表不是向司法局报送的报表：向司法局报送的是人民调解工作统计报表（/stats/moj）。"
NOTES_HEADING = "注：各列定义"

# Every column's definition, shown below the table in the files and in the API's `columns`.
_DEFINITIONS = {
    "town_code": "案件现由哪个单位办理：镇（区）矛调中心及其下属单位归入该镇，其他归入市级行。",
    "town_name": "同上，单位名称。",
    "dispute_type": "案件当前登记的纠纷类型（代码）。",
    "dispute_type_label": "案件当前登记的纠纷类型。",
    "registered": "本月登记的全部案件，含未受理、不予受理和法院待分配的；不是人民调解报表的“受理数”。",
    "settled": "本月登记、目前协议仍然有效的案件（按案件现状，不按达成协议的月份；协议后撤回则不再计入）。",
    RATE_KEY: "调解成功数 ÷（调解成功数 + 终止数），均为本月登记的案件；无分母时为空。",
    "terminated": "本月登记、记录了终止原因且目前没有有效协议的案件。",
    "people_involved": "本月登记案件的涉及人数之和。",
    "criminal_prevented_cases": "本月登记、带民转刑风险标记且目前调解成功的案件；不是人民调解报表的“防止民转刑”。",
    "criminal_prevented_people": "上一列案件的涉及人数之和。",
    "group_prevented_cases": "本月登记、标记为群体性纠纷且目前调解成功的案件；不是人民调解报表的防止群体性事件。",
    "group_prevented_people": "上一列案件的涉及人数之和。",
    "overdue": "本月登记、有期限已被违反或现已过期的案件。",
    AMOUNT_KEY: "本月登记案件登记时的请求金额之和，不是协议金额。",
}


def definition(key: str) -> str:
    """What the column ``key`` counts (the generated columns by their family)."""
    if key in _DEFINITIONS:
        return _DEFINITIONS[key]
    if key.startswith("terminated_"):
        return "终止数中，终止原因为该项的案件。"
    if key.startswith("agreement_"):
        return "调解成功数中，协议为该形式的案件。"
    if key.startswith("source_"):
        return "本月登记、登记来源（登记时记录）为该项的案件。"
    raise KeyError(key)


def _notes(report: MonthlyReport) -> list[list[str]]:
    """The rows below the table: the title, the MoJ note, then each column with its definition."""
    return [
        [REPORT_TITLE],
        [MOJ_NOTE],
        [NOTES_HEADING],
        *[[c.heading, c.definition] for c in report.columns],
    ]


def _count_expressions(now: datetime) -> list[sa.Label[Any]]:
    criminal = sa.and_(cases.c.flag_criminal_risk.is_(True), SUCCESS)
    group = sa.and_(cases.c.flag_group_dispute.is_(True), SUCCESS)
    form = cases.c.agreement["form"].as_string()
    return [
        sa.func.count().label("registered"),
        count_if(SUCCESS).label("settled"),
        count_if(TERMINATED).label("terminated"),
        *[
            count_if(sa.and_(TERMINATED, cases.c.termination_reason == r.value)).label(
                f"terminated_{r.value}"
            )
            for r in TerminationReason
        ],
        *[count_if(sa.and_(SUCCESS, form == f.value)).label(f"agreement_{f.value}") for f in AgreementForm],
        sa.func.coalesce(sa.func.sum(cases.c.people_involved), 0).label("people_involved"),
        count_if(criminal).label("criminal_prevented_cases"),
        sum_if(criminal, cases.c.people_involved).label("criminal_prevented_people"),
        count_if(group).label("group_prevented_cases"),
        sum_if(group, cases.c.people_involved).label("group_prevented_people"),
        count_if(overdue(now)).label("overdue"),
        *[count_if(cases.c.source == s.value).label(f"source_{s.value}") for s in Source],
        sa.func.coalesce(sa.func.sum(cases.c.amount_yuan), 0).label(AMOUNT_KEY),
    ]


@dataclass
class _Tally:
    counts: dict[str, int] = field(default_factory=lambda: {k: 0 for k, _ in COUNT_COLUMNS})
    amount: Decimal = Decimal("0.00")

    def add(self, row: Mapping[Any, Any]) -> None:
        for key in self.counts:
            self.counts[key] += int(row[key] or 0)
        self.amount += money(row[AMOUNT_KEY])

    def merge(self, other: _Tally) -> None:
        self.add({**other.counts, AMOUNT_KEY: other.amount})

    def values(self) -> dict[str, int | float | None]:
        concluded = self.counts["settled"] + self.counts["terminated"]
        return {
            **self.counts,
            RATE_KEY: rate(self.counts["settled"], concluded),
            AMOUNT_KEY: float(self.amount),
        }


async def monthly_report(
    conn: AsyncConnection, org: OrgTree, q: StatsQuery, *, by_mediator: bool = False
) -> MonthlyReport:
    """The report for ``q.period`` (normally one month, see ``Period.month``) within ``q.units``;
    ``by_mediator``: with each mediator's figures (for a reader who may see them by person)."""
    stmt = (
        sa.select(cases.c.unit_code, cases.c.dispute_type, *_count_expressions(q.now))
        .where(*cohort_where(q))
        .group_by(cases.c.unit_code, cases.c.dispute_type)
    )
    tallies: dict[tuple[str, str, str], _Tally] = {}
    for row in (await conn.execute(stmt)).mappings():
        town = town_of(org, row["unit_code"])
        tallies.setdefault((town.code, town.name, row["dispute_type"]), _Tally()).add(row)

    type_order = {t.value: i for i, t in enumerate(DisputeType)}
    total = _Tally()
    rows: list[dict[str, str | int | float | None]] = []
    # Town rows by code, the city's own row (under no town) last; types in the ministry's order.
    city = org.city_centre().code
    for town_code, town_name, type_code in sorted(
        tallies, key=lambda k: (k[0] == city, k[0], type_order.get(k[2], len(type_order)), k[2])
    ):
        tally = tallies[(town_code, town_name, type_code)]
        total.merge(tally)
        label = DISPUTE_TYPE_LABELS.get(DisputeType(type_code)) if type_code in type_order else type_code
        rows.append(
            {
                "town_code": town_code,
                "town_name": town_name,
                "dispute_type": type_code,
                "dispute_type_label": label,
                **tally.values(),
            }
        )
    return MonthlyReport(
        month=q.period.months()[0],
        columns=[ReportColumn(key=k, heading=h, definition=definition(k)) for k, h in COLUMNS],
        rows=rows,
        total={
            "town_code": "",
            "town_name": "合计",
            "dispute_type": "",
            "dispute_type_label": "",
            **total.values(),
        },
        mediators=await mediator_rows(conn, q) if by_mediator else [],
    )


# The 按调解员 section: (key of MediatorStatsRow, heading).
MEDIATOR_COLUMNS = [
    ("name", "调解员"),
    ("unit_codes", "所属单位代码"),
    ("handled", "承办案件数"),
    ("lead", "其中主办"),
    ("settled", "调解成功数"),
    ("terminated", "终止数"),
    ("other", "其他(办理中或另行处理)"),
    (RATE_KEY, "调解成功率"),
    ("closed", "结案数"),
    *[(f"outcome_{o.value}", f"结案:{OUTCOME_LABELS[o]}") for o in Outcome],
    ("median_days_to_close", "结案天数中位数"),
    ("mean_days_to_close", "平均结案天数"),
    ("overdue", "逾期数"),
]
MEDIATOR_SECTION = "按调解员统计"


def _mediator_cells(report: MonthlyReport) -> list[list[str | int | float | None]]:
    cells = []
    for row in report.mediators:
        values = row.model_dump()
        values["unit_codes"] = "、".join(row.unit_codes)
        values.update({f"outcome_{k}": n for k, n in row.closed_by_outcome.items()})
        cells.append([values[k] for k, _ in MEDIATOR_COLUMNS])
    return cells


def report_period(month: str) -> Period:
    return Period.month(month, "query.month")


def _cells(report: MonthlyReport) -> list[list[str | int | float | None]]:
    keys = [c.key for c in report.columns]
    return [[row.get(k) for k in keys] for row in [*report.rows, report.total]]


def to_csv(report: MonthlyReport) -> bytes:
    """UTF-8 with a byte-order mark, so Excel opens the Chinese headings correctly. Text that a
    spreadsheet would take for a formula (a unit named "=HYPERLINK(…)") is written as text."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([c.heading for c in report.columns])
    rate_at = [c.key for c in report.columns].index(RATE_KEY)
    for cells in _cells(report):
        value = cells[rate_at]
        cells[rate_at] = "" if value is None else f"{float(value) * 100:.2f}%"
        writer.writerow(["" if v is None else spreadsheet_text(v) for v in cells])
    # Below the table: what it is (and is not), and each column's definition.
    writer.writerow([])
    writer.writerows(_notes(report))
    if report.mediators:
        # A section of its own below the table: a blank line, its title, its headings.
        writer.writerow([])
        writer.writerow([MEDIATOR_SECTION])
        writer.writerow([h for _, h in MEDIATOR_COLUMNS])
        rate_at = [k for k, _ in MEDIATOR_COLUMNS].index(RATE_KEY)
        for cells in _mediator_cells(report):
            value = cells[rate_at]
            cells[rate_at] = "" if value is None else f"{float(value) * 100:.2f}%"
            writer.writerow(["" if v is None else spreadsheet_text(v) for v in cells])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(report: MonthlyReport) -> bytes:
    """One sheet: bold frozen header, numbers as numbers, the rate as a percentage, bold total.
    Every text cell is text: openpyxl would store one starting with "=" as a formula."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = f"{report.month} 登记月报"
    sheet.append([c.heading for c in report.columns])
    for cells in _cells(report):
        sheet.append(cells)
    for row in sheet.iter_rows():
        for cell in row:
            if isinstance(cell.value, str) and looks_like_formula(cell.value):
                cell.data_type = "s"
                cell.quotePrefix = True  # Excel shows it as typed and keeps it text when edited
    bold = Font(bold=True)
    for cell in sheet[1]:
        cell.font = bold
    for cell in sheet[sheet.max_row]:  # the total row (the notes are appended after)
        cell.font = bold
    sheet.freeze_panes = "A2"
    for index, column in enumerate(report.columns, start=1):
        letter = get_column_letter(index)
        widest = max(
            len(column.heading) * 2, *(len(str(r.get(column.key) or "")) * 2 for r in report.rows[:200]), 8
        )
        sheet.column_dimensions[letter].width = min(widest + 2, 40)
        if column.key == RATE_KEY:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = "0.00%"
        elif column.key == AMOUNT_KEY:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = "#,##0.00"
    sheet.append([])
    for note in _notes(report):
        sheet.append(note)
    if report.mediators:
        _mediator_sheet(workbook.create_sheet(MEDIATOR_SECTION), report)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _mediator_sheet(sheet: Any, report: MonthlyReport) -> None:
    """The 按调解员 sheet: a mediator's name is typed by people, so it is kept text as above."""
    from openpyxl.styles import Font

    sheet.append([h for _, h in MEDIATOR_COLUMNS])
    for cells in _mediator_cells(report):
        sheet.append(cells)
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, str) and looks_like_formula(cell.value):
                cell.data_type = "s"
                cell.quotePrefix = True
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "B2"
    rate_at = [k for k, _ in MEDIATOR_COLUMNS].index(RATE_KEY) + 1
    for (cell,) in sheet.iter_rows(min_row=2, min_col=rate_at, max_col=rate_at):
        cell.number_format = "0.00%"
