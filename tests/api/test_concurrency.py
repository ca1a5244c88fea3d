"""Races that only a real multi-connection database can show (PostgreSQL)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import sqlalchemy as sa

from tests.builders import case_body, fire, open_case
from tests.conftest import Backend

# Only on PostgreSQL: SQLite serialises every writer, so there is no race to show there.
pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


async def test_twenty_concurrent_transitions_with_one_version_let_exactly_one_through(
    client: httpx.AsyncClient, auth, postgres: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)

    responses = await asyncio.gather(*(fire(client, mediator, case, "accept") for _ in range(20)))

    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) == 1
    assert set(codes) - {200} <= {409, 412}
    events = (await client.get(f"/api/v1/cases/{case['id']}/events", headers=mediator)).json()
    assert [e["trigger"] for e in events] == [None, "accept"]


async def test_concurrent_different_triggers_on_one_version_keep_one_history(
    client: httpx.AsyncClient, auth, postgres: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)

    responses = await asyncio.gather(
        *(fire(client, mediator, case, "accept") for _ in range(10)),
        *(fire(client, mediator, case, "decline", reason="不属本站") for _ in range(10)),
    )

    assert [r.status_code for r in responses].count(200) == 1
    async with postgres.engine.connect() as conn:
        version = (
            await conn.execute(sa.text("SELECT version FROM cases WHERE id = :id"), {"id": case["id"]})
        ).scalar()
        events = (
            await conn.execute(
                sa.text("SELECT count(*) FROM case_event WHERE case_id = :id"), {"id": case["id"]}
            )
        ).scalar()
    assert (version, events) == (2, 2)


async def test_ten_concurrent_creations_with_one_idempotency_key_make_one_case(
    client: httpx.AsyncClient, auth, postgres: Backend
) -> None:
    headers = {**await auth("dashi.mediator"), "Idempotency-Key": "flaky-phone-42"}

    responses = await asyncio.gather(
        *(client.post("/api/v1/cases", json=case_body(), headers=headers) for _ in range(10))
    )

    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    async with postgres.engine.connect() as conn:
        count = (await conn.execute(sa.text("SELECT count(*) FROM cases"))).scalar()
        events = (await conn.execute(sa.text("SELECT count(*) FROM case_event"))).scalar()
        # The losers left nothing of their own: no party, inbox item or clock without its case.
        parties, items, keys = (
            await conn.execute(
                sa.text(
                    "SELECT (SELECT count(*) FROM party), (SELECT count(*) FROM inbox_item), "
                    "(SELECT count(*) FROM idempotency_key)"
                )
            )
        ).one()
        clocks = (await conn.execute(sa.text("SELECT count(DISTINCT case_id) FROM deadline"))).scalar()
    assert (count, events) == (1, 1)
    assert (parties, items, keys, clocks) == (len(case_body()["parties"]), 1, 1, 1)
