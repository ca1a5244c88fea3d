"""Benchmark: a town's inbox with 100,000 items behind it, read through the API and as the page.

    .venv/bin/python -m bench.inbox [--items 100000] [--cases 200000] [--pg postgresql://postgres@127.0.0.1:5432/postgres]

Loads ``--cases`` cases over every village station of the city and ``--items`` inbox items at one
town centre (张浦镇) about its villages' cases, in a throw-away database (bulk SQL): arrivals,
escalations, warnings and breaches over a year; the town coordinator has read nine in ten, caused
one in twenty himself (which he must not be shown) and one in fifty is addressed to someone else;
one case in a hundred is sensitive. Then, in-process against the app (no network), times the
coordinator's first API page, the API page of unread items only, an older page by keyset, and the
inbox page (HTML), each 50 times after 5 warm-up calls, and prints p50/p99 in milliseconds.
Not part of the test run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime

import asyncpg
import httpx

from bench.common import ROOT, asyncpg_url, sqlalchemy_url, tally_off, throwaway_database
from bench.load import percentile

TOWN = "320583106"  # 张浦镇
COORDINATOR = "bench-town-coordinator"
NEWCOMER = "bench-town-newcomer"  # a second coordinator who has read nothing: 100,000 unread
PASSWORD = "Bench-Passw0rd!2026"
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
CALLS = 50
WARMUP = 5

CASES = """
INSERT INTO cases (id, number, dispute_type, summary, location_code, amount_yuan, people_involved,
    flag_cross_area, flag_criminal_risk, flag_group_dispute, flag_repeat_petition, source, risk,
    unit_code, tier, channel, state, court_linked, triage, registered_by, registered_unit_code, version,
    created_at, updated_at, flag_minor, sensitive)
SELECT g, 'KS-2026-' || lpad(g::text, 7, '0'), 'NEIGHBOUR', '邻里纠纷 (benchmark)', v.code, 3000, 2,
    false, false, false, false, 'application', 'green', v.code, 'village', 'people', 'mediating',
    false, '{"rule": "bench", "reasons": []}'::jsonb, 'bench', v.code, 1, $1, $1, g % 100 = 0, g % 100 = 0
FROM generate_series(1, $2) AS g
JOIN (SELECT code, row_number() OVER () - 1 AS i FROM unnest($3::text[]) AS u(code)) v ON v.i = g % $4
"""

# Items about the town's own villages' cases, oldest first, one every few minutes over a year.
ITEMS = """
INSERT INTO inbox_item (unit_code, case_id, kind, reason, payload, created_at, addressee, caused_by)
SELECT $1, c.id, (ARRAY['escalation', 'warning', 'breach', 'hand_off', 'sent_case_result'])[1 + g % 5],
    NULL,
    jsonb_build_object('number', c.number, 'dispute_type', 'NEIGHBOUR', 'from_unit_code', c.unit_code,
        'state', 'assigned', 'deadline', 'people_mediation',
        'due_at', to_char(($2::timestamptz + g * interval '5 minutes') AT TIME ZONE 'UTC',
                          'YYYY-MM-DD"T"HH24:MI:SS"+00:00"')),
    $2::timestamptz - interval '365 days' + g * interval '5 minutes',
    CASE WHEN g % 50 = 0 THEN 'someone-else' END,
    CASE WHEN g % 20 = 0 THEN $3 WHEN g % 20 = 1 THEN 'a-colleague' END
FROM generate_series(1, $4) AS g
JOIN LATERAL (SELECT id, number, unit_code FROM cases WHERE unit_code = ANY($5::text[])
              ORDER BY id OFFSET (g % 1000) LIMIT 1) c ON true
ORDER BY g
"""


async def load(url: str, cases: int, items: int, villages: list[str], town_villages: list[str]) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET synchronous_commit = off")
        async with tally_off(conn):
            await conn.execute(CASES, NOW, cases, villages, len(villages))
            await conn.execute("SELECT setval(pg_get_serial_sequence('cases', 'id'), $1)", cases)
        await conn.execute(ITEMS, TOWN, NOW, COORDINATOR, items, town_villages)
        # The coordinator marked all read a while ago (the 2,000 newest items came after), and has
        # read nine in ten of those since, one by one, all but the newest 200.
        await conn.execute(
            "INSERT INTO inbox_read_through (username, unit_code, item_id, read_at)"
            " SELECT $1, $2, max(id) - 2000, $3 FROM inbox_item",
            COORDINATOR,
            TOWN,
            NOW,
        )
        await conn.execute(
            "INSERT INTO inbox_read (item_id, username, read_at)"
            " SELECT id, $1, created_at FROM inbox_item WHERE unit_code = $2 AND id % 10 <> 0"
            " AND id > (SELECT max(id) - 2000 FROM inbox_item) AND id < (SELECT max(id) - 200 FROM inbox_item)",
            COORDINATOR,
            TOWN,
        )
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def sign_in(client: httpx.AsyncClient, username: str) -> str:
    signed = await client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    signed.raise_for_status()
    return str(signed.json()["access_token"])


async def timed(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[float]:
    for _ in range(WARMUP):
        (await client.get(url, headers=headers)).raise_for_status()
    times = []
    for _ in range(CALLS):
        t0 = time.perf_counter()
        response = await client.get(url, headers=headers)
        times.append((time.perf_counter() - t0) * 1000)
        response.raise_for_status()
    return times


async def run(args: argparse.Namespace, name: str) -> list[tuple[str, list[float]]]:
    from service.audit.keys import new_key_text
    from service.config.settings import Settings
    from service.main import create_app
    from service.personal.crypto import new_key_line
    from service.users.service import create_user
    from service.web.session import SESSION_COOKIE
    from workflows.org import UnitKind

    settings = Settings(
        database_url=sqlalchemy_url(args.pg, name),
        config_dir=ROOT / "config",
        run_scheduler=False,
        data_key=new_key_line(),
        audit_key=new_key_text(),
        token_ttl_hours=24,
    )
    app = create_app(settings)
    rows: list[tuple[str, list[float]]] = []
    async with app.router.lifespan_context(app):
        ctx = app.state.context
        villages = sorted(u.code for u in ctx.org.of_kind(UnitKind.village_station))
        town_villages = [v for v in villages if v in ctx.org.subtree(TOWN)]
        async with app.state.engine.begin() as conn:
            for username in (COORDINATOR, NEWCOMER):
                await create_user(
                    conn,
                    username=username,
                    password=PASSWORD,
                    role="coordinator",
                    unit_code=TOWN,
                    org=ctx.org,
                    now=NOW,
                )
        started = time.perf_counter()
        await load(asyncpg_url(args.pg, name), args.cases, args.items, villages, town_villages)
        print(
            f"loaded {args.cases:,} cases and {args.items:,} inbox items at {TOWN} in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://jiefen.bench") as client:
            token, newcomer = [await sign_in(client, u) for u in (COORDINATOR, NEWCOMER)]
            bearer = {"Authorization": f"Bearer {token}"}
            first = (await client.get(f"/api/v1/units/{TOWN}/inbox", headers=bearer)).json()
            print(f"the coordinator sees {first['total']:,}+ items, {first['unread']:,} unread", flush=True)
            older = f"/api/v1/units/{TOWN}/inbox?before={first['items'][0]['id'] - args.items // 2}"
            rows.append(
                ("API, first page (50 items)", await timed(client, f"/api/v1/units/{TOWN}/inbox", bearer))
            )
            rows.append(
                ("API, unread only", await timed(client, f"/api/v1/units/{TOWN}/inbox?unread=true", bearer))
            )
            rows.append(("API, a page half-way back (keyset)", await timed(client, older, bearer)))
            rows.append(
                (
                    "API, first page in English",
                    await timed(client, f"/api/v1/units/{TOWN}/inbox?lang=en", bearer),
                )
            )
            fresh = {"Authorization": f"Bearer {newcomer}"}
            rows.append(
                (
                    "API, a reader with everything unread",
                    await timed(client, f"/api/v1/units/{TOWN}/inbox", fresh),
                )
            )
            client.cookies.set(SESSION_COOKIE, token)
            rows.append(("page /inbox (20 items, HTML)", await timed(client, f"/inbox?unit={TOWN}", {})))
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    async with throwaway_database(args.pg, args.keep) as name:
        rows = await run(args, name)
    print()
    print("| inbox | items | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    for label, times in rows:
        print(
            f"| {label} | {args.items:,} | {statistics.median(times):.1f} | {percentile(times, 99):.1f} | "
            f"{max(times):.1f} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
