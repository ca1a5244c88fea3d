"""Import village and community stations from the national statistical division list.

Kunshan has about 360 villages and communities; they are imported from the official list
(a CSV of code, name, parent code), never typed by hand. Only villages are imported: towns and
everything above are maintained in ``kunshan.yaml`` because they carry routing decisions
(handling parents, names of centres) that the statistical list knows nothing about.

The import is idempotent: codes already in the tree or in the output file are skipped, so
running it again on the same list adds nothing.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import yaml

from service.config.loading import ConfigError, ConfigProblem, read_yaml
from service.config.units import unit_to_mapping
from service.safe_text import bidi_control_in, looks_like_formula
from workflows.org import Channel, OrgTree, Tier, Unit, UnitKind, default_org_type

# Header names seen in published copies of the list, normalised (lower case, "_" for spaces).
COLUMN_ALIASES = {
    "code": {"code", "代码", "区划代码", "统计用区划代码"},
    "name": {"name", "名称"},
    "parent": {"parent_code", "parent", "parentcode", "上级代码", "上级区划代码", "streetcode"},
}

OUTPUT_HEADER = """\
# Village and community stations imported from the national statistical division list
# by service.units.importer. Loaded together with kunshan.yaml (same format). Entries may be
# edited by hand; the importer only appends.

"""

# The official list pads every code to 12 digits: town 320583106000, county 320583000000.
_TOWN_PADDING = "000"


@dataclass
class ImportReport:
    added: list[Unit] = field(default_factory=list)
    skipped: list[tuple[int, str, str]] = field(default_factory=list)  # (line, code, why)
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # (line, code, reason)


@dataclass(frozen=True)
class _Row:
    line: int
    code: str
    name: str
    parent: str


class _Reject(Exception):
    """A row that cannot be imported; the message is the reason shown in the report."""


class _Skip(Exception):
    """A row with nothing to import; the message says why."""


def import_villages(csv_path: Path, tree: OrgTree, output: Path) -> ImportReport:
    """Append the villages in ``csv_path`` missing from ``tree`` and ``output`` to ``output``."""
    rows, malformed = _read_rows(csv_path)
    existing = _read_output_units(output)
    importer = _Importer(tree, existing)
    report = ImportReport(rejected=malformed)
    for row in rows:
        try:
            report.added.append(importer.take(row))
        except _Skip as why:
            report.skipped.append((row.line, row.code, str(why)))
        except _Reject as reason:
            report.rejected.append((row.line, row.code, str(reason)))
    report.rejected.sort()
    if report.added:
        _append_units(output, existing, report.added)
    return report


class _Importer:
    """Decides, row by row, whether a row becomes a village station."""

    def __init__(self, tree: OrgTree, existing: list[object]) -> None:
        self.tree = tree
        # Units already written to the output file count as present even when ``tree`` was
        # loaded before they were written: that is what makes a second run add nothing.
        self.names: dict[str, str] = {unit.code: unit.name for unit in tree}
        self.by_parent_name: dict[tuple[str | None, str], str] = {
            (u.parent_code, u.name): u.code for u in tree
        }
        for entry in existing:
            if not isinstance(entry, dict):
                continue
            code, name, parent = (str(entry.get(key, "")) for key in ("code", "name", "parent"))
            self.names.setdefault(code, name)
            self.by_parent_name.setdefault((parent, name), code)
        self.root_prefix = next((u.code for u in tree.of_kind(UnitKind.city_centre) if u.code.isdigit()), "")
        self.first_line: dict[str, int] = {}

    def take(self, row: _Row) -> Unit:
        code = _normalise(row.code)
        if not (code.isascii() and code.isdigit()) or len(code) not in (6, 9, 12):
            raise _Reject(f"malformed code {row.code!r}: expected a 6-, 9- or 12-digit statistical code")
        if self.root_prefix and not code.startswith(self.root_prefix):
            raise _Skip(f"outside {self.root_prefix}")
        if code in self.first_line:
            raise _Reject(f"duplicate in file: same code as line {self.first_line[code]}")
        self.first_line[code] = row.line
        if len(code) == 6:
            raise _Skip("county-level row; only villages are imported")
        if len(code) == 9:
            return self._town_row(code)
        return self._village_row(code, row)

    def _town_row(self, code: str) -> NoReturn:
        if code in self.tree:
            raise _Skip(f"town row: {code} {self.tree.get(code).name} is already in the org tree")
        raise _Reject(f"town {code} is not in the org tree; towns are maintained in kunshan.yaml")

    def _village_row(self, code: str, row: _Row) -> Unit:
        town = self._town(_normalise(row.parent))
        if not code.startswith(town.code):
            raise _Reject(f"code is not under its parent's code {town.code}")
        name = clean_name(row.name)
        if not name:
            raise _Reject("empty name")
        if looks_like_formula(name):
            # It would go on into the CSV and XLSX reports, where a spreadsheet runs it.
            raise _Reject(f"name {name!r} starts like a spreadsheet formula ({name[0]!r})")
        hidden = bidi_control_in(name)
        if hidden is not None:
            raise _Reject(f"name contains an invisible bidirectional control character ({hidden})")
        present = self.names.get(code)
        if present == name:
            raise _Skip("already present with the same name")
        if present is not None:
            raise _Reject(f"code already present with a different name: {present}")
        # The same name under the same town with another code is almost always a hand-made
        # placeholder (see kunshan.yaml); adding both would give the village two stations.
        other = self.by_parent_name.get((town.code, name))
        if other is not None:
            raise _Reject(f"{town.name} already has a unit named {name} with code {other}")
        # The statistical list has no English; the loader requires one, so a placeholder naming the
        # code stands until someone writes the pinyin name into the file.
        unit = Unit(
            code,
            name,
            UnitKind.village_station,
            Tier.village,
            Channel.people,
            parent_code=town.code,
            name_en=f"Station {code}",
            org_type=default_org_type(UnitKind.village_station, name, Channel.people),
        )
        self.names[code] = name
        self.by_parent_name[(town.code, name)] = code
        return unit

    def _town(self, parent: str) -> Unit:
        if not parent:
            raise _Reject("parent code missing")
        unit = self.tree.find(parent)
        if unit is None:
            raise _Reject(f"parent {parent} is not in the org tree")
        if unit.kind != UnitKind.town_centre:
            raise _Reject(f"parent {parent} {unit.name} is a {unit.kind}, not a town centre")
        return unit


def clean_name(raw: str) -> str:
    """The station's name as people say it: "大市社区居委会" → "大市社区", "五联村村委会" → "五联村".

    The list names the committee (村委会/居委会), the network names the place. "新镇村委会" is
    新镇村 + 委会, so a 村 swallowed by the suffix is put back.
    """
    name = raw.strip()
    for suffix in ("村民委员会", "村委会"):
        if name.endswith(suffix) and len(name) > len(suffix):
            base = name.removesuffix(suffix)
            return base if base.endswith("村") else base + "村"
    for suffix in ("居民委员会", "居委会"):
        # "东城居委会" keeps its suffix: without it nothing would say it is a community.
        if name.endswith(suffix) and name.removesuffix(suffix).endswith("社区"):
            return name.removesuffix(suffix)
    return name


def _normalise(code: str) -> str:
    """Undo the official list's padding to 12 digits: 320583106000 → 320583106, 320583000000 → 320583."""
    code = code.strip()
    for length in (12, 9):
        if len(code) == length and code.endswith(_TOWN_PADDING):
            code = code[: length - len(_TOWN_PADDING)]
    return code


# --- reading the CSV ------------------------------------------------------------------------


def _read_rows(csv_path: Path) -> tuple[list[_Row], list[tuple[int, str, str]]]:
    """Data rows with their line numbers, plus rows too short to read."""
    records = list(_records(_decode(csv_path)))
    columns = {"code": 0, "name": 1, "parent": 2}
    if records and _is_header(records[0][1]):
        line, header = records.pop(0)
        columns = _header_columns(csv_path, line, header)
    width = max(columns.values()) + 1
    rows: list[_Row] = []
    malformed: list[tuple[int, str, str]] = []
    for line, cells in records:
        if len(cells) < width:
            code = cells[columns["code"]].strip() if len(cells) > columns["code"] else ""
            malformed.append(
                (line, code, f"expected {width} columns (code, name, parent code), got {len(cells)}")
            )
            continue
        rows.append(
            _Row(line, cells[columns["code"]].strip(), cells[columns["name"]], cells[columns["parent"]])
        )
    return rows, malformed


def _decode(csv_path: Path) -> str:
    try:
        data = csv_path.read_bytes()
    except OSError as error:
        raise ConfigError([ConfigProblem(str(csv_path), "", f"cannot read: {error.strerror}")]) from None
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        # Excel on Chinese Windows saves CSV as GBK; GB18030 is its superset and decodes it alike.
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise ConfigError([ConfigProblem(str(csv_path), "", "neither UTF-8 nor GBK text")]) from None


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    for cells in reader:
        if any(cell.strip() for cell in cells):
            yield reader.line_num, cells


def _header_key(cell: str) -> str:
    return cell.strip().lower().replace(" ", "_")


def _is_header(cells: list[str]) -> bool:
    return any(_header_key(cell) in aliases for cell in cells for aliases in COLUMN_ALIASES.values())


def _header_columns(csv_path: Path, line: int, header: list[str]) -> dict[str, int]:
    keys = [_header_key(cell) for cell in header]
    columns: dict[str, int] = {}
    for column, aliases in COLUMN_ALIASES.items():
        position = next((i for i, key in enumerate(keys) if key in aliases), None)
        if position is not None:
            columns[column] = position
    missing = [column for column in COLUMN_ALIASES if column not in columns]
    if missing:
        message = f"header has no column for {', '.join(missing)} (found: {', '.join(header)})"
        raise ConfigError([ConfigProblem(str(csv_path), f"line {line}", message)])
    return columns


# --- writing the output ---------------------------------------------------------------------


def _read_output_units(output: Path) -> list[object]:
    """The entries already in the output file, as written (validation is load_units' job)."""
    if not output.exists():
        return []
    document = read_yaml(output)
    if document is None:
        return []
    units = document.get("units") if isinstance(document, dict) else document
    if units is None:
        return []
    if not isinstance(units, list):
        raise ConfigError([ConfigProblem(str(output), "units", "expected a list of units to append to")])
    return units


def _append_units(output: Path, existing: list[object], added: list[Unit]) -> None:
    new_entries = [unit_to_mapping(unit) for unit in added]
    if output.exists():
        text = _appended_text(output.read_text(encoding="utf-8"), existing, new_entries)
    else:
        text = OUTPUT_HEADER + _dump({"units": new_entries})
    _write_atomically(output, text)


def _appended_text(text: str, existing: list[object], new_entries: list[dict[str, str]]) -> str:
    """Add entries at the end so hand-written comments survive; rewrite only if that would not parse."""
    candidate = text.rstrip("\n") + "\n" + _dump(new_entries)
    expected: list[object] = [*existing, *new_entries]
    try:
        parsed = yaml.safe_load(candidate)
    except yaml.YAMLError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("units") == expected:
        return candidate
    # e.g. `units: []` or another key after the list: keep the leading comment block only.
    header = "".join(_leading_comments(text)) or OUTPUT_HEADER
    return header + _dump({"units": expected})


def _leading_comments(text: str) -> Iterator[str]:
    for line in text.splitlines(keepends=True):
        if line.strip() and not line.lstrip().startswith("#"):
            return
        yield line


def _dump(value: object) -> str:
    return yaml.safe_dump(value, allow_unicode=True, sort_keys=False, default_flow_style=False, width=200)


def _write_atomically(path: Path, text: str) -> None:
    # The temporary name does not end in .yaml, so a concurrent load_units never reads it half-written.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    # mkstemp makes the file private (0600); configuration is readable like its neighbours.
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            os.fchmod(file.fileno(), mode)
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
