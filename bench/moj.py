"""Benchmark: the MoJ report and its filings at city scale on PostgreSQL.

    .venv/bin/python -m bench.moj [--cases 1000000] [--pg postgresql://postgres@127.0.0.1:5432/postgres]

Loads ten years (2016–2025) of a city's cases in a throw-away database (bulk SQL, not the API),
each with the events a real history has: registered; delegated by the court (委托) for some;
accepted (nine in ten), at a village station, a town centre or (one in twenty) a police station
(administrative mediation); then settled with an agreed amount or ended; judicial confirmation
applied for, confirmed or refused; performance followed up; closed (by the court's mediation
statement for a delegated settlement). Then measures, through the service's own functions:

  1. the report of a month for the whole city (``service.moj.service.compute``, as the API and the
     page ask for it: figures only), December (the longest year to date) and June;
  2. a town's filing of December (the figures and the case ids behind every cell, frozen and
     hashed), every town's, then the city's consolidation;
  3. the drill-down of the biggest cell (受理, year to date, the whole city): its first page.

Prints a Markdown table (median and worst of the repeats, in ms). ``--reuse NAME`` measures a
database kept by an earlier ``--keep`` run (e.g. with another checkout's code on ``PYTHONPATH``).
Not part of the test run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bench.common import asyncpg_url, service_database, tally_off, throwaway_database
from workflows.org import Channel, UnitKind

NOW = datetime(2026, 1, 15, 2, 0, tzinfo=UTC)
START, END = datetime(2016, 1, 1, tzinfo=UTC), datetime(2025, 12, 25, tzinfo=UTC)
TYPES = [
    "NEIGHBOUR",
    "MARRIAGE_FAMILY",
    "CONTRACT",
    "DAMAGES",
    "LABOUR_WAGE_ARREARS",
    "LABOUR_OTHER",
    "PROPERTY_MGMT",
    "ROAD_TRAFFIC",
    "HOUSING_HOMESTEAD",
    "CONSUMER",
    "FINANCE",
    "OTHER",
]
SOURCES = ["application", "application", "application", "self_initiated", "police", "petition_office"]


async def load(url: str, cases: int, people_units: list[str], police: list[str], desk: str) -> None:
    """``cases`` cases spread evenly over ten years, and their events, in set-based SQL."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("SET maintenance_work_mem = '256MB'")
        async with tally_off(conn):
            await conn.execute(
                """
                INSERT INTO cases (id, number, dispute_type, summary, location_code, amount_yuan, people_involved,
                    flag_cross_area, flag_criminal_risk, flag_group_dispute, flag_repeat_petition, source, risk,
                    unit_code, tier, channel, state, returns_to_code, court_linked, triage, registered_by,
                    registered_unit_code, version, created_at, updated_at)
                SELECT g, 'KS-' || lpad(g::text, 8, '0'), ($6::text[])[1 + g % cardinality($6::text[])],
                    '纠纷 (benchmark)', u.code, 5000, 1 + g % 5,
                    false, false, false, false,
                    CASE WHEN g % 20 = 3 THEN 'court' ELSE ($7::text[])[1 + g % cardinality($7::text[])] END,
                    'green', u.code, 'village', CASE WHEN g % 20 = 7 THEN 'administrative' ELSE 'people' END,
                    'closed', NULL, g % 20 = 3, '{"rule": "bench", "reasons": []}'::jsonb, 'bench', u.code, 8,
                    $1::timestamptz + ((g - 1)::float8 / $3) * ($2::timestamptz - $1::timestamptz), $2::timestamptz
                FROM generate_series(1, $3) AS g
                CROSS JOIN LATERAL (
                    SELECT CASE WHEN g % 20 = 7 THEN ($5::text[])[1 + g % cardinality($5::text[])]
                                ELSE ($4::text[])[1 + (g / 20) % cardinality($4::text[])] END AS code
                ) u
                """,
                START,
                END,
                cases,
                people_units,
                police,
                TYPES,
                SOURCES,
            )
        await conn.execute("SELECT setval(pg_get_serial_sequence('cases', 'id'), $1)", cases)
        # (seq, trigger, which cases, after how long, from which unit, payload): one statement each.
        event = """
            INSERT INTO case_event (case_id, seq, at, kind, trigger, actor, actor_role, actor_unit_code,
                from_state, to_state, from_unit_code, to_unit_code, payload)
            SELECT id, {seq}, created_at + interval '{after}', '{kind}', {trigger}, 'bench', 'mediator',
                {unit}, 'x', 'y', {unit}, unit_code, {payload}
            FROM cases WHERE {where}
        """
        accepted = "id % 10 <> 0"
        settled = f"{accepted} AND id % 3 <> 0"
        delegated = "id % 20 = 3"
        steps = [
            (1, "created", "NULL", "1 minute", "unit_code", "'{}'::jsonb", "true"),
            (
                2,
                "transition",
                "'delegate'",
                "2 hours",
                f"'{desk}'",
                """'{"procedure": "ordinary"}'::jsonb""",
                delegated,
            ),
            (3, "transition", "'accept'", "1 day", "unit_code", "'{}'::jsonb", accepted),
            (
                4,
                "transition",
                "'settle'",
                "10 days",
                "unit_code",
                """jsonb_build_object('agreement', jsonb_build_object('form', 'written',
                    'amount_yuan', 500 + (id % 40) * 125.5))""",
                settled,
            ),
            (
                4,
                "transition",
                "'terminate'",
                "12 days",
                "unit_code",
                "'{}'::jsonb",
                f"{accepted} AND id % 3 = 0",
            ),
            (
                5,
                "transition",
                "'request_confirmation'",
                "12 days",
                "unit_code",
                "'{}'::jsonb",
                f"{settled} AND id % 7 = 1",
            ),
            (
                6,
                "transition",
                "'confirm'",
                "20 days",
                f"'{desk}'",
                "'{}'::jsonb",
                f"{settled} AND id % 7 = 1 AND id % 2 = 0",
            ),
            (
                6,
                "transition",
                "'refuse_confirmation'",
                "20 days",
                f"'{desk}'",
                "'{}'::jsonb",
                f"{settled} AND id % 7 = 1 AND id % 2 = 1",
            ),
            (
                7,
                "transition",
                "'record_performance'",
                "30 days",
                "unit_code",
                """jsonb_build_object('performance', CASE WHEN id % 8 = 1 THEN 'partially' ELSE 'performed' END)""",
                f"{settled} AND id % 4 = 1",
            ),
            (
                8,
                "transition",
                "'close'",
                "40 days",
                f"CASE WHEN {delegated} THEN '{desk}' ELSE unit_code END",
                f"""jsonb_build_object('outcome', CASE WHEN {delegated} THEN 'mediation_statement' ELSE 'settled' END)""",
                accepted,
            ),
        ]
        for seq, kind, trigger, after, unit, payload, where in steps:
            await conn.execute(
                event.format(
                    seq=seq, kind=kind, trigger=trigger, after=after, unit=unit, payload=payload, where=where
                )
            )
        await conn.execute("VACUUM ANALYZE cases")
        await conn.execute("VACUUM ANALYZE case_event")
    finally:
        await conn.close()


async def timed(call: Callable[[], Awaitable[Any]], repeats: int) -> tuple[float, float, Any]:
    """(median ms, worst ms, the last result) of ``repeats`` calls after one warm-up."""
    result = await call()
    spent = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = await call()
        spent.append((time.perf_counter() - t0) * 1000)
    return statistics.median(spent), max(spent), result


@contextlib.asynccontextmanager
async def database(args: argparse.Namespace) -> AsyncIterator[str]:
    if args.reuse:
        yield args.reuse
        return
    async with throwaway_database(args.pg, args.keep) as name:
        yield name


async def run(args: argparse.Namespace) -> None:
    from service.filings import service as filings
    from service.moj import service as moj
    from workflows.lifecycle import Actor, Role

    async with database(args) as name:
        if args.reuse:
            from bench.common import ROOT, sqlalchemy_url
            from service.audit.keys import new_key_text
            from service.config.settings import Settings
            from service.main import engine_for, load_context
            from service.personal.crypto import new_key_line

            settings = Settings(
                database_url=sqlalchemy_url(args.pg, name),
                config_dir=ROOT / "config",
                run_scheduler=False,
                data_key=new_key_line(),
                audit_key=new_key_text(),
            )
            ctx, engine = load_context(settings), engine_for(settings)
        else:
            engine, ctx = await service_database(args.pg, name)
            org = ctx.org
            people = sorted(
                u.code
                for u in org.of_kind(UnitKind.village_station, UnitKind.town_centre)
                if u.channel == Channel.people
            )
            police = sorted(
                u.code for u in org if u.channel == Channel.administrative and u.code.startswith("PS-")
            )
            desk = org.court_desk()
            assert desk is not None
            started = time.perf_counter()
            await load(asyncpg_url(args.pg, name), args.cases, people, police, desk.code)
            print(
                f"loaded {args.cases:,} cases and their events in {time.perf_counter() - started:.1f} s",
                flush=True,
            )
        async with engine.connect() as conn:
            events = (await conn.exec_driver_sql("SELECT count(*) FROM case_event")).scalar_one()
        print(f"{events:,} case events", flush=True)

        admin = Actor("bench.admin", Role.admin, ctx.org.city_centre().code)
        figures_only = {"case_ids": False} if "case_ids" in inspect.signature(moj.compute).parameters else {}
        rows: list[tuple[str, float, float, str]] = []
        for month in ("2025-12", "2025-06"):
            p50, worst, report = await timed(
                lambda month=month: moj.compute(
                    engine, ctx, units=None, month=month, now=NOW, **figures_only
                ),
                args.repeats,
            )
            accepted = {c.key: c.value for c in report.cells}
            rows.append(
                (
                    f"MoJ report {month}, whole city (figures)",
                    p50,
                    worst,
                    f"受理 {accepted['accepted.month']:,} this month, {accepted['accepted.ytd']:,} this year",
                )
            )
            print(rows[-1], flush=True)
        p50, worst, page = await timed(
            lambda: moj.cell_cases(
                engine,
                ctx,
                admin,
                cell="accepted.ytd",
                units=None,
                month="2025-12",
                now=NOW,
                after=None,
                limit=50,
            ),
            args.repeats,
        )
        rows.append(
            (
                "drill-down 受理 year to date, whole city, first page",
                p50,
                worst,
                f"{len(page.items)} of {page.value:,}",
            )
        )
        print(rows[-1], flush=True)
        if args.skip_filings:
            print_table(args, rows)
            return
        towns = sorted(u.code for u in ctx.org.of_kind(UnitKind.town_centre))
        spent = []
        for town in towns:
            t0 = time.perf_counter()
            out = await filings.file_month(engine, ctx, admin, town, "2025-12", now=NOW)
            spent.append((time.perf_counter() - t0) * 1000)
        ids = sum(c.cases for c in out.cells)
        rows.append(
            (
                f"filing 2025-12, each of {len(towns)} towns",
                statistics.median(spent),
                max(spent),
                f"last: {len(out.cells)} cells, {ids:,} case ids frozen",
            )
        )
        print(rows[-1], flush=True)
        t0 = time.perf_counter()
        city = await filings.file_month(engine, ctx, admin, ctx.org.city_centre().code, "2025-12", now=NOW)
        spent_city = (time.perf_counter() - t0) * 1000
        rows.append(
            (
                "filing 2025-12, the city's consolidation",
                spent_city,
                spent_city,
                f"{len(city.cells)} cells, from {len(city.sources)} town filings",
            )
        )
        print(rows[-1], flush=True)
        print_table(args, rows)
        await engine.dispose()


async def sqlite_run(args: argparse.Namespace) -> None:
    """The embedded default: the same history (loaded in PostgreSQL as above, then copied row by
    row into a fresh SQLite database with the service's schema), the report and the drill-down."""
    import tempfile
    from pathlib import Path

    import sqlalchemy as sa

    from bench.common import ROOT
    from service import migrate
    from service.audit.keys import new_key_text
    from service.cases.models import Case, CaseEvent
    from service.config.settings import Settings
    from service.main import engine_for, load_context
    from service.moj import service as moj
    from service.personal.crypto import new_key_line
    from service.units.sync import sync_units
    from workflows.lifecycle import Actor, Role

    async with throwaway_database(args.pg, False) as name:
        source, ctx = await service_database(args.pg, name)
        org = ctx.org
        people = sorted(
            u.code
            for u in org.of_kind(UnitKind.village_station, UnitKind.town_centre)
            if u.channel == Channel.people
        )
        police = sorted(
            u.code for u in org if u.channel == Channel.administrative and u.code.startswith("PS-")
        )
        desk = org.court_desk()
        assert desk is not None
        await load(asyncpg_url(args.pg, name), args.cases, people, police, desk.code)
        with tempfile.TemporaryDirectory(prefix="jiefen-bench-moj-") as tmp:
            settings = Settings(
                database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'jiefen.db'}",
                config_dir=ROOT / "config",
                run_scheduler=False,
                data_key=new_key_line(),
                audit_key=new_key_text(),
            )
            ctx, engine = load_context(settings), engine_for(settings)
            await migrate.upgrade(engine)
            await sync_units(engine, ctx.org)
            for table in (Case.__table__, CaseEvent.__table__):  # type: ignore[attr-defined]
                async with source.connect() as conn:
                    rows = [dict(r._mapping) for r in await conn.execute(sa.select(table))]
                async with engine.begin() as conn:
                    for start in range(0, len(rows), 5000):
                        await conn.execute(sa.insert(table), rows[start : start + 5000])
            async with engine.begin() as conn:
                await conn.exec_driver_sql("ANALYZE")
            print(f"copied {args.cases:,} cases into SQLite", flush=True)
            admin = Actor("bench.admin", Role.admin, ctx.org.city_centre().code)
            rows_out: list[tuple[str, float, float, str]] = []
            for month in ("2025-12", "2025-06"):
                p50, worst, report = await timed(
                    lambda month=month: moj.compute(
                        engine, ctx, units=None, month=month, now=NOW, case_ids=False
                    ),
                    args.repeats,
                )
                values = {c.key: c.value for c in report.cells}
                rows_out.append(
                    (
                        f"SQLite: MoJ report {month}, whole city (figures)",
                        p50,
                        worst,
                        f"受理 {values['accepted.month']:,} this month, {values['accepted.ytd']:,} this year",
                    )
                )
            p50, worst, page = await timed(
                lambda: moj.cell_cases(
                    engine,
                    ctx,
                    admin,
                    cell="accepted.ytd",
                    units=None,
                    month="2025-12",
                    now=NOW,
                    after=None,
                    limit=50,
                ),
                args.repeats,
            )
            rows_out.append(
                (
                    "SQLite: drill-down 受理 year to date, first page",
                    p50,
                    worst,
                    f"{len(page.items)} of {page.value:,}",
                )
            )
            print_table(args, rows_out)
            await engine.dispose()
        await source.dispose()


def print_table(args: argparse.Namespace, rows: list[tuple[str, float, float, str]]) -> None:
    print()
    print(f"| MoJ report at city scale ({args.cases:,} cases) | median ms | worst ms | what |")
    print("|---|---:|---:|---|")
    for label, p50, worst, what in rows:
        print(f"| {label} | {p50:,.0f} | {worst:,.0f} | {what} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--reuse", help="measure this kept database instead of loading one")
    parser.add_argument("--skip-filings", action="store_true", help="the report and drill-down only")
    parser.add_argument("--sqlite", action="store_true", help="measure the embedded SQLite default instead")
    args = parser.parse_args()
    asyncio.run(sqlite_run(args) if args.sqlite else run(args))


if __name__ == "__main__":
    main()


# --- in `python -m bench` (bench/harness.py) ----------------------------------------------------

REPORT_TARGET_MS = 2000  # issue 20: the monthly report and a filing under 2 s at 1,000,000 cases


async def moj_part(opts: argparse.Namespace, sizes: Any, report: Any) -> None:
    """This benchmark as it stands, in its own process (1,000,000 cases; 50,000 with --quick);
    its table is parsed into the harness's rows."""
    import re
    import sys

    from bench.harness import RESULTS, ROOT, Row, log

    cases = 50_000 if opts.quick else 1_000_000
    report.load("before the MoJ report")
    cmd = [sys.executable, "-m", "bench.moj", "--cases", str(cases), "--pg", opts.pg]
    log("running " + " ".join(cmd[1:]))
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT
    )
    out = (await proc.communicate())[0].decode()
    (RESULTS / "moj.log").write_text(out)
    found = re.findall(
        r"^\| ((?:MoJ report \d|drill-down|filing)[^|]*) \| ([\d,]+) \| ([\d,]+) \| ([^|]*) \|", out, re.M
    )
    if proc.returncode != 0 or not found:
        report.notes.append(
            f"moj: could not run or parse bench/moj.py (exit {proc.returncode}); see bench/results/moj.log"
        )
        report.rows.append(Row("MoJ report", measured="failed, see bench/results/moj.log", passed=False))
        return
    for label, median, worst, what in found:
        worst_ms = float(worst.replace(",", ""))
        report.rows.append(
            Row(
                f"{label.strip()} ({cases:,} cases)",
                clients=1,
                p50_ms=float(median.replace(",", "")),
                p99_ms=worst_ms,
                measured=what.strip(),
                target=f"< {REPORT_TARGET_MS / 1000:g} s",
                passed=worst_ms < REPORT_TARGET_MS,
            )
        )
