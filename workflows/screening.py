"""The screening register (矛盾纠纷排查) and major-dispute reports: the rules, without I/O.

A station screens its area regularly and records each round, including a round that found
nothing (零报告, "zero report"): a round either names what it found (disputes registered as cases
with source 主动排查, disputes resolved on the spot, 预防纠纷) or says explicitly that nothing
was found. How often a station must report is local practice, kept in ``config/screening.yaml``
(``ScreeningPolicy``): a period per unit kind, monthly or weekly in Kunshan's calendar. A
station that let a whole period pass without a round is flagged to its town.

A major or group dispute (重大、群体性纠纷: a risk of 民转刑, of suicide, of a group fight or a
mass incident) is reported at once to the town and the city centre; the report must be
acknowledged within ``ack_hours`` (local practice too), else it is escalated to the city
centre's coordinators, once. docs/screening.md has the definitions the figures follow.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from workflows.calendar import SHANGHAI
from workflows.org import OrgTree, Unit, UnitKind


class PeriodKind(StrEnum):
    monthly = "monthly"
    weekly = "weekly"  # ISO weeks, Monday to Sunday


class ScreeningPolicy(BaseModel):
    """config/screening.yaml: local practice, not law."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    basis: str = Field(min_length=1, description="what the periods rest on, shown with the list")
    periods: dict[UnitKind, PeriodKind] = Field(
        description="how often a unit of each kind must record a round; kinds not named are not expected to"
    )
    starts_on: date = Field(description="periods that ended before this day are never flagged")
    ack_hours: int = Field(ge=1, le=24 * 14, description="hours to acknowledge a major-dispute report")


@dataclass(frozen=True, slots=True)
class Period:
    """One reporting period: its key (2026-03, 2026-W10), and its bounds in UTC, end exclusive."""

    kind: PeriodKind
    key: str
    start: datetime
    end: datetime


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=SHANGHAI)


def period_containing(day: date, kind: PeriodKind) -> Period:
    """The period (in Kunshan's calendar) a day falls in."""
    if kind == PeriodKind.monthly:
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return Period(kind, f"{first:%Y-%m}", _midnight(first), _midnight(following))
    monday = day - timedelta(days=day.weekday())
    year, week, _ = monday.isocalendar()
    return Period(kind, f"{year}-W{week:02d}", _midnight(monday), _midnight(monday + timedelta(days=7)))


def last_complete(now: datetime, kind: PeriodKind) -> Period:
    """The most recent period that has ended by ``now``."""
    current = period_containing(now.astimezone(SHANGHAI).date(), kind)
    return period_containing(current.start.date() - timedelta(days=1), kind)


def parse_period(text: str) -> Period:
    """``2026-03`` (a month) or ``2026-W10`` (an ISO week); ValueError saying what is expected."""
    try:
        if "-W" in text:
            year, week = text.split("-W")
            return period_containing(date.fromisocalendar(int(year), int(week), 1), PeriodKind.weekly)
        year, month = text.split("-")
        if len(month) != 2:
            raise ValueError(text)
        return period_containing(date(int(year), int(month), 1), PeriodKind.monthly)
    except ValueError:
        raise ValueError("expected a month (2026-03) or an ISO week (2026-W10)") from None


def expected_units(org: OrgTree, policy: ScreeningPolicy, kind: PeriodKind | None = None) -> list[Unit]:
    """The units that owe rounds (of periods of ``kind`` when given), by code."""
    return sorted(
        (u for u in org if u.kind in policy.periods and (kind is None or policy.periods[u.kind] == kind)),
        key=lambda u: u.code,
    )


def flaggable(period: Period, policy: ScreeningPolicy, now: datetime) -> bool:
    """A period is judged once it has ended, and only if it ended after the register started."""
    return period.end <= now and period.end > _midnight(policy.starts_on)


def missing(expected: list[Unit], reported: set[str]) -> list[Unit]:
    """The expected units with no round in the period (a zero report counts as a round)."""
    return [u for u in expected if u.code not in reported]


def round_problem(nothing_found: bool, found: int, prevented: int) -> tuple[str, str] | None:
    """(field, message) when a round's account is inconsistent: a zero report names nothing, and
    a round that is not one names something. None when it holds."""
    if nothing_found and (found or prevented):
        return "nothing_found", "a zero report (nothing_found) lists no disputes and prevents none"
    if not nothing_found and not (found or prevented):
        return "nothing_found", "the round lists no dispute and prevents none: say nothing_found (零报告)"
    return None


# --- major-dispute reports ------------------------------------------------------------------


class MajorRisk(StrEnum):
    major = "major"  # 重大纠纷
    group = "group"  # 群体性纠纷
    crime = "crime"  # 可能民转刑
    suicide = "suicide"  # 可能引发自杀
    group_fight = "group_fight"  # 可能引发群体性械斗
    mass_incident = "mass_incident"  # 可能引发群体性事件


MAJOR_RISK_LABELS: dict[MajorRisk, str] = {
    MajorRisk.major: "重大纠纷",
    MajorRisk.group: "群体性纠纷",
    MajorRisk.crime: "民转刑风险",
    MajorRisk.suicide: "自杀风险",
    MajorRisk.group_fight: "群体性械斗风险",
    MajorRisk.mass_incident: "群体性事件风险",
}

# The MoJ report's prevention rows and the risk each counts (docs/screening.md, "Prevented").
PREVENTION_ROWS: dict[str, MajorRisk] = {
    "suicide_prevented": MajorRisk.suicide,  # 防止自杀
    "group_fight_prevented": MajorRisk.group_fight,  # 防止群体性械斗
    "crime_prevented": MajorRisk.crime,  # 防止民转刑
    "mass_incident_prevented": MajorRisk.mass_incident,  # 防止群体性事件
}


def prevented_at(
    closed_at: datetime | None, acknowledged_at: datetime | None, occurred: Iterable[datetime]
) -> datetime | None:
    """When a reported risk counts as prevented (防止自杀, 防止群体性械斗, 防止民转刑): once the report
    was acknowledged (the town, the city or the receiving authority took it up) and the case is
    closed, at the later of the two, unless somebody had recorded by then that the feared event
    happened (``occurred``: such records on the case's reports of that risk). None: not (yet).
    Local practice (docs/moj_report.md): nothing later moves or removes the count."""
    if closed_at is None or acknowledged_at is None:
        return None
    moment = max(closed_at, acknowledged_at)
    if any(at <= moment for at in occurred):
        return None
    return moment


def major_recipients(org: OrgTree, unit_code: str) -> list[Unit]:
    """Who a major-dispute report goes to at once: the town over the unit and the city centre
    (the city centre alone where the unit is under no town, or is the city centre)."""
    city = org.city_centre()
    town = org.town_of(unit_code)
    return [city] if town is None or town.code == city.code else [town, city]


def ack_due(reported_at: datetime, hours: int) -> datetime:
    return reported_at + timedelta(hours=hours)


def is_overdue(reported_at: datetime, acknowledged_at: datetime | None, now: datetime, hours: int) -> bool:
    """Unacknowledged at the due time, or acknowledged only after it (a late acknowledgement
    stays late in the record)."""
    due = ack_due(reported_at, hours)
    return (acknowledged_at is None and now >= due) or (acknowledged_at is not None and acknowledged_at > due)
