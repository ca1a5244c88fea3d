"""`jiefen deadlines recompute` as an operator runs it after a new calendar and a policy change,
on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import TEST_AUDIT_KEY, TEST_DATA_KEY, _create_pg_database, _drop_pg_database
from workflows.calendar import SHANGHAI, seeded_years

JIEFEN = str(Path(sys.executable).parent / "jiefen")
ROOT = Path(__file__).resolve().parents[2]
LINE = re.compile(
    r"^(?P<number>\S+) (?P<kind>[a-z_]+): due (?P<old>\S+) → (?P<new>\S+); \d+ pending warnings moved$"
)
DRY = re.compile(
    r"^dry run: (?P<changed>\d+) of (?P<checked>\d+) open deadlines would change in (?P<cases>\d+) cases"
)
DONE = re.compile(
    r"^recomputed (?P<checked>\d+) open deadlines: (?P<changed>\d+) changed in (?P<cases>\d+) cases, "
    r"0 cases changed meanwhile$"
)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'jiefen.db'}"
        return
    created = asyncio.run(_create_pg_database())
    assert created is not None
    name, url = created
    try:
        yield url
    finally:
        asyncio.run(_drop_pg_database(name))


def run(*args: str, tmp_path: Path, url: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JIEFEN_")}
    env.update(
        JIEFEN_DATA_DIR=str(tmp_path / "data"),
        JIEFEN_DATABASE_URL=url,
        JIEFEN_DATA_KEY=TEST_DATA_KEY,
        JIEFEN_AUDIT_KEY=TEST_AUDIT_KEY,
    )
    if config is not None:
        env["JIEFEN_CONFIG_DIR"] = str(config)
    return subprocess.run([JIEFEN, *args], env=env, capture_output=True, text=True, timeout=300)


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    async def read() -> list[tuple[Any, ...]]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return [tuple(r) for r in await conn.execute(sa.text(sql))]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def changed_config(tmp_path: Path, today: date) -> Path:
    """The shipped configuration with acceptance at 5 working days and the people's-mediation
    period at 2 months, and this year's calendar with the next working weekday made a holiday."""
    config = tmp_path / "config"
    shutil.copytree(ROOT / "config", config)
    deadlines = yaml.safe_load((config / "deadlines.yaml").read_text(encoding="utf-8"))
    lengths = {"acceptance": 5, "people_mediation": 2}
    for policy in deadlines["policies"]:
        policy["length"] = lengths.get(policy["kind"], policy["length"])
    (config / "deadlines.yaml").write_text(yaml.safe_dump(deadlines, allow_unicode=True), encoding="utf-8")
    seeded = seeded_years().get(today.year)
    holidays = set(seeded.holidays) if seeded else set()
    workdays = set(seeded.workdays) if seeded else set()
    extra = today + timedelta(days=1)
    while extra.weekday() >= 5 or extra in holidays:
        extra += timedelta(days=1)
    if extra.year == today.year:
        holidays.add(extra)
    calendar = {
        "year": today.year,
        "source": "国务院办公厅关于部分节假日安排的通知 (测试: 另加一天)",
        "holidays": sorted(holidays),
        "workdays": sorted(workdays),
    }
    (config / "calendars" / f"{today.year}.yaml").write_text(yaml.safe_dump(calendar), encoding="utf-8")
    return config


def test_recompute_dry_run_then_for_real_then_again_keeps_the_trail_intact(
    tmp_path: Path, database_url: str
) -> None:
    from service import clock

    seeded = run("seed-demo", "--cases", "25", tmp_path=tmp_path, url=database_url)
    assert seeded.returncode == 0, seeded.stderr
    unchanged = run("deadlines", "recompute", "--dry-run", tmp_path=tmp_path, url=database_url)
    assert unchanged.returncode == 0, unchanged.stderr
    assert re.search(r": 0 of \d+ open deadlines would change", unchanged.stdout), unchanged.stdout
    config = changed_config(tmp_path, clock.now().astimezone(SHANGHAI).date())
    before = query(database_url, "SELECT id, due_at, warnings FROM deadline ORDER BY id")

    dry = run("deadlines", "recompute", "--dry-run", tmp_path=tmp_path, url=database_url, config=config)

    assert dry.returncode == 0, dry.stderr
    *lines, summary = dry.stdout.splitlines()
    planned = [LINE.match(line) for line in lines]
    assert planned and all(planned), dry.stdout
    found = DRY.match(summary)
    assert found and int(found.group("changed")) == len(lines), dry.stdout
    # The demo has open acceptance or mediation clocks, whose lengths changed.
    assert {m.group("kind") for m in planned if m} & {"acceptance", "people_mediation"}, dry.stdout
    assert query(database_url, "SELECT id, due_at, warnings FROM deadline ORDER BY id") == before
    assert query(database_url, "SELECT count(*) FROM case_event WHERE kind = 'recomputed'") == [(0,)]

    done = run("deadlines", "recompute", tmp_path=tmp_path, url=database_url, config=config)

    assert done.returncode == 0, done.stderr
    *written, summary = done.stdout.splitlines()
    assert written == lines  # what the dry run said is what was done
    result = DONE.match(summary)
    assert result and result.group("changed") == found.group("changed"), done.stdout
    assert result.group("cases") == found.group("cases")
    events = query(database_url, "SELECT actor, actor_role FROM case_event WHERE kind = 'recomputed'")
    assert events == [("system", "system")] * int(found.group("cases"))
    assert query(database_url, "SELECT id, due_at, warnings FROM deadline ORDER BY id") != before

    again = run("deadlines", "recompute", tmp_path=tmp_path, url=database_url, config=config)
    verify = run("audit", "verify", tmp_path=tmp_path, url=database_url, config=config)

    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1].endswith(": 0 changed in 0 cases, 0 cases changed meanwhile")
    assert verify.returncode == 0 and verify.stdout.startswith("intact:"), verify
