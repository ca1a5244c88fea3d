"""Business time on the real 2025 and 2026 official calendars (国务院办公厅节假日安排通知).

The facts asserted here are copied from the notices themselves (国办发明电〔2024〕12号 for 2025,
国办发明电〔2025〕7号 for 2026), not from the seeded package, so the tests check the package too.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from workflows.calendar import SHANGHAI, BusinessCalendar, YearCalendar, seeded_years


@pytest.fixture(scope="module")
def cal() -> BusinessCalendar:
    return BusinessCalendar(seeded_years())


def at(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    """A Shanghai wall-clock time."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def midnight(year: int, month: int, day: int) -> datetime:
    """A deadline instant: 00:00 Shanghai, the end of the day before."""
    return datetime(year, month, day, tzinfo=SHANGHAI)


def days(first: date, last: date) -> set[date]:
    return {first + timedelta(days=offset) for offset in range((last - first).days + 1)}


# --- the seeded official data -----------------------------------------------------------------


def test_seeded_years_come_from_the_package_and_cover_2004_to_2026() -> None:
    years = seeded_years()

    assert sorted(years) == list(range(2004, 2027))
    assert {calendar.source for calendar in years.values()} == {"chinesecalendar 1.11.0"}


def test_2025_make_up_working_days_are_exactly_the_notices() -> None:
    # 春节 1/26 (Sun), 2/8 (Sat); 劳动节 4/27 (Sun); 国庆节·中秋节 9/28 (Sun), 10/11 (Sat).
    workdays = seeded_years()[2025].workdays

    assert workdays == {
        date(2025, 1, 26),
        date(2025, 2, 8),
        date(2025, 4, 27),
        date(2025, 9, 28),
        date(2025, 10, 11),
    }


def test_2026_make_up_working_days_are_exactly_the_notices() -> None:
    # 元旦 1/4 (Sun); 春节 2/14 (Sat), 2/28 (Sat); 劳动节 5/9 (Sat); 国庆节 9/20 (Sun), 10/10 (Sat).
    workdays = seeded_years()[2026].workdays

    assert workdays == {
        date(2026, 1, 4),
        date(2026, 2, 14),
        date(2026, 2, 28),
        date(2026, 5, 9),
        date(2026, 9, 20),
        date(2026, 10, 10),
    }


def test_2025_spring_festival(cal: BusinessCalendar) -> None:
    off = days(date(2025, 1, 28), date(2025, 2, 4))

    assert off <= seeded_years()[2025].holidays
    assert not any(cal.is_working_day(day) for day in off)
    assert date(2025, 1, 26).strftime("%A") == "Sunday" and cal.is_working_day(date(2025, 1, 26))
    assert date(2025, 2, 8).strftime("%A") == "Saturday" and cal.is_working_day(date(2025, 2, 8))
    assert cal.is_working_day(date(2025, 1, 27)) and cal.is_working_day(date(2025, 2, 5))


def test_2025_national_day_and_mid_autumn(cal: BusinessCalendar) -> None:
    off = days(date(2025, 10, 1), date(2025, 10, 8))

    assert off <= seeded_years()[2025].holidays
    assert not any(cal.is_working_day(day) for day in off)
    assert date(2025, 9, 28).strftime("%A") == "Sunday" and cal.is_working_day(date(2025, 9, 28))
    assert date(2025, 10, 11).strftime("%A") == "Saturday" and cal.is_working_day(date(2025, 10, 11))
    assert cal.is_working_day(date(2025, 9, 30)) and cal.is_working_day(date(2025, 10, 9))


def test_2026_spring_festival(cal: BusinessCalendar) -> None:
    off = days(date(2026, 2, 15), date(2026, 2, 23))  # nine days, Sunday to Monday

    assert off <= seeded_years()[2026].holidays
    assert not any(cal.is_working_day(day) for day in off)
    assert date(2026, 2, 14).strftime("%A") == "Saturday" and cal.is_working_day(date(2026, 2, 14))
    assert date(2026, 2, 28).strftime("%A") == "Saturday" and cal.is_working_day(date(2026, 2, 28))
    assert cal.is_working_day(date(2026, 2, 24))


def test_2026_national_day(cal: BusinessCalendar) -> None:
    off = days(date(2026, 10, 1), date(2026, 10, 7))

    assert off <= seeded_years()[2026].holidays
    assert not any(cal.is_working_day(day) for day in off)
    assert date(2026, 9, 20).strftime("%A") == "Sunday" and cal.is_working_day(date(2026, 9, 20))
    assert date(2026, 10, 10).strftime("%A") == "Saturday" and cal.is_working_day(date(2026, 10, 10))
    assert cal.is_working_day(date(2026, 10, 8))


def test_ordinary_weeks_are_monday_to_friday(cal: BusinessCalendar) -> None:
    week = days(date(2025, 3, 3), date(2025, 3, 9))  # Monday to Sunday

    assert [cal.is_working_day(day) for day in sorted(week)] == [True] * 5 + [False] * 2


def test_an_unknown_year_falls_back_to_monday_to_friday(cal: BusinessCalendar) -> None:
    assert cal.knows(2026) and not cal.knows(2027)
    assert cal.is_working_day(date(2027, 2, 8))  # a Monday, whatever the 2027 notice will say
    assert not cal.is_working_day(date(2027, 2, 6))  # a Saturday


@pytest.mark.parametrize(
    ("holidays", "workdays", "message"),
    [
        ({date(2024, 12, 31)}, set(), "another year"),
        ({date(2025, 2, 8)}, {date(2025, 2, 8)}, "both holiday and workday"),
        (set(), {date(2025, 2, 7)}, "weekend"),
    ],
)
def test_a_year_calendar_refuses_inconsistent_data(
    holidays: set[date], workdays: set[date], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        YearCalendar(2025, frozenset(holidays), frozenset(workdays), "test")


def test_a_calendar_refuses_a_year_filed_under_another() -> None:
    with pytest.raises(ValueError, match="filed under"):
        BusinessCalendar({2027: seeded_years()[2026]})


# --- working days ---------------------------------------------------------------------------------


def test_working_days_skip_the_spring_festival_week(cal: BusinessCalendar) -> None:
    # Dispatched Friday 24 Jan 2025: Sun 26 (make-up) is 1, Mon 27 is 2, then 28 Jan–4 Feb off,
    # Wed 5 Feb is 3; the deadline is the end of 5 Feb.
    assert cal.add_working_days(at(2025, 1, 24), 3) == midnight(2025, 2, 6)


def test_a_make_up_saturday_counts_as_a_working_day(cal: BusinessCalendar) -> None:
    assert cal.add_working_days(at(2025, 2, 6), 2) == midnight(2025, 2, 9)  # Fri 7, Sat 8
    assert cal.add_working_days(at(2025, 10, 10), 1) == midnight(2025, 10, 12)  # Sat 11


def test_the_start_day_is_never_counted(cal: BusinessCalendar) -> None:
    # Dispatched first thing Monday or last thing Monday: day 1 is Tuesday either way.
    assert cal.add_working_days(at(2025, 3, 3, 8, 0), 1) == midnight(2025, 3, 5)
    assert cal.add_working_days(at(2025, 3, 3, 23, 59), 1) == midnight(2025, 3, 5)


def test_working_days_from_a_weekend_start_on_monday(cal: BusinessCalendar) -> None:
    assert cal.add_working_days(at(2025, 3, 8), 1) == midnight(2025, 3, 11)  # Sat → end of Mon 10


def test_working_days_over_new_year_2026(cal: BusinessCalendar) -> None:
    # Wed 31 Dec 2025 + 3: 1–3 Jan off, Sun 4 Jan make-up (1), Mon 5 (2), Tue 6 (3).
    assert cal.add_working_days(at(2025, 12, 31), 3) == midnight(2026, 1, 7)


# --- calendar days and months (民事诉讼法 art. 85) --------------------------------------------------


def test_a_period_ending_on_a_sunday_rolls_to_monday(cal: BusinessCalendar) -> None:
    # Mon 3 Mar + 6 days = Sun 9 Mar → Mon 10 Mar.
    assert cal.add_days(at(2025, 3, 3), 6) == midnight(2025, 3, 11)


def test_a_period_ending_inside_national_day_rolls_past_it(cal: BusinessCalendar) -> None:
    # 20 Sep + 15 days = Sun 5 Oct, inside 1–8 Oct → Thu 9 Oct.
    assert cal.add_days(at(2025, 9, 20), 15) == midnight(2025, 10, 10)


def test_a_period_ending_on_a_make_up_weekend_day_does_not_roll(cal: BusinessCalendar) -> None:
    assert cal.add_days(at(2025, 9, 26), 15) == midnight(2025, 10, 12)  # Sat 11 Oct
    assert cal.add_days(at(2025, 9, 25), 3) == midnight(2025, 9, 29)  # Sun 28 Sep


def test_an_ordinary_period_ends_at_the_end_of_its_last_day(cal: BusinessCalendar) -> None:
    assert cal.add_days(at(2025, 3, 3), 30) == midnight(2025, 4, 3)  # Wed 2 Apr


def test_months_clamp_to_the_end_of_a_short_month(cal: BusinessCalendar) -> None:
    assert cal.add_months(at(2025, 1, 31), 1) == midnight(2025, 3, 1)  # Fri 28 Feb
    assert cal.add_months(at(2024, 1, 31), 1) == midnight(2024, 3, 1)  # Thu 29 Feb (leap year)
    assert cal.add_months(at(2025, 3, 15), 1) == midnight(2025, 4, 16)  # Tue 15 Apr


def test_months_roll_past_a_holiday_and_cross_the_year(cal: BusinessCalendar) -> None:
    assert cal.add_months(at(2025, 9, 1), 1) == midnight(2025, 10, 10)  # 1 Oct → Thu 9 Oct
    assert cal.add_months(at(2025, 8, 31), 1) == midnight(2025, 10, 1)  # Tue 30 Sep
    # 31 Dec + 2 months clamps to Sat 28 Feb 2026, a make-up working day: no roll.
    assert cal.add_months(at(2025, 12, 31), 2) == midnight(2026, 3, 1)
    # 15 Jan + 1 month is Sun 15 Feb 2026, the first day of Spring Festival → Tue 24 Feb.
    assert cal.add_months(at(2026, 1, 15), 1) == midnight(2026, 2, 25)


def test_add_dispatches_on_the_unit(cal: BusinessCalendar) -> None:
    start = at(2025, 1, 24)

    assert cal.add(start, 3, "working_days") == cal.add_working_days(start, 3)
    assert cal.add(start, 15, "days") == cal.add_days(start, 15)
    assert cal.add(start, 1, "months") == cal.add_months(start, 1)


@pytest.mark.parametrize("unit", ["working_days", "days", "months"])
def test_a_period_must_be_at_least_one(cal: BusinessCalendar, unit: str) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        cal.add(at(2025, 3, 3), 0, unit)  # type: ignore[arg-type]


# --- working days left ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "left"),
    [
        (at(2025, 1, 24, 15), 4),  # dispatch day: today is still a working day
        (at(2025, 1, 25), 3),  # Sat: Sun 26 (make-up), Mon 27, Wed 5 Feb
        (at(2025, 1, 27), 2),
        (at(2025, 1, 30), 1),  # inside the holiday: only 5 Feb is left
        (at(2025, 2, 5, 9), 1),  # the due day itself
        (at(2025, 2, 5, 23, 59), 1),
        (midnight(2025, 2, 6), -1),  # the deadline instant: Thu 6 Feb is a working day overdue
        (at(2025, 2, 7), -2),
        (at(2025, 2, 8), -3),  # make-up Saturday counts
        (at(2025, 2, 9), -3),  # Sunday does not
    ],
)
def test_working_days_left_around_the_spring_festival(
    cal: BusinessCalendar, now: datetime, left: int
) -> None:
    due_at = cal.add_working_days(at(2025, 1, 24), 3)

    assert due_at == midnight(2025, 2, 6)
    assert cal.working_days_left(now, due_at) == left


def test_working_days_left_is_zero_when_overdue_only_by_a_weekend(cal: BusinessCalendar) -> None:
    due_at = cal.add_working_days(at(2025, 3, 6), 1)  # end of Fri 7 Mar

    assert cal.working_days_left(at(2025, 3, 8), due_at) == 0
    assert cal.working_days_left(at(2025, 3, 10), due_at) == -1


def test_working_days_left_for_a_deadline_moved_off_midnight(cal: BusinessCalendar) -> None:
    # A pause pushes due_at to an arbitrary instant; its day counts until that instant.
    due_at = at(2025, 3, 5, 14)  # Wed

    assert cal.working_days_left(at(2025, 3, 5, 10), due_at) == 1
    assert cal.working_days_left(at(2025, 3, 5, 15), due_at) == 0
    assert cal.working_days_left(at(2025, 3, 6, 10), due_at) == -1
    # Moved onto a weekend: not yet due, but no working day remains.
    assert cal.working_days_left(at(2025, 3, 8), at(2025, 3, 9, 12)) == 0


def test_last_working_day_before_the_deadline(cal: BusinessCalendar) -> None:
    assert cal.last_working_day_before(midnight(2025, 2, 6)) == date(2025, 2, 5)
    assert cal.last_working_day_before(midnight(2025, 3, 10)) == date(2025, 3, 7)  # over a weekend
    assert cal.last_working_day_before(midnight(2025, 2, 9)) == date(2025, 2, 8)  # make-up Saturday
    # Due at 14:00 on a holiday-week day: the last full working day is before the festival.
    assert cal.last_working_day_before(at(2025, 2, 5, 14)) == date(2025, 1, 27)


# --- office hours ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("t", "inside"),
    [
        (at(2025, 3, 3, 8, 29), False),
        (at(2025, 3, 3, 8, 30), True),
        (at(2025, 3, 3, 17, 29), True),
        (at(2025, 3, 3, 17, 30), False),
        (at(2025, 3, 8, 10), False),  # Saturday
        (at(2025, 2, 8, 10), True),  # make-up Saturday
        (at(2025, 10, 2, 10), False),  # National Day
    ],
)
def test_within_working_hours(cal: BusinessCalendar, t: datetime, inside: bool) -> None:
    assert cal.within_working_hours(t) is inside


def test_next_working_time(cal: BusinessCalendar) -> None:
    assert cal.next_working_time(at(2025, 3, 3, 10, 15)) == at(2025, 3, 3, 10, 15)  # already inside
    assert cal.next_working_time(at(2025, 3, 3, 7)) == at(2025, 3, 3, 8, 30)  # before opening
    assert cal.next_working_time(at(2025, 3, 7, 17, 30)) == at(2025, 3, 10, 8, 30)  # Fri after 17:30
    assert cal.next_working_time(at(2025, 3, 8, 10)) == at(2025, 3, 10, 8, 30)  # weekend
    assert cal.next_working_time(at(2025, 9, 30, 18)) == at(2025, 10, 9, 8, 30)  # National Day
    assert cal.next_working_time(at(2025, 2, 7, 18)) == at(2025, 2, 8, 8, 30)  # make-up Saturday


def test_office_hours_can_be_given(cal: BusinessCalendar) -> None:
    assert cal.next_working_time(at(2025, 3, 3, 8, 45), start=time(9), end=time(17)) == at(2025, 3, 3, 9)
    assert not cal.within_working_hours(at(2025, 3, 3, 17, 15), start=time(9), end=time(17))
    with pytest.raises(ValueError, match="open before they close"):
        cal.within_working_hours(at(2025, 3, 3), start=time(17), end=time(9))


# --- time zones -----------------------------------------------------------------------------------


def test_a_utc_start_counts_as_its_shanghai_day(cal: BusinessCalendar) -> None:
    late_monday = datetime(2025, 3, 3, 15, 30, tzinfo=UTC)  # 23:30 Monday in Kunshan
    early_tuesday = datetime(2025, 3, 3, 16, 30, tzinfo=UTC)  # 00:30 Tuesday in Kunshan

    due_at = cal.add_working_days(late_monday, 1)

    assert due_at == datetime(2025, 3, 4, 16, 0, tzinfo=UTC)  # end of Tuesday in Kunshan
    assert due_at.utcoffset() == timedelta(hours=8)
    assert cal.add_working_days(early_tuesday, 1) == datetime(2025, 3, 5, 16, 0, tzinfo=UTC)
    assert cal.working_days_left(datetime(2025, 3, 4, 1, 0, tzinfo=UTC), due_at) == 1


def test_utc_office_hours(cal: BusinessCalendar) -> None:
    # 00:30 UTC is 08:30 in Kunshan; 09:30 UTC is 17:30.
    assert cal.within_working_hours(datetime(2025, 3, 3, 0, 30, tzinfo=UTC))
    assert not cal.within_working_hours(datetime(2025, 3, 3, 9, 30, tzinfo=UTC))
    assert cal.next_working_time(datetime(2025, 3, 7, 10, tzinfo=UTC)) == datetime(
        2025, 3, 10, 0, 30, tzinfo=UTC
    )


def test_naive_datetimes_are_refused(cal: BusinessCalendar) -> None:
    naive = datetime(2025, 3, 3, 10)
    aware = at(2025, 3, 3)
    calls = [
        lambda: cal.add_working_days(naive, 1),
        lambda: cal.add_days(naive, 1),
        lambda: cal.add_months(naive, 1),
        lambda: cal.working_days_left(naive, aware),
        lambda: cal.working_days_left(aware, naive),
        lambda: cal.within_working_hours(naive),
        lambda: cal.next_working_time(naive),
        lambda: cal.last_working_day_before(naive),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="naive"):
            call()


# --- missing years --------------------------------------------------------------------------------


def test_next_year_is_missing_from_the_first_of_december(cal: BusinessCalendar) -> None:
    assert cal.missing_years(date(2026, 11, 30)) == []
    assert cal.missing_years(date(2026, 12, 1)) == [2027]
    assert cal.missing_years(date(2025, 12, 1)) == []  # 2026 is known


def test_the_current_year_is_missing_all_year(cal: BusinessCalendar) -> None:
    assert cal.missing_years(date(2027, 1, 5)) == [2027]
    assert cal.missing_years(date(2027, 12, 31)) == [2027, 2028]
