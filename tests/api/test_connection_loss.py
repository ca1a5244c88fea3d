"""A PostgreSQL write that fails part-way writes nothing: a lost connection is a 503 with
Retry-After, a refused insert a 422, and the next attempt succeeds."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import sqlalchemy as sa

from tests.builders import case_body, move, open_case
from tests.conftest import Backend
from tests.rows import refusing_inserts

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


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


async def test_a_create_refused_at_its_last_insert_leaves_nothing_behind(
    client: httpx.AsyncClient, auth, postgres: Backend
) -> None:
    """A new case is one statement on PostgreSQL: when its announcement cannot be written, neither
    is the case, its parties, its event, its clocks nor its Idempotency-Key (then a retry works)."""
    station = await auth("dashi.mediator")
    headers = {**station, "Idempotency-Key": "refused-then-retried"}
    async with refusing_inserts(postgres, "inbox_item"):
        refused = await client.post("/api/v1/cases", json=case_body(), headers=headers)

    assert refused.status_code == 422, refused.text
    async with postgres.engine.connect() as conn:
        for table in ("cases", "party", "case_event", "deadline", "inbox_item", "idempotency_key"):
            count = (await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one()
            assert count == 0, table
    retried = await client.post("/api/v1/cases", json=case_body(), headers=headers)
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in {k.lower() for k in retried.headers}
