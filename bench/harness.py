"""Every benchmark in one run, side by side with PostgreSQL's own limit, printed as one table.

    .venv/bin/python -m bench                       # the full run (the 1,000,000-case sweep takes minutes)
    .venv/bin/python -m bench --quick               # a small smoke run (about 3 minutes)
    .venv/bin/python -m bench --only pgbench,http   # parts: pgbench, http, transitions, court, sqlite, sweep, inbox, moj, city

On PostgreSQL (``--pg``, a throw-away database created and dropped here; schema and units loaded
the service's own way): pgbench runs a transition's whole database work
(``bench/pgbench_transition_whole.sql``) and its write alone (``bench/pgbench_transition.sql``) at
16 and 64 clients, interleaved with the same transition fired over HTTP at the same client counts,
so the ratio (the floor: at least 15 % of the whole work) compares figures from the same minutes
on the same machine.
Then over HTTP, with a load generator in a separate process (``bench/load.py``) against
``jiefen serve --no-demo`` on loopback (two single-process replicas, as docker-compose runs them;
``--replicas``): create, read, list a unit's cases, and claim from the court
queue at 16 and 64 clients; the court queue drained by 16 clerks (every case claimed exactly once,
checked in SQL); the embedded SQLite default (create and transition at 16 clients); the API
process's resident size afterwards; the deadline sweep (``bench/sweep.py``, run as is); a
town's inbox with 100,000 items behind it, API and page (``bench/inbox.py``, run as is); and
statistics and search at city scale, ten years of cases (``bench/city.py``, run as is).

Results go to ``bench/results/`` (JSON and Markdown, git-ignored); docs/benchmarks.md keeps the
reference run. Not part of the test run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import json
import math
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx

from bench.common import asyncpg_url, sqlalchemy_url, tally_off, throwaway_database
from bench.load import CREATE_BODY, percentile
from bench.moj import moj_part

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
JIEFEN = str(Path(sys.executable).parent / "jiefen")
PGBENCH_SCRIPT = ROOT / "bench" / "pgbench_transition.sql"
# The transition's whole database work (the read, then the write with its clock): how much of
# the gap to pgbench is PostgreSQL's work and how much the service's Python.
PGBENCH_WHOLE_SCRIPT = ROOT / "bench" / "pgbench_transition_whole.sql"
VILLAGE = "320583106005"  # 大市社区: the benchmark mediator's station
# The listed station: 周巷社区, next to 大市 in the same town. Nothing in the run writes there, so its
# size is the same in every run (the mediator's own station grows with the create phase, and a
# list counts its station's cases on every page).
LIST_STATION = "320583106009"
LIST_STATION_CASES = 10_000  # a busy station's several years of cases
PASSWORD = "Bench-Passw0rd!2026"
PARTS = ("pgbench", "http", "transitions", "court", "sqlite", "sweep", "inbox", "moj", "city")
# "transitions": only the HTTP transitions (with pgbench beside them when asked): the tuning loop.


@dataclass
class Sizes:
    seconds: float  # per HTTP scenario and per pgbench run
    warmup: float
    background: int  # open cases loaded before the HTTP runs (bulk SQL)
    drain: int  # referred cases the 16 clerks drain
    claim_pool: int  # referred cases behind the bounded 64-clerk claim run
    sweep_cases: int
    sweep_due: int
    max_requests: int = 500_000
    inbox_items: int = 100_000  # behind one town's inbox
    inbox_cases: int = 200_000
    city_cases: int = 1_000_000  # ten years of a city's cases on PostgreSQL (bench/city.py)
    city_sqlite_cases: int = 50_000  # the same pages on the embedded default


QUICK = Sizes(
    seconds=5,
    warmup=1,
    background=20_000,
    drain=1_000,
    claim_pool=15_000,
    sweep_cases=20_000,
    sweep_due=500,
    inbox_items=10_000,
    inbox_cases=20_000,
    city_cases=20_000,
    city_sqlite_cases=5_000,
)
FULL = Sizes(
    seconds=15,
    warmup=3,
    background=100_000,
    drain=10_000,
    claim_pool=40_000,
    sweep_cases=1_000_000,
    sweep_due=10_000,
)


@dataclass
class Row:
    benchmark: str
    clients: int | None = None
    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int | None = None
    measured: str = ""
    target: str = ""
    passed: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    loads: list[tuple[str, str]] = field(default_factory=list)  # (when, /proc/loadavg)
    headline: str = ""
    notes: list[str] = field(default_factory=list)

    def load(self, when: str) -> None:
        avg = Path("/proc/loadavg").read_text().split()[:3]
        self.loads.append((when, " ".join(avg)))
        print(f"[{time.strftime('%H:%M:%S')}] {when}: load average {' '.join(avg)}", flush=True)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- machine -----------------------------------------------------------------------------------


def git_state() -> str:
    """The commit measured, and whether the working tree had changes (benchmarks run on what is there)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "service", "workflows"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}{' + uncommitted changes in service/ or workflows/' if dirty else ''}"


def machine(pg_settings: dict[str, str]) -> dict[str, Any]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": pg_settings,
    }


async def pg_settings(admin_url: str) -> dict[str, str]:
    conn = await asyncpg.connect(admin_url)
    try:
        version = await conn.fetchval("SHOW server_version")
        rows = await conn.fetch(
            "SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1::text[])",
            ["shared_buffers", "max_connections", "synchronous_commit", "fsync", "work_mem", "max_wal_size"],
        )
    finally:
        await conn.close()
    settings = {"version": str(version)}
    for r in rows:
        settings[r["name"]] = f"{r['setting']}{' × ' + r['unit'] if r['unit'] else ''}"
    return settings


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def postgres_ticks() -> dict[int, int]:
    """CPU ticks of every PostgreSQL server process on the machine (backends, walwriter, …)."""
    ticks = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = Path(stat).read_text()
            if "(postgres)" in text:
                fields = text.rsplit(")", 1)[1].split()
                ticks[int(stat.split("/")[2])] = int(fields[11]) + int(fields[12])
    return ticks


class PostgresCpu:
    """PostgreSQL's CPU seconds while a load runs, its backends sampled every 0.1 s: pgbench's
    connections end with its run, so a process is counted up to its last sample."""

    def __init__(self) -> None:
        self.before = postgres_ticks()
        self.last = dict(self.before)
        self._task = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            self.last.update(postgres_ticks())

    async def seconds(self) -> float:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.last.update(postgres_ticks())
        ticks = sum(t - self.before.get(pid, 0) for pid, t in self.last.items())
        return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[int, int]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants (uvicorn's workers under ``--workers``)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for children in glob.glob(f"/proc/{current}/task/*/children"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in Path(children).read_text().split()]
    return found


def rss_mib(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return rss / 1024, hwm / 1024


# --- databases ---------------------------------------------------------------------------------


@dataclass
class Accounts:
    mediator: str  # token
    clerks: list[str]  # tokens, one clerk each
    lister: str = ""  # token of a mediator at LIST_STATION


async def prepare(url: str, data_key: str, audit_key: str, clerks: int) -> tuple[Accounts, Any]:
    """Schema and units the service's way, plus machine tokens for a mediator at VILLAGE, one at
    LIST_STATION and ``clerks`` court clerks."""
    from service import clock, migrate
    from service.config.settings import Settings
    from service.integrity.backfill import sign_trail
    from service.main import engine_for, load_context
    from service.units.sync import sync_units
    from service.users.service import create_user, issue_machine_token

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
        await sign_trail(engine, now=clock.now())  # as `jiefen migrate`: the key's fingerprint
        await sync_units(engine, ctx.org)
        desk = ctx.org.court_desk()
        assert desk is not None
        now = clock.now()
        async with engine.begin() as conn:

            async def machine_user(username: str, role: str, unit_code: str) -> str:
                """An account and its machine token (what another system would be given)."""
                await create_user(
                    conn,
                    username=username,
                    password=PASSWORD,
                    role=role,
                    unit_code=unit_code,
                    org=ctx.org,
                    now=now,
                )
                return await issue_machine_token(conn, username, "bench", now=now, expires_at=None)

            mediator = await machine_user("bench-mediator", "mediator", VILLAGE)
            lister = await machine_user("bench-lister", "mediator", LIST_STATION)
            tokens = [
                await machine_user(f"bench-clerk-{i:02d}", "court_clerk", desk.code) for i in range(clerks)
            ]
    finally:
        await engine.dispose()
    return Accounts(mediator, tokens, lister), ctx


def triage_json(ctx: Any) -> str:
    from service.cases.schemas import CaseCreate
    from service.cases.service import decide

    return json.dumps(decide(ctx, CaseCreate.model_validate(CREATE_BODY)).as_dict(), ensure_ascii=False)


BACKGROUND = """
INSERT INTO cases (id, number, dispute_type, summary, location_code, amount_yuan, people_involved,
    flag_cross_area, flag_criminal_risk, flag_group_dispute, flag_repeat_petition, source, risk,
    unit_code, tier, channel, state, returns_to_code, court_linked, triage, registered_by,
    registered_unit_code, version, created_at, updated_at)
SELECT g, 'KS-B-' || lpad(g::text, 7, '0'), 'NEIGHBOUR', '邻里纠纷 (benchmark)', v.code, 3000, 2,
    false, false, false, false, 'application', 'green', v.code, 'village', 'people', 'mediating',
    v.town, false, $6::jsonb, 'bench', v.code, 1, $1::timestamptz - g * interval '1 minute',
    $1::timestamptz - g * interval '1 minute'
FROM generate_series(1, $2) AS g
JOIN (SELECT code, town, row_number() OVER () - 1 AS i
      FROM unnest($3::text[], $4::text[]) AS u(code, town)) v ON v.i = g % $5
"""


async def load_background(dsn: str, ctx: Any, cases: int, now: datetime) -> None:
    """Open mediating cases at every village station, each with its created event and a running
    people's-mediation clock; ids 1..cases are also the rows pgbench updates."""
    from workflows.org import UnitKind

    villages = sorted(u.code for u in ctx.org.of_kind(UnitKind.village_station))
    towns = {v: t.code for v in villages if (t := ctx.org.town_of(v)) is not None}
    villages = [v for v in villages if v in towns]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET synchronous_commit = off")  # loading only
        async with tally_off(conn):
            await conn.execute(
                BACKGROUND,
                now,
                cases,
                villages,
                [towns[v] for v in villages],
                len(villages),
                triage_json(ctx),
            )
            # LIST_STATION_CASES more at the listed station (ids after the background's), so that
            # it holds the same number of cases in every run.
            town = towns[LIST_STATION]
            await conn.execute(
                BACKGROUND.replace("SELECT g, 'KS-B-'", "SELECT $7::int + g, 'KS-L-'"),
                now,
                LIST_STATION_CASES,
                [LIST_STATION],
                [town],
                1,
                triage_json(ctx),
                cases,
            )
            await conn.execute(
                "SELECT setval(pg_get_serial_sequence('cases', 'id'), $1)", cases + LIST_STATION_CASES
            )
            await conn.execute(
                """
                INSERT INTO case_event (case_id, seq, at, kind, actor, actor_role, actor_unit_code, to_state,
                    to_unit_code, payload)
                SELECT id, 1, created_at, 'created', 'bench', 'mediator', unit_code, 'mediating', unit_code,
                    '{}'::jsonb
                FROM cases
                """
            )
            await conn.execute(
                """
                INSERT INTO deadline (case_id, kind, unit_code, status, started_at, due_at, warn_at, warnings,
                    extensions)
                SELECT id, 'people_mediation', unit_code, 'active', created_at, created_at + interval '30 days',
                    NULL, '[]'::jsonb, '[]'::jsonb
                FROM cases
                """
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def chain_loaded_events(url: str, audit_key: str) -> int:
    """Sign the bulk-loaded events' chains with the audit key the servers are given, the service's
    way (``chain_unchained_cases``), so that the trail they start on verifies."""
    from service.config.settings import Settings
    from service.integrity.backfill import chain_unchained_cases
    from service.main import engine_for

    engine = engine_for(Settings(database_url=url, audit_key=audit_key))
    try:
        return await chain_unchained_cases(engine)
    finally:
        await engine.dispose()


async def caught_up(dsn: str, report: Report, when: str) -> None:
    """``VACUUM (ANALYZE)`` where autovacuum would have caught up in production. This machine's
    PostgreSQL (a CI configuration) runs with ``autovacuum = off``: without this, the dead rows
    of the bulk loads, the start-up backfill and the runs before pile up, the visibility map stays
    empty, and counts and index scans of later phases read the heap instead. pgbench and the
    service meet the same tables."""
    conn = await asyncpg.connect(dsn)
    try:
        autovacuum = await conn.fetchval("SHOW autovacuum")
        if autovacuum == "on":
            return
        t0 = time.perf_counter()
        await conn.execute("VACUUM (ANALYZE)")
        log(f"VACUUM (ANALYZE) {when} (autovacuum is off here): {time.perf_counter() - t0:.1f} s")
    finally:
        await conn.close()


async def load_referred(dsn: str, ctx: Any, count: int, batch: str, now: datetime) -> list[int]:
    """``count`` cases waiting in the court queue (referred, at the court desk), each with its
    created event; returns their ids."""
    desk = ctx.org.court_desk()
    conn = await asyncpg.connect(dsn)
    try:
        ids = await conn.fetch(
            """
            INSERT INTO cases (number, dispute_type, summary, location_code, amount_yuan, people_involved,
                flag_cross_area, flag_criminal_risk, flag_group_dispute, flag_repeat_petition, source, risk,
                unit_code, tier, channel, state, returns_to_code, court_linked, priority, queued_at, triage,
                registered_by, registered_unit_code, version, created_at, updated_at)
            SELECT 'KS-Q' || $5 || '-' || lpad(g::text, 6, '0'), 'NEIGHBOUR', '移送法院 (benchmark)', $3,
                3000, 2, false, false, false, false, 'application', 'green', $4, 'city', 'judicial',
                'referred', $3, true, g % 4, $1::timestamptz - (g % 977) * interval '1 minute', $2::jsonb, 'bench', $3, 1,
                $1, $1
            FROM generate_series(1, $6) AS g
            RETURNING id
            """,
            now,
            triage_json(ctx),
            VILLAGE,
            desk.code,
            batch,
            count,
        )
        await conn.execute(
            """
            INSERT INTO case_event (case_id, seq, at, kind, actor, actor_role, actor_unit_code, to_state,
                to_unit_code, payload)
            SELECT id, 1, created_at, 'created', 'bench', 'mediator', $2, 'referred', unit_code, '{}'::jsonb
            FROM cases WHERE id = ANY($1::bigint[])
            """,
            [r["id"] for r in ids],
            VILLAGE,
        )
        await conn.execute("ANALYZE cases")
    finally:
        await conn.close()
    return [int(r["id"]) for r in ids]


# --- the server and the load generator ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Server:
    """``jiefen serve --no-demo`` on loopback, as an operator starts it."""

    def __init__(self, env: dict[str, str], logfile: Path, workers: int = 1) -> None:
        self.workers = workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("JIEFEN_")} | {
            "JIEFEN_RUN_SCHEDULER": "false",
            "JIEFEN_ACCESS_LOG": "false",
            "JIEFEN_LOG_LEVEL": "WARNING",
            **env,
        }
        self.logfile = logfile
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def api_pids(self) -> list[int]:
        """The processes that answer requests: the server itself, or uvicorn's workers."""
        tree = process_tree(self.pid)
        if len(tree) == 1:
            return tree
        workers = []
        for pid in tree:
            with contextlib.suppress(OSError):
                if pid != self.pid and b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                    workers.append(pid)
        return workers

    def spawn(self) -> subprocess.Popen[bytes]:
        out = self.logfile.open("wb")
        return subprocess.Popen(
            [JIEFEN, "serve", "--no-demo", "--host", "127.0.0.1", "--port", str(self.port)]
            + (["--workers", str(self.workers)] if self.workers > 1 else []),
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )

    async def start(self) -> None:
        self.process = self.spawn()
        deadline = time.monotonic() + 120
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"jiefen serve exited: {self.logfile.read_text()[-2000:]}")
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get(f"{self.base}/readyz", timeout=1)).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise RuntimeError("jiefen serve did not become ready within 120 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Fleet:
    """N replicas of ``jiefen serve`` on one database, as docker-compose runs them; the load
    generator spreads its clients round-robin over them (as nginx does, without the proxy)."""

    def __init__(self, servers: list[Server]) -> None:
        self.servers = servers

    @property
    def base(self) -> str:
        return self.servers[0].base

    @property
    def pid(self) -> int:
        return self.servers[0].pid

    @property
    def ports(self) -> list[int]:
        return [s.port for s in self.servers]

    def api_pids(self) -> list[int]:
        return [p for s in self.servers for p in s.api_pids()]

    async def start(self) -> None:
        for server in self.servers:  # one after another: each migrates and backfills on start
            await server.start()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def rss_row(self, label: str) -> Row:
        sizes = [rss_mib(p) for p in self.api_pids()]
        rss, hwm = max(s[0] for s in sizes), max(s[1] for s in sizes)
        each = f", largest of {len(sizes)}" if len(sizes) > 1 else ""
        log(f"API process RSS {rss:.0f} MiB (peak {hwm:.0f} MiB){each}")
        return Row(
            f"RSS of one API process after the runs ({label})",
            measured=f"{rss:.0f} MiB (peak {hwm:.0f} MiB){each}",
            target="(no target)",
            extra={"rss_mib": [s[0] for s in sizes], "hwm_mib": [s[1] for s in sizes]},
        )


async def run_load(fleet: Fleet, spec: dict[str, Any], *, postgres: bool = True) -> dict[str, Any]:
    """Run one scenario in a separate generator process; adds the API's, PostgreSQL's (unless the
    fleet runs on SQLite) and the machine's CPU use."""
    spec = {"host": "127.0.0.1", "ports": fleet.ports, **spec}
    pids = fleet.api_pids()
    each0 = {p: cpu_ticks(p) for p in pids}
    pg_watch = PostgresCpu() if postgres else None
    (busy0, total0), wall0 = machine_busy(), time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.load",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    out, err = await proc.communicate(json.dumps(spec).encode())
    wall = time.perf_counter() - wall0
    busy1, total1 = machine_busy()
    pg_cpu = await pg_watch.seconds() if pg_watch else 0.0  # stops the watcher even when the generator failed
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed: {err.decode()[-3000:]}")
    result: dict[str, Any] = json.loads(out)
    hz = os.sysconf("SC_CLK_TCK")
    each = [(cpu_ticks(p) - t) / hz / wall * 100 for p, t in each0.items()]
    result["api_cpu_pct"] = sum(each)
    # CPU per request, warm-up included (the CPU figures cover the generator's whole run).
    answered = max(result["answered"], 1)
    result["api_cpu_ms_per_request"] = sum(each) / 100 * wall / answered * 1000
    result["postgres_cpu_ms_per_request"] = pg_cpu / answered * 1000 if postgres else None
    # Per process: keep-alive connections stay where they were accepted, so load can be uneven.
    result["api_cpu_pct_each"] = [round(e) for e in each]
    result["machine_busy_pct"] = (busy1 - busy0) / max(total1 - total0, 1) * 100
    result["generator_cpu_pct"] = result["generator_cpu_s"] / max(result["elapsed_s"], 1e-9) * 100
    log(
        f"{spec['scenario']:<10} {result['clients']:>3} clients: {result['rps']:7.1f} req/s  "
        f"p50 {result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:6.1f} ms  errors {result['errors']}  "
        f"(API CPU {result['api_cpu_pct']:.0f} % = {' + '.join(map(str, result['api_cpu_pct_each']))}, "
        f"generator {result['generator_cpu_pct']:.0f} %, "
        f"machine busy {result['machine_busy_pct']:.0f} %; CPU per request: {per_request(result)})"
    )
    for sample in result["error_samples"]:
        log(f"    error: {sample}")
    return result


def per_request(result: dict[str, Any]) -> str:
    """The API's CPU per request, and PostgreSQL's when the service ran on it."""
    text = f"API {result['api_cpu_ms_per_request']:.2f} ms"
    if result["postgres_cpu_ms_per_request"] is not None:
        text += f", PostgreSQL {result['postgres_cpu_ms_per_request']:.2f} ms"
    return text


def http_row(label: str, result: dict[str, Any], *, p99_target: float | None) -> Row:
    errors = int(result["errors"])
    target = "0 errors" if p99_target is None else f"p99 < {p99_target:g} ms, 0 errors"
    passed = errors == 0 and (p99_target is None or result["p99_ms"] < p99_target)
    return Row(
        label,
        result["clients"],
        result["rps"],
        result["p50_ms"],
        result["p99_ms"],
        errors,
        measured=f"API CPU {result['api_cpu_pct']:.0f} %; CPU per request: {per_request(result)}",
        target=target,
        passed=passed,
        extra={k: v for k, v in result.items() if k not in ("states", "created_ids", "claimed_ids")},
    )


P99_TARGET = {16: 50.0, 64: 150.0}
# Transitions over HTTP against pgbench doing a transition's whole database work
# (bench/pgbench_transition_whole.sql), at the same client count in the same minutes.
WHOLE_WORK_FLOOR = 0.15


async def open_cases_for_transitions(server: Fleet, token: str, count: int) -> list[dict[str, Any]]:
    """One case per client, opened and accepted over HTTP (so it has its clock): state mediating."""
    headers = {"Authorization": f"Bearer {token}"}
    states = []
    async with httpx.AsyncClient(base_url=server.base, headers=headers, timeout=30) as client:
        for _ in range(count):
            created = await client.post("/api/v1/cases", json=CREATE_BODY)
            assert created.status_code == 201, created.text
            case = created.json()
            accepted = await client.post(
                f"/api/v1/cases/{case['id']}/transitions",
                json={
                    "trigger": "accept",
                    "consents": [
                        {"party_id": p["id"], "manner": "in_person", "on": "2026-03-02"}
                        for p in case["parties"]
                    ],
                },
                headers={"If-Match": created.headers["ETag"]},
            )
            assert accepted.status_code == 200, accepted.text
            body = accepted.json()
            assert body["state"] == "mediating", body["state"]
            states.append(
                {"token": token, "case_id": body["id"], "version": body["version"], "state": "mediating"}
            )
    return states


# Where a request's samples go, decided per stack in this order (the first that matches).
PROFILE_CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("pool pre-ping (BEGIN + ROLLBACK per checkout)", ("_async_ping",)),
    ("BEGIN / COMMIT / ROLLBACK", ("asyncpg/transaction.py", "_start_transaction", "AsyncTransaction.")),
    ("socket send: a round trip to PostgreSQL", ("selector_events.py:10",)),
    ("SQLAlchemy: building and compiling statements", ("sqlalchemy/sql/",)),
    ("SQLAlchemy engine + asyncpg: executing, results", ("sqlalchemy/", "asyncpg/")),
    ("pydantic: validating and serialising", ("pydantic",)),
    ("FastAPI dependencies (sync ones run in a thread)", ("solve_dependencies", "run_in_threadpool")),
]


OUR_FILES = {p.name for d in ("service", "workflows") for p in (ROOT / d).rglob("*.py")}


def _ours(frame: str) -> bool:
    """A frame in service/ or workflows/ (py-spy shortens some paths to the file name)."""
    where = frame.rpartition(" (")[2].rstrip(")")
    return where.startswith(("service/", "workflows/")) or ("/" not in where and where in OUR_FILES)


def summarise_profile(raw: Path, top: int = 25) -> str:
    """py-spy's collapsed stacks → where request handling spends its samples: by category, and
    the service's own functions (inclusive). Only stacks inside a request (uvicorn's run_asgi)."""
    categories: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit() or "run_asgi" not in stack:
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        label = "other (service code, FastAPI, Starlette, uvicorn, event loop)"
        for name, needles in PROFILE_CATEGORIES:
            if any(n in stack for n in needles):
                label = name
                break
        categories[label] = categories.get(label, 0) + count
        names = {re.sub(r":\d+\)$", ")", f) for f in frames}
        for frame in {f for f in names if _ours(f)}:
            inclusive[frame] = inclusive.get(frame, 0) + count
    if not total:
        return "profile: no samples inside requests"
    lines = [f"py-spy, API process(es), inside requests: {total} samples", "by category:"]
    lines += [f"  {n / total:6.1%}  {k}" for k, n in sorted(categories.items(), key=lambda kv: -kv[1])]
    lines.append("service functions, inclusive:")
    lines += [f"  {n / total:6.1%}  {k}" for k, n in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]]
    return "\n".join(lines)


async def profiled(server: Fleet, spec: dict[str, Any], seconds: float) -> dict[str, Any]:
    """Run a scenario while py-spy samples the API process (needs `pip install py-spy`)."""
    name = spec["scenario"]
    raw = RESULTS / f"profile-{name}.txt"
    spy = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "py-spy"),
        "record",
        "--nonblocking",
        "--format",
        "raw",
        "-r",
        "200",
        "-d",
        str(max(1, round(seconds))),
        "-o",
        str(raw),
        "--subprocesses",
        "--pid",
        str(server.pid),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    result = await run_load(server, spec)
    await spy.wait()
    summary = summarise_profile(raw)
    (RESULTS / f"profile-{name}-summary.txt").write_text(summary + "\n")
    log(f"profile written to bench/results/profile-{name}-summary.txt")
    return result


async def measured(
    server: Fleet, spec: dict[str, Any], sizes: Sizes, profile: str | None, *, first: bool
) -> dict[str, Any]:
    """One scenario's load; py-spy watches the first run of the scenario named by --profile."""
    if first and profile == spec["scenario"]:
        return await profiled(server, spec, sizes.seconds + sizes.warmup)
    return await run_load(server, spec)


# --- pgbench -----------------------------------------------------------------------------------


def read_pgbench_logs(prefix: str) -> list[float]:
    """Per-transaction latencies in ms from pgbench's -l logs (third field: µs)."""
    latencies: list[float] = []
    for path in glob.glob(prefix + ".*"):
        with open(path) as f:
            for line in f:
                fields = line.split()
                if len(fields) >= 3 and fields[2].isdigit():
                    latencies.append(int(fields[2]) / 1000)
    return latencies


def pgbench_command(
    admin: str, db: str, *, whole: bool, first: int, last: int, clients: int, run: list[str]
) -> list[str]:
    """pgbench with one of the transition scripts on cases ``first``..``last``; ``run`` says how
    long (``["-T", "15"]``) or how many (``["-t", "1"]``)."""
    parts = urlsplit(admin)
    return [
        "pgbench",
        "-n",
        "-h",
        parts.hostname or "127.0.0.1",
        "-p",
        str(parts.port or 5432),
        "-U",
        parts.username or "postgres",
        "-f",
        str(PGBENCH_WHOLE_SCRIPT if whole else PGBENCH_SCRIPT),
        "-D",
        f"first={first}",
        "-D",
        f"last={last}",
        "-c",
        str(clients),
        "-j",
        str(min(2, clients)),
        *run,
        "-M",
        "prepared",
        db,
    ]


async def pgbench(
    admin: str, db: str, clients: int, seconds: float, ncases: int, *, whole: bool = False
) -> dict[str, Any]:
    """pgbench at ``clients`` clients. The write alone updates the first half of the seeded cases,
    the whole transition (``whole``) the second half, so that each finds its cases' clocks as it
    left them."""
    half = ncases // 2
    first, last = (half + 1, ncases) if whole else (1, half)
    parts = urlsplit(admin)
    with tempfile.TemporaryDirectory(prefix="jiefen-pgbench-") as tmp:
        prefix = str(Path(tmp) / "pgbench_log")
        cmd = pgbench_command(
            admin,
            db,
            whole=whole,
            first=first,
            last=last,
            clients=clients,
            run=["-T", str(max(1, round(seconds))), "-l", f"--log-prefix={prefix}"],
        )
        busy0, total0 = machine_busy()
        pg_watch = PostgresCpu()
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, **({"PGPASSWORD": parts.password} if parts.password else {})},
        )
        out_bytes, _ = await proc.communicate()
        busy1, total1 = machine_busy()
        pg_cpu = await pg_watch.seconds()  # stops the watcher even when pgbench failed
        out = out_bytes.decode()
        if proc.returncode != 0:
            raise RuntimeError(f"pgbench failed:\n{out[-3000:]}")
        latencies = read_pgbench_logs(prefix)
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    result = {
        "clients": clients,
        "whole": whole,
        "tps": float(tps.group(1)) if tps else math.nan,
        "failed": int(failed.group(1)) if failed else 0,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "transactions": len(latencies),
        "machine_busy_pct": (busy1 - busy0) / max(total1 - total0, 1) * 100,
        "postgres_cpu_ms_per_transaction": pg_cpu / max(len(latencies), 1) * 1000,
        "command": " ".join(cmd),
    }
    log(
        f"pgbench    {clients:>3} clients: {result['tps']:7.1f} tps    p50 {result['p50_ms']:6.1f} ms  "
        f"p99 {result['p99_ms']:6.1f} ms  failed {result['failed']}  (machine busy {result['machine_busy_pct']:.0f} %; "
        f"PostgreSQL {result['postgres_cpu_ms_per_transaction']:.2f} ms CPU per transaction)"
    )
    return result


# --- the PostgreSQL part -----------------------------------------------------------------------


async def postgres_part(opts: argparse.Namespace, sizes: Sizes, parts: set[str], report: Report) -> None:
    from service import clock
    from service.audit.keys import new_key_text
    from service.personal.crypto import new_key_line

    admin: str = opts.pg
    data_key = new_key_line()
    audit_key = new_key_text()
    async with throwaway_database(admin, opts.keep) as db:
        url = sqlalchemy_url(admin, db)
        dsn = asyncpg_url(admin, db)
        log(f"preparing {db}: schema, units, users")
        accounts, ctx = await prepare(url, data_key, audit_key, clerks=64 if "http" in parts else 16)
        now = clock.now()
        t0 = time.perf_counter()
        await load_background(dsn, ctx, sizes.background, now)
        log(f"loaded {sizes.background:,} open cases in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        chained = await chain_loaded_events(url, audit_key)
        log(f"chained the audit trail of {chained:,} loaded cases in {time.perf_counter() - t0:.1f} s")

        server: Fleet | None = None
        if parts & {"http", "transitions", "court"}:
            env = {"JIEFEN_DATABASE_URL": url, "JIEFEN_DATA_KEY": data_key, "JIEFEN_AUDIT_KEY": audit_key}
            server = Fleet(
                [
                    Server(env, RESULTS / f"server-postgresql-{i}.log", workers=opts.workers)
                    for i in range(opts.replicas)
                ]
            )
            await server.start()
            log(
                f"{opts.replicas} × jiefen serve (--workers {opts.workers}) on PostgreSQL, "
                f"pids {server.api_pids()}, ports {server.ports}"
            )
        try:
            if server is not None and parts & {"http", "transitions"}:
                await http_scenarios(
                    server,
                    accounts,
                    sizes,
                    report,
                    admin,
                    db,
                    "pgbench" in parts,
                    ctx,
                    opts.profile,
                    transitions_only="http" not in parts,
                )
            elif "pgbench" in parts:
                report.load("before pgbench")
                for clients in (16, 64):
                    for whole in (False, True):
                        result = await pgbench(
                            admin, db, clients, sizes.seconds, sizes.background, whole=whole
                        )
                        report.rows.append(pgbench_row(result))
            if server is not None and "court" in parts:
                await court_drain(server, accounts, sizes, report, dsn, ctx)
            if server is not None:
                report.rows.append(server.rss_row("PostgreSQL"))
        finally:
            if server is not None:
                server.stop()


def pgbench_row(result: dict[str, Any]) -> Row:
    label = (
        "pgbench: the transition's whole database work (read, then write with its clock)"
        if result["whole"]
        else "pgbench: the transition write (raw limit)"
    )
    return Row(
        label,
        result["clients"],
        result["tps"],
        result["p50_ms"],
        result["p99_ms"],
        result["failed"],
        measured=(
            f"machine busy {result['machine_busy_pct']:.0f} %; PostgreSQL "
            f"{result['postgres_cpu_ms_per_transaction']:.2f} ms CPU per transaction"
        ),
        target="(reference)",
        extra=result,
    )


def ratio_row(label: str, clients: int, ratio: float, *, target: float | None = None) -> Row:
    return Row(
        label,
        clients,
        measured=f"{ratio:.0%}",
        target="(no target)" if target is None else f"≥ {target:.0%}".replace("%", " %"),
        passed=None if target is None else ratio >= target,
        extra={"ratio": ratio},
    )


async def http_scenarios(
    server: Fleet,
    accounts: Accounts,
    sizes: Sizes,
    report: Report,
    admin: str,
    db: str,
    with_pgbench: bool,
    ctx: Any,
    profile: str | None,
    transitions_only: bool = False,
) -> None:
    base_spec = {"duration": sizes.seconds, "warmup": sizes.warmup, "max_requests": sizes.max_requests}
    mediator = accounts.mediator

    # Transitions first, each right after pgbench at the same client count: the headline ratio.
    dsn = asyncpg_url(admin, db)
    await caught_up(dsn, report, "before the transitions")
    report.load("before transitions (pgbench + HTTP)")
    states = await open_cases_for_transitions(server, mediator, 64)
    for clients in (16, 64):
        bench_result = whole_result = None
        if with_pgbench:
            bench_result = await pgbench(admin, db, clients, sizes.seconds, sizes.background)
            report.rows.append(pgbench_row(bench_result))
            whole_result = await pgbench(admin, db, clients, sizes.seconds, sizes.background, whole=True)
            report.rows.append(pgbench_row(whole_result))
        spec = {**base_spec, "scenario": "transition", "clients": states[:clients]}
        result = await measured(server, spec, sizes, profile, first=clients == 16)
        states[:clients] = result["states"]
        report.rows.append(
            http_row("HTTP transition (suspend/resume, If-Match)", result, p99_target=P99_TARGET[clients])
        )
        if bench_result is not None:
            # Not a target: the write-only statement is a fraction of what a transition does.
            ratio = result["rps"] / bench_result["tps"] if bench_result["tps"] else math.nan
            report.rows.append(ratio_row("ratio service / pgbench write only, transitions", clients, ratio))
        if whole_result is not None:
            # The floor: the service against PostgreSQL doing the transition's whole database work.
            whole_ratio = result["rps"] / whole_result["tps"] if whole_result["tps"] else math.nan
            report.rows.append(
                ratio_row(
                    "ratio service / its whole database work, transitions",
                    clients,
                    whole_ratio,
                    target=WHOLE_WORK_FLOOR,
                )
            )
            if clients == 16:
                report.headline = (
                    f"HEADLINE: transitions over HTTP reach {whole_ratio:.0%} of pgbench doing their whole "
                    f"database work in the same run (16 clients: {result['rps']:.0f} req/s vs "
                    f"{whole_result['tps']:.0f} tps; floor ≥ {WHOLE_WORK_FLOOR:.0%}: "
                    f"{'PASS' if whole_ratio >= WHOLE_WORK_FLOOR else 'FAIL'})"
                )
    # The floor: a route that does nothing, through the same stack, in the same minutes.
    spec = {**base_spec, "scenario": "floor", "clients": [{"token": mediator}] * 16}
    result = await run_load(server, spec)
    report.rows.append(http_row("HTTP floor: GET /healthz (no token, no database)", result, p99_target=None))
    if transitions_only:
        return

    await caught_up(dsn, report, "before create")
    report.load("before create/read/list")
    created: list[int] = []
    for clients in (16, 64):
        clients_spec = [{"token": mediator}] * clients
        spec = {**base_spec, "scenario": "create", "clients": clients_spec}
        result = await measured(server, spec, sizes, profile, first=clients == 16)
        created += result.get("created_ids", [])
        report.rows.append(http_row("HTTP create case", result, p99_target=P99_TARGET[clients]))
    ids = created[:5000] or [s["case_id"] for s in states]
    await caught_up(dsn, report, "after the creates")
    for clients in (16, 64):
        clients_spec = [{"token": mediator, "ids": ids}] * clients
        spec = {**base_spec, "scenario": "read", "clients": clients_spec}
        result = await measured(server, spec, sizes, profile, first=clients == 16)
        report.rows.append(http_row("HTTP read case", result, p99_target=P99_TARGET[clients]))
    conn = await asyncpg.connect(dsn)
    try:
        listed = await conn.fetchval("SELECT count(*) FROM cases WHERE unit_code = $1", LIST_STATION)
    finally:
        await conn.close()
    for clients in (16, 64):
        clients_spec = [{"token": accounts.lister}] * clients
        spec = {**base_spec, "scenario": "list", "clients": clients_spec, "unit": LIST_STATION}
        result = await measured(server, spec, sizes, profile, first=clients == 16)
        label = f"HTTP list a unit's cases (20 of {listed:,} at {LIST_STATION})"
        report.rows.append(http_row(label, result, p99_target=P99_TARGET[clients]))

    # Claims at 16 clerks are the court-queue drain (below); here 64 clerks on a full queue.
    from service import clock

    report.load("before claims (64 clerks)")
    await load_referred(dsn, ctx, sizes.claim_pool, "P", clock.now())
    await caught_up(dsn, report, "after loading the court queue")
    clerks = [{"token": t} for t in accounts.clerks[:64]]
    result = await measured(
        server, {**base_spec, "scenario": "claim", "clients": clerks}, sizes, profile, first=True
    )
    if result["empty"]:
        result["errors"] += result["empty"]
        result["error_samples"].append(f"the queue ran dry ({result['empty']} × 204): seed more cases")
    report.rows.append(http_row("HTTP claim from the court queue", result, p99_target=P99_TARGET[64]))
    # Leave the queue empty for the drain.
    conn = await asyncpg.connect(asyncpg_url(admin, db))
    try:
        await conn.execute("UPDATE cases SET state = 'closed' WHERE state = 'referred'")
    finally:
        await conn.close()


async def court_drain(
    server: Fleet, accounts: Accounts, sizes: Sizes, report: Report, dsn: str, ctx: Any
) -> None:
    from service import clock

    report.load("before the court queue drain")
    ids = await load_referred(dsn, ctx, sizes.drain, "D", clock.now())
    await caught_up(dsn, report, "after loading the drain's queue")
    clerks = [{"token": t} for t in accounts.clerks[:16]]
    spec = {
        "scenario": "claim",
        "clients": clerks,
        "duration": 3600,
        "drain": True,
        "max_requests": sizes.drain * 2,
    }
    result = await run_load(server, spec)
    claimed = result["claimed_ids"]
    conn = await asyncpg.connect(dsn)
    try:
        events = await conn.fetchval(
            "SELECT count(*) FROM case_event WHERE trigger = 'claim' AND case_id = ANY($1::bigint[])", ids
        )
        twice = await conn.fetchval(
            """SELECT count(*) FROM (SELECT case_id FROM case_event WHERE trigger = 'claim'
               AND case_id = ANY($1::bigint[]) GROUP BY case_id HAVING count(*) > 1) x""",
            ids,
        )
        left = await conn.fetchval("SELECT count(*) FROM cases WHERE state = 'referred'")
        holders = await conn.fetchval(
            "SELECT count(DISTINCT claimed_by) FROM cases WHERE id = ANY($1::bigint[])", ids
        )
    finally:
        await conn.close()
    double = (len(claimed) - len(set(claimed))) + int(twice)
    complete = len(set(claimed)) == len(ids) and int(events) == len(ids) and int(left) == 0
    log(
        f"court drain: {len(claimed):,} claims answered, {events:,} claim events for {len(ids):,} cases, "
        f"{twice} cases claimed twice, {left} left in the queue, {holders} clerks hold cases"
    )
    row = http_row(
        f"court queue drained by 16 clerks ({sizes.drain:,} cases), claims", result, p99_target=None
    )
    row.measured = f"{double} double claims; {len(set(claimed)):,}/{len(ids):,} claimed"
    row.target = "0 double claims, all claimed, 0 errors"
    row.passed = double == 0 and complete and result["errors"] == 0
    row.extra.update(claim_events=int(events), cases_claimed_twice=int(twice), left_in_queue=int(left))
    report.rows.append(row)


# --- SQLite ------------------------------------------------------------------------------------


async def sqlite_part(sizes: Sizes, report: Report) -> None:
    with tempfile.TemporaryDirectory(prefix="jiefen-bench-sqlite-") as tmp:
        data_dir = Path(tmp)
        from service.audit.keys import new_key_text
        from service.personal.crypto import new_key_line

        key, audit_key = new_key_line(), new_key_text()
        for name, text in (("data.key", key), ("audit.key", audit_key)):
            (data_dir / name).write_text(text + "\n")
            os.chmod(data_dir / name, 0o600)
        url = f"sqlite+aiosqlite:///{data_dir / 'jiefen.db'}"
        accounts, _ = await prepare(url, key, audit_key, clerks=0)
        server = Fleet([Server({"JIEFEN_DATA_DIR": str(data_dir)}, RESULTS / "server-sqlite.log")])
        await server.start()
        log(f"jiefen serve on SQLite ({data_dir}), pid {server.pid}")
        try:
            report.load("before SQLite")
            base_spec = {
                "duration": sizes.seconds,
                "warmup": sizes.warmup,
                "max_requests": sizes.max_requests,
            }
            result = await run_load(
                server,
                {**base_spec, "scenario": "create", "clients": [{"token": accounts.mediator}] * 16},
                postgres=False,
            )
            report.rows.append(
                http_row("SQLite (embedded default): HTTP create case", result, p99_target=None)
            )
            states = await open_cases_for_transitions(server, accounts.mediator, 16)
            result = await run_load(
                server, {**base_spec, "scenario": "transition", "clients": states}, postgres=False
            )
            report.rows.append(
                http_row("SQLite (embedded default): HTTP transition", result, p99_target=None)
            )
            report.rows.append(server.rss_row("SQLite"))
        finally:
            server.stop()


# --- the sweep ---------------------------------------------------------------------------------


async def sweep_part(opts: argparse.Namespace, sizes: Sizes, report: Report) -> None:
    """bench/sweep.py as it stands, in its own process; its table is parsed."""
    report.load("before the sweep")
    cmd = [
        sys.executable,
        "-m",
        "bench.sweep",
        "--cases",
        str(sizes.sweep_cases),
        "--due",
        str(sizes.sweep_due),
        "--pg",
        opts.pg,
    ]
    log("running " + " ".join(cmd[1:]))
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT
    )
    out_bytes, _ = await proc.communicate()
    out = out_bytes.decode()
    (RESULTS / "sweep.log").write_text(out)
    for line in out.splitlines():
        if line.startswith("loaded"):
            log(line)
    idle = re.search(r"\| nothing due[^|]*\|[^|]*\|[^|]*\| ([\d.]+) ms", out)
    busy = re.search(r"\| [\d,]+ due \|[^|]*\|[^|]*\| ([\d.]+) s \|[^(]*\(([\d,]+) escalated\)", out)
    if proc.returncode != 0 or idle is None or busy is None:
        report.notes.append(
            f"sweep: could not run or parse bench/sweep.py (exit {proc.returncode}); see bench/results/sweep.log"
        )
        log(out[-2000:])
        report.rows.append(Row("sweep", measured="failed, see bench/results/sweep.log", passed=False))
        return
    idle_ms, busy_s, escalated = (
        float(idle.group(1)),
        float(busy.group(1)),
        int(busy.group(2).replace(",", "")),
    )
    report.rows.append(
        Row(
            f"sweep, nothing due ({sizes.sweep_cases:,} open cases)",
            measured=f"{idle_ms:.1f} ms",
            target="< 10 ms",
            passed=idle_ms < 10,
            extra={"ms": idle_ms},
        )
    )
    report.rows.append(
        Row(
            f"sweep, {sizes.sweep_due:,} due of {sizes.sweep_cases:,} open cases",
            measured=f"{busy_s:.1f} s ({escalated:,} escalated)",
            target="< 10 s",
            passed=busy_s < 10 and escalated == sizes.sweep_due,
            extra={"s": busy_s, "escalated": escalated},
        )
    )
    log(f"sweep: nothing due {idle_ms:.1f} ms; {escalated:,} escalations in {busy_s:.1f} s")


INBOX_TARGET_MS = 100  # a town's inbox, API or page, p99


async def inbox_part(opts: argparse.Namespace, sizes: Sizes, report: Report) -> None:
    """bench/inbox.py as it stands, in its own process; its table is parsed."""
    report.load("before the inbox")
    cmd = [
        sys.executable,
        "-m",
        "bench.inbox",
        "--items",
        str(sizes.inbox_items),
        "--cases",
        str(sizes.inbox_cases),
        "--pg",
        opts.pg,
    ]
    log("running " + " ".join(cmd[1:]))
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT
    )
    out_bytes, _ = await proc.communicate()
    out = out_bytes.decode()
    (RESULTS / "inbox.log").write_text(out)
    rows = re.findall(r"^\| ((?:API|page)[^|]*) \| [\d,]+ \| ([\d.]+) \| ([\d.]+) \|", out, re.MULTILINE)
    if proc.returncode != 0 or not rows:
        report.notes.append(
            f"inbox: could not run or parse bench/inbox.py (exit {proc.returncode}); see bench/results/inbox.log"
        )
        log(out[-2000:])
        report.rows.append(Row("inbox", measured="failed, see bench/results/inbox.log", passed=False))
        return
    for label, p50, p99 in rows:
        report.rows.append(
            Row(
                f"inbox of a town, {sizes.inbox_items:,} items: {label.strip()}",
                clients=1,
                p50_ms=float(p50),
                p99_ms=float(p99),
                target=f"p99 < {INBOX_TARGET_MS} ms",
                passed=float(p99) < INBOX_TARGET_MS,
            )
        )
    log("inbox: " + "; ".join(f"{label.strip()} p50 {p50} ms" for label, p50, _ in rows))


async def city_part(opts: argparse.Namespace, sizes: Sizes, report: Report) -> None:
    """bench/city.py as it stands, in its own process; its tables are parsed (p50, p99, target)."""
    report.load("before city scale")
    cmd = [
        sys.executable,
        "-m",
        "bench.city",
        "--cases",
        str(sizes.city_cases),
        "--sqlite-cases",
        str(sizes.city_sqlite_cases),
        "--pg",
        opts.pg,
    ]
    log("running " + " ".join(cmd[1:]))
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT
    )
    out_bytes, _ = await proc.communicate()
    out = out_bytes.decode()
    (RESULTS / "city.log").write_text(out)
    for line in out.splitlines():
        if line.startswith(("PostgreSQL:", "SQLite (embedded")):
            log(line)
            report.notes.append(f"city: {line}")
    row = re.compile(
        r"^\| ([^|]+) \| (\d+) \| ([\d.]+) \| ([\d.]+) \| p99 < ([\d.]+) ms \| [^|]+ \| ([^|]*) \|$",
        re.MULTILINE,
    )
    if proc.returncode not in (0, 1) or not row.search(out):
        report.notes.append(
            f"city: could not run or parse bench/city.py (exit {proc.returncode}); see bench/results/city.log"
        )
        log(out[-2000:])
        report.rows.append(Row("city scale", measured="failed, see bench/results/city.log", passed=False))
        return
    sqlite_from = out.find("SQLite (embedded")
    for match in row.finditer(out):
        label, _calls, p50, p99, target, note = match.groups()
        engine = "SQLite" if 0 <= sqlite_from < match.start() else "PostgreSQL"
        report.rows.append(
            Row(
                f"city scale ({engine}): {label.strip()}",
                clients=1,
                p50_ms=float(p50),
                p99_ms=float(p99),
                measured=note.strip(),
                target=f"p99 < {target} ms",
                passed=float(p99) < float(target),
            )
        )


# --- the table ---------------------------------------------------------------------------------


def _num(value: float | None, digits: int) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{digits}f}"


def table(rows: list[Row]) -> str:
    lines = [
        "| benchmark | clients | req/s | p50 ms | p99 ms | errors | measured | target | result |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for r in rows:
        result = "" if r.passed is None else ("pass" if r.passed else "**FAIL**")
        lines.append(
            f"| {r.benchmark} | {r.clients or ''} | {_num(r.rps, 0)} | {_num(r.p50_ms, 1)} | "
            f"{_num(r.p99_ms, 1)} | {'' if r.errors is None else r.errors} | {r.measured} | {r.target} | {result} |"
        )
    return "\n".join(lines)


@contextlib.contextmanager
def results_dir() -> Iterator[Path]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    yield RESULTS


async def main_async(opts: argparse.Namespace) -> int:
    sizes = QUICK if opts.quick else FULL
    if opts.seconds:
        sizes.seconds = opts.seconds
    if opts.sweep_cases:
        sizes.sweep_cases = opts.sweep_cases
    if opts.sweep_due:
        sizes.sweep_due = opts.sweep_due
    parts = set(opts.only.split(",")) if opts.only else set(PARTS)
    unknown = parts - set(PARTS)
    if unknown:
        print(
            f"unknown parts: {', '.join(sorted(unknown))} (choose from {', '.join(PARTS)})", file=sys.stderr
        )
        return 2
    started = datetime.now(UTC)
    report = Report()
    with results_dir():
        report.load("start")
        if parts & {"pgbench", "http", "transitions", "court"}:
            await postgres_part(opts, sizes, parts, report)
        if "sqlite" in parts:
            await sqlite_part(sizes, report)
        if "sweep" in parts:
            await sweep_part(opts, sizes, report)
        if "inbox" in parts:
            await inbox_part(opts, sizes, report)
        if "moj" in parts:  # bench/moj.py: the MoJ report and filings at 1,000,000 cases
            await moj_part(opts, sizes, report)
        if "city" in parts:
            await city_part(opts, sizes, report)
        report.load("end")
        info = machine(await pg_settings(opts.pg))
        text = table(report.rows)
        stamp = started.strftime("%Y%m%dT%H%M%SZ")
        loads = "; ".join(f"{when}: {avg}" for when, avg in report.loads)
        header = (
            f"{'quick' if opts.quick else 'full'} run {started:%Y-%m-%d %H:%M} UTC; {info['cpus']} × {info['cpu_model']}, "
            f"{info['ram_gib']} GiB RAM; PostgreSQL {info['postgresql']['version']}; "
            f"{sizes.seconds:g} s per HTTP scenario and pgbench run ({sizes.warmup:g} s warm-up); "
            f"{opts.replicas} × `jiefen serve` (--workers {opts.workers}) on PostgreSQL, 1 on SQLite; "
            f"code at {git_state()}"
        )
        markdown = "\n\n".join(
            x
            for x in [header, report.headline, text, f"Load average (1, 5, 15 min): {loads}", *report.notes]
            if x
        )
        (RESULTS / f"{stamp}.md").write_text(markdown + "\n")
        (RESULTS / "latest.md").write_text(markdown + "\n")
        (RESULTS / f"{stamp}.json").write_text(
            json.dumps(
                {
                    "started": started.isoformat(),
                    "quick": opts.quick,
                    "replicas": opts.replicas,
                    "workers": opts.workers,
                    "sizes": asdict(sizes),
                    "machine": info,
                    "loads": report.loads,
                    "headline": report.headline,
                    "rows": [asdict(r) for r in report.rows],
                    "notes": report.notes,
                },
                indent=2,
                ensure_ascii=False,
                default=str,
            )
        )
    print()
    print(markdown)
    print(f"\n(written to bench/results/{stamp}.md and .json)")
    return 0 if all(r.passed is not False for r in report.rows) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes and 5 s runs: a smoke test")
    parser.add_argument("--only", help=f"comma-separated parts: {', '.join(PARTS)}")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres", help="admin URL")
    parser.add_argument("--seconds", type=float, help="override seconds per HTTP scenario and pgbench run")
    parser.add_argument("--sweep-cases", type=int, help="override open cases for the sweep")
    parser.add_argument("--sweep-due", type=int, help="override due cases for the sweep")
    parser.add_argument("--keep", action="store_true", help="keep the throw-away database")
    parser.add_argument(
        "--replicas",
        type=int,
        default=2,
        help="single-process `jiefen serve` replicas on PostgreSQL (default 2: one per core, as in compose)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="`jiefen serve --workers` per replica (uvicorn >1 workers: ~40 ms per request, see docs)",
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        const="transition",
        choices=("transition", "create", "read", "list", "claim"),
        help="py-spy the API during the first run of one HTTP scenario (default: transitions, 16 clients)",
    )
    return asyncio.run(main_async(parser.parse_args(argv)))
