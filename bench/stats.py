"""Benchmark: the statistics queries on a year of the whole city's cases, on PostgreSQL.

    .venv/bin/python -m bench.stats [--cases 40000] [--pg postgresql://postgres@127.0.0.1:5432/postgres]

Loads N cases registered over the 12 months before NOW into a throw-away database (bulk SQL,
not the API): spread over every mediation unit, dispute type and intake source, in every
state (closed, settled, terminated, open), with agreements, flags, amounts and a deadline each
(some breached, some running past due). Then times each figure function of
``service.stats`` for the whole city, one town and one village (median of 7 calls) and prints
a table in milliseconds. Not part of the test run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.common import asyncpg_url, service_database, throwaway_database
from service.stats import queries, report
from service.stats.queries import Period, StatsQuery
from workflows.lifecycle import TerminationReason
from workflows.org import UnitKind
from workflows.vocab import DisputeType, Source

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)

# Per case: r_state picks the state (55 % closed, 15 % settled, 8 % terminated, 22 % open).
LOAD = """
WITH base AS (
    SELECT g, random() AS r_state, random() AS r_type, random() AS r_unit, random() AS r_src,
           random() AS r_flag, random() AS r_amount,
           $1::timestamptz - interval '365 days' + random() * interval '365 days' AS created
    FROM generate_series(1, $2) AS g
), units AS (
    SELECT code, tier, row_number() OVER () AS i FROM unnest($3::text[], $4::text[]) AS u(code, tier)
)
INSERT INTO cases (id, number, dispute_type, summary, location_code, amount_yuan, people_involved,
    flag_cross_area, flag_criminal_risk, flag_group_dispute, flag_repeat_petition, source, risk,
    unit_code, tier, channel, state, outcome, termination_reason, agreement, court_linked, triage,
    registered_by, registered_unit_code, version, created_at, updated_at, closed_at)
SELECT g, 'KS-B-' || lpad(g::text, 7, '0'),
    ($5::text[])[1 + floor(r_type * array_length($5::text[], 1))::int],
    '纠纷 (benchmark)', u.code,
    CASE WHEN r_amount < 0.2 THEN NULL ELSE round((r_amount * 50000)::numeric, 2) END,
    1 + floor(r_flag * 12)::int,
    false, r_flag < 0.04, r_flag > 0.97, false,
    ($6::text[])[1 + floor(r_src * array_length($6::text[], 1))::int],
    'green', u.code, u.tier, 'people',
    CASE WHEN r_state < 0.55 THEN 'closed' WHEN r_state < 0.70 THEN 'settled'
         WHEN r_state < 0.78 THEN 'terminated' WHEN r_state < 0.90 THEN 'mediating' ELSE 'assigned' END,
    CASE WHEN r_state < 0.45 THEN 'performed' WHEN r_state < 0.50 THEN 'confirmed'
         WHEN r_state < 0.55 THEN 'other_route' END,
    CASE WHEN (r_state >= 0.50 AND r_state < 0.55) OR (r_state >= 0.70 AND r_state < 0.78)
         THEN ($7::text[])[1 + floor(r_type * array_length($7::text[], 1))::int] END,
    CASE WHEN r_state < 0.50 OR (r_state >= 0.55 AND r_state < 0.70)
         THEN jsonb_build_object('form', CASE WHEN r_src < 0.3 THEN 'oral' ELSE 'written' END, 'terms', '…') END,
    false, '{"rule": "bench", "reasons": []}'::jsonb, 'bench', u.code, 1, created, created,
    CASE WHEN r_state < 0.55 THEN created + interval '1 day' * (1 + floor(r_amount * 30)) END
FROM base JOIN units u ON u.i = 1 + floor(base.r_unit * $8)::int
"""

# One clock per case: met when it ended, breached for some terminated ones, running otherwise.
DEADLINES = """
INSERT INTO deadline (case_id, kind, unit_code, status, started_at, due_at, warnings, extensions)
SELECT id, 'people_mediation', unit_code,
    CASE WHEN state IN ('closed', 'settled') THEN 'met'
         WHEN state = 'terminated' THEN CASE WHEN id % 3 = 0 THEN 'breached' ELSE 'cancelled' END
         ELSE 'active' END,
    created_at, created_at + interval '30 days', '[]'::jsonb, '[]'::jsonb
FROM cases
"""


async def load(url: str, cases: int, units: list[tuple[str, str]]) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("SELECT setseed(0.42)")
        await conn.execute(
            LOAD,
            NOW,
            cases,
            [code for code, _ in units],
            [tier for _, tier in units],
            [t.value for t in DisputeType],
            [s.value for s in Source],
            [r.value for r in TerminationReason],
            len(units),
        )
        await conn.execute("SELECT setval(pg_get_serial_sequence('cases', 'id'), $1)", cases)
        await conn.execute(DEADLINES)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


Call = Callable[[AsyncConnection], Awaitable[Any]]


async def median_ms(engine: Any, call: Call, repeat: int = 7) -> float:
    timings = []
    for _ in range(repeat):
        async with engine.connect() as conn:
            t0 = time.perf_counter()
            await call(conn)
            timings.append(time.perf_counter() - t0)
    return statistics.median(timings) * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=40_000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    async with throwaway_database(args.pg, args.keep) as name:
        await run(args, name)


async def run(args: argparse.Namespace, name: str) -> None:
    engine, ctx = await service_database(args.pg, name)
    org = ctx.org
    mediation = org.of_kind(
        UnitKind.village_station, UnitKind.town_centre, UnitKind.city_centre, UnitKind.sectoral_committee
    )
    units = sorted((u.code, u.tier.value) for u in mediation)

    started = time.perf_counter()
    await load(asyncpg_url(args.pg, name), args.cases, units)
    print(f"loaded {args.cases:,} cases over 12 months in {time.perf_counter() - started:.1f} s")

    period = Period.of("2025-03", "2026-03", now=NOW)
    town = "320583106"
    village = "320583106005"
    scopes = {
        "city": None,
        "town (张浦)": org.subtree(town),
        "village (大市)": frozenset({village}),
    }
    figures: dict[str, Callable[[StatsQuery], Call]] = {
        "overview": lambda q: lambda c: queries.overview(c, q),
        "monthly": lambda q: lambda c: queries.monthly(c, q),
        "by_type": lambda q: lambda c: queries.by_type(c, q),
        "by_tier": lambda q: lambda c: queries.by_tier(c, q),
        "by_town": lambda q: lambda c: queries.by_town(c, org, q),
        "by_source": lambda q: lambda c: queries.by_source(c, q),
        "monthly_report (1 month)": lambda q: (
            lambda c: report.monthly_report(
                c, org, StatsQuery(Period.month("2026-01"), now=NOW, units=q.units)
            )
        ),
    }
    print()
    print(f"| function | {' | '.join(scopes)} |")
    print("|---|" + "---:|" * len(scopes))
    for label, make in figures.items():
        cells = []
        for units_in_scope in scopes.values():
            q = StatsQuery(period, now=NOW, units=units_in_scope)
            cells.append(f"{await median_ms(engine, make(q)):.1f} ms")
        print(f"| {label} | {' | '.join(cells)} |")
    async with engine.connect() as conn:
        overview = await queries.overview(conn, StatsQuery(period, now=NOW))
    print()
    print(
        f"city, 13 months: {overview.registered:,} registered, {overview.settled:,} settled, "
        f"{overview.terminated:,} terminated, {overview.overdue:,} overdue, {overview.closed:,} closed"
    )
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
