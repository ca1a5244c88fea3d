"""Opening a case on PostgreSQL without an Idempotency-Key: the id is drawn, then the case, its
parties, its `created` event, its clocks and its announcement are one autocommit statement,
answered from what it returned (service.cases.service._open_at_once). It must write exactly what
the transactional path (taken with an Idempotency-Key) writes, and answer what a read shows."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from service import fastpg
from service.cases.queries import case_event, cases, deadline, party
from service.notifications.service import inbox, outbox, subscriptions
from service.privacy.audit import verify_audit
from service.privacy.parties import unseal
from tests.builders import case_body
from tests.conftest import Backend

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

VOLATILE = {"id", "case_id", "number", "created_at", "updated_at", "at", "hash", "prev_hash", "started_at"}


def same_shape(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows without what differs between two cases opened a moment apart."""
    return sorted(
        ({k: v for k, v in r.items() if k not in VOLATILE} for r in rows),
        key=lambda r: sorted(map(str, r.items())),
    )


async def written(db: Backend, case_id: int) -> dict[str, Any]:
    """Every row a new case wrote, as far as it should not differ from another new case's."""
    async with db.engine.connect() as conn:

        async def rows(table: sa.Table, where: sa.ColumnElement[bool]) -> list[dict[str, Any]]:
            return [dict(r._mapping) for r in await conn.execute(sa.select(table).where(where))]

        case = await rows(cases, cases.c.id == case_id)
        parties = await rows(party, party.c.case_id == case_id)
        events = await rows(case_event, case_event.c.case_id == case_id)
        clocks = await rows(deadline, deadline.c.case_id == case_id)
        items = await rows(inbox, inbox.c.case_id == case_id)
        messages = await rows(outbox, outbox.c.payload["case_id"].as_integer() == case_id)
    return {
        "case": same_shape(case),
        # Personal fields are sealed with a fresh nonce each time: compare them opened.
        "parties": same_shape([unseal(p, db.ctx.cipher) for p in parties]),
        "events": same_shape(events),
        "deadlines": same_shape(clocks),
        "inbox": same_shape([{**i, "payload": {**i["payload"], "number": None}} for i in items]),
        # A message's key is random per announcement; its body names the case and the instant.
        "outbox": same_shape(
            [
                {
                    **m,
                    "idempotency_key": None,
                    "next_attempt_at": None,
                    "payload": {**m["payload"], "number": None, "case_id": None, "occurred_at": None},
                }
                for m in messages
            ]
        ),
    }


async def test_a_case_opened_in_one_statement_is_what_the_transaction_writes(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    station = await auth("dashi.mediator")
    async with db.engine.begin() as conn:  # the station has a webhook: the announcement reaches the outbox
        await conn.execute(
            sa.insert(subscriptions).values(
                unit_code="320583106005",
                url="https://hooks.example.test/jiefen",
                secret="s" * 32,
                active=True,
                created_at=sa.func.now(),
            )
        )
    pool = fastpg.for_engine(db.engine)
    assert pool is not None
    pool._statements.clear()

    one = await client.post("/api/v1/cases", json=case_body(), headers=station)
    assert one.status_code == 201, one.text
    assert len(pool._statements) == 2, "the id, then one statement"
    keyed = await client.post(
        "/api/v1/cases", json=case_body(), headers={**station, "Idempotency-Key": "k-1"}
    )
    assert keyed.status_code == 201, keyed.text
    fast, slow = one.json(), keyed.json()

    assert one.headers["Location"] == f"/api/v1/cases/{fast['id']}"
    assert fast == (await client.get(f"/api/v1/cases/{fast['id']}", headers=station)).json()
    assert fast["number"].endswith(f"-{fast['id']:06d}") and slow["number"].endswith(f"-{slow['id']:06d}")
    assert fast["deadlines"] and len(fast["parties"]) == 2
    fast_rows, slow_rows = await written(db, fast["id"]), await written(db, slow["id"])
    assert fast_rows["outbox"], "the subscription got a message"
    assert fast_rows == slow_rows
    assert (await verify_audit(db.engine)).intact


async def test_a_statement_that_fails_at_its_last_insert_leaves_nothing_behind(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    """One statement: when the announcement cannot be written, neither is the case, a party, the
    event or a clock (here a trigger refuses inbox rows the way a bad value would: 422)."""
    station = await auth("dashi.mediator")
    tables = (cases, party, case_event, deadline, inbox)

    async def counts() -> dict[str, int]:
        async with db.engine.connect() as conn:
            return {
                t.name: (await conn.execute(sa.select(sa.func.count()).select_from(t))).scalar_one()
                for t in tables
            }

    async with db.engine.begin() as conn:
        await conn.execute(
            sa.text(
                "CREATE FUNCTION refuse_inbox() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused for the test' USING ERRCODE = '22000'; END $$"
            )
        )
        await conn.execute(
            sa.text(
                "CREATE TRIGGER refuse_inbox BEFORE INSERT ON inbox_item FOR EACH ROW EXECUTE FUNCTION refuse_inbox()"
            )
        )
    try:
        before = await counts()
        refused = await client.post("/api/v1/cases", json=case_body(), headers=station)
        assert refused.status_code == 422, refused.text
        assert await counts() == before
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(sa.text("DROP TRIGGER refuse_inbox ON inbox_item"))
            await conn.execute(sa.text("DROP FUNCTION refuse_inbox()"))
    assert (await client.post("/api/v1/cases", json=case_body(), headers=station)).status_code == 201
