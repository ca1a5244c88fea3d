"""Benchmark: statistics and search at city scale — ten years of a city's cases, through HTTP.

    .venv/bin/python -m bench.city [--cases 1000000] [--sqlite-cases 50000] [--calls 30]
                                   [--pg postgresql://postgres@127.0.0.1:5432/postgres] [--keep]

PostgreSQL: loads ``--cases`` cases registered over the ten years before now into a throw-away
database with set-based SQL (generate_series; the secondary indexes dropped during the load and
built afterwards, as a restore does, and the statistics tally recounted by
``jiefen_tally_rebuild()``): spread over every mediation unit, dispute type and intake source,
in every state (old cases concluded, the last months' still open), with agreements, amounts,
flags, Chinese summaries, two parties each (names drawn from common surnames and given names),
their created and concluding events, and a clock each (met, cancelled, breached). Then starts
``jiefen serve --no-demo`` on loopback and times, one request at a time (``--calls`` after a few
warm-up calls), every statistics route for the ranges the pages offer (this month, the default
twelve months, the longest period of 36 months) for the whole city and for one town, the
dashboard page, the monthly report (JSON and XLSX), search by case number, by summary text and by
party name, the overdue lists, and a deep page (offset 100,000).

SQLite (``--sqlite-cases``, 0 to skip): the same pages over a smaller embedded database, loaded
row by row from Python (executemany), target one second.

Prints one table: p50 / p99 in milliseconds, the target and pass/fail. Not part of the test run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.common import ROOT, asyncpg_url, sqlalchemy_url, throwaway_database
from bench.load import percentile

TOWN = "320583106"  # 张浦镇
PASSWORD = "Bench-Passw0rd!2026"
CITY_USER = "bench-city-coordinator"
TOWN_USER = "bench-town-coordinator"
WARMUP = 3
YEARS = 10

# Targets of issue 20 item 5 (PostgreSQL) and item 6 (SQLite), milliseconds at p99.
STATS_MS, REPORT_MS, NUMBER_MS, TEXT_MS, OVERDUE_MS, SQLITE_MS = 300, 2000, 50, 300, 100, 1000

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = list("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国文红玉梅")
PLACES = [
    "周巷",
    "大市",
    "赵陵",
    "金华",
    "姜杭",
    "新塘",
    "花桥",
    "千灯",
    "锦溪",
    "淀山湖",
    "周庄",
    "巴城",
    "陆家",
]
MATTERS = {
    "NEIGHBOUR": ["邻里之间因噪音问题", "相邻排水沟堵塞", "宅基地边界", "房屋漏水殃及楼下"],
    "MARRIAGE_FAMILY": ["婚后财产分割", "子女抚养费", "赡养老人费用"],
    "LABOUR_WAGE_ARREARS": ["拖欠工资", "拖欠劳务费"],
    "LABOUR_OTHER": ["工伤赔偿", "解除劳动合同补偿"],
    "CONTRACT": ["装修合同款项", "货款结算", "租赁合同押金"],
    "PROPERTY_MGMT": ["物业费收取", "小区停车位"],
    "ROAD_TRAFFIC": ["交通事故赔偿", "电动车碰撞"],
}
OTHER_MATTERS = ["财产损害赔偿", "宅基地使用", "土地承包经营", "损害赔偿"]


def summary_of(dispute_type: str, r: random.Random) -> str:
    matter = r.choice(MATTERS.get(dispute_type, OTHER_MATTERS))
    a, b = r.choice(SURNAMES), r.choice(SURNAMES)
    return f"{r.choice(PLACES)}村{a}某与{b}某因{matter}发生纠纷，双方协商未果，申请人民调解"


# --- PostgreSQL: set-based load ------------------------------------------------------------------

SQL_ARRAYS = {
    "surnames": SURNAMES,
    "given": GIVEN,
    "places": PLACES,
}

# r_state picks the state: cases registered more than 120 days ago have all concluded (70 %
# settled and closed, 10 % settled awaiting performance checks, 12 % terminated, 8 % closed
# otherwise); the last 120 days' cases are 45 % still open.
CASES = """
WITH base AS (
    SELECT g, random() AS r_state, random() AS r_type, random() AS r_unit, random() AS r_src,
           random() AS r_flag, random() AS r_amount, random() AS r_text,
           $1::timestamptz - random() * ($9 * interval '365 days') AS created
    FROM generate_series(1, $2) AS g
), units AS (
    SELECT code, tier, row_number() OVER () AS i FROM unnest($3::text[], $4::text[]) AS u(code, tier)
), typed AS (
    SELECT b.*, ($5::text[])[1 + floor(b.r_type ^ 2 * array_length($5::text[], 1))::int] AS dtype,
           CASE WHEN b.created < $1::timestamptz - interval '120 days' THEN b.r_state * 0.55
                ELSE b.r_state END AS s
    FROM base b
)
INSERT INTO cases (id, number, dispute_type, summary, location_code, amount_yuan, people_involved,
    flag_cross_area, flag_criminal_risk, flag_group_dispute, flag_repeat_petition, flag_minor, sensitive,
    source, risk, unit_code, tier, channel, state, outcome, termination_reason, agreement, court_linked,
    triage, registered_by, registered_unit_code, version, created_at, updated_at, closed_at)
SELECT g, 'KS-' || to_char(created, 'YYYY') || '-' || lpad(g::text, 7, '0'), dtype,
    ($10::text[])[1 + floor(r_text * array_length($10::text[], 1))::int] || '村'
        || ($11::text[])[1 + (g % array_length($11::text[], 1))] || '某与'
        || ($11::text[])[1 + ((g / 7) % array_length($11::text[], 1))] || '某因'
        || ($12::text[])[1 + floor(r_type * array_length($12::text[], 1))::int]
        || '发生纠纷，双方协商未果，申请人民调解',
    u.code,
    CASE WHEN r_amount < 0.3 THEN NULL ELSE round((r_amount * 80000)::numeric, 2) END,
    1 + floor(r_flag * 12)::int,
    false, r_flag < 0.03, r_flag > 0.98, false, g % 100 = 0, g % 100 = 0,
    ($6::text[])[1 + floor(r_src ^ 1.5 * array_length($6::text[], 1))::int],
    CASE WHEN r_flag < 0.03 THEN 'red' WHEN r_flag < 0.1 THEN 'yellow' ELSE 'green' END,
    u.code, u.tier, 'people',
    CASE WHEN s < 0.385 THEN 'closed' WHEN s < 0.44 THEN 'settled' WHEN s < 0.506 THEN 'terminated'
         WHEN s < 0.55 THEN 'closed' WHEN s < 0.75 THEN 'mediating' ELSE 'assigned' END,
    CASE WHEN s < 0.30 THEN 'performed' WHEN s < 0.385 THEN 'confirmed'
         WHEN s >= 0.506 AND s < 0.55 THEN 'other_route' END,
    CASE WHEN s >= 0.44 AND s < 0.55 THEN ($7::text[])[1 + floor(r_type * array_length($7::text[], 1))::int] END,
    CASE WHEN s < 0.44 THEN jsonb_build_object('form', CASE WHEN r_src < 0.3 THEN 'oral' ELSE 'written' END,
                                               'terms', '双方自愿达成协议') END,
    false, $8::jsonb, 'bench', u.code, CASE WHEN s < 0.55 THEN 2 ELSE 1 END,
    created, created + CASE WHEN s < 0.55 THEN interval '1 day' * (1 + floor(r_amount * 40)) ELSE interval '0' END,
    CASE WHEN s < 0.385 OR (s >= 0.506 AND s < 0.55) THEN created + interval '1 day' * (1 + floor(r_amount * 40)) END
FROM typed JOIN units u ON u.i = 1 + floor(typed.r_unit * $13)::int
"""

PARTIES = """
INSERT INTO party (case_id, role, kind, name)
SELECT id, r.role, 'person',
    ($1::text[])[1 + ((id * 7 + r.k) % array_length($1::text[], 1))]
    || ($2::text[])[1 + ((id * 13 + r.k * 5) % array_length($2::text[], 1))]
    || CASE WHEN (id + r.k) % 3 = 0 THEN '' ELSE ($2::text[])[1 + ((id * 31 + r.k) % array_length($2::text[], 1))] END
FROM cases, (VALUES (1, 'applicant'), (2, 'respondent')) AS r(k, role)
"""

EVENTS = """
INSERT INTO case_event (case_id, seq, at, kind, actor, actor_role, actor_unit_code, to_state, to_unit_code,
    payload)
SELECT id, 1, created_at, 'created', 'bench', 'mediator', unit_code, 'assigned', unit_code, '{}'::jsonb
FROM cases;
INSERT INTO case_event (case_id, seq, at, kind, trigger, actor, actor_role, actor_unit_code, from_state,
    to_state, from_unit_code, to_unit_code, payload)
SELECT id, 2, updated_at, 'transition', 'bench', 'bench', 'mediator', unit_code, 'mediating', state, unit_code,
    unit_code, '{}'::jsonb
FROM cases WHERE version = 2
"""

# One clock per case: met when it settled, breached for a third of the terminated ones and for
# every open case past its 30 days (the sweep has breached them), running otherwise.
DEADLINES = """
INSERT INTO deadline (case_id, kind, unit_code, status, started_at, due_at, warnings, extensions)
SELECT id, 'people_mediation', unit_code,
    CASE WHEN state IN ('closed', 'settled') THEN 'met'
         WHEN state = 'terminated' THEN CASE WHEN id % 3 = 0 THEN 'breached' ELSE 'cancelled' END
         WHEN created_at + interval '30 days' <= $1::timestamptz THEN 'breached'
         ELSE 'active' END,
    created_at, created_at + interval '30 days', '[]'::jsonb, '[]'::jsonb
FROM cases
"""

SECONDARY_INDEXES = """
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
WHERE t.relname IN ('cases', 'party', 'case_event', 'deadline')
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
"""


async def load_postgres(dsn: str, ctx: Any, cases: int, now: datetime) -> dict[str, float]:
    """The city's cases, their parties, events and clocks; returns seconds per phase."""
    from workflows.lifecycle import TerminationReason
    from workflows.org import UnitKind
    from workflows.vocab import DisputeType, Source

    units = sorted(
        (u.code, u.tier.value)
        for u in ctx.org.of_kind(
            UnitKind.village_station, UnitKind.town_centre, UnitKind.city_centre, UnitKind.sectoral_committee
        )
    )
    matters = [m for ms in MATTERS.values() for m in ms] + OTHER_MATTERS
    phases: dict[str, float] = {}
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("SET maintenance_work_mem = '512MB'")
        await conn.execute("SELECT setseed(0.2026)")
        indexes = await conn.fetch(SECONDARY_INDEXES)
        for name, _ in indexes:
            await conn.execute(f"DROP INDEX {name}")
        # The tally is recounted once at the end (jiefen_tally_rebuild), not row by row (the
        # triggers on cases and deadline, migration 0029_city, are off during the load).
        for table in ("cases", "deadline"):
            await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        t0 = time.perf_counter()
        await conn.execute(
            CASES,
            now,
            cases,
            [c for c, _ in units],
            [t for _, t in units],
            [t.value for t in DisputeType],
            [s.value for s in Source],
            [r.value for r in TerminationReason],
            '{"rule": "bench", "reasons": []}',
            YEARS,
            PLACES,
            SURNAMES,
            matters,
            len(units),
        )
        await conn.execute("SELECT setval(pg_get_serial_sequence('cases', 'id'), $1)", cases)
        phases["cases"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        await conn.execute(PARTIES, SURNAMES, GIVEN)
        phases["parties"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        await conn.execute(EVENTS)
        phases["events"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        await conn.execute(DEADLINES, now)
        phases["clocks"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _, definition in indexes:
            await conn.execute(definition)
        phases["indexes"] = time.perf_counter() - t0
        for table in ("cases", "deadline"):
            await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        t0 = time.perf_counter()
        if await conn.fetchval("SELECT to_regproc('jiefen_tally_rebuild') IS NOT NULL"):
            await conn.execute("SELECT jiefen_tally_rebuild()")
        phases["tally"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        await conn.execute("VACUUM (ANALYZE)")
        phases["vacuum analyze"] = time.perf_counter() - t0
    finally:
        await conn.close()
    return phases


# --- SQLite: row by row from Python ----------------------------------------------------------------


def sqlite_rows(ctx: Any, cases: int, now: datetime) -> tuple[list[tuple[Any, ...]], ...]:
    """The same spread as the PostgreSQL load, drawn in Python: cases, parties, events, clocks."""
    import json

    from workflows.lifecycle import TerminationReason
    from workflows.org import UnitKind
    from workflows.vocab import DisputeType, Source

    r = random.Random(2026)
    units = sorted(
        (u.code, u.tier.value)
        for u in ctx.org.of_kind(
            UnitKind.village_station, UnitKind.town_centre, UnitKind.city_centre, UnitKind.sectoral_committee
        )
    )
    types = [t.value for t in DisputeType]
    sources = [s.value for s in Source]
    reasons = [x.value for x in TerminationReason]
    rows, parties, events, clocks = [], [], [], []
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    for g in range(1, cases + 1):
        created = now - timedelta(days=r.random() * 365 * YEARS)
        s = r.random() * (0.55 if created < now - timedelta(days=120) else 1)
        state = (
            "closed"
            if s < 0.385
            else "settled"
            if s < 0.44
            else "terminated"
            if s < 0.506
            else "closed"
            if s < 0.55
            else "mediating"
            if s < 0.75
            else "assigned"
        )
        outcome = (
            "performed"
            if s < 0.30
            else "confirmed"
            if s < 0.385
            else "other_route"
            if 0.506 <= s < 0.55
            else None
        )
        dtype = types[int(r.random() ** 2 * len(types))]
        code, tier = r.choice(units)
        days = 1 + int(r.random() * 40)
        closed_at = created + timedelta(days=days) if s < 0.385 or 0.506 <= s < 0.55 else None
        flag = r.random()
        rows.append(
            (
                g,
                f"KS-{created.year}-{g:07d}",
                dtype,
                summary_of(dtype, r),
                code,
                None if r.random() < 0.3 else round(r.random() * 80000, 2),
                1 + int(flag * 12),
                0,
                int(flag < 0.03),
                int(flag > 0.98),
                0,
                int(g % 100 == 0),
                int(g % 100 == 0),
                sources[int(r.random() ** 1.5 * len(sources))],
                "green",
                code,
                tier,
                "people",
                state,
                outcome,
                r.choice(reasons) if 0.44 <= s < 0.55 else None,
                json.dumps({"form": "written", "terms": "双方自愿达成协议"}) if s < 0.44 else "null",
                0,
                '{"rule": "bench", "reasons": []}',
                "bench",
                code,
                2 if s < 0.55 else 1,
                created.strftime(fmt),
                (created + timedelta(days=days if s < 0.55 else 0)).strftime(fmt),
                closed_at.strftime(fmt) if closed_at else None,
            )
        )
        for _k, role in ((1, "applicant"), (2, "respondent")):
            name = r.choice(SURNAMES) + r.choice(GIVEN) + (r.choice(GIVEN) if r.random() < 0.66 else "")
            parties.append((g, role, "person", name))
        events.append(
            (g, 1, created.strftime(fmt), "created", "bench", "mediator", code, "assigned", code, "{}")
        )
        due = created + timedelta(days=30)
        status = (
            "met"
            if state in ("closed", "settled")
            else ("breached" if g % 3 == 0 else "cancelled")
            if state == "terminated"
            else "breached"
            if due <= now
            else "active"
        )
        clocks.append(
            (g, "people_mediation", code, status, created.strftime(fmt), due.strftime(fmt), "[]", "[]")
        )
    return rows, parties, events, clocks


def load_sqlite(path: Path, ctx: Any, cases: int, now: datetime) -> None:
    import sqlite3

    rows, parties, events, clocks = sqlite_rows(ctx, cases, now.replace(tzinfo=None))
    db = sqlite3.connect(path)
    try:
        db.executemany(
            "INSERT INTO cases (id, number, dispute_type, summary, location_code, amount_yuan, people_involved,"
            " flag_cross_area, flag_criminal_risk, flag_group_dispute, flag_repeat_petition, flag_minor, sensitive,"
            " source, risk, unit_code, tier, channel, state, outcome, termination_reason, agreement, court_linked,"
            " triage, registered_by, registered_unit_code, version, created_at, updated_at, closed_at)"
            f" VALUES ({', '.join('?' * 30)})",
            rows,
        )
        db.executemany("INSERT INTO party (case_id, role, kind, name) VALUES (?, ?, ?, ?)", parties)
        db.executemany(
            "INSERT INTO case_event (case_id, seq, at, kind, actor, actor_role, actor_unit_code, to_state,"
            " to_unit_code, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            events,
        )
        db.executemany(
            "INSERT INTO deadline (case_id, kind, unit_code, status, started_at, due_at, warnings, extensions)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            clocks,
        )
        db.commit()
        db.execute("ANALYZE")
    finally:
        db.close()


# --- the server and the calls ----------------------------------------------------------------------


async def prepare(url: str, data_key: str, audit_key: str) -> Any:
    """Schema, units and the two coordinators, the service's own way; returns the context."""
    from service import clock, migrate
    from service.config.settings import Settings
    from service.integrity.backfill import sign_trail
    from service.main import engine_for, load_context
    from service.units.sync import sync_units
    from service.users.service import create_user

    settings = Settings(
        database_url=url,
        config_dir=ROOT / "config",
        run_scheduler=False,
        data_key=data_key,
        audit_key=audit_key,
    )
    ctx = load_context(settings)
    engine = engine_for(settings)
    try:
        await migrate.upgrade(engine)
        await sign_trail(engine, now=clock.now())
        await sync_units(engine, ctx.org)
        async with engine.begin() as conn:
            for username, unit in ((CITY_USER, ctx.org.city_centre().code), (TOWN_USER, TOWN)):
                await create_user(
                    conn,
                    username=username,
                    password=PASSWORD,
                    role="coordinator",
                    unit_code=unit,
                    org=ctx.org,
                    now=clock.now(),
                )
    finally:
        await engine.dispose()
    return ctx


@dataclass
class Item:
    label: str
    url: str
    user: str  # CITY_USER | TOWN_USER
    target_ms: float
    page: bool = False  # the web page (session cookie) rather than the API (bearer token)


def months_back(now: datetime, n: int) -> str:
    from service.clock import SHANGHAI

    local = now.astimezone(SHANGHAI)
    index = local.year * 12 + local.month - 1 - n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def items(now: datetime, number: str, name: str, *, postgres: bool) -> list[Item]:
    this = months_back(now, 0)
    ranges = {
        "1 month": (this, this),
        "12 months": (months_back(now, 11), this),
        "36 months": (months_back(now, 35), this),
    }
    stats_target = STATS_MS if postgres else SQLITE_MS
    out: list[Item] = []
    routes = ("overview", "monthly", "by-type", "by-tier", "by-town", "by-source", "by-mediator")
    for who, user, unit in (("city", CITY_USER, ""), ("town", TOWN_USER, f"&unit={TOWN}")):
        for label, (first, last) in ranges.items():
            for route in routes:
                out.append(
                    Item(
                        f"stats {route}, {who}, {label}",
                        f"/api/v1/stats/{route}?from={first}&to={last}{unit}",
                        user,
                        stats_target,
                    )
                )
            out.append(
                Item(
                    f"dashboard page, {who}, {label}",
                    f"/dashboard?from={first}&to={last}{unit}",
                    user,
                    stats_target,
                    page=True,
                )
            )
        last_month = months_back(now, 1)
        report_target = REPORT_MS if postgres else SQLITE_MS
        out.append(
            Item(
                f"monthly report JSON, {who}, {last_month}",
                f"/api/v1/stats/report?month={last_month}{unit}",
                user,
                report_target,
            )
        )
        out.append(
            Item(
                f"monthly report XLSX, {who}, {last_month}",
                f"/api/v1/stats/report?month={last_month}&format=xlsx{unit}",
                user,
                report_target,
            )
        )
    text_target = TEXT_MS if postgres else SQLITE_MS
    out += [
        Item(
            "search by case number, city",
            f"/api/v1/cases?q={number}",
            CITY_USER,
            NUMBER_MS if postgres else SQLITE_MS,
        ),
        Item(
            "search by summary text (a rare phrase), city",
            "/api/v1/cases?q=淀山湖村龚某",
            CITY_USER,
            text_target,
        ),
        Item(
            "search by summary text (a common word: 工伤), city",
            "/api/v1/cases?q=工伤",
            CITY_USER,
            text_target,
        ),
        Item(f"search by party name ({name}), city", f"/api/v1/cases?q={name}", CITY_USER, text_target),
        Item(f"search by party name ({name}), town", f"/api/v1/cases?q={name}", TOWN_USER, text_target),
        Item(
            "overdue list, city",
            "/api/v1/cases?overdue=true",
            CITY_USER,
            OVERDUE_MS if postgres else SQLITE_MS,
        ),
        Item(
            "overdue list, town",
            "/api/v1/cases?overdue=true",
            TOWN_USER,
            OVERDUE_MS if postgres else SQLITE_MS,
        ),
        Item(
            "deep page (offset 100,000), city",
            "/api/v1/cases?offset=100000",
            CITY_USER,
            STATS_MS if postgres else SQLITE_MS,
        ),
        Item(
            "deep page (offset 10,000), town",
            "/api/v1/cases?offset=10000",
            TOWN_USER,
            STATS_MS if postgres else SQLITE_MS,
        ),
    ]
    return out


async def measure(base: str, todo: list[Item], calls: int) -> list[tuple[Item, list[float], str]]:
    from service.web.session import SESSION_COOKIE

    results: list[tuple[Item, list[float], str]] = []
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        tokens = {}
        for user in (CITY_USER, TOWN_USER):
            signed = await client.post("/api/v1/auth/token", data={"username": user, "password": PASSWORD})
            signed.raise_for_status()
            tokens[user] = str(signed.json()["access_token"])
        for item in todo:
            headers = {} if item.page else {"Authorization": f"Bearer {tokens[item.user]}"}
            cookies = {SESSION_COOKIE: tokens[item.user]} if item.page else {}
            times, note = [], ""
            for i in range(WARMUP + calls):
                client.cookies.clear()
                t0 = time.perf_counter()
                response = await client.get(item.url, headers=headers, cookies=cookies)
                elapsed = (time.perf_counter() - t0) * 1000
                if response.status_code != 200:
                    note = f"HTTP {response.status_code}: {response.text[:200]}"
                    break
                if i >= WARMUP:
                    times.append(elapsed)
            if not note and not item.page and "/api/v1/cases" in item.url:
                note = f"{response.json()['total']:,} found"
            results.append((item, times, note))
            p50 = statistics.median(times) if times else float("nan")
            print(f"  {item.label}: p50 {p50:.1f} ms {note}", flush=True)
    return results


async def serve_and_measure(
    env: dict[str, str], log: Path, todo: list[Item], calls: int
) -> list[tuple[Item, list[float], str]]:
    from bench.harness import Server

    server = Server(env, log)
    await server.start()
    try:
        return await measure(server.base, todo, calls)
    finally:
        server.stop()


async def sample(dsn: str) -> tuple[str, str]:
    """A case number in the middle of the load and a party name (as typed: the full name)."""
    conn = await asyncpg.connect(dsn)
    try:
        number = await conn.fetchval(
            "SELECT number FROM cases ORDER BY id OFFSET (SELECT count(*) / 2 FROM cases) LIMIT 1"
        )
        name = await conn.fetchval(
            "SELECT name FROM party WHERE length(name) = 3 ORDER BY id OFFSET 1234 LIMIT 1"
        )
        return str(number), str(name)
    finally:
        await conn.close()


def table(title: str, results: list[tuple[Item, list[float], str]]) -> list[str]:
    lines = [
        f"| {title} | calls | p50 ms | p99 ms | target | result | note |",
        "|---|---:|---:|---:|---|---|---|",
    ]
    for item, times, note in results:
        if not times:
            lines.append(f"| {item.label} | 0 | | | p99 < {item.target_ms:g} ms | **FAIL** | {note} |")
            continue
        p50, p99 = statistics.median(times), percentile(times, 99)
        result = "pass" if p99 < item.target_ms else "**FAIL**"
        lines.append(
            f"| {item.label} | {len(times)} | {p50:.1f} | {p99:.1f} | p99 < {item.target_ms:g} ms | {result} | {note} |"
        )
    return lines


async def run_postgres(args: argparse.Namespace) -> list[str]:
    from service.audit.keys import new_key_text
    from service.personal.crypto import new_key_line

    now = datetime.now(UTC)
    data_key, audit_key = new_key_line(), new_key_text()
    async with throwaway_database(args.pg, args.keep) as name:
        url, dsn = sqlalchemy_url(args.pg, name), asyncpg_url(args.pg, name)
        ctx = await prepare(url, data_key, audit_key)
        started = time.perf_counter()
        phases = await load_postgres(dsn, ctx, args.cases, now)
        loaded = time.perf_counter() - started
        detail = ", ".join(f"{k} {v:.0f} s" for k, v in phases.items())
        print(f"loaded {args.cases:,} cases over {YEARS} years in {loaded:.0f} s ({detail})", flush=True)
        number, party_name = await sample(dsn)
        env = {"JIEFEN_DATABASE_URL": url, "JIEFEN_DATA_KEY": data_key, "JIEFEN_AUDIT_KEY": audit_key}
        results = await serve_and_measure(
            env,
            ROOT / "bench" / "results" / "server-city.log",
            items(now, number, party_name, postgres=True),
            args.calls,
        )
    lines = [f"PostgreSQL: {args.cases:,} cases over {YEARS} years, loaded in {loaded:.0f} s ({detail})", ""]
    return lines + table(f"PostgreSQL, {args.cases:,} cases", results)


async def run_sqlite(args: argparse.Namespace) -> list[str]:
    from service.audit.keys import new_key_text
    from service.personal.crypto import new_key_line

    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="jiefen-bench-city-") as tmp:
        data_dir = Path(tmp)
        key, audit_key = new_key_line(), new_key_text()
        for filename, text in (("data.key", key), ("audit.key", audit_key)):
            (data_dir / filename).write_text(text + "\n")
            os.chmod(data_dir / filename, 0o600)
        path = data_dir / "jiefen.db"
        ctx = await prepare(f"sqlite+aiosqlite:///{path}", key, audit_key)
        started = time.perf_counter()
        load_sqlite(path, ctx, args.sqlite_cases, now)
        loaded = time.perf_counter() - started
        print(f"loaded {args.sqlite_cases:,} cases into SQLite in {loaded:.0f} s", flush=True)
        import sqlite3

        db = sqlite3.connect(path)
        number = db.execute("SELECT number FROM cases WHERE id = ?", (args.sqlite_cases // 2,)).fetchone()[0]
        party_name = db.execute(
            "SELECT name FROM party WHERE length(name) = 3 LIMIT 1 OFFSET 1234"
        ).fetchone()[0]
        db.close()
        results = await serve_and_measure(
            {"JIEFEN_DATA_DIR": str(data_dir)},
            ROOT / "bench" / "results" / "server-city-sqlite.log",
            items(now, number, party_name, postgres=False),
            max(5, args.calls // 3),
        )
    lines = [
        f"SQLite (embedded default): {args.sqlite_cases:,} cases over {YEARS} years, loaded in {loaded:.0f} s",
        "",
    ]
    return lines + table(f"SQLite, {args.sqlite_cases:,} cases", results)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def main_async(args: argparse.Namespace) -> int:
    (ROOT / "bench" / "results").mkdir(parents=True, exist_ok=True)
    out: list[str] = [f"load average at start: {loadavg()}"]
    if args.cases:
        out += [""] + await run_postgres(args)
    if args.sqlite_cases:
        out += [""] + await run_sqlite(args)
    out.append("")
    out.append(f"load average at end: {loadavg()}")
    print()
    print("\n".join(out))
    return 0 if not any("**FAIL**" in line for line in out) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=1_000_000, help="PostgreSQL cases (0: skip)")
    parser.add_argument("--sqlite-cases", type=int, default=50_000, help="SQLite cases (0: skip)")
    parser.add_argument("--calls", type=int, default=30, help="timed calls per item (after warm-up)")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    return asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
