"""A filed version as CSV and XLSX: the heading names the version and its hash, the grid keeps the
filed order, amounts are numbers in the workbook, and text a person typed (a correction's reason,
a unit's row name) is never run as a formula."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from openpyxl import load_workbook

from service.filings.export import grid, to_csv, to_xlsx
from service.filings.schemas import FilingOut
from service.filings.source import FrozenCell, FrozenReport

FORMULA = '=HYPERLINK("http://evil.example/","点击")'


def filed() -> tuple[FilingOut, FrozenReport]:
    cells = [
        FrozenCell(key="a.registered", row="张浦镇 邻里", column="受理数", label="", value=3, definition=""),
        FrozenCell(
            key="a.amount", row="张浦镇 邻里", column="涉及金额(元)", label="", value="8000.50", definition=""
        ),
        FrozenCell(key="b.registered", row=FORMULA, column="受理数", label="", value=1, definition=""),
        FrozenCell(
            key="total.rate", row="合计", column="调解成功率", label="", value="50.00%", definition=""
        ),
    ]
    out = FilingOut(
        id=7,
        unit_code="320583106",
        unit_name="张浦镇",
        month="2026-03",
        version=2,
        kind="town",
        current=True,
        reason=FORMULA,
        filed_at=datetime(2026, 4, 2, 2, 0, tzinfo=UTC),
        filed_by="zhangpu.coordinator",
        sha256="ab" * 32,
        security_event_id=1,
        cells=[],
        sources=[],
        missing_towns=[],
        versions=[],
    )
    return out, FrozenReport(cells=cells, case_ids={})


def test_the_grid_keeps_the_filed_order_of_rows_and_columns() -> None:
    columns, rows = grid(filed()[1])

    assert columns == ["受理数", "涉及金额(元)", "调解成功率"]
    assert rows == [["张浦镇 邻里", 3, "8000.50", ""], [FORMULA, 1, "", ""], ["合计", "", "", "50.00%"]]


def test_csv_names_the_version_and_keeps_typed_text_as_text() -> None:
    out, report = filed()

    content = to_csv(out, report)

    assert content.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert ["SHA-256", "ab" * 32] in lines and ["版本", "2"] in lines
    assert ["更正理由", "'" + FORMULA] in lines
    assert ["'" + FORMULA, "1", "", ""] in lines


def test_xlsx_has_amounts_as_numbers_and_no_formula() -> None:
    out, report = filed()

    sheet = load_workbook(io.BytesIO(to_xlsx(out, report))).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]

    assert ["张浦镇 邻里", 3, 8000.5, None] in values
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)
    assert [FORMULA, 1, None, None] in values  # stored as text, shown as typed
