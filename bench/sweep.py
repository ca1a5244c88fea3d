"""Benchmark: the deadline sweep over a large open caseload on PostgreSQL.

    .venv/bin/python -m bench.sweep [--cases 1000000] [--due 10000] [--pg postgresql://postgres@127.0.0.1:5432/postgres]

Loads N open cases at village stations, each with a running acceptance clock, in a throw-away
database (bulk SQL, not the API); then measures
  1. a sweep with nothing due (must cost milliseconds, not a scan of every open case),
  2. a sweep in which ``--due`` of them have breached and are escalated to their town centre,
and prints seconds per sweep and per escalated case. Not part of the test run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from bench.common import asyncpg_url, service_database, tally_off, throwaway_database
from service.sweep import sweep
from workflows.org import UnitKind

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


async def load(url: str, cases: int, due: int, villages: list[str], towns: dict[str, str]) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET synchronous_commit = off")  # loading only; the sweep runs normally
        async with tally_off(conn):
            await conn.execute(
                """
                INSERT INTO cases (id, number, dispute_type, summary, location_code, amount_yuan, people_involved,
                    flag_cross_area, flag_criminal_risk, flag_group_dispute, flag_repeat_petition, source, risk,
                    unit_code, tier, channel, state, returns_to_code, court_linked, triage, registered_by,
                    registered_unit_code, version, created_at, updated_at)
                SELECT g, 'KS-2026-' || lpad(g::text, 7, '0'), 'NEIGHBOUR', '邻里纠纷 (benchmark)', v.code, 3000, 2,
                    false, false, false, false, 'application', 'green', v.code, 'village', 'people', 'assigned',
                    v.town, false, '{"rule": "bench", "reasons": []}'::jsonb, 'bench', v.code, 1, $1, $1
                FROM generate_series(1, $2) AS g
                JOIN (SELECT code, town, row_number() OVER () - 1 AS i
                      FROM unnest($3::text[], $4::text[]) AS u(code, town)) v ON v.i = g % $5
                """,
                NOW,
                cases,
                villages,
                [towns[v] for v in villages],
                len(villages),
            )
            await conn.execute("SELECT setval(pg_get_serial_sequence('cases', 'id'), $1)", cases)
            await conn.execute(
                """
                INSERT INTO case_event (case_id, seq, at, kind, actor, actor_role, actor_unit_code, to_state,
                    to_unit_code, payload)
                SELECT id, 1, $1, 'created', 'bench', 'mediator', unit_code, 'assigned', unit_code, '{}'::jsonb
                FROM cases
                """,
                NOW,
            )
            # Every open case has a running clock; the first `due` of them are already past due.
            await conn.execute(
                """
                INSERT INTO deadline (case_id, kind, unit_code, status, started_at, due_at, warn_at, warnings,
                    extensions)
                SELECT id, 'acceptance', unit_code, 'active', $1::timestamptz,
                    CASE WHEN id <= $2 THEN $1::timestamptz + interval '3 days' ELSE $1::timestamptz + interval '30 days' END,
                    NULL, '[]'::jsonb, '[]'::jsonb
                FROM cases
                """,
                NOW,
                due,
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--profile", action="store_true", help="profile the busy sweep (pyinstrument)")
    args = parser.parse_args()

    async with throwaway_database(args.pg, args.keep) as name:
        await run(args, name)


async def run(args: argparse.Namespace, name: str) -> None:
    engine, ctx = await service_database(args.pg, name)
    villages = sorted(u.code for u in ctx.org.of_kind(UnitKind.village_station))
    towns = {v: t.code for v in villages if (t := ctx.org.town_of(v)) is not None}
    villages = [v for v in villages if v in towns]

    started = time.perf_counter()
    await load(asyncpg_url(args.pg, name), args.cases, args.due, villages, towns)
    print(f"loaded {args.cases:,} open cases with running clocks in {time.perf_counter() - started:.1f} s")

    idle = []
    for _ in range(7):
        t0 = time.perf_counter()
        report = await sweep(engine, ctx, now=NOW + timedelta(days=1))
        idle.append(time.perf_counter() - t0)
        assert report.breached == 0 and report.warned == 0
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="enabled")
        profiler.start()
    t0 = time.perf_counter()
    report = await sweep(engine, ctx, now=NOW + timedelta(days=4))
    busy = time.perf_counter() - t0
    if profiler is not None:
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, show_all=False)[:12000])
    escalated = report.actions.get("escalated", 0)
    print()
    print("| sweep | open cases | due | seconds | per escalated case |")
    print("|---|---:|---:|---:|---:|")
    print(f"| nothing due (median of 7) | {args.cases:,} | 0 | {statistics.median(idle) * 1000:.1f} ms | — |")
    print(
        f"| {args.due:,} due | {args.cases:,} | {args.due:,} | {busy:.2f} s | "
        f"{busy / max(escalated, 1) * 1000:.2f} ms ({escalated:,} escalated) |"
    )
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
