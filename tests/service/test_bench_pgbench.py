"""The benchmark's pgbench scripts on the real schema: each transaction is the transition it claims
to be (a short pgbench run per script, not a measurement). A migration that renames a column
the scripts use fails here rather than in the next benchmark run."""

from __future__ import annotations

import subprocess
from typing import Any

import asyncpg
import pytest

from bench.harness import load_background, pgbench_command, prepare
from tests.conftest import (
    FIXED_NOW,
    PG_ADMIN_URL,
    TEST_AUDIT_KEY,
    TEST_DATA_KEY,
    _create_pg_database,
    _drop_pg_database,
)

pytestmark = pytest.mark.postgres

CASES = 6


@pytest.fixture(scope="module")
async def seeded() -> Any:
    """A migrated database with the benchmark's background cases (mediating, one running clock)."""
    made = await _create_pg_database()
    assert made is not None
    name, url = made
    try:
        _, ctx = await prepare(url, TEST_DATA_KEY, TEST_AUDIT_KEY, clerks=0)
        await load_background(url.replace("+asyncpg", ""), ctx, CASES, FIXED_NOW)
        yield name, url.replace("+asyncpg", "")
    finally:
        await _drop_pg_database(name)


def run_once(db: str, *, whole: bool, case_id: int) -> None:
    cmd = pgbench_command(
        PG_ADMIN_URL, db, whole=whole, first=case_id, last=case_id, clients=1, run=["-t", "1"]
    )
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "number of transactions actually processed: 1/1" in done.stdout, done.stdout
    assert "number of failed transactions: 0" in done.stdout, done.stdout


async def state_of(dsn: str, case_id: int) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        case = await conn.fetchrow("SELECT state, version FROM cases WHERE id = $1", case_id)
        clock = await conn.fetchrow(
            "SELECT status, due_at, paused_at, warn_at FROM deadline WHERE case_id = $1", case_id
        )
        events = await conn.fetch(
            "SELECT seq, trigger, from_state, to_state FROM case_event WHERE case_id = $1 ORDER BY seq",
            case_id,
        )
    finally:
        await conn.close()
    return {"case": dict(case), "clock": dict(clock), "events": [tuple(e) for e in events]}


async def test_the_whole_transition_script_suspends_and_resumes_a_case_with_its_clock(
    seeded: tuple[str, str],
) -> None:
    name, dsn = seeded
    before = await state_of(dsn, 4)
    assert before["case"] == {"state": "mediating", "version": 1}
    assert before["clock"]["status"] == "active"

    run_once(name, whole=True, case_id=4)
    suspended = await state_of(dsn, 4)
    assert suspended["case"] == {"state": "suspended", "version": 2}
    assert suspended["clock"]["status"] == "paused" and suspended["clock"]["paused_at"] is not None
    assert suspended["events"][-1] == (2, "suspend", "mediating", "suspended")

    run_once(name, whole=True, case_id=4)
    resumed = await state_of(dsn, 4)
    assert resumed["case"] == {"state": "mediating", "version": 3}
    assert resumed["clock"]["status"] == "active" and resumed["clock"]["paused_at"] is None
    # The time it stood paused is added to its due date.
    assert resumed["clock"]["due_at"] > before["clock"]["due_at"]
    assert resumed["events"][-1] == (3, "resume", "suspended", "mediating")


async def test_the_write_script_moves_the_case_and_appends_its_event(seeded: tuple[str, str]) -> None:
    name, dsn = seeded
    run_once(name, whole=False, case_id=1)
    after = await state_of(dsn, 1)
    assert after["case"] == {"state": "suspended", "version": 2}
    assert after["events"][-1] == (2, "suspend", "mediating", "suspended")
    # Only the case and its event: the write alone does not touch the clock.
    assert after["clock"]["status"] == "active"
