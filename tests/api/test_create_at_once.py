"""Opening a case on PostgreSQL: the id is drawn, then the case, its parties, its `created`
event, its clocks, its announcement and its Idempotency-Key's record (if it has one) are one
autocommit statement, answered from what it returned (service.cases.service._open_at_once). It
must write exactly what the transactional path (the engine's, taken without the fast pool)
writes, and answer what a read shows."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from service import fastpg
from service.cases.queries import case_event, cases, deadline, party
from service.notifications.service import inbox
from service.privacy.audit import verify_audit
from tests.builders import case_body
from tests.conftest import Backend
from tests.rows import refusing_inserts, subscribe, written

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


async def test_a_case_opened_in_one_statement_is_what_the_transaction_writes(
    client: httpx.AsyncClient, auth, db: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    station = await auth("dashi.mediator")
    await subscribe(db, "320583106005")  # the station has a webhook: announcements reach the outbox
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
    assert len(pool._statements) == 4, "the id unless the key is known, then one statement"
    with monkeypatch.context() as engine_only:
        engine_only.setattr(fastpg, "for_engine", lambda engine: None)
        slow_keyed = await client.post(
            "/api/v1/cases", json=case_body(), headers={**station, "Idempotency-Key": "k-2"}
        )
        slow_plain = await client.post("/api/v1/cases", json=case_body(), headers=station)
    assert (slow_keyed.status_code, slow_plain.status_code) == (201, 201)
    fast, fast_keyed = one.json(), keyed.json()

    assert one.headers["Location"] == f"/api/v1/cases/{fast['id']}"
    for answer in (fast, fast_keyed):
        assert answer == (await client.get(f"/api/v1/cases/{answer['id']}", headers=station)).json()
        assert answer["number"].endswith(f"-{answer['id']:06d}")
        assert answer["deadlines"] and len(answer["parties"]) == 2
    fast_rows, slow_rows = await written(db, fast["id"]), await written(db, slow_plain.json()["id"])
    keyed_rows, slow_keyed_rows = (
        await written(db, fast_keyed["id"]),
        await written(db, slow_keyed.json()["id"]),
    )
    assert fast_rows["outbox"], "the subscription got a message"
    assert fast_rows == slow_rows and not fast_rows["idempotency"]
    assert keyed_rows == slow_keyed_rows and keyed_rows["idempotency"]
    assert (await verify_audit(db.engine)).intact


async def test_a_keyed_create_repeated_writes_nothing_and_answers_the_first_case(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    station = await auth("dashi.mediator")
    headers = {**station, "Idempotency-Key": "phone-retry-7"}
    first = await client.post("/api/v1/cases", json=case_body(), headers=headers)
    before = await written(db, first.json()["id"])
    async with db.engine.connect() as conn:
        sequence = (await conn.execute(sa.text("SELECT last_value FROM cases_id_seq"))).scalar_one()

    again = await client.post("/api/v1/cases", json=case_body(), headers=headers)
    other = await client.post("/api/v1/cases", json=case_body(summary="另一起纠纷"), headers=headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"], other.text
    assert await written(db, first.json()["id"]) == before
    async with db.engine.connect() as conn:
        assert (await conn.execute(sa.text("SELECT count(*) FROM cases"))).scalar_one() == 1
        # A retry draws no id: the numbers of the cases that follow have no gap.
        assert (await conn.execute(sa.text("SELECT last_value FROM cases_id_seq"))).scalar_one() == sequence


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

    async with refusing_inserts(db, "inbox_item"):
        before = await counts()
        refused = await client.post("/api/v1/cases", json=case_body(), headers=station)
        assert refused.status_code == 422, refused.text
        assert await counts() == before
    assert (await client.post("/api/v1/cases", json=case_body(), headers=station)).status_code == 201
