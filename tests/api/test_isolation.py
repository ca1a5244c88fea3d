"""The `db` fixture's reset (tests/conftest.py): what every other test stands on.

After it the case tables are empty, ids start at 1 again and the audit chain is at its beginning,
as after the ``TRUNCATE … RESTART IDENTITY`` it replaced; on PostgreSQL both of its ways (DELETE for
a few rows, TRUNCATE past BULK_ROWS) are taken here.
"""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from tests.builders import open_case
from tests.conftest import BULK_ROWS, CASE_TABLES, Backend


async def reset(db: Backend) -> None:
    async with db.engine.begin() as conn:
        for statement in db.reset:
            await conn.execute(statement)


async def counts(db: Backend) -> dict[str, int]:
    async with db.engine.connect() as conn:
        return {
            table: (await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))).scalar_one()
            for table in CASE_TABLES
        }


async def copy_parties(db: Backend, times: int) -> None:
    """Each party row again ``times`` times (new ids), straight in SQL."""
    party = SQLModel.metadata.tables["party"]
    async with db.engine.begin() as conn:
        rows = (await conn.execute(sa.select(*(c for c in party.c if c.name != "id")))).mappings().all()
        await conn.execute(sa.insert(party), [dict(row) for row in rows] * times)


@pytest.mark.parametrize("rows", ["few", "bulk"])
async def test_reset_empties_the_case_tables_and_ids_and_the_audit_chain_start_again(
    client: httpx.AsyncClient, auth, db: Backend, rows: str
) -> None:
    mediator = await auth("dashi.mediator")
    first = await open_case(client, mediator)
    second = await open_case(client, mediator)
    assert [first["id"], second["id"]] == [1, 2]
    # A failed sign-in: a security event (chained: the audit chain moves) and a throttle row.
    failed = await client.post("/api/v1/auth/token", data={"username": "dashi.mediator", "password": "wrong"})
    assert failed.status_code == 401
    if rows == "bulk":
        await copy_parties(db, BULK_ROWS)  # past the threshold: the TRUNCATE way on PostgreSQL
    written = await counts(db)
    assert {t for t, n in written.items() if n} >= {"cases", "party", "case_event", "security_event"}
    async with db.engine.connect() as conn:
        assert (await conn.execute(sa.text("SELECT max(seq) FROM audit_chain"))).scalar_one() > 0

    await reset(db)

    assert await counts(db) == dict.fromkeys(CASE_TABLES, 0)
    async with db.engine.connect() as conn:
        chain = (
            await conn.execute(
                sa.text("SELECT seq, last_hash, anchor_hash FROM audit_chain WHERE name = 'security'")
            )
        ).all()
        fingerprint = (
            await conn.execute(sa.text("SELECT last_hash FROM audit_chain WHERE name = 'audit_key'"))
        ).scalar_one()
    assert chain and all(tuple(row) == (0, "", "") for row in chain)
    assert (
        fingerprint == db.engine.sync_engine.get_execution_options()["jiefen_audit_key"].fingerprint
    )  # kept
    again = await open_case(client, mediator)
    assert again["id"] == 1
    assert again["number"].endswith("-000001")
