"""What every benchmark shares: a throw-away PostgreSQL database and the service's schema in it."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from service.context import AppContext

ROOT = Path(__file__).resolve().parent.parent


def asyncpg_url(admin: str, name: str) -> str:
    """The database ``name`` on the server of the ``admin`` URL (postgresql://…/postgres)."""
    return f"{admin.rsplit('/', 1)[0]}/{name}"


def sqlalchemy_url(admin: str, name: str) -> str:
    return asyncpg_url(admin, name).replace("postgresql://", "postgresql+asyncpg://", 1)


@contextlib.asynccontextmanager
async def throwaway_database(admin: str, keep: bool) -> AsyncIterator[str]:
    """A new database for one run, dropped afterwards unless ``keep``."""
    name = f"jiefen_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    try:
        yield name
    finally:
        if keep:
            print(f"kept database {name}", flush=True)
        else:
            conn = await asyncpg.connect(admin)
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.close()


async def service_database(admin: str, name: str) -> tuple[AsyncEngine, AppContext]:
    """The service's schema and units in the database, loaded the service's own way."""
    from service import clock, migrate
    from service.audit.keys import new_key_text
    from service.config.settings import Settings
    from service.integrity.backfill import sign_trail
    from service.main import engine_for, load_context
    from service.personal.crypto import new_key_line
    from service.units.sync import sync_units

    url = sqlalchemy_url(admin, name)
    settings = Settings(
        database_url=url,
        config_dir=ROOT / "config",
        run_scheduler=False,
        data_key=new_key_line(),
        audit_key=new_key_text(),
    )
    ctx = load_context(settings)
    engine = engine_for(settings)
    await migrate.upgrade(engine)
    await sign_trail(engine, now=clock.now())  # as `jiefen migrate`: the key's fingerprint
    await sync_units(engine, ctx.org)
    return engine, ctx


@contextlib.asynccontextmanager
async def tally_off(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """A bulk load with the statistics tally's triggers on ``cases`` and ``deadline`` off
    (migrations 0029_city, 0034_tally_triggers), the tally recounted once afterwards by
    ``jiefen_tally_rebuild()``, as a restore would: a load of a million rows is one statement the
    triggers were not made for, and a recount costs seconds."""
    for table in ("cases", "deadline"):
        await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    try:
        yield
    finally:
        for table in ("cases", "deadline"):
            await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    if await conn.fetchval("SELECT to_regproc('jiefen_tally_rebuild') IS NOT NULL"):
        await conn.execute("SELECT jiefen_tally_rebuild()")
