"""Holiday calendars as configuration: overrides replace a seeded year, every problem is named."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from service.config.calendars import calendar_warnings, load_calendar
from service.config.loading import ConfigError

CALENDARS_DIR = Path(__file__).resolve().parents[2] / "config" / "calendars"

# Made up for the tests: the real 2027 arrangement is not published yet.
FICTIONAL_2027 = """\
year: 2027
source: "test data, not the official 2027 notice"
holidays: [2027-01-01, 2027-02-08, 2027-02-09]
workdays: [2027-02-06]
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(directory: Path) -> set[tuple[str, str]]:
    """(file name, key) for every problem reported while loading ``directory``."""
    with pytest.raises(ConfigError) as caught:
        load_calendar(directory)
    return {(Path(problem.file).name, problem.key) for problem in caught.value.problems}


def messages_of(directory: Path) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load_calendar(directory)
    return {problem.key: problem.message for problem in caught.value.problems}


# --- loading ----------------------------------------------------------------------------------


def test_the_repository_directory_loads_with_the_seeded_years() -> None:
    calendar = load_calendar(CALENDARS_DIR)

    assert calendar.knows(2025) and calendar.knows(2026)
    assert not calendar.is_working_day(date(2026, 2, 16))


def test_a_missing_directory_means_no_overrides(tmp_path: Path) -> None:
    calendar = load_calendar(tmp_path / "absent")

    assert calendar.knows(2026) and not calendar.knows(2027)


def test_a_file_adds_a_year(tmp_path: Path) -> None:
    write(tmp_path, "2027.yaml", FICTIONAL_2027)

    calendar = load_calendar(tmp_path)

    assert calendar.knows(2027)
    assert not calendar.is_working_day(date(2027, 2, 8))  # a Monday off
    assert calendar.is_working_day(date(2027, 2, 6))  # a Saturday at work
    year = calendar.year_calendar(2027)
    assert year is not None and year.source == "test data, not the official 2027 notice"


def test_a_file_replaces_a_seeded_year_wholesale(tmp_path: Path) -> None:
    write(
        tmp_path,
        "2025.yaml",
        'year: 2025\nsource: "replacement"\nholidays:\n  - 2025-01-01\nworkdays: []\n',
    )

    calendar = load_calendar(tmp_path)

    # Nothing of the seeded 2025 survives: the Spring Festival week and its make-up Sunday are gone.
    assert calendar.is_working_day(date(2025, 1, 28))
    assert not calendar.is_working_day(date(2025, 1, 26))
    assert not calendar.is_working_day(date(2025, 1, 1))
    assert calendar.is_working_day(date(2026, 1, 4))  # other years keep their seeded data


def test_quoted_dates_and_null_workdays_are_accepted(tmp_path: Path) -> None:
    write(tmp_path, "2027.yaml", 'year: 2027\nsource: "test"\nholidays: ["2027-01-01"]\nworkdays:\n')

    assert not load_calendar(tmp_path).is_working_day(date(2027, 1, 1))


# --- validation -------------------------------------------------------------------------------


def test_every_problem_is_reported_with_file_and_key(tmp_path: Path) -> None:
    write(
        tmp_path,
        "2027.yaml",
        """\
year: 2027
holiday: []
holidays:
  - 2027-01-01
  - 2026-12-31
  - 2027/02/08
  - 2027-01-01
  - 2027-02-08 09:00:00
  - 2027-02-06
workdays:
  - 2027-02-06
  - 2027-02-10
""",
    )
    write(tmp_path, "2028.yaml", "year: 2028\nsource: x\nholidays: [2028-02-30]\nworkdays: []\nextra: 1\n")

    assert problems_of(tmp_path) == {
        ("2027.yaml", "source"),
        ("2027.yaml", "holiday"),
        ("2027.yaml", "holidays[1]"),
        ("2027.yaml", "holidays[2]"),
        ("2027.yaml", "holidays[3]"),
        ("2027.yaml", "holidays[4]"),
        ("2027.yaml", "workdays[0]"),
        ("2027.yaml", "workdays[1]"),
        ("2028.yaml", "holidays[0]"),
        ("2028.yaml", "extra"),
    }


def test_each_problem_says_what_is_wrong(tmp_path: Path) -> None:
    write(
        tmp_path,
        "2027.yaml",
        """\
year: 2027
holiday: []
holidays: [2027-01-01, 2026-12-31, 2027/02/08, 2027-01-01, 2027-02-08 09:00:00, 2027-02-06]
workdays: [2027-02-06, 2027-02-10]
""",
    )

    messages = messages_of(tmp_path)

    assert "missing (required)" in messages["source"]
    assert "did you mean 'holidays'" in messages["holiday"]
    assert "not in 2027; it belongs in 2026.yaml" in messages["holidays[1]"]
    assert "YYYY-MM-DD" in messages["holidays[2]"]
    assert "listed twice (also at holidays[0])" in messages["holidays[3]"]
    assert "time of day" in messages["holidays[4]"]
    assert "both a make-up working day and a holiday (at holidays[5])" in messages["workdays[0]"]
    assert "Wednesday" in messages["workdays[1]"] and "Saturdays or Sundays" in messages["workdays[1]"]


def test_an_impossible_date_is_named_by_its_key(tmp_path: Path) -> None:
    # PyYAML itself fails on 2027-02-30 without saying where; the loader still names the entry.
    write(tmp_path, "2027.yaml", "year: 2027\nsource: x\nholidays: [2027-01-01, 2027-02-30]\nworkdays: []\n")

    messages = messages_of(tmp_path)

    assert set(messages) == {"holidays[1]"}
    assert "'2027-02-30' is not a valid date" in messages["holidays[1]"]


def test_the_year_must_match_the_file_name(tmp_path: Path) -> None:
    body = "source: x\nholidays: [2028-01-01]\nworkdays: []\n"
    write(tmp_path, "2027.yaml", "year: 2028\n" + body)
    write(tmp_path, "next.yaml", "year: 2028\n" + body)
    write(tmp_path, "2029.yaml", body)

    # Dates are checked against the year only once the year itself is sound.
    assert problems_of(tmp_path) == {("2027.yaml", "year"), ("next.yaml", ""), ("2029.yaml", "year")}


def test_required_lists_must_be_present_and_holidays_not_empty(tmp_path: Path) -> None:
    write(tmp_path, "2027.yaml", "year: 2027\nsource: x\nholidays: []\n")
    write(tmp_path, "2028.yaml", "year: 2028\nsource: x\nholidays: 2028-01-01\nworkdays: []\n")

    assert problems_of(tmp_path) == {
        ("2027.yaml", "holidays"),
        ("2027.yaml", "workdays"),
        ("2028.yaml", "holidays"),
    }


def test_a_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    write(tmp_path, "2027.yaml", "")
    write(tmp_path, "2028.yaml", "- 2028-01-01\n")
    write(tmp_path, "2029.yaml", "year: [unclosed\n")

    with pytest.raises(ConfigError) as caught:
        load_calendar(tmp_path)

    text = str(caught.value)
    assert "2027.yaml: expected a mapping" in text and "the file is empty" in text
    assert "2028.yaml: expected a mapping" in text and "a list" in text
    assert "2029.yaml: YAML syntax error at line" in text


def test_hidden_and_other_files_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, ".2027.yaml.swp.yaml", "not: [valid")
    write(tmp_path, "README.md", "# notes")

    assert not load_calendar(tmp_path).knows(2027)


# --- warnings ---------------------------------------------------------------------------------


def test_warning_for_next_year_from_the_first_of_december(tmp_path: Path) -> None:
    calendar = load_calendar(tmp_path)

    assert calendar_warnings(calendar, date(2026, 11, 30)) == []
    [warning] = calendar_warnings(calendar, date(2026, 12, 1))
    assert warning.startswith("2027 年法定节假日安排缺失：请在 config/calendars/2027.yaml 中配置")
    assert "(official 2027 holiday calendar missing" in warning


def test_warnings_for_the_current_and_next_year(tmp_path: Path) -> None:
    warnings = calendar_warnings(load_calendar(tmp_path), date(2027, 12, 15))

    assert [warning[:4] for warning in warnings] == ["2027", "2028"]
    assert "本年度工作日暂按周一至周五计算" in warnings[0]


def test_no_warning_once_the_year_is_configured(tmp_path: Path) -> None:
    write(tmp_path, "2027.yaml", FICTIONAL_2027)

    assert calendar_warnings(load_calendar(tmp_path), date(2026, 12, 1)) == []
