"""Reading a roster spreadsheet (CSV or XLSX) into validated rows, naming every bad cell.

Pure: no database. The header row may be in Chinese or English; each later row is one person.
A row's problems are collected, not raised, so one answer lists every bad line with its column
and the rule it breaks (the service adds the rules that need the database: sign-ins, people
already on the roster). Line numbers are the spreadsheet's own: the header is line 1.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError

from service.errors import ServiceError
from service.mediators.schemas import MediatorIn
from workflows.mediators import EMPLOYMENT_LABELS, Employment
from workflows.org import OrgTree
from workflows.vocab import DISPUTE_TYPE_LABELS, DisputeType

MAX_BYTES = 1_000_000  # under the app's request limit (1 MiB), so this message is the one read
MAX_ROWS = 5000
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# field → the header words that name it (Chinese first: what the pages show).
COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "name"),
    "units": ("单位", "unit", "units"),
    "employment": ("专兼职", "employment"),
    "specialties": ("擅长", "specialties", "specialty"),
    "languages": ("语言", "languages", "language"),
    "qualifications": ("资格", "qualifications"),
    "grade": ("等级", "grade"),
    "court_roster_no": ("特邀编号", "court_roster_no"),
    "court_roster_from": ("特邀起", "court_roster_from"),
    "court_roster_until": ("特邀止", "court_roster_until"),
    "id_number": ("身份证号", "id_number"),
    "phone": ("电话", "phone"),
    "username": ("登录名", "username"),
}
REQUIRED = ("name", "units", "employment")
HEADER_WORDS = {word.lower(): name for name, words in COLUMNS.items() for word in words}
SEPARATORS = re.compile(r"[;；、,，]")
EMPLOYMENT_WORDS = {
    **{label: member for member, label in EMPLOYMENT_LABELS.items()},
    **{member.value: member for member in Employment},
}
SPECIALTY_WORDS = {
    **{label: member for member, label in DISPUTE_TYPE_LABELS.items()},
    **{member.value: member for member in DisputeType},
}


class UnsupportedUpload(ServiceError):
    status = 415
    slug = "unsupported-upload"
    title = "Upload a roster as CSV or XLSX"


class UploadTooLarge(ServiceError):
    status = 413
    slug = "too-large"
    title = "The roster file is too large"


@dataclass(frozen=True)
class RowError:
    """One broken rule: where (line, column as written in the file) and which (``rule``)."""

    line: int
    column: str
    rule: str  # a stable code the pages translate: required, unknown_unit, bad_date, ...
    message: str  # in English, for the API's problem details
    position: int = -1  # the column's place in the file, to list a line's problems left to right

    def as_problem(self) -> dict[str, str]:
        return {
            "line": str(self.line),
            "column": self.column,
            "rule": self.rule,
            "field": f"line {self.line}: {self.column}",
            "message": self.message,
        }


@dataclass
class ParsedRoster:
    rows: list[tuple[int, MediatorIn]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    columns: dict[str, str] = field(default_factory=dict)  # field → header as written
    positions: dict[str, int] = field(default_factory=dict)  # field → its column's index

    def error(self, line: int, name: str, rule: str, message: str) -> RowError:
        return RowError(
            line, self.columns.get(name, COLUMNS[name][0]), rule, message, self.positions.get(name, -1)
        )


# --- reading the file -----------------------------------------------------------------------------


def read_table(filename: str, content: bytes) -> list[tuple[int, list[Any]]]:
    """(line, cells) of every non-empty row, the header first."""
    if len(content) > MAX_BYTES:
        raise UploadTooLarge(f"The file is {len(content)} bytes; a roster may be at most {MAX_BYTES} bytes.")
    name = filename.lower()
    if content.startswith(b"PK"):
        if not name.endswith(".xlsx"):
            raise UnsupportedUpload(
                "This is a zipped file but not named .xlsx; save the roster as XLSX or CSV."
            )
        return _xlsx_rows(content)
    if name.endswith(".xlsx"):
        raise UnsupportedUpload("The file is named .xlsx but is not a spreadsheet; save it again as XLSX.")
    if not name.endswith(".csv"):
        raise UnsupportedUpload(
            "Upload the roster as a .csv or .xlsx file (the first row names the columns)."
        )
    return _csv_rows(content)


def _decode(content: bytes) -> str:
    # Excel on a Chinese Windows saves CSV in GB18030 (GBK); everything else in UTF-8.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break
        return text
    raise UnsupportedUpload("The CSV file is not text in UTF-8 or GB18030; save it again as CSV.")


def _csv_rows(content: bytes) -> list[tuple[int, list[Any]]]:
    reader = csv.reader(io.StringIO(_decode(content), newline=""))
    rows: list[tuple[int, list[Any]]] = []
    try:
        for number, cells in enumerate(reader, start=1):
            if any(cell.strip() for cell in cells):
                rows.append((number, list(cells)))
            if len(rows) > MAX_ROWS + 1:
                raise UploadTooLarge(f"A roster may have at most {MAX_ROWS} people; split the file.")
    except csv.Error as exc:
        raise UnsupportedUpload(f"The CSV file cannot be read: {exc}.") from None
    return rows


def _xlsx_rows(content: bytes) -> list[tuple[int, list[Any]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise UnsupportedUpload(
            f"The XLSX file cannot be read ({type(exc).__name__}); save it again."
        ) from None
    try:
        sheet = book.worksheets[0]
        rows: list[tuple[int, list[Any]]] = []
        for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
            if any(cell is not None and str(cell).strip() for cell in cells):
                rows.append((number, list(cells)))
            if len(rows) > MAX_ROWS + 1:
                raise UploadTooLarge(f"A roster may have at most {MAX_ROWS} people; split the file.")
        return rows
    finally:
        book.close()


# --- from cells to rows -----------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    return str(value).strip()


def _split(value: str) -> list[str]:
    return [part.strip() for part in SEPARATORS.split(value) if part.strip()]


DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日")


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(text)


def parse_roster(
    table: Sequence[tuple[int, list[Any]]], org: OrgTree, writable: frozenset[str] | None
) -> ParsedRoster:
    """Every row checked against every rule that needs no database; ``writable`` None: any unit."""
    parsed = ParsedRoster()
    if not table:
        parsed.errors.append(RowError(1, "", "empty_file", "The file has no header row and no people."))
        return parsed
    header_line, header = table[0]
    positions: dict[str, int] = {}
    for index, cell in enumerate(header):
        word = _text(cell)
        if not word:
            continue
        name = HEADER_WORDS.get(word.lower())
        if name is None:
            parsed.errors.append(RowError(header_line, word, "unknown_column", f"unknown column {word!r}"))
        elif name in positions:
            parsed.errors.append(
                RowError(header_line, word, "duplicate_column", f"column {word!r} given twice")
            )
        else:
            positions[name] = index
            parsed.columns[name] = word
            parsed.positions[name] = index
    for name in REQUIRED:
        if name not in positions:
            parsed.errors.append(
                RowError(
                    header_line,
                    COLUMNS[name][0],
                    "missing_column",
                    f"the column {COLUMNS[name][0]} is required",
                )
            )
    if parsed.errors:
        return parsed
    if len(table) == 1:
        parsed.errors.append(RowError(header_line, "", "empty_file", "The file has a header but no people."))
    for line, cells in table[1:]:
        row = _parse_row(line, cells, positions, parsed.columns, org, writable, parsed.errors)
        if row is not None:
            parsed.rows.append((line, row))
    return parsed


def _parse_row(
    line: int,
    cells: list[Any],
    positions: dict[str, int],
    columns: dict[str, str],
    org: OrgTree,
    writable: frozenset[str] | None,
    errors: list[RowError],
) -> MediatorIn | None:
    def cell(name: str) -> Any:
        index = positions.get(name)
        return cells[index] if index is not None and index < len(cells) else None

    def fail(name: str, rule: str, message: str) -> None:
        errors.append(
            RowError(line, columns.get(name, COLUMNS[name][0]), rule, message, positions.get(name, -1))
        )

    before = len(errors)
    data: dict[str, Any] = {}
    for name in ("name", "qualifications", "grade", "court_roster_no", "phone", "username"):
        if name in positions:
            text = _text(cell(name))
            if text or name in ("name",):
                data[name] = text
    if "id_number" in positions:
        raw = cell("id_number")
        if isinstance(raw, float) and raw >= 1e15:
            fail(
                "id_number",
                "id_number_as_number",
                "Excel stored the id number as a number and lost digits; format the column as text",
            )
        elif _text(raw):
            data["id_number"] = _text(raw)
    units = _split(_text(cell("units")))
    if not units:
        fail("units", "required", "name at least one unit code")
    for code in units:
        if code not in org:
            fail("units", "unknown_unit", f"no unit with the code {code!r}")
        elif writable is not None and code not in writable:
            fail("units", "outside_scope", f"the unit {code} is not one you manage")
    data["units"] = units
    employment = _text(cell("employment"))
    if not employment:
        fail("employment", "required", "专职 or 兼职")
    elif employment not in EMPLOYMENT_WORDS:
        fail("employment", "bad_employment", f"{employment!r}: write 专职 or 兼职")
    else:
        data["employment"] = EMPLOYMENT_WORDS[employment]
    if "specialties" in positions:
        specialties = []
        for word in _split(_text(cell("specialties"))):
            if word in SPECIALTY_WORDS:
                specialties.append(SPECIALTY_WORDS[word])
            else:
                fail("specialties", "bad_specialty", f"{word!r} is not a dispute type (e.g. 邻里, 婚姻家庭)")
        data["specialties"] = list(dict.fromkeys(specialties))
    if "languages" in positions:
        data["languages"] = _split(_text(cell("languages")))
    for name in ("court_roster_from", "court_roster_until"):
        raw = cell(name)
        if name in positions and _text(raw):
            try:
                data[name] = _date(raw)
            except ValueError:
                fail(name, "bad_date", f"{_text(raw)!r} is not a date: write 2026-01-31")
    since, until = data.get("court_roster_from"), data.get("court_roster_until")
    if since and until and since > until:
        fail("court_roster_until", "dates_order", "the 特邀 entry ends before it starts")
    if len(errors) > before:
        # Checked what could be checked; the model's own rules would repeat the same cells.
        _model_errors(data, fail, skip={"units", "employment", "specialties"})
        return None
    try:
        return MediatorIn.model_validate(data)
    except ValidationError as exc:
        _report(exc, fail)
        return None


def _model_errors(data: dict[str, Any], fail: Any, skip: set[str]) -> None:
    try:
        MediatorIn.model_validate(data)
    except ValidationError as exc:
        _report(exc, fail, skip)


RULE_OF_TYPE = {
    "missing": "required",
    "string_too_short": "required",
    "string_too_long": "too_long",
    "too_long": "too_many",
}


def _report(exc: ValidationError, fail: Any, skip: Iterable[str] = ()) -> None:
    for error in exc.errors():
        loc = error.get("loc", ())
        name = str(loc[0]) if loc else "name"
        if name in skip or name not in COLUMNS:
            continue
        kind = error.get("type", "")
        if name == "id_number":
            rule = "bad_id_number"
        elif name == "phone":
            rule = "bad_phone"
        else:
            rule = RULE_OF_TYPE.get(kind, "invalid")
        fail(name, rule, str(error.get("msg", "invalid")))
