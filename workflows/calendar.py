"""Business time: working days, calendar-day periods and office hours on China's official calendar.

China moves working days around its public holidays (调休): some Saturdays and Sundays become
working days and some weekdays become days off, announced each November or December by the
State Council General Office for the following year. So "3 working days" can only be counted
on the official calendar, which this module takes as data (``YearCalendar``), seeded from the
``chinesecalendar`` package and replaceable per year from ``config/calendars``.

Conventions, used by every function here:

* Arithmetic happens in Asia/Shanghai; inputs must be timezone-aware (a naive datetime raises
  ``ValueError``, because guessing its zone would silently shift deadlines by eight hours).
  Results are aware datetimes in Asia/Shanghai; callers convert to UTC to store them.
* A deadline is a half-open instant: the *end* of its last day, i.e. 00:00 Asia/Shanghai of the
  following calendar day. A case is on time while ``now < due_at``.
* Periods follow 民事诉讼法 art. 85: the start day is never counted, and a calendar-day or month
  period whose last day is not a working day ends on the next working day.
* A year the calendar does not know falls back to Monday–Friday; ``knows`` and
  ``missing_years`` let the service warn about it loudly instead.

Pure: no file I/O and no wall clock (reading the package's in-memory tables is not I/O).
"""

from __future__ import annotations

import calendar as gregorian
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal, assert_never
from zoneinfo import ZoneInfo

import chinese_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
OFFICE_OPENS = time(8, 30)
OFFICE_CLOSES = time(17, 30)

PeriodUnit = Literal["working_days", "days", "months"]

_ONE_DAY = timedelta(days=1)
_SATURDAY = 5


@dataclass(frozen=True)
class YearCalendar:
    """One year of the official holiday arrangement (国务院办公厅关于某年部分节假日安排的通知).

    ``holidays`` are the days off the notice announces, *including* weekend days inside a
    holiday period (2025-02-01, a Saturday in the Spring Festival week, is listed): the ranges
    can then be copied from the notice as printed. Only the weekdays among them change anything,
    since weekends are days off anyway. ``workdays`` are the make-up working days (调休上班),
    which are always a Saturday or Sunday. ``source`` says where the data came from.
    """

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    source: str

    def __post_init__(self) -> None:
        # The config loader reports these with file and key; this guards hand-built calendars.
        outside = sorted(d for d in self.holidays | self.workdays if d.year != self.year)
        if outside:
            raise ValueError(f"{self.year} calendar has dates from another year: {outside}")
        both = sorted(self.holidays & self.workdays)
        if both:
            raise ValueError(f"{self.year} calendar has dates that are both holiday and workday: {both}")
        weekdays = sorted(d for d in self.workdays if d.weekday() < _SATURDAY)
        if weekdays:
            raise ValueError(f"{self.year} make-up working days must fall on a weekend: {weekdays}")


def seeded_years() -> dict[int, YearCalendar]:
    """Every year the ``chinesecalendar`` package covers, as ``YearCalendar``s.

    A notice can place a make-up day in the previous year (the 2012 notice made Saturday
    2011-12-31 a working day), so dates are grouped by their own year, not by notice.
    """
    source = f"chinesecalendar {chinese_calendar.__version__}"
    holidays: dict[int, set[date]] = {}
    workdays: dict[int, set[date]] = {}
    for day in chinese_calendar.holidays:
        holidays.setdefault(day.year, set()).add(day)
    for day in chinese_calendar.workdays:
        workdays.setdefault(day.year, set()).add(day)
    return {
        year: YearCalendar(
            year=year,
            holidays=frozenset(holidays.get(year, ())),
            workdays=frozenset(workdays.get(year, ())),
            source=source,
        )
        for year in sorted(holidays.keys() | workdays.keys())
    }


def shanghai(moment: datetime) -> datetime:
    """``moment`` in Asia/Shanghai; a naive datetime is refused rather than guessed."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: pass a timezone-aware datetime")
    return moment.astimezone(SHANGHAI)


def end_of_day(day: date) -> datetime:
    """The deadline instant for a period whose last day is ``day``: 00:00 Shanghai the day after."""
    return datetime.combine(day + _ONE_DAY, time(0), tzinfo=SHANGHAI)


def _last_day_before(due_at: datetime) -> date:
    """The calendar day holding the last instant before ``due_at`` (its deadline's last day)."""
    return (shanghai(due_at) - timedelta(microseconds=1)).date()


def _add_months(day: date, months: int) -> date:
    """The corresponding day ``months`` later, clamped to that month's last day (Jan 31 → Feb 28)."""
    year, month_index = divmod(day.year * 12 + day.month - 1 + months, 12)
    month = month_index + 1
    return date(year, month, min(day.day, gregorian.monthrange(year, month)[1]))


def _require_positive(n: int) -> None:
    if n < 1:
        raise ValueError(f"a period must be at least 1 long, got {n}")


class BusinessCalendar:
    """Working-day and period arithmetic over the official calendars of the years it is given."""

    def __init__(self, years: Mapping[int, YearCalendar]) -> None:
        for year, calendar in years.items():
            if calendar.year != year:
                raise ValueError(f"calendar for {calendar.year} filed under {year}")
        self._years = dict(years)

    # --- days ---------------------------------------------------------------------------

    def knows(self, year: int) -> bool:
        """Whether the official calendar for ``year`` is known (seeded or configured)."""
        return year in self._years

    def year_calendar(self, year: int) -> YearCalendar | None:
        return self._years.get(year)

    def is_working_day(self, day: date) -> bool:
        """Monday–Friday unless an official day off; Saturday/Sunday only as a make-up day.

        An unknown year falls back to Monday–Friday; ``missing_years`` is how that gets noticed.
        """
        calendar = self._years.get(day.year)
        if calendar is None:
            return day.weekday() < _SATURDAY
        if day.weekday() >= _SATURDAY:
            return day in calendar.workdays
        return day not in calendar.holidays

    def _next_working_day(self, day: date) -> date:
        """The first working day on or after ``day``."""
        while not self.is_working_day(day):
            day += _ONE_DAY
        return day

    def _working_days_between(self, first: date, last: date) -> int:
        """Working days in ``first..last`` inclusive; 0 when ``last`` is before ``first``."""
        count = 0
        day = first
        while day <= last:
            count += self.is_working_day(day)
            day += _ONE_DAY
        return count

    def missing_years(self, today: date) -> list[int]:
        """Years whose official calendar is missing and matters now.

        The current year whenever it is unknown; from 1 December also next year, since the
        notice usually appears in November and deadlines started in December reach into January.
        """
        wanted = [today.year, today.year + 1] if today.month == 12 else [today.year]
        return [year for year in wanted if not self.knows(year)]

    # --- periods ------------------------------------------------------------------------

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """The deadline of "within ``n`` working days" from ``start`` (``n`` ≥ 1).

        Counting begins on the day after the start day (the start day is never counted, even
        at 08:00); the result is the end of the ``n``-th working day.
        """
        _require_positive(n)
        day = shanghai(start).date()
        counted = 0
        while counted < n:
            day += _ONE_DAY
            counted += self.is_working_day(day)
        return end_of_day(day)

    def add_days(self, start: datetime, n: int) -> datetime:
        """The deadline of an ``n``-calendar-day period (``n`` ≥ 1) by 民事诉讼法 art. 85.

        The last day is the start date plus ``n`` days; if that is a weekend or holiday, the
        period ends on the next working day. Returns the end of the last day.
        """
        _require_positive(n)
        last = shanghai(start).date() + timedelta(days=n)
        return end_of_day(self._next_working_day(last))

    def add_months(self, start: datetime, n: int) -> datetime:
        """The deadline of an ``n``-month period (``n`` ≥ 1).

        The last day is the corresponding day ``n`` months on (clamped to the month's end:
        Jan 31 + 1 month is Feb 28, or 29), rolled forward to a working day as in ``add_days``.
        """
        _require_positive(n)
        last = _add_months(shanghai(start).date(), n)
        return end_of_day(self._next_working_day(last))

    def add(self, start: datetime, length: int, unit: PeriodUnit) -> datetime:
        """The deadline of a period of ``length`` ``unit``s starting at ``start``."""
        if unit == "working_days":
            return self.add_working_days(start, length)
        if unit == "days":
            return self.add_days(start, length)
        if unit == "months":
            return self.add_months(start, length)
        assert_never(unit)

    def working_days_left(self, now: datetime, due_at: datetime) -> int:
        """Working days left before ``due_at``, as a mediator reads "还剩 N 个工作日".

        The deadline's last day is the day holding the last instant before ``due_at`` (for a
        deadline from this calendar, the day before ``due_at``'s date).

        * Before ``due_at``: the working days from today (included) through the last day. It is
          1 on the last day itself, 2 on the working day before, and so on. It is 0 only when no
          working day remains although the deadline has not passed, which happens only for a
          deadline moved onto a non-working stretch (e.g. pushed by a pause).
        * From ``due_at`` on: minus the working days after the last day through today (included):
          -1 on the first working day after the deadline, -2 on the next; 0 while only
          non-working days (an evening, a weekend) have gone by since it passed.
        """
        today = shanghai(now).date()
        last = _last_day_before(due_at)
        if now < due_at:
            return self._working_days_between(today, last)
        return -self._working_days_between(last + _ONE_DAY, today)

    def last_working_day_before(self, due_at: datetime) -> date:
        """The last working day that ends no later than ``due_at`` (the day for a final warning)."""
        day = shanghai(due_at).date() - _ONE_DAY
        while not self.is_working_day(day):
            day -= _ONE_DAY
        return day

    # --- office hours -------------------------------------------------------------------

    def within_working_hours(
        self, t: datetime, start: time = OFFICE_OPENS, end: time = OFFICE_CLOSES
    ) -> bool:
        """Whether ``t`` falls on a working day within ``[start, end)`` Shanghai time."""
        _require_office_hours(start, end)
        local = shanghai(t)
        return self.is_working_day(local.date()) and start <= local.time() < end

    def next_working_time(
        self, t: datetime, start: time = OFFICE_OPENS, end: time = OFFICE_CLOSES
    ) -> datetime:
        """The first instant at or after ``t`` inside working hours, so warnings wait for the office.

        ``t`` itself if it is already inside; otherwise ``start`` on today (before opening) or
        the next working day (after closing, on a weekend or on a holiday).
        """
        _require_office_hours(start, end)
        local = shanghai(t)
        day = local.date()
        if self.is_working_day(day) and local.time() < end:
            return local if local.time() >= start else datetime.combine(day, start, tzinfo=SHANGHAI)
        return datetime.combine(self._next_working_day(day + _ONE_DAY), start, tzinfo=SHANGHAI)


def _require_office_hours(start: time, end: time) -> None:
    if start.tzinfo is not None or end.tzinfo is not None:
        raise ValueError("office hours are wall-clock times in Asia/Shanghai; give them without tzinfo")
    if not start < end:
        raise ValueError(f"office hours must open before they close, got {start}–{end}")
