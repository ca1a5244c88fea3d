"""The SQLite database holds personal data: its files are readable by the service's user only."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa

from service.db import create_engine


def mode(path: Path) -> int | None:
    """The file's permission bits; None when there is no such file."""
    return stat.S_IMODE(path.stat().st_mode) if path.exists() else None


async def test_a_new_database_and_its_wal_and_shm_are_created_0600(tmp_path: Path) -> None:
    database = tmp_path / "jiefen.db"
    previous = os.umask(0o022)  # the usual umask, which would give 0644
    try:
        engine = create_engine(f"sqlite+aiosqlite:///{database}")
        try:
            async with engine.begin() as conn:
                await conn.execute(sa.text("CREATE TABLE party (name TEXT)"))
                await conn.execute(sa.text("INSERT INTO party VALUES ('王秀英')"))
            async with engine.connect() as conn:  # WAL: the files exist while a connection is open
                await conn.execute(sa.text("SELECT name FROM party"))
                wal, shm = Path(f"{database}-wal"), Path(f"{database}-shm")
                assert (mode(database), mode(wal), mode(shm)) == (0o600, 0o600, 0o600)
        finally:
            await engine.dispose()
    finally:
        os.umask(previous)


async def test_an_existing_database_readable_by_others_is_narrowed_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = tmp_path / "jiefen.db"
    database.touch()
    database.chmod(0o644)

    with caplog.at_level(logging.WARNING, logger="service.db"):
        engine = create_engine(f"sqlite+aiosqlite:///{database}")
        await engine.dispose()

    assert mode(database) == 0o600
    assert "narrowed to 0600" in caplog.text
