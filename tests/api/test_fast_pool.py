"""The hot statements' own asyncpg pool (service/fastpg.py) on PostgreSQL.

Reads, lists and quiet transitions go through it; a connection the server dropped costs one request a
503 with Retry-After, never a 500, and the pool then reconnects by itself.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
import sqlalchemy as sa

from service import fastpg
from tests.builders import move, open_case
from tests.conftest import Backend

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


@pytest.fixture
def postgres(db: Backend) -> Backend:
    assert db.name == "postgresql"
    return db


async def _fast_backends(db: Backend) -> list[int]:
    """The server pids of the fast pool's connections (they run no statement of ours now)."""
    pool = fastpg.for_engine(db.engine)
    assert pool is not None
    return [conn.get_server_pid() for conn in pool._idle]


async def test_reads_and_quiet_transitions_use_the_fast_pool_and_compile_each_statement_once(
    client: httpx.AsyncClient, auth, postgres: Backend
) -> None:
    station = await auth("dashi.mediator")
    case = await move(client, station, await open_case(client, station), "accept")
    pool = fastpg.for_engine(postgres.engine)
    assert pool is not None
    pool._statements.clear()

    current = case
    compiled = []
    for _ in range(3):
        current = (await client.get(f"/api/v1/cases/{case['id']}", headers=station)).json()
        current = await move(client, station, current, "suspend", reason="等待伤情鉴定")
        current = await move(client, station, current, "resume")
        compiled.append(len(pool._statements))

    assert current["state"] == "mediating"
    # The case read, the suspend (pauses a clock) and the resume (resumes it): three, built once.
    assert compiled == [3, 3, 3]
    assert pool._idle, "the connections went back to the pool"


async def _drop_fast_connections(
    db: Backend, client: httpx.AsyncClient, headers: dict[str, str], case_id: int
) -> list[int]:
    """Two idle connections in the fast pool, then the server terminates both."""
    await client.get(f"/api/v1/cases/{case_id}", headers=headers)
    pool = fastpg.for_engine(db.engine)
    assert pool is not None
    spare = await pool._acquire()
    await pool._release(spare, broken=False)
    pids = await _fast_backends(db)
    assert pids
    async with db.engine.connect() as conn:
        for pid in pids:
            await conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    return pids


async def test_a_read_on_a_connection_the_server_dropped_is_retried_on_a_fresh_one(
    client: httpx.AsyncClient, auth, postgres: Backend
) -> None:
    station = await auth("dashi.mediator")
    case = await open_case(client, station)
    pids = await _drop_fast_connections(postgres, client, station, case["id"])

    read = await client.get(f"/api/v1/cases/{case['id']}", headers=station)

    assert read.status_code == 200, read.text
    assert read.json()["id"] == case["id"]
    assert not set(await _fast_backends(postgres)) & set(pids), "no dead connection kept"


async def test_a_write_whose_connection_dies_mid_statement_is_503_and_writes_nothing(
    client: httpx.AsyncClient, auth, postgres: Backend
) -> None:
    station = await auth("dashi.mediator")
    case = await move(client, station, await open_case(client, station), "accept")
    async with postgres.engine.connect() as blocker:
        # Hold the case row, so the write waits on it; then the server ends the writer's session.
        await blocker.execute(sa.text("SELECT id FROM cases WHERE id = :id FOR UPDATE"), {"id": case["id"]})
        write = asyncio.create_task(
            client.post(
                f"/api/v1/cases/{case['id']}/transitions",
                json={"trigger": "suspend", "reason": "等待伤情鉴定"},
                headers={**station, "If-Match": f'"{case["version"]}"'},
            )
        )
        waiting: list[int] = []
        for _ in range(200):
            async with postgres.engine.connect() as probe:
                waiting = list(
                    (
                        await probe.execute(
                            sa.text(
                                "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                "AND datname = current_database()"
                            )
                        )
                    ).scalars()
                )
            if waiting:
                break
            await asyncio.sleep(0.01)
        assert waiting, "the write never waited on the row"
        async with postgres.engine.connect() as admin:
            await admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": waiting[0]})
        failed = await write
        await blocker.rollback()

    assert failed.status_code == 503, failed.text
    assert failed.headers["retry-after"]
    assert failed.headers["content-type"] == "application/problem+json"
    unchanged = (await client.get(f"/api/v1/cases/{case['id']}", headers=station)).json()
    assert (unchanged["version"], unchanged["state"]) == (case["version"], "mediating")
    retried = await move(client, station, unchanged, "suspend", reason="等待伤情鉴定")
    assert retried["state"] == "suspended"


async def test_lists_use_the_fast_pool_one_statement_per_filter_set(
    client: httpx.AsyncClient, auth, postgres: Backend
) -> None:
    station = await auth("dashi.mediator")
    opened = [await open_case(client, station) for _ in range(3)]
    pool = fastpg.for_engine(postgres.engine)
    assert pool is not None
    pool._statements.clear()

    first = (await client.get("/api/v1/cases?limit=2", headers=station)).json()
    second = (await client.get("/api/v1/cases?limit=2&offset=2", headers=station)).json()
    past = (await client.get("/api/v1/cases?limit=2&offset=50", headers=station)).json()
    compiled = len(pool._statements)

    newest_first = [c["id"] for c in reversed(opened)]
    assert [c["id"] for c in first["items"]] == newest_first[:2]
    assert [c["id"] for c in second["items"]] == newest_first[2:]
    # A page past the end still says how many there are.
    assert past["items"] == [] and past["total"] == first["total"] == second["total"] == 3
    assert compiled == 1, "one filter set, one statement"

    # A clock filter (a constant IN list) and a coordinator's subtree (a list of many units).
    due = (await client.get("/api/v1/cases?due_before=2100-01-01T00:00:00Z", headers=station)).json()
    town = (await client.get("/api/v1/cases", headers=await auth("zhangpu.coordinator"))).json()
    assert due["total"] == 3 and {c["id"] for c in due["items"]} == set(newest_first)
    assert {c["id"] for c in town["items"]} >= set(newest_first)


async def _summary(db: Backend, case_id: int) -> str:
    async with db.engine.connect() as conn:
        return str(
            (
                await conn.execute(sa.text("SELECT summary FROM cases WHERE id = :id"), {"id": case_id})
            ).scalar()
        )


_RENAME = sa.text("UPDATE cases SET summary = :summary WHERE id = :id RETURNING id")


async def test_a_transaction_commits_its_block_and_rolls_back_one_that_raises(
    client: httpx.AsyncClient, auth, postgres: Backend
) -> None:
    case = await open_case(client, await auth("dashi.mediator"))
    pool = fastpg.for_engine(postgres.engine)
    assert pool is not None

    with pytest.raises(ValueError, match="refused"):
        async with pool.transaction() as tx:
            assert await tx.fetchrow(_RENAME, {"summary": "rolled back", "id": case["id"]}) is not None
            raise ValueError("refused")
    kept = list(pool._idle)
    async with pool.transaction() as tx:
        await tx.fetchrow(_RENAME, {"summary": "committed", "id": case["id"]})

    assert await _summary(postgres, case["id"]) == "committed"
    assert kept and all(not conn.is_in_transaction() for conn in kept), "rolled back, back in the pool"


async def test_a_transaction_whose_connection_dies_is_503_and_one_cancelled_leaves_nothing(
    client: httpx.AsyncClient, auth, postgres: Backend
) -> None:
    case = await open_case(client, await auth("dashi.mediator"))
    pool = fastpg.for_engine(postgres.engine)
    assert pool is not None

    with pytest.raises(sa.exc.OperationalError) as lost:
        async with pool.transaction() as tx:
            await tx.fetchrow(_RENAME, {"summary": "lost", "id": case["id"]})
            await tx.fetchrow(sa.text("SELECT pg_terminate_backend(pg_backend_pid())"), {})
    assert lost.value.connection_invalidated

    started = asyncio.Event()

    async def stalled() -> None:
        async with pool.transaction() as tx:
            await tx.fetchrow(_RENAME, {"summary": "cancelled", "id": case["id"]})
            started.set()
            await tx.fetchrow(sa.text("SELECT pg_sleep(30)"), {})

    task = asyncio.create_task(stalled())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await _summary(postgres, case["id"]) == case["summary"]
    assert all(not conn.is_in_transaction() for conn in pool._idle)
    async with postgres.engine.begin() as conn:  # the cancelled transaction holds no lock
        await conn.execute(sa.text("SET LOCAL lock_timeout = '2s'"))
        await conn.execute(_RENAME, {"summary": case["summary"], "id": case["id"]})
    # The pool goes on serving after both.
    assert (
        await client.get(f"/api/v1/cases/{case['id']}", headers=await auth("dashi.mediator"))
    ).status_code == 200
