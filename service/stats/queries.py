"""Statistics as SQL aggregates: one GROUP BY statement per figure family, on both databases.

Definitions (the API docs and the case registration report 案件登记月报 say the same):

- A figure describes the *cohort* of cases registered in the period (created_at, bucketed by
  month in Asia/Shanghai time), as those cases stand now — except ``closed`` and the average
  days to close, which count the cases *closed* in the period (closed_at), whenever registered.
- 调解成功 (settled): an agreement was reached and stands — the case is ``settled`` or
  ``confirming`` (also after a court refused, rejected or the parties withdrew a confirmation
  application: the agreement stands), or it closed as ``performed`` or ``confirmed``; or a
  court-delegated (委托) settlement went back to the court and waits there or was closed by it as
  ``mediation_statement``, ``withdrawn`` or ``other_court``. An agreement later abandoned (closed as
  withdrawn / litigated / other route by the mediation unit) or reopened (``amend``) is not a success.
- 终止 (terminated): a termination reason is recorded and no agreement stands (this includes
  cases terminated and then referred to court or closed).
- concluded = settled + terminated; success rate = settled / concluded.
- 逾期 (overdue): the case has a deadline that was breached, or one still running whose due time
  has passed now (the same rule as the case list's ``overdue`` filter); rate = overdue / registered.
- 有民转刑风险且调解成功: criminal-risk cases (flag_criminal_risk) settled, and the people they
  involve; 群体性纠纷且调解成功: group disputes (flag_group_dispute) settled, and their people.
  (Not the MoJ report's 防止民转刑 / 防止群体性事件: service/moj counts those from risk reports.)
- A case counts at the unit that holds it now (as the case list's scope does); towns fold a
  unit into its town centre, and units under no town (city centre, sectoral committees,
  agencies, the court) into the city's own row.

Where the figures are read: on PostgreSQL from ``stats_tally`` (service/stats/models.py), which
triggers keep current in the same transaction as each change to a case, so that a figure over
ten years of a city's cases sums a few thousand rows instead of counting a million cases. The
tally also counts the cases with a breached clock (a trigger on ``deadline``); the overdue
figure adds, live, the few whose clock runs past due now but which the sweep has not breached yet. On SQLite, the embedded
default, every figure is counted from ``cases`` directly. The same tests run against both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.cases.models import Case
from service.clock import SHANGHAI
from service.deadlines.models import Deadline
from service.errors import Forbidden, NotFound, field_error
from service.stats.models import StatsTally
from service.stats.schemas import (
    Figures,
    MonthRow,
    Overview,
    PeriodPublic,
    Prevention,
    SourceRow,
    TierRow,
    TownRow,
    TypeRow,
)
from workflows.lifecycle import Actor, Role
from workflows.org import OrgTree, Tier, UnitKind
from workflows.triage import TIER_LABELS
from workflows.vocab import DISPUTE_TYPE_LABELS, SOURCE_LABELS, DisputeType, Source

cases = Case.__table__  # type: ignore[attr-defined]
deadline = Deadline.__table__  # type: ignore[attr-defined]
tally = StatsTally.__table__  # type: ignore[attr-defined]

SUCCESS_STATES = ("settled", "confirming")
SUCCESS_OUTCOMES = ("performed", "confirmed")
AFTER_FILING = ("ordinary", "simplified")  # 委托调解's court procedures
COURT_CLOSURES = ("mediation_statement", "withdrawn", "other_court")
MAX_MONTHS = 36
CITY_ROW_NAME = "市级及部门"

# --- months and periods -----------------------------------------------------------------------

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_month(value: str, field_name: str) -> tuple[int, int]:
    """'2026-03' → (2026, 3); anything else is a 422 naming ``field_name``."""
    match = _MONTH.match(value.strip())
    if match is None or not 2000 <= int(match.group(1)) <= 2100:
        raise field_error(field_name, "must be a month as YYYY-MM between 2000 and 2100, e.g. 2026-03")
    return int(match.group(1)), int(match.group(2))


def _shift(ym: tuple[int, int], months: int) -> tuple[int, int]:
    index = ym[0] * 12 + ym[1] - 1 + months
    return index // 12, index % 12 + 1


def _label(ym: tuple[int, int]) -> str:
    return f"{ym[0]:04d}-{ym[1]:02d}"


def _start_of(ym: tuple[int, int]) -> datetime:
    return datetime(ym[0], ym[1], 1, tzinfo=SHANGHAI).astimezone(UTC)


@dataclass(frozen=True)
class Period:
    """Whole months, inclusive, in Asia/Shanghai time."""

    first: tuple[int, int]
    last: tuple[int, int]

    @classmethod
    def of(cls, from_month: str | None, to_month: str | None, *, now: datetime) -> Period:
        """The requested period; by default the 12 months up to the current one (422s name the field)."""
        current = now.astimezone(SHANGHAI)
        last = parse_month(to_month, "query.to") if to_month else (current.year, current.month)
        first = parse_month(from_month, "query.from") if from_month else _shift(last, -11)
        if first > last:
            raise field_error("query.from", f"must not be after {_label(last)} (the end of the period)")
        if _index(last) - _index(first) + 1 > MAX_MONTHS:
            raise field_error("query.from", f"a period covers at most {MAX_MONTHS} months")
        return cls(first, last)

    @classmethod
    def month(cls, value: str, field_name: str = "query.month") -> Period:
        ym = parse_month(value, field_name)
        return cls(ym, ym)

    def months(self) -> list[str]:
        return [_label(_shift(self.first, i)) for i in range(_index(self.last) - _index(self.first) + 1)]

    @property
    def start_at(self) -> datetime:
        return _start_of(self.first)

    @property
    def end_at(self) -> datetime:
        """Exclusive: midnight in Shanghai at the start of the month after the last."""
        return _start_of(_shift(self.last, 1))

    def public(self) -> PeriodPublic:
        return PeriodPublic.model_validate(
            {"from": _label(self.first), "to": _label(self.last), "months": self.months()}
        )


def _index(ym: tuple[int, int]) -> int:
    return ym[0] * 12 + ym[1]


@dataclass(frozen=True)
class StatsQuery:
    period: Period
    now: datetime  # overdue is judged at this instant
    units: frozenset[str] | None = None  # None: every unit


# --- scope ------------------------------------------------------------------------------------

STATS_READERS = {Role.mediator, Role.agency_officer, Role.coordinator, Role.auditor, Role.admin, Role.system}


def stats_scope(actor: Actor, org: OrgTree) -> frozenset[str] | None:
    """Units whose cases the actor may count (None: all). Counts carry no personal data, so
    auditors and administrators see the whole network, sensitive cases included."""
    match actor.role:
        case Role.auditor | Role.admin | Role.system:
            return None
        case Role.coordinator:
            subtree = org.subtree(actor.unit_code)
            return None if len(subtree) == len(org) else subtree
        case Role.mediator | Role.agency_officer:
            return frozenset({actor.unit_code})
        case _:
            raise Forbidden(
                f"The {actor.role} role does not read the mediation network's statistics; "
                "the court desk works from its queue."
            )


def resolve_units(actor: Actor, org: OrgTree, unit: str | None) -> frozenset[str] | None:
    """The caller's scope narrowed to ``unit``'s subtree: 422 for an unknown code, 404 outside scope."""
    scope = stats_scope(actor, org)
    if unit is None:
        return scope
    if unit not in org:
        raise field_error("query.unit", f"no unit with code {unit!r}")
    if scope is not None and unit not in scope:
        raise NotFound(f"Unit {unit} is not within your scope.")
    subtree = org.subtree(unit)
    return subtree if scope is None else subtree & scope


# --- SQL building blocks ----------------------------------------------------------------------


def month_of(column: Any, dialect: str) -> sa.ColumnElement[str]:
    """'YYYY-MM' of a UTC timestamp in Shanghai time. Constants are inlined, not bound, so the
    same expression can appear in SELECT and GROUP BY on PostgreSQL."""
    if dialect == "postgresql":
        local = sa.func.timezone(sa.literal_column("'Asia/Shanghai'"), column)
        return sa.func.to_char(local, sa.literal_column("'YYYY-MM'"))
    # SQLite keeps naive UTC text; China has kept +08:00 all year since 1991.
    return sa.func.strftime(sa.literal_column("'%Y-%m'"), column, sa.literal_column("'+8 hours'"))


def days_between(start: Any, end: Any, dialect: str) -> sa.ColumnElement[Any]:
    if dialect == "postgresql":
        return sa.func.extract("epoch", end - start) / 86400.0
    return sa.func.julianday(end) - sa.func.julianday(start)


# Never NULL (an open case has no outcome), so that NOT SUCCESS is true for it.
# A court-delegated (委托) settlement went back to the court: it stands while it waits there and
# when the court closes it by 调解书, withdrawal (撤诉) or otherwise — not when the court tries it.
# The agreement column is JSON: a case without one holds JSON null, read as text 'null'.
_HAS_AGREEMENT = sa.func.coalesce(sa.cast(cases.c.agreement, sa.Text), sa.literal_column("'null'")) != "null"
DELEGATED_SETTLEMENT: sa.ColumnElement[bool] = sa.and_(
    cases.c.termination_reason.is_(None),
    cases.c.court_procedure.in_(AFTER_FILING),
    cases.c.state.in_(("referred", "in_court", "closed")),
    sa.func.coalesce(cases.c.outcome, sa.literal_column("''")).in_(("", *COURT_CLOSURES)),
    _HAS_AGREEMENT,
)
SUCCESS: sa.ColumnElement[bool] = sa.or_(
    cases.c.state.in_(SUCCESS_STATES),
    sa.func.coalesce(cases.c.outcome, sa.literal_column("''")).in_(SUCCESS_OUTCOMES),
    DELEGATED_SETTLEMENT,
)
TERMINATED: sa.ColumnElement[bool] = sa.and_(cases.c.termination_reason.is_not(None), sa.not_(SUCCESS))


def overdue(now: datetime) -> sa.ColumnElement[bool]:
    # IN (uncorrelated subquery): PostgreSQL hashes the late cases once (a hashed SubPlan)
    # instead of probing the deadlines once per case (bench/stats.py measures it city-wide).
    late = sa.select(deadline.c.case_id).where(
        sa.or_(
            deadline.c.status == "breached",
            sa.and_(deadline.c.status == "active", deadline.c.due_at <= now),
        )
    )
    return cases.c.id.in_(late)


def count_if(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def sum_if(condition: sa.ColumnElement[bool], value: Any) -> sa.ColumnElement[Any]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, value), else_=0)), 0)


def cohort_where(q: StatsQuery) -> list[sa.ColumnElement[bool]]:
    clauses = [cases.c.created_at >= q.period.start_at, cases.c.created_at < q.period.end_at]
    if q.units is not None:
        clauses.append(cases.c.unit_code.in_(sorted(q.units)))
    return clauses


def closed_where(q: StatsQuery) -> list[sa.ColumnElement[bool]]:
    clauses = [cases.c.closed_at >= q.period.start_at, cases.c.closed_at < q.period.end_at]
    if q.units is not None:
        clauses.append(cases.c.unit_code.in_(sorted(q.units)))
    return clauses


def figure_columns(now: datetime) -> list[sa.Label[Any]]:
    return [
        sa.func.count().label("registered"),
        count_if(SUCCESS).label("settled"),
        count_if(TERMINATED).label("terminated"),
        count_if(overdue(now)).label("overdue"),
    ]


def rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


@dataclass
class Counts:
    registered: int = 0
    settled: int = 0
    terminated: int = 0
    overdue: int = 0

    def add(self, row: Mapping[Any, Any]) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + int(row[f.name] or 0))

    def figures(self) -> dict[str, Any]:
        concluded = self.settled + self.terminated
        return {
            "registered": self.registered,
            "settled": self.settled,
            "terminated": self.terminated,
            "concluded": concluded,
            "success_rate": rate(self.settled, concluded),
            "overdue": self.overdue,
            "overdue_rate": rate(self.overdue, self.registered),
        }


def tallied(conn: AsyncConnection) -> bool:
    """Whether this database keeps the statistics tally (PostgreSQL: migration 0029_city)."""
    return conn.dialect.name == "postgresql"


async def plan_for_these_values(conn: AsyncConnection) -> None:
    """PostgreSQL: plan this transaction's statements for the values they are given. The service's
    statements are prepared once and, after five runs, PostgreSQL may keep one generic plan for
    any values: a plan made for a month would then read three years the same way (measured: the
    running-late count of a town over 36 months, 376 ms with the generic plan, 0.2 ms planned for
    its values: docs/benchmarks.md, "City scale")."""
    await conn.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))


def tally_where(q: StatsQuery, dimension: str) -> list[sa.ColumnElement[bool]]:
    """The tally rows of one dimension for the period's months and the query's units."""
    clauses = [
        tally.c.dimension == dimension,
        tally.c.month >= _label(q.period.first),
        tally.c.month <= _label(q.period.last),
    ]
    if q.units is not None:
        clauses.append(tally.c.unit_code.in_(sorted(q.units)))
    return clauses


def running_late(now: datetime) -> sa.ColumnElement[bool]:
    """Overdue but not counted in the tally: a clock still running past its due time ``now``
    (the sweep has not breached it yet) on a case none of whose clocks is breached. Few cases:
    read from the sweep's index of running clocks."""
    late = sa.select(deadline.c.case_id).where(deadline.c.status == "active", deadline.c.due_at <= now)
    breached = sa.select(deadline.c.case_id).where(
        deadline.c.case_id == cases.c.id, deadline.c.status == "breached"
    )
    return sa.and_(cases.c.id.in_(late), ~breached.exists())


async def _running_late_by(
    conn: AsyncConnection, q: StatsQuery, key: sa.ColumnElement[Any]
) -> dict[str, int]:
    """The tally's ``breached`` misses these: counted live, since they depend on the instant asked."""
    stmt = (
        sa.select(key.label("key"), sa.func.count().label("overdue"))
        .where(*cohort_where(q), running_late(q.now))
        .group_by(sa.literal_column("key"))
    )
    return {str(r.key): int(r.overdue) for r in await conn.execute(stmt)}


async def _from_tally(
    conn: AsyncConnection,
    q: StatsQuery,
    dimension: str,
    tally_key: sa.ColumnElement[Any],
    case_key: sa.ColumnElement[Any],
) -> dict[str, Counts]:
    """``_grouped`` read from the tally: registered, settled, terminated and the cases with a
    breached clock summed over its rows; the cases whose clock runs past due since the sweep last
    looked counted live from the cases with ``case_key`` (the same grouping on ``cases``)."""
    await plan_for_these_values(conn)
    stmt = (
        sa.select(
            tally_key.label("key"),
            sa.func.sum(tally.c.registered).label("registered"),
            sa.func.sum(tally.c.settled).label("settled"),
            sa.func.sum(tally.c.terminated).label("terminated"),
            sa.func.sum(tally.c.breached).label("overdue"),
        )
        .where(*tally_where(q, dimension))
        .group_by(sa.literal_column("key"))
    )
    result: dict[str, Counts] = {}
    for row in (await conn.execute(stmt)).mappings():
        if row["registered"]:
            result.setdefault(str(row["key"]), Counts()).add(row)
    for key, late in (await _running_late_by(conn, q, case_key)).items():
        result.setdefault(key, Counts()).overdue += late
    return result


# The grouping of each figure family: (tally dimension, tally column, the same on ``cases``).
BY_MONTH, BY_TYPE, BY_TIER, BY_SOURCE, BY_UNIT = "month", "type", "tier", "source", "unit"


def _keys(by: str, dialect: str) -> tuple[str, sa.ColumnElement[Any], sa.ColumnElement[Any]]:
    match by:
        case "month":
            return "tier", tally.c.month, month_of(cases.c.created_at, dialect)
        case "type":
            return "type", tally.c.value, cases.c.dispute_type
        case "tier":
            return "tier", tally.c.value, cases.c.tier
        case "source":
            return "source", tally.c.value, cases.c.source
        case _:
            return "tier", tally.c.unit_code, cases.c.unit_code


async def _grouped_by(
    conn: AsyncConnection, q: StatsQuery, by: str, *, from_cases: bool = False
) -> dict[str, Counts]:
    """The cohort's counts grouped ``by`` month, type, tier, source or unit: from the tally where
    the database keeps it, from the cases otherwise (or when ``from_cases``: the tally's check)."""
    dimension, tally_key, case_key = _keys(by, conn.dialect.name)
    if tallied(conn) and not from_cases:
        return await _from_tally(conn, q, dimension, tally_key, case_key)
    return await _grouped(conn, q, case_key)


async def _grouped(conn: AsyncConnection, q: StatsQuery, key: sa.ColumnElement[Any]) -> dict[str, Counts]:
    stmt = (
        sa.select(key.label("key"), *figure_columns(q.now))
        .where(*cohort_where(q))
        .group_by(sa.literal_column("key"))
    )
    result: dict[str, Counts] = {}
    for row in (await conn.execute(stmt)).mappings():
        result.setdefault(str(row["key"]), Counts()).add(row)
    return result


def money(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


# --- the figure families ----------------------------------------------------------------------


async def _overview_from_tally(conn: AsyncConnection, q: StatsQuery) -> Overview:
    await plan_for_these_values(conn)
    sums = (
        (
            await conn.execute(
                sa.select(
                    *[
                        sa.func.coalesce(sa.func.sum(tally.c[name]), 0).label(name)
                        for name in (
                            "registered",
                            "settled",
                            "terminated",
                            "amount_yuan",
                            "people",
                            "criminal_cases",
                            "criminal_people",
                            "group_cases",
                            "group_people",
                            "closed",
                            "close_days",
                            "breached",
                        )
                    ]
                ).where(*tally_where(q, "tier"))
            )
        )
        .mappings()
        .one()
    )
    late = (
        await conn.execute(
            sa.select(sa.func.count()).select_from(cases).where(*cohort_where(q), running_late(q.now))
        )
    ).scalar_one()
    counts = Counts()
    counts.add({**sums, "overdue": int(sums["breached"]) + int(late)})
    closed = int(sums["closed"])
    return Overview(
        period=q.period.public(),
        **counts.figures(),
        closed=closed,
        avg_days_to_close=round(float(sums["close_days"]) / closed, 1) if closed else None,
        amount_yuan=money(sums["amount_yuan"]),
        people_involved=int(sums["people"]),
        criminal_prevented=Prevention(cases=int(sums["criminal_cases"]), people=int(sums["criminal_people"])),
        group_petition_prevented=Prevention(cases=int(sums["group_cases"]), people=int(sums["group_people"])),
    )


async def overview(conn: AsyncConnection, q: StatsQuery) -> Overview:
    """Totals over the period (see the module docstring for each definition)."""
    if tallied(conn):
        return await _overview_from_tally(conn, q)
    return await overview_from_cases(conn, q)


async def overview_from_cases(conn: AsyncConnection, q: StatsQuery) -> Overview:
    """``overview`` counted from the cases themselves (SQLite; on PostgreSQL, the tally's check)."""
    criminal = sa.and_(cases.c.flag_criminal_risk.is_(True), SUCCESS)
    group = sa.and_(cases.c.flag_group_dispute.is_(True), SUCCESS)
    cohort = (
        (
            await conn.execute(
                sa.select(
                    *figure_columns(q.now),
                    sa.func.coalesce(sa.func.sum(cases.c.amount_yuan), 0).label("amount"),
                    sa.func.coalesce(sa.func.sum(cases.c.people_involved), 0).label("people"),
                    count_if(criminal).label("criminal_cases"),
                    sum_if(criminal, cases.c.people_involved).label("criminal_people"),
                    count_if(group).label("group_cases"),
                    sum_if(group, cases.c.people_involved).label("group_people"),
                ).where(*cohort_where(q))
            )
        )
        .mappings()
        .one()
    )
    closing = (
        (
            await conn.execute(
                sa.select(
                    sa.func.count().label("closed"),
                    sa.func.avg(days_between(cases.c.created_at, cases.c.closed_at, conn.dialect.name)).label(
                        "avg_days"
                    ),
                ).where(*closed_where(q))
            )
        )
        .mappings()
        .one()
    )
    counts = Counts()
    counts.add(cohort)
    avg_days = closing["avg_days"]
    return Overview(
        period=q.period.public(),
        **counts.figures(),
        closed=int(closing["closed"]),
        avg_days_to_close=round(float(avg_days), 1) if avg_days is not None else None,
        amount_yuan=money(cohort["amount"]),
        people_involved=int(cohort["people"]),
        criminal_prevented=Prevention(
            cases=int(cohort["criminal_cases"]), people=int(cohort["criminal_people"])
        ),
        group_petition_prevented=Prevention(
            cases=int(cohort["group_cases"]), people=int(cohort["group_people"])
        ),
    )


async def monthly(conn: AsyncConnection, q: StatsQuery) -> list[MonthRow]:
    """Each month of the period, empty months included, oldest first."""
    dialect = conn.dialect.name
    by_month = await _grouped_by(conn, q, BY_MONTH)
    if tallied(conn):
        closed_count = (
            sa.select(tally.c.month.label("key"), sa.func.sum(tally.c.closed).label("closed"))
            .where(*tally_where(q, "tier"))
            .group_by(tally.c.month)
        )
    else:
        closed_month = month_of(cases.c.closed_at, dialect).label("key")
        closed_count = (
            sa.select(closed_month, sa.func.count().label("closed"))
            .where(*closed_where(q))
            .group_by(sa.literal_column("key"))
        )
    closed = {str(r.key): int(r.closed) for r in await conn.execute(closed_count)}
    return [
        MonthRow(month=m, closed=closed.get(m, 0), **by_month.get(m, Counts()).figures())
        for m in q.period.months()
    ]


async def by_type(conn: AsyncConnection, q: StatsQuery) -> list[TypeRow]:
    """All 20 Ministry of Justice dispute types in their fixed order, zeros included."""
    found = await _grouped_by(conn, q, BY_TYPE)
    return [
        TypeRow(code=t.value, label=DISPUTE_TYPE_LABELS[t], **found.get(t.value, Counts()).figures())
        for t in DisputeType
    ]


async def by_tier(conn: AsyncConnection, q: StatsQuery) -> list[TierRow]:
    """Village, town and city tier, by the tier of the unit holding each case now."""
    found = await _grouped_by(conn, q, BY_TIER)
    return [
        TierRow(tier=t.value, label=TIER_LABELS[t], **found.get(t.value, Counts()).figures()) for t in Tier
    ]


async def by_source(conn: AsyncConnection, q: StatsQuery) -> list[SourceRow]:
    """Every intake source (主动排查, 依申请, referred by …), zeros included."""
    found = await _grouped_by(conn, q, BY_SOURCE)
    return [
        SourceRow(source=s.value, label=SOURCE_LABELS[s], **found.get(s.value, Counts()).figures())
        for s in Source
    ]


@dataclass(frozen=True)
class TownKey:
    code: str
    name: str


def town_of(org: OrgTree, unit_code: str) -> TownKey:
    """The reporting row a unit folds into: its town centre, or the city's own row."""
    town = org.town_of(unit_code)
    if town is not None:
        return TownKey(town.code, town.name)
    return TownKey(org.city_centre().code, CITY_ROW_NAME)


def towns_in(org: OrgTree, units: frozenset[str] | None) -> list[TownKey]:
    """The town rows a scope reaches, in code order."""
    towns = sorted(org.of_kind(UnitKind.town_centre), key=lambda u: u.code)
    return [
        TownKey(t.code, t.name) for t in towns if units is None or not units.isdisjoint(org.subtree(t.code))
    ]


def fold(org: OrgTree, per_unit: Mapping[str, Counts]) -> dict[TownKey, Counts]:
    folded: dict[TownKey, Counts] = {}
    for unit_code, counts in per_unit.items():
        folded.setdefault(town_of(org, unit_code), Counts()).add(counts.__dict__)
    return folded


async def by_town(conn: AsyncConnection, org: OrgTree, q: StatsQuery) -> list[TownRow]:
    """Towns compared: each town in scope (zeros included), then the city's own row if it has cases."""
    folded = fold(org, await _grouped_by(conn, q, BY_UNIT))
    keys = towns_in(org, q.units)
    keys += [k for k in folded if k not in keys and folded[k].registered]
    return [TownRow(code=k.code, name=k.name, **folded.get(k, Counts()).figures()) for k in keys]


def total_of(rows: Iterable[Figures]) -> dict[str, Any]:
    counts = Counts()
    for r in rows:
        counts.add(r.model_dump())
    return counts.figures()
