"""Every row a case wrote, for tests that compare two ways of writing the same thing (a case
opened or moved in one statement against the transaction that writes it step by step)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa

from service.cases.queries import case_event, cases, deadline, idempotency, party
from service.notifications.service import inbox, outbox, subscriptions
from service.personal.sealing import unseal
from service.referrals.service import referral
from tests.conftest import Backend

# What differs between two cases written a moment apart.
VOLATILE = {
    "id",
    "case_id",
    "number",
    "created_at",
    "updated_at",
    "at",
    "hash",
    "prev_hash",
    "started_at",
    "offered_at",
    "responded_at",
}


def same_shape(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows without what differs between two cases written a moment apart, in a fixed order."""
    return sorted(
        ({k: v for k, v in r.items() if k not in VOLATILE} for r in rows),
        key=lambda r: sorted(map(str, r.items())),
    )


async def subscribe(db: Backend, unit_code: str) -> None:
    """A webhook subscription for the unit, so that announcements to it reach the outbox."""
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.insert(subscriptions).values(
                unit_code=unit_code,
                url=f"https://hooks.example.test/jiefen/{unit_code}",
                secret="s" * 32,
                active=True,
                created_at=sa.func.now(),
            )
        )


async def written(db: Backend, case_id: int) -> dict[str, Any]:
    """Every row a case wrote, as far as it should not differ from another case's."""
    async with db.engine.connect() as conn:

        async def rows(table: sa.Table, where: sa.ColumnElement[bool]) -> list[dict[str, Any]]:
            return [dict(r._mapping) for r in await conn.execute(sa.select(table).where(where))]

        case = await rows(cases, cases.c.id == case_id)
        parties = await rows(party, party.c.case_id == case_id)
        events = await rows(case_event, case_event.c.case_id == case_id)
        clocks = await rows(deadline, deadline.c.case_id == case_id)
        items = await rows(inbox, inbox.c.case_id == case_id)
        messages = await rows(outbox, outbox.c.payload["case_id"].as_integer() == case_id)
        keys = await rows(idempotency, idempotency.c.case_id == case_id)
        referrals = await rows(referral, referral.c.case_id == case_id)
    return {
        "case": same_shape(case),
        "idempotency": same_shape([{**k, "key": None} for k in keys]),
        # Personal fields are sealed with a fresh nonce each time: compare them opened.
        "parties": same_shape([unseal(p, db.ctx.cipher) for p in parties]),
        "events": same_shape(events),
        "deadlines": same_shape(clocks),
        "referrals": same_shape(referrals),
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


@asynccontextmanager
async def refusing_inserts(db: Backend, table: str) -> AsyncIterator[None]:
    """PostgreSQL: while open, a trigger refuses every insert into ``table`` the way a bad value
    would (SQLSTATE 22000, answered 422), so a test can fail a statement at that insert."""
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.text(
                "CREATE FUNCTION refuse_insert() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused for the test' USING ERRCODE = '22000'; END $$"
            )
        )
        await conn.execute(
            sa.text(
                f"CREATE TRIGGER refuse_insert BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION refuse_insert()"
            )
        )
    try:
        yield
    finally:
        async with db.engine.begin() as conn:
            await conn.execute(sa.text(f"DROP TRIGGER refuse_insert ON {table}"))
            await conn.execute(sa.text("DROP FUNCTION refuse_insert()"))
