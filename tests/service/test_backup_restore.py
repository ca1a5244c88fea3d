"""The backup procedure of docs/operations.md, round trip: cases made through the API, dumped with
scripts/backup.sh, restored with scripts/restore.sh into a fresh database, and found intact."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from service.config.settings import Settings
from service.db import create_engine
from service.demo import seed_users
from service.main import create_app
from tests.builders import case_body, fire
from tests.conftest import (
    CONFIG_DIR,
    FIXED_NOW,
    PG_ADMIN_URL,
    TEST_AUDIT_KEY,
    TEST_DATA_KEY,
    TEST_PASSWORD,
    _create_pg_database,
    _drop_pg_database,
)

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
JIEFEN = str(Path(sys.executable).parent / "jiefen")


def libpq_url(name: str) -> str:
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


def settings_for(url: str) -> Settings:
    return Settings(
        database_url=url,
        config_dir=CONFIG_DIR,
        run_scheduler=False,
        data_key=TEST_DATA_KEY,
        audit_key=TEST_AUDIT_KEY,
    )


async def _snapshot(engine: AsyncEngine) -> dict[str, Any]:
    async with engine.connect() as conn:
        return {
            "cases": (
                await conn.execute(sa.text("SELECT id, number, state, version FROM cases ORDER BY id"))
            ).all(),
            "events": (
                await conn.execute(
                    sa.text("SELECT id, case_id, seq, to_state, hash FROM case_event ORDER BY id")
                )
            ).all(),
            "schema": (await conn.execute(sa.text("SELECT version_num FROM alembic_version"))).all(),
        }


async def _read_cases(url: str, case_ids: list[int]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The restored cases as a user sees them (personal data decrypted), and the raw rows."""
    app = create_app(settings_for(url), migrate_on_start=False)
    async with app.router.lifespan_context(app):
        snapshot = await _snapshot(app.state.engine)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            token = await client.post(
                "/api/v1/auth/token", data={"username": "dashi.mediator", "password": TEST_PASSWORD}
            )
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            seen = [(await client.get(f"/api/v1/cases/{i}", headers=headers)).json() for i in case_ids]
    return snapshot, seen


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def is_complete(dump: Path) -> bool:
    return dump.stat().st_size > 0 and not Path(f"{dump}.partial").exists()


def cli(*args: str, url: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("JIEFEN_")}
    environ.update(
        {
            "JIEFEN_DATABASE_URL": url,
            "JIEFEN_DATA_KEY": TEST_DATA_KEY,
            "JIEFEN_AUDIT_KEY": TEST_AUDIT_KEY,
            "JIEFEN_CONFIG_DIR": str(CONFIG_DIR),
        }
    )
    environ.update(env or {})
    return subprocess.run(args, env=environ, capture_output=True, text=True, timeout=180, cwd=ROOT)


async def test_backup_and_restore_round_trip_keeps_cases_events_and_the_audit_chain(tmp_path: Path) -> None:
    created = await _create_pg_database()
    assert created is not None
    source_name, source_url = created
    target_name: str | None = None
    try:
        app = create_app(settings_for(source_url))
        async with app.router.lifespan_context(app):
            await seed_users(app.state.engine, app.state.context, TEST_PASSWORD, FIXED_NOW)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t"
            ) as client:
                token = await client.post(
                    "/api/v1/auth/token", data={"username": "dashi.mediator", "password": TEST_PASSWORD}
                )
                mediator = {"Authorization": f"Bearer {token.json()['access_token']}"}
                made = []
                for n in range(3):
                    response = await client.post(
                        "/api/v1/cases", json=case_body(summary=f"备份测试 {n}"), headers=mediator
                    )
                    assert response.status_code == 201, response.text
                    made.append(response.json())
                assert (await fire(client, mediator, made[0], "accept")).status_code == 200
                case_ids = [case["id"] for case in made]
                before = [(await client.get(f"/api/v1/cases/{i}", headers=mediator)).json() for i in case_ids]
            original = await _snapshot(app.state.engine)

        dump = tmp_path / "jiefen.dump"
        backup = cli(str(ROOT / "scripts" / "backup.sh"), libpq_url(source_name), str(dump), url=source_url)
        assert backup.returncode == 0, backup.stderr
        assert is_complete(dump)

        created = await _create_pg_database()
        assert created is not None
        target_name, target_url = created
        restore = cli(str(ROOT / "scripts" / "restore.sh"), str(dump), target_url, url=target_url)
        assert restore.returncode == 0, restore.stderr
        assert "restored" in restore.stdout and "3 cases" in restore.stdout

        verify = cli(JIEFEN, "audit", "verify", url=target_url)
        migrate = cli(JIEFEN, "migrate", url=target_url)
        again = cli(str(ROOT / "scripts" / "restore.sh"), str(dump), target_url, url=target_url)
        restored, after = await _read_cases(target_url, case_ids)
    finally:
        await _drop_pg_database(source_name)
        if target_name:
            await _drop_pg_database(target_name)

    assert verify.returncode == 0, verify.stderr
    assert verify.stdout.startswith("intact:") and "4 case events in 3 cases" in verify.stdout
    assert migrate.returncode == 0, migrate.stderr
    assert again.returncode == 1 and "refusing" in again.stderr  # never over existing data
    assert restored == original  # same rows, same hash chain, same schema version (migrate: no-op)
    assert after == before  # and a user reads the same cases, personal data decrypted
    assert after[0]["parties"][0]["name"] == "王秀英"


async def test_backup_refuses_an_archive_pg_restore_cannot_read_and_a_database_without_tables(
    tmp_path: Path,
) -> None:
    """Nothing is called a backup unless pg_restore can list it and it holds Jiefen's tables: a
    broken pg_dump or a wrong database name leaves no file behind and says why."""
    broken = tmp_path / "broken_pg_dump.sh"
    broken.write_text(
        '#!/bin/sh\nfor a; do case $a in --file=*) echo garbage > "${a#--file=}";; esac; done\n'
    )
    broken.chmod(0o755)
    created = await _create_pg_database()
    assert created is not None
    name, url = created
    try:
        env = {"PG_DUMP": str(broken)}
        garbled = cli(
            str(ROOT / "scripts" / "backup.sh"), libpq_url(name), str(tmp_path / "a.dump"), url=url, env=env
        )
        empty = cli(str(ROOT / "scripts" / "backup.sh"), libpq_url(name), str(tmp_path / "b.dump"), url=url)
    finally:
        await _drop_pg_database(name)
    assert garbled.returncode == 1 and "cannot be read by pg_restore" in garbled.stderr, garbled
    assert empty.returncode == 1 and "holds no Jiefen schema" in empty.stderr, empty
    assert "PASSWORD" not in empty.stderr and "postgres@" not in empty.stderr  # no credentials in the message
    assert files_in(tmp_path) == ["broken_pg_dump.sh"]  # no dump, no .partial


async def test_audit_verify_on_a_database_without_the_schema_says_so_and_creates_nothing() -> None:
    """After a restore that failed, or with a mistyped database name, verify must not migrate an
    empty database and then call it intact."""
    created = await _create_pg_database()
    assert created is not None
    name, url = created
    try:
        verify = cli(JIEFEN, "audit", "verify", url=url)
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                tables = (
                    await conn.execute(sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"))
                ).scalar_one()
        finally:
            await engine.dispose()
    finally:
        await _drop_pg_database(name)
    assert verify.returncode == 2 and "No Jiefen schema" in verify.stderr, verify
    assert tables == 0
    gone = cli(JIEFEN, "audit", "verify", url=url)  # the database dropped: a mistyped name, say
    assert gone.returncode == 2 and "Cannot read" in gone.stderr and "Traceback" not in gone.stderr, gone
