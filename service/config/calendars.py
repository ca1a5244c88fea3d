"""Load the business calendar: the seeded official years, replaced per year by ``config/calendars``.

The seeded data (the ``chinesecalendar`` package) ends with the last year it was released for;
the State Council publishes next year's arrangement each November or December, so a policy
owner copies it into ``config/calendars/YYYY.yaml`` and that file replaces the year wholesale.
Every problem in every file is reported at once, each with its file and key (``holidays[3]``).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import yaml

from service.config.loading import ConfigError, ConfigProblem, read_yaml
from workflows.calendar import BusinessCalendar, YearCalendar, seeded_years

ALLOWED_KEYS = ("year", "source", "holidays", "workdays")
FILE_NAME = re.compile(r"[0-9]{4}")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass
class _File:
    """Problems found in one calendar file, each tagged with the file's path."""

    path: str
    problems: list[ConfigProblem] = field(default_factory=list)

    def add(self, key: str, message: str) -> None:
        self.problems.append(ConfigProblem(self.path, key, message))


def load_calendar(directory: Path) -> BusinessCalendar:
    """The seeded years with each ``directory/YYYY.yaml`` replacing its year.

    A missing directory means no overrides. Raises ``ConfigError`` listing every problem found.
    """
    years = seeded_years()
    if not directory.exists():
        return BusinessCalendar(years)
    if not directory.is_dir():
        raise ConfigError([ConfigProblem(str(directory), "", "expected a directory of YYYY.yaml files")])
    problems: list[ConfigProblem] = []
    # Hidden files are editor backups or a writer's temporary file, never configuration.
    for path in sorted(p for p in directory.glob("*.yaml") if not p.name.startswith(".")):
        try:
            calendar = _read_year(path)
        except ConfigError as error:
            problems.extend(error.problems)
        else:
            years[calendar.year] = calendar
    if problems:
        raise ConfigError(problems)
    return BusinessCalendar(years)


def calendar_warnings(calendar: BusinessCalendar, today: date) -> list[str]:
    """Warnings for the official calendars that are missing and matter on ``today``."""
    warnings = []
    for year in calendar.missing_years(today):
        fallback = "本年度工作日暂按周一至周五计算" if year == today.year else "跨年期限将按周一至周五计算"
        warnings.append(
            f"{year} 年法定节假日安排缺失：请在 config/calendars/{year}.yaml 中配置，{fallback} "
            f"(official {year} holiday calendar missing: add config/calendars/{year}.yaml; "
            f"until then working days in {year} are counted as Monday to Friday)"
        )
    return warnings


# --- one file -------------------------------------------------------------------------------


def _read_year(path: Path) -> YearCalendar:
    file = _File(str(path))
    document = _parse(path)
    if not isinstance(document, dict):
        shape = "empty" if document is None else f"{_kind_of(document)}"
        file.add("", f"expected a mapping with year, source, holidays and workdays; the file is {shape}")
        raise ConfigError(file.problems)
    for key in document:
        if key not in ALLOWED_KEYS:
            file.add(str(key), _unknown_key_message(str(key)))
    year = _year(path, document, file)
    source = _source(document, file)
    holidays = _dates(document, "holidays", year, file, allow_empty=False)
    workdays = _dates(document, "workdays", year, file, allow_empty=True)
    _check_overlap(holidays, workdays, file)
    _check_workdays_on_weekends(workdays, file)
    if file.problems or year is None or source is None:
        raise ConfigError(file.problems)
    return YearCalendar(
        year=year, holidays=frozenset(holidays.values()), workdays=frozenset(workdays.values()), source=source
    )


def _parse(path: Path) -> object:
    try:
        return read_yaml(path)
    except ValueError:
        # An impossible date such as 2027-02-30 makes PyYAML's own date conversion raise a bare
        # ValueError without a position. The text has parsed by then, so read it again with
        # dates kept as text and let the date check name the entry (holidays[3]).
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_DatesAsText)


class _DatesAsText(yaml.SafeLoader):
    """A safe loader that leaves ``2027-01-01`` as the string it was written as."""


def _timestamp_as_text(loader: _DatesAsText, node: yaml.Node) -> str:
    return str(node.value)


_DatesAsText.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


def _year(path: Path, document: dict[object, object], file: _File) -> int | None:
    if not FILE_NAME.fullmatch(path.stem):
        file.add("", f"the file name must be the year it configures, such as 2027.yaml, not {path.name!r}")
    if "year" not in document:
        file.add("year", "missing (required): the year this file configures")
        return None
    value = document["year"]
    if not isinstance(value, int) or isinstance(value, bool):
        file.add("year", f"must be a year such as 2027, got {_kind_of(value)} {value!r}")
        return None
    if FILE_NAME.fullmatch(path.stem) and int(path.stem) != value:
        file.add("year", f"{value} does not match the file name {path.name}")
        return None
    return value


def _source(document: dict[object, object], file: _File) -> str | None:
    value = document.get("source")
    if "source" not in document or value is None:
        file.add("source", "missing (required): name the official notice, e.g. 国务院办公厅关于2027年…的通知")
        return None
    if not isinstance(value, str) or not value.strip():
        file.add("source", f"must be the title of the official notice, got {_kind_of(value)} {value!r}")
        return None
    return value.strip()


def _dates(
    document: dict[object, object], key: str, year: int | None, file: _File, *, allow_empty: bool
) -> dict[str, date]:
    """The valid dates under ``key``, by their key path (``holidays[3]``)."""
    if key not in document:
        hint = " (write `workdays: []` if the notice has no make-up working days)" if allow_empty else ""
        file.add(key, f"missing (required): a list of dates such as 2027-01-01{hint}")
        return {}
    items = document[key]
    if items is None:
        items = []
    if not isinstance(items, list):
        file.add(key, f"must be a list of dates such as [2027-01-01, 2027-01-02], got {_kind_of(items)}")
        return {}
    if not items and not allow_empty:
        file.add(key, "is empty: copy the days off from the official notice")
    found: dict[str, date] = {}
    first_at: dict[date, str] = {}
    for index, item in enumerate(items):
        place = f"{key}[{index}]"
        day = _date(item, place, file)
        if day is None:
            continue
        if year is not None and day.year != year:
            file.add(place, f"{day} is not in {year}; it belongs in {day.year}.yaml")
        elif day in first_at:
            file.add(place, f"{day} is listed twice (also at {first_at[day]})")
        else:
            first_at[day] = place
            found[place] = day
    return found


def _date(item: object, place: str, file: _File) -> date | None:
    if isinstance(item, datetime):
        file.add(place, f"{item} has a time of day; give the date only, such as {item.date()}")
        return None
    if isinstance(item, date):
        return item
    if isinstance(item, str) and ISO_DATE.fullmatch(item.strip()):
        try:
            return date.fromisoformat(item.strip())
        except ValueError as error:
            file.add(place, f"{item!r} is not a valid date: {error}")
            return None
    file.add(place, f"must be a date written YYYY-MM-DD, such as 2027-01-01, got {_kind_of(item)} {item!r}")
    return None


def _check_overlap(holidays: dict[str, date], workdays: dict[str, date], file: _File) -> None:
    holiday_at = {day: place for place, day in holidays.items()}
    for place, day in workdays.items():
        if day in holiday_at:
            file.add(place, f"{day} is both a make-up working day and a holiday (at {holiday_at[day]})")


def _check_workdays_on_weekends(workdays: dict[str, date], file: _File) -> None:
    for place, day in workdays.items():
        if day.weekday() < 5:
            file.add(
                place,
                f"{day} is a {WEEKDAY_NAMES[day.weekday()]}: make-up working days (调休上班) are "
                "Saturdays or Sundays; weekdays are working days already",
            )


def _unknown_key_message(key: str) -> str:
    guess = difflib.get_close_matches(key, ALLOWED_KEYS, n=1)
    hint = f" (did you mean {guess[0]!r}?)" if guess else ""
    return f"unknown key{hint}; allowed keys: {', '.join(ALLOWED_KEYS)}"


def _kind_of(value: object) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "true/false", int: "a number"}
    return names.get(type(value), type(value).__name__)
