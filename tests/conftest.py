"""Test fixtures: the API suite runs once on SQLite and once on a real PostgreSQL.

The suite runs in parallel: pytest-xdist, one worker per core (``addopts`` in pyproject.toml; `-n 0`
runs it in one process). Each worker is a process of its own with its own databases: an SQLite
file under its own temporary directory and a throw-away PostgreSQL database named after it. When
PostgreSQL cannot be reached the PostgreSQL half is skipped on a developer machine but *fails* when
``JIEFEN_REQUIRE_POSTGRES=1`` (CI and the README's test command set it), so a green CI run always
includes PostgreSQL.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from service.config.settings import Settings
from service.context import AppContext
from service.demo import seed_users
from service.integrity.backfill import check_audit_key
from service.main import create_app
from service.mediators.models import Mediator

PG_ADMIN_URL = os.environ.get("JIEFEN_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_POSTGRES = os.environ.get("JIEFEN_REQUIRE_POSTGRES") == "1"
TEST_PASSWORD = "test-password-1"
CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
TEST_DATA_KEY = "k1:" + "A" * 43 + "="  # 32 zero-ish bytes: tests only, never a real key
TEST_AUDIT_KEY = "QQ" * 22  # 33 bytes of "A": tests only, never a real key
FIXED_NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Kunshan
# "gw0", "gw1", … under pytest-xdist; "main" when the suite runs in one process (-n 0).
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")

# Tables a test may write to; units, users and the demo roster are seeded once per backend and kept
# (a test adds mediators of its own; those are removed again, see `reset_statements`). Emptied in
# this order (a table before the ones it refers to) before every test that uses `db`.
CASE_TABLES = [
    "filing",
    "major_report",
    "screening_case",
    "screening_missing",
    "screening_round",
    "case_document",
    "case_attachment",
    "mediation_session",
    "number_taken",
    "number_counter",
    "subsidy_line",
    "subsidy_case",
    "subsidy_month",
    "case_mediator",
    "mediator_decision",
    "role_grant",
    "sign_in_throttle",
    "security_event",
    "crime_report",
    "referral",
    "deadline_action",
    "deadline",
    "inbox_read_through",
    "inbox_read",
    "inbox_item",
    "outbox",
    "webhook_subscription",
    "idempotency_key",
    "case_event",
    "party",
    "cases",
    "stats_tally",  # after cases: deleting a case takes it out of the tally (PostgreSQL)
]


# `-n auto` (pyproject.toml): one worker per core, but no more than this many. Each worker holds up
# to ~18 connections to the shared PostgreSQL at its busiest (measured: 35 for two), whose
# default max_connections is 100; PYTEST_XDIST_AUTO_NUM_WORKERS or `-n N` choose otherwise.
MAX_AUTO_WORKERS = 4


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # pytest-xdist's own hook reads it
    return max(1, min(os.cpu_count() or 1, MAX_AUTO_WORKERS))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """Refuse the pytest-xdist modes that schedule by node id while two tests share one.

    Under pytest 9.2 schemathesis gives each operation's test the same node id
    (tests/api/test_fuzz.py::test_api_conforms_to_its_schema, 40 of them); `--dist loadscope`,
    `loadfile` and `loadgroup` key their work by node id, so all but one of those would silently
    not run. `load` (pyproject.toml's) and `worksteal` go by position and run them all.
    """
    dist = node.config.getoption("dist")
    if dist not in {"loadscope", "loadfile", "loadgroup"}:
        return
    shared = sorted(nodeid for nodeid, n in Counter(ids).items() if n > 1)
    if shared:
        pytest.exit(
            f"--dist {dist} would run only one of the tests sharing each of these node ids:"
            f" {', '.join(shared)}. Use --dist load or --dist worksteal.",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


async def _create_pg_database() -> tuple[str, str] | None:
    import asyncpg

    name = f"jiefen_test_{WORKER}_{uuid.uuid4().hex[:10]}"
    try:
        conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        message = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}"
        if REQUIRE_POSTGRES:
            pytest.fail(message + " (JIEFEN_REQUIRE_POSTGRES=1: the PostgreSQL tests must run)")
        pytest.skip(message)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return name, f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"


async def _drop_pg_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@dataclass
class Backend:
    name: str
    url: str
    app: FastAPI
    # What `db` runs before each test to empty the case tables (see `reset_statements`).
    reset: tuple[sa.TextClause, ...]

    @property
    def engine(self) -> AsyncEngine:
        engine: AsyncEngine = self.app.state.engine
        return engine

    @property
    def ctx(self) -> AppContext:
        ctx: AppContext = self.app.state.context
        return ctx


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
async def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Backend]:
    pg_name = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'jiefen.db'}"
    else:
        created = await _create_pg_database()
        assert created is not None
        pg_name, url = created
    # No background scheduler in tests: sweeps run explicitly, with a fixed `now`.
    # Tokens outlive the frozen clock's jumps (tests move time by weeks).
    settings = Settings(
        database_url=url,
        config_dir=CONFIG_DIR,
        run_scheduler=False,
        token_ttl_hours=24 * 365 * 20,
        data_key=TEST_DATA_KEY,
        audit_key=TEST_AUDIT_KEY,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await seed_users(app.state.engine, app.state.context, TEST_PASSWORD, FIXED_NOW)
        yield Backend(request.param, url, app, await reset_statements(app.state.engine))
    if pg_name:
        await _drop_pg_database(pg_name)


# Past this many rows in one table, TRUNCATE beats DELETE (a few tests seed thousands of cases).
BULK_ROWS = 500


async def reset_statements(engine: AsyncEngine) -> tuple[sa.TextClause, ...]:
    """The statements that put the case tables back as a new database has them: empty, with the
    sequences their ids come from at their start again, and the audit chain at its beginning.

    PostgreSQL, in one DO block (one round trip): the few rows a test wrote are DELETEd and the
    sequences set back, where every test used to ``TRUNCATE … RESTART IDENTITY CASCADE``. TRUNCATE
    locks each of the 12 tables and gives it, its indexes and its TOAST table new files: 35 ms per
    test on an idle 2-core machine and 100–360 ms on a busy one, against 1–3 ms for the DELETEs. The end state
    is the same: no other table refers to these (were one added, its DELETE would fail loudly
    rather than leave rows behind), and each sequence owned by their columns starts again where it
    started, as RESTART IDENTITY did (ids from 1 are counted on:
    test_case_numbers_keep_every_digit_past_999999 moves one to 999,999). A test that wrote nothing
    gets nothing written (sequences and the chain row are set only when they moved), so its reset
    commits without a WAL flush. Only when a table holds BULK_ROWS or more (the bulk sweep and
    court-queue tests) is it TRUNCATE as before: DELETE checks the foreign keys row by row, and
    inbox_item.case_id and idempotency_key.case_id have no index, so each deleted case scans those
    tables (18 s after the 10,000-case sweep test); TRUNCATE checks nothing.

    SQLite: a DELETE per table, as before; its ids are max(id) + 1, so they start at 1 again.
    """
    # The security events' chain starts again; the audit key's fingerprint row stays.
    chain = "UPDATE audit_chain SET seq = 0, last_hash = '', anchor_hash = ''"
    chain += " WHERE name = 'security' AND (seq <> 0 OR last_hash <> '' OR anchor_hash <> '')"
    # The demo roster stays as seeded: the mediators a test added go (their assignments went with
    # CASE_TABLES), and a demo record a test changed (edited, deactivated, its sign-in moved to a
    # new record, its units changed) is put back from a copy taken once, after the seed.
    async with engine.begin() as conn:
        seeded = (await conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM mediator"))).scalar_one()
        await conn.execute(sa.text("CREATE TABLE test_seed_mediator AS SELECT * FROM mediator"))
        await conn.execute(sa.text("CREATE TABLE test_seed_mediator_unit AS SELECT * FROM mediator_unit"))
    columns = ", ".join(
        c.name
        for c in Mediator.__table__.columns
        if c.name != "id"  # type: ignore[attr-defined]
    )
    changed = "(s.version, coalesce(s.user_id, 0), s.active) <> (mediator.version, coalesce(mediator.user_id, 0), mediator.active)"
    same_unit = "u.mediator_id = s.mediator_id AND u.unit_code = s.unit_code"
    roster = (
        "DELETE FROM mediator_unit WHERE NOT EXISTS (SELECT 1 FROM test_seed_mediator_unit s"
        " WHERE s.mediator_id = mediator_unit.mediator_id AND s.unit_code = mediator_unit.unit_code)",
        f"DELETE FROM mediator WHERE id > {seeded}",
        f"UPDATE mediator SET ({columns}) = (SELECT {columns} FROM test_seed_mediator s WHERE s.id = mediator.id)"
        f" WHERE EXISTS (SELECT 1 FROM test_seed_mediator s WHERE s.id = mediator.id AND {changed})",
        "INSERT INTO mediator_unit SELECT * FROM test_seed_mediator_unit s"
        f" WHERE NOT EXISTS (SELECT 1 FROM mediator_unit u WHERE {same_unit})",
    )
    if engine.dialect.name != "postgresql":
        return (
            *(sa.text(f"DELETE FROM {table}") for table in CASE_TABLES),
            *(sa.text(statement) for statement in roster),
            sa.text(chain),
        )
    async with engine.connect() as conn:
        sequences = (
            await conn.execute(
                sa.text(
                    "SELECT s.oid::regclass::text, q.seqstart FROM pg_class s"
                    " JOIN pg_sequence q ON q.seqrelid = s.oid"
                    " JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid"
                    " AND d.deptype IN ('a', 'i')"  # owned by a serial or identity column
                    " JOIN pg_class t ON t.oid = d.refobjid"
                    " WHERE t.relnamespace = 'public'::regnamespace AND t.relname = ANY(:tables)"
                    " ORDER BY 1"
                ),
                {"tables": CASE_TABLES},
            )
        ).all()
    bulk = " OR ".join(f"EXISTS (SELECT 1 FROM {table} OFFSET {BULK_ROWS - 1})" for table in CASE_TABLES)
    deletes = " ".join(f"DELETE FROM {table};" for table in CASE_TABLES)
    restarts = " ".join(
        f"PERFORM setval('{seq}', {start}, false) FROM {seq} WHERE is_called OR last_value <> {start};"
        for seq, start in sequences
    )
    truncate = f"TRUNCATE {', '.join(CASE_TABLES)} RESTART IDENTITY CASCADE;"
    return (
        sa.text(
            f"DO $reset$ BEGIN IF {bulk} THEN {truncate} ELSE {deletes} {restarts} END IF;"
            f" {'; '.join(roster)}; {chain}; END $reset$"
        ),
    )


@pytest.fixture
async def db(backend: Backend) -> AsyncIterator[Backend]:
    """A backend whose case tables are empty at the start of the test."""
    async with backend.engine.begin() as conn:
        for statement in backend.reset:
            await conn.execute(statement)
    await check_audit_key(backend.engine)  # records the key's fingerprint again if a test removed it
    yield backend


@pytest.fixture
async def trail_stays_intact(db: Backend) -> AsyncIterator[None]:
    """After the test, every case row must still be what its last event vouches for, and every
    keyed link must hold: each kind of write signs what it writes (modules that exercise the
    writes use it with ``pytestmark = pytest.mark.usefixtures("trail_stays_intact")``)."""
    from service.integrity.verify import verify_audit

    yield
    report = await verify_audit(db.engine)
    assert report.intact, report.broken


@pytest.fixture
def postgres(db: Backend) -> Backend:
    """``db`` for a module parametrised to PostgreSQL only (locking, one-statement writes)."""
    assert db.name == "postgresql"
    return db


@pytest.fixture
async def client(db: Backend) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=db.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://jiefen.test") as client:
        yield client


_tokens: dict[tuple[str, str], str] = {}


async def token_for(client: httpx.AsyncClient, backend: Backend, username: str) -> str:
    key = (backend.url, username)
    if key not in _tokens:
        response = await client.post(
            "/api/v1/auth/token", data={"username": username, "password": TEST_PASSWORD}
        )
        assert response.status_code == 200, response.text
        _tokens[key] = response.json()["access_token"]
    return _tokens[key]


@pytest.fixture
def auth(client: httpx.AsyncClient, db: Backend):  # type: ignore[no-untyped-def]
    """``await auth("dashi.mediator")`` → headers carrying that demo user's bearer token."""

    async def headers(username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {await token_for(client, db, username)}"}

    return headers


class FrozenClock:
    """The service's only wall clock, held still; tests move it with ``set``."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def set(self, at: datetime) -> None:
        assert at.tzinfo is not None
        self.at = at


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    from service import clock

    frozen = FrozenClock(FIXED_NOW)
    monkeypatch.setattr(clock, "now", frozen)
    return frozen
