"""The screening register's pure rules: periods in Kunshan's calendar, which units owe rounds and
which are missing, a round's account, who receives a major report, and when it is late; and
config/screening.yaml's validation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from service.config.loading import ConfigError
from service.config.screening import load_screening_policy
from service.config.units import load_units
from workflows.org import OrgTree, UnitKind
from workflows.screening import (
    PeriodKind,
    expected_units,
    flaggable,
    is_overdue,
    last_complete,
    major_recipients,
    missing,
    parse_period,
    period_containing,
    round_problem,
)

CONFIG = Path(__file__).resolve().parents[2] / "config"
ORG: OrgTree = load_units(CONFIG / "units")
POLICY = load_screening_policy(CONFIG / "screening.yaml")
DASHI, ZHANGPU, CITY = "320583106005", "320583106", "320583"


def test_a_month_and_a_week_are_bounded_by_kunshan_midnight() -> None:
    march = period_containing(date(2026, 3, 17), PeriodKind.monthly)
    assert (march.key, march.start, march.end) == (
        "2026-03",
        datetime(2026, 2, 28, 16, 0, tzinfo=UTC),
        datetime(2026, 3, 31, 16, 0, tzinfo=UTC),
    )
    week = period_containing(date(2026, 3, 4), PeriodKind.weekly)  # a Wednesday
    assert (week.key, week.start, week.end - week.start) == (
        "2026-W10",
        datetime(2026, 3, 1, 16, 0, tzinfo=UTC),  # Monday 2 March, 00:00 in Kunshan
        timedelta(days=7),
    )
    december = period_containing(date(2026, 12, 31), PeriodKind.monthly)
    assert december.end == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)


def test_the_last_complete_period_is_the_one_before_today_in_kunshan() -> None:
    # 1 March 00:30 in Kunshan is still 28 February in UTC: February has just ended.
    now = datetime(2026, 2, 28, 16, 30, tzinfo=UTC)
    assert last_complete(now, PeriodKind.monthly).key == "2026-02"
    assert last_complete(now - timedelta(hours=1), PeriodKind.monthly).key == "2026-01"
    assert last_complete(datetime(2026, 3, 4, 2, 0, tzinfo=UTC), PeriodKind.weekly).key == "2026-W09"


def test_a_period_is_named_as_a_month_or_an_iso_week() -> None:
    assert parse_period("2026-03") == period_containing(date(2026, 3, 1), PeriodKind.monthly)
    assert parse_period("2026-W10").key == "2026-W10"
    for wrong in ("2026-3", "March", "2026-W60", "2026-13"):
        with pytest.raises(ValueError, match="2026-W10"):
            parse_period(wrong)


def test_stations_owe_rounds_and_a_zero_report_counts() -> None:
    owed = expected_units(ORG, POLICY)
    assert owed and {u.kind for u in owed} <= {UnitKind.village_station, UnitKind.sectoral_committee}
    assert DASHI in {u.code for u in owed} and ZHANGPU not in {u.code for u in owed}
    assert expected_units(ORG, POLICY, PeriodKind.weekly) == []
    lacking = missing(owed, {DASHI})
    assert DASHI not in {u.code for u in lacking} and len(lacking) == len(owed) - 1


def test_a_period_is_judged_once_over_and_only_after_the_register_started() -> None:
    feb = parse_period("2026-02")
    assert not flaggable(feb, POLICY, datetime(2026, 3, 2, tzinfo=UTC))  # starts_on 2026-12-01
    started = POLICY.model_copy(update={"starts_on": date(2026, 1, 1)})
    assert flaggable(feb, started, datetime(2026, 3, 2, tzinfo=UTC))
    assert not flaggable(parse_period("2026-03"), started, datetime(2026, 3, 2, tzinfo=UTC))


def test_a_round_says_what_it_found_or_that_it_found_nothing() -> None:
    assert round_problem(True, 0, 0) is None
    assert round_problem(False, 1, 0) is None
    assert round_problem(False, 0, 2) is None
    assert round_problem(True, 1, 0) is not None and round_problem(True, 0, 1) is not None
    assert round_problem(False, 0, 0) == (
        "nothing_found",
        "the round lists no dispute and prevents none: say nothing_found (零报告)",
    )


def test_a_major_report_goes_to_the_town_and_the_city() -> None:
    assert [u.code for u in major_recipients(ORG, DASHI)] == [ZHANGPU, CITY]
    assert [u.code for u in major_recipients(ORG, ZHANGPU)] == [ZHANGPU, CITY]
    assert [u.code for u in major_recipients(ORG, CITY)] == [CITY]


def test_a_report_is_late_unacknowledged_at_the_due_time_or_acknowledged_after_it() -> None:
    at = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    assert not is_overdue(at, None, at + timedelta(hours=1), 2)
    assert is_overdue(at, None, at + timedelta(hours=2), 2)
    assert not is_overdue(at, at + timedelta(hours=1), at + timedelta(days=1), 2)
    assert is_overdue(at, at + timedelta(hours=3), at + timedelta(hours=3), 2)


def test_the_configuration_is_checked_naming_each_key(tmp_path: Path) -> None:
    bad = tmp_path / "screening.yaml"
    bad.write_text(
        "basis: x\nperiods:\n  village_station: yearly\nstarts_on: 2026-01-01\nack_hours: 0\nextra: 1\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_screening_policy(bad)
    said = str(caught.value)
    assert "screening.yaml: periods.village_station" in said
    assert "screening.yaml: ack_hours" in said
    assert "screening.yaml: extra" in said
