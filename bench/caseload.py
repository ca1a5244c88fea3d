"""Benchmark: a mediator's own cases, a unit's caseload and the statistics by mediator, on PostgreSQL.

    .venv/bin/python -m bench.caseload [--cases 40000] [--pg postgresql://postgres@127.0.0.1:5432/postgres]

Loads N cases over 12 months as ``bench.stats`` does (bulk SQL, not the API), then a roster of
four mediators per mediation unit and an assignment history: every case has a lead from its
unit's roster (a fifth of them reassigned once half-way), a quarter a co-mediator, and the
assignments of closed cases end when they closed. Then times ``service.caseload`` (my cases,
my deadlines, the caseload of a town and of the city) and ``service.stats.by_mediator`` for one
month and for 13, city-wide, for one town and for one village (median of 7 calls) and prints a
table in milliseconds. Not part of the test run.

Measured with 40,000 cases (232 mediators, 56,000 assignments) on the 2-core development machine
while five other test runs shared it (load average 8–9, so every figure is a few times what an idle
machine gives): my cases 16 ms, my deadlines 15 ms; the caseload 310 ms for a town and 600 ms for
the city (each with the month's figures by mediator); figures by mediator for one month 90 ms for a
village, 225 ms for a town, 300 ms city-wide; for 13 months 70 ms, 325 ms and 1.1 s. The figures
are one GROUP BY over the (mediator, case) pairs of the period, with the overview's own success and
overdue expressions, so their cost grows with the cases in mediation during the period.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from bench.common import asyncpg_url, service_database, throwaway_database
from bench.stats import NOW, load
from service.caseload import service as caseload
from service.stats import by_mediator
from service.stats.queries import Period, StatsQuery
from workflows.lifecycle import Actor, Role
from workflows.org import UnitKind

PER_UNIT = 4

# Four mediators per unit (the first with a sign-in is enough for "my cases": the user row is
# made below), numbered so that unit i's mediators are 4i+1 … 4i+4.
ROSTER = """
INSERT INTO mediator (id, name, employment, specialties, languages, qualifications, grade, active,
    created_at, updated_at, version)
SELECT u.i * $2 + k, '调解员' || u.i || '-' || k, CASE WHEN k = 1 THEN 'full_time' ELSE 'part_time' END,
    '[]'::jsonb, '[]'::jsonb, '', '', true, $3, $3, 1
FROM unnest($1::text[]) WITH ORDINALITY AS u(code, i), generate_series(1, $2) AS k;
"""
ROSTER_UNITS = """
INSERT INTO mediator_unit (mediator_id, unit_code)
SELECT u.i * $2 + k, u.code FROM unnest($1::text[]) WITH ORDINALITY AS u(code, i), generate_series(1, $2) AS k;
"""
# Every case's lead: one of its unit's four; a fifth handed to the next colleague half-way; a
# quarter with a co-mediator. A closed case's current assignments end when it closed.
ASSIGNMENTS = """
WITH c AS (
    SELECT cs.id, cs.unit_code, cs.created_at, cs.closed_at, u.i,
           (cs.id % $2) + 1 AS k, cs.id % 5 = 0 AS moved, cs.id % 4 = 1 AS with_co
    FROM cases cs JOIN unnest($1::text[]) WITH ORDINALITY AS u(code, i) ON u.code = cs.unit_code
)
INSERT INTO case_mediator (case_id, mediator_id, role, unit_code, assigned_at, assigned_by, ended_at, ended_by, "end")
SELECT id, i * $2 + k, 'lead', unit_code, created_at, 'bench',
       CASE WHEN moved THEN created_at + interval '5 days' ELSE closed_at END,
       CASE WHEN moved OR closed_at IS NOT NULL THEN 'bench' END,
       CASE WHEN moved THEN 'reassigned' WHEN closed_at IS NOT NULL THEN 'closed' END
FROM c
UNION ALL
SELECT id, i * $2 + (k % $2) + 1, 'lead', unit_code, created_at + interval '5 days', 'bench', closed_at,
       CASE WHEN closed_at IS NOT NULL THEN 'bench' END, CASE WHEN closed_at IS NOT NULL THEN 'closed' END
FROM c WHERE moved
UNION ALL
SELECT id, i * $2 + ((k + 1) % $2) + 1, 'co', unit_code, created_at, 'bench', closed_at,
       CASE WHEN closed_at IS NOT NULL THEN 'bench' END, CASE WHEN closed_at IS NOT NULL THEN 'closed' END
FROM c WHERE with_co AND NOT moved;
"""
SIGN_IN = """
INSERT INTO app_user (username, password_hash, role, unit_code, display_name, disabled, created_at)
VALUES ('bench.mediator', 'x', 'mediator', $1, '调解员 bench', false, $2) RETURNING id
"""


async def load_roster(url: str, units: list[str]) -> tuple[int, int]:
    """The roster and assignments; returns (the signed-in mediator's user id, assignments made)."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute(ROSTER, units, PER_UNIT, NOW)
        await conn.execute(ROSTER_UNITS, units, PER_UNIT)
        await conn.execute(ASSIGNMENTS, units, PER_UNIT)
        await conn.execute(
            "SELECT setval(pg_get_serial_sequence('mediator', 'id'), (SELECT max(id) FROM mediator))"
        )
        # The busiest mediator of the first village signs in.
        village = units.index("320583106005") + 1
        user_id = await conn.fetchval(SIGN_IN, "320583106005", NOW)
        await conn.execute("UPDATE mediator SET user_id = $1 WHERE id = $2", user_id, village * PER_UNIT + 1)
        await conn.execute("ANALYZE")
        made = await conn.fetchval("SELECT count(*) FROM case_mediator")
        return int(user_id), int(made)
    finally:
        await conn.close()


async def median_ms(call: Callable[[], Awaitable[Any]], repeat: int = 7) -> float:
    timings = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await call()
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
    user_id, made = await load_roster(asyncpg_url(args.pg, name), [code for code, _ in units])
    print(
        f"loaded {args.cases:,} cases, {len(units) * PER_UNIT:,} mediators and {made:,} assignments "
        f"in {time.perf_counter() - started:.1f} s"
    )

    town, village = "320583106", "320583106005"
    me = Actor("bench.mediator", Role.mediator, village, user_id=user_id)
    city_coordinator = Actor("bench.city", Role.coordinator, org.city_centre().code)
    town_coordinator = Actor("bench.town", Role.coordinator, town)
    mine = await caseload.my_cases(engine, ctx, me, now=NOW)
    print(f"my cases: {len(mine.cases)} open, {sum(c.overdue for c in mine.cases)} overdue")
    print()
    print("| call | ms |")
    print("|---|---:|")
    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "my cases": lambda: caseload.my_cases(engine, ctx, me, now=NOW),
        "my deadlines": lambda: caseload.my_deadlines(engine, ctx, me, now=NOW),
        "caseload, town (with the month's figures)": lambda: caseload.caseload(
            engine, ctx, town_coordinator, None, now=NOW
        ),
        "caseload, city (with the month's figures)": lambda: caseload.caseload(
            engine, ctx, city_coordinator, None, now=NOW
        ),
    }
    for label, call in calls.items():
        print(f"| {label} | {await median_ms(call):.1f} |")
    scopes = {"city": None, "town (张浦)": org.subtree(town), "village (大市)": frozenset({village})}
    for months, period in (
        ("1 month", Period.month("2026-02")),
        ("13 months", Period.of("2025-03", "2026-03", now=NOW)),
    ):
        for scope, units_in_scope in scopes.items():
            q = StatsQuery(period, now=NOW, units=units_in_scope)

            async def figures(q: StatsQuery = q) -> Any:
                async with engine.connect() as conn:
                    return await by_mediator.by_mediator(conn, q)

            print(f"| by mediator, {months}, {scope} | {await median_ms(figures):.1f} |")
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
