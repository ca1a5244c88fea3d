"""Document and case-file numbers over HTTP, on SQLite and PostgreSQL: a closed case's 卷宗 number
(the next of its unit and year, kept for good, on the case's audit trail), a unit's register, who
may do which; a number taken in a transaction that rolls back is not used up; the year turns at
midnight in Kunshan; and, on PostgreSQL, 20 concurrent requests get exactly 1..20."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from service.cases import queries as case_queries
from service.cases.edits import record_case_event
from service.errors import StaleVersion
from service.numbering.models import NumberCounter, NumberTaken
from service.numbering.service import Numbering, take_number
from tests.builders import DASHI, WULIAN, ZHANGPU, move, open_case
from tests.conftest import Backend, FrozenClock
from workflows.lifecycle import Actor, Role

pytestmark = pytest.mark.usefixtures("frozen_clock", "trail_stays_intact")

counter: sa.Table = NumberCounter.__table__  # type: ignore[attr-defined]
taken: sa.Table = NumberTaken.__table__  # type: ignore[attr-defined]


async def closed_case(
    client: httpx.AsyncClient, mediator: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    """A neighbour dispute accepted, mediated to an oral agreement, and performed: closed."""
    case = await move(client, mediator, await open_case(client, mediator, **overrides), "accept")
    case = await move(client, mediator, case, "settle", agreement={"form": "oral", "terms": "道歉并修复墙面"})
    case = await move(client, mediator, case, "record_performance", performance="performed")
    assert case["state"] == "closed"
    return case


def file_number(client: httpx.AsyncClient, headers: dict[str, str], case: dict[str, Any]) -> Any:
    return client.post(f"/api/v1/cases/{case['id']}/file-number", headers=headers)


async def register(
    client: httpx.AsyncClient, headers: dict[str, str], unit: str, year: int, **query: str
) -> httpx.Response:
    return await client.get(f"/api/v1/units/{unit}/numbers/{year}", headers=headers, params=query)


async def test_a_closed_case_gets_its_units_first_file_number_and_keeps_it(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await closed_case(client, mediator)

    first = await file_number(client, mediator, case)
    again = await file_number(client, mediator, case)

    assert first.status_code == 201, first.text
    body = first.json()
    assert body["text"] == "(2026)昆张大调卷字第 0001 号"  # 张浦镇 大市社区, derived prefix
    assert (body["unit_code"], body["kind"], body["kind_name"], body["year"], body["number"]) == (
        DASHI,
        "file",
        "卷宗",
        2026,
        1,
    )
    assert body["taken_by"] == "dashi.mediator"
    assert again.status_code == 200
    assert again.json() == body
    events = (await client.get(f"/api/v1/cases/{case['id']}/events", headers=mediator)).json()
    numbered = [e for e in events if e["kind"] == "file_number"]
    assert len(numbered) == 1  # the second request changed nothing
    assert numbered[0]["payload"] == {
        "file_number": "(2026)昆张大调卷字第 0001 号",
        "unit_code": DASHI,
        "year": 2026,
        "number": 1,
    }
    assert numbered[0]["actor"] == "dashi.mediator"
    numbers = (await client.get(f"/api/v1/cases/{case['id']}/numbers", headers=mediator)).json()
    assert [n["text"] for n in numbers] == ["(2026)昆张大调卷字第 0001 号"]


async def test_numbers_follow_one_another_per_unit(client: httpx.AsyncClient, auth: Any, db: Backend) -> None:
    dashi = await auth("dashi.mediator")
    wulian = await auth("wulian.mediator")
    one = await closed_case(client, dashi)
    two = await closed_case(client, dashi)
    elsewhere = await closed_case(client, wulian, location_code=WULIAN)

    texts = [
        (await file_number(client, h, c)).json()["text"]
        for h, c in ((dashi, two), (dashi, one), (wulian, elsewhere))
    ]

    assert texts == [
        "(2026)昆张大调卷字第 0001 号",
        "(2026)昆张大调卷字第 0002 号",
        "(2026)昆玉五调卷字第 0001 号",  # 玉山镇 五联村 counts on its own
    ]
    listed = await register(client, dashi, DASHI, 2026)
    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert (page["unit_name"], page["last"]) == ("大市社区", {"file": 2})
    assert [(n["number"], n["case_id"]) for n in page["numbers"]] == [(1, two["id"]), (2, one["id"])]


async def test_a_case_still_open_has_no_file_to_number(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)

    response = await file_number(client, mediator, case)

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert "closed" in response.json()["detail"]
    async with db.engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(counter))).scalar() == 0


async def test_only_those_who_handle_the_case_number_it(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    case = await closed_case(client, await auth("dashi.mediator"))

    auditor = await file_number(client, await auth("auditor"), case)
    stranger = await file_number(client, await auth("wulian.mediator"), case)
    coordinator = await file_number(client, await auth("zhangpu.coordinator"), case)

    assert auditor.status_code == 409  # reads every case, acts on none
    assert "does not handle" in auditor.json()["detail"]
    assert stranger.status_code == 404  # another station's case looks absent
    assert coordinator.status_code == 201  # the town centre supervises 大市社区
    assert coordinator.json()["taken_by"] == "zhangpu.coordinator"


async def test_who_reads_a_units_register(client: httpx.AsyncClient, auth: Any, db: Backend) -> None:
    mediator = await auth("dashi.mediator")
    await file_number(client, mediator, await closed_case(client, mediator))

    assert (await register(client, mediator, DASHI, 2026)).status_code == 200
    assert (await register(client, await auth("zhangpu.coordinator"), DASHI, 2026)).status_code == 200
    assert (await register(client, await auth("auditor"), DASHI, 2026)).status_code == 200
    assert (await register(client, await auth("wulian.mediator"), DASHI, 2026)).status_code == 404
    assert (await register(client, await auth("zhangpu.coordinator"), WULIAN, 2026)).status_code == 404
    assert (await register(client, await auth("zhangpu.police"), DASHI, 2026)).status_code == 403
    unknown = await register(client, mediator, "320583999", 2026)
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "path.unit_code"
    kind = await register(client, mediator, DASHI, 2026, kind="invoice")
    assert kind.status_code == 422
    assert kind.json()["errors"][0]["field"] == "query.kind"
    only_files = (await register(client, mediator, DASHI, 2026, kind="file")).json()
    assert [n["kind"] for n in only_files["numbers"]] == ["file"]
    nothing_yet = (await register(client, await auth("zhangpu.coordinator"), ZHANGPU, 2026)).json()
    assert (nothing_yet["last"], nothing_yet["numbers"]) == ({}, [])


async def test_a_number_taken_in_a_transaction_that_rolls_back_is_not_used_up(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    numbering: Numbering = db.app.state.numbering
    actor = Actor("dashi.mediator", Role.mediator, DASHI)
    now = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)

    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned):
        async with db.engine.begin() as conn:
            lost = await take_number(
                conn, DASHI, "written_agreement", case["id"], actor, now, numbering=numbering
            )
            assert lost.text == "(2026)昆张大调字第 0001 号"
            raise Abandoned  # the document it numbered failed to save
    async with db.engine.begin() as conn:
        kept = await take_number(
            conn, DASHI, "written_agreement", case["id"], actor, now, numbering=numbering
        )
        other = await take_number(conn, DASHI, "session_record", case["id"], actor, now, numbering=numbering)

    assert (kept.number, kept.text) == (1, "(2026)昆张大调字第 0001 号")  # the same number again: no gap
    assert (other.number, other.text) == (1, "(2026)昆张大调记字第 0001 号")  # each kind counts alone
    async with db.engine.connect() as conn:
        rows = (await conn.execute(sa.select(taken.c.kind, taken.c.number).order_by(taken.c.id))).all()
    assert [tuple(r) for r in rows] == [("written_agreement", 1), ("session_record", 1)]


async def test_the_year_turns_at_midnight_in_kunshan(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    mediator = await auth("dashi.mediator")
    cases = [await closed_case(client, mediator) for _ in range(3)]

    frozen_clock.set(datetime(2026, 12, 31, 15, 59, 59, tzinfo=UTC))  # 23:59:59 on New Year's Eve in Kunshan
    before = (await file_number(client, mediator, cases[0])).json()
    frozen_clock.set(datetime(2026, 12, 31, 16, 0, tzinfo=UTC))  # midnight in Kunshan, still 2026 in UTC
    after = (await file_number(client, mediator, cases[1])).json()
    next_one = (await file_number(client, mediator, cases[2])).json()

    assert (before["year"], before["text"]) == (2026, "(2026)昆张大调卷字第 0001 号")
    assert (after["year"], after["text"]) == (2027, "(2027)昆张大调卷字第 0001 号")
    assert next_one["text"] == "(2027)昆张大调卷字第 0002 号"
    assert [n["number"] for n in (await register(client, mediator, DASHI, 2026)).json()["numbers"]] == [1]
    assert [n["number"] for n in (await register(client, mediator, DASHI, 2027)).json()["numbers"]] == [1, 2]


async def test_the_register_refuses_a_second_holder_of_a_number(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    """The register's key: even a writer that skipped the counter cannot give a number twice, nor
    a case two file numbers."""
    mediator = await auth("dashi.mediator")
    one = await closed_case(client, mediator)
    two = await closed_case(client, mediator)
    await file_number(client, mediator, one)
    row = {
        "unit_code": DASHI,
        "kind": "file",
        "year": 2026,
        "text": "x",
        "taken_at": datetime(2026, 3, 2, tzinfo=UTC),
        "taken_by": "x",
    }
    for clash in ({"number": 1, "case_id": two["id"]}, {"number": 2, "case_id": one["id"]}):
        with pytest.raises(sa.exc.IntegrityError):
            async with db.engine.begin() as conn:
                await conn.execute(sa.insert(taken).values(**row, **clash))


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_twenty_concurrent_requests_get_exactly_one_to_twenty(
    client: httpx.AsyncClient, auth: Any, postgres: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    cases = [await closed_case(client, mediator) for _ in range(20)]

    responses = await asyncio.gather(*(file_number(client, mediator, case) for case in cases))

    assert [r.status_code for r in responses] == [201] * 20, [
        r.text for r in responses if r.status_code != 201
    ]
    numbers = sorted(r.json()["number"] for r in responses)
    assert numbers == list(range(1, 21))
    assert len({r.json()["case_id"] for r in responses}) == 20
    async with postgres.engine.connect() as conn:
        last = (await conn.execute(sa.select(counter.c.last_number))).scalar_one()
        stored = (await conn.execute(sa.select(taken.c.number).order_by(taken.c.number))).scalars().all()
    assert (last, list(stored)) == (20, list(range(1, 21)))


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_concurrent_requests_for_one_case_give_it_one_number(
    client: httpx.AsyncClient, auth: Any, postgres: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await closed_case(client, mediator)

    responses = await asyncio.gather(*(file_number(client, mediator, case) for _ in range(10)))

    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert {r.json()["text"] for r in responses} == {"(2026)昆张大调卷字第 0001 号"}
    async with postgres.engine.connect() as conn:
        last = (await conn.execute(sa.select(counter.c.last_number))).scalar_one()
    assert last == 1  # the losers' numbers went back with their transactions
    events = (await client.get(f"/api/v1/cases/{case['id']}/events", headers=mediator)).json()
    assert [e["kind"] for e in events].count("file_number") == 1


async def test_a_document_numbered_on_a_case_that_moved_meanwhile_takes_no_number(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    """How issue 19's documents take a number: as the work of the case event that records the
    document. Written against a stale version, the event is refused (412) in its transaction and
    no number is used up; on the current version the first number is taken."""
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    stale = await case_queries.read_case(db.engine, case["id"])
    assert stale is not None
    await move(client, mediator, case, "accept")  # the case moves on under the stale read
    numbering: Numbering = db.app.state.numbering
    actor = Actor("dashi.mediator", Role.mediator, DASHI)
    now = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    got: list[str] = []

    async def number(conn: AsyncConnection) -> None:
        got.append(
            (
                await take_number(conn, DASHI, "rights_notice", case["id"], actor, now, numbering=numbering)
            ).text
        )

    with pytest.raises(StaleVersion):
        await record_case_event(
            db.engine, db.ctx, stale, actor, now=now, kind="document", reason=None, payload={}, work=number
        )
    fresh = await case_queries.read_case(db.engine, case["id"])
    assert fresh is not None
    await record_case_event(
        db.engine, db.ctx, fresh, actor, now=now, kind="document", reason=None, payload={}, work=number
    )

    assert got == ["(2026)昆张大调告字第 0001 号"]  # the stale write never reached its work
    async with db.engine.connect() as conn:
        assert (await conn.execute(sa.select(counter.c.last_number))).scalar_one() == 1


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_a_taker_waits_for_an_open_transaction_and_gets_its_number_when_it_rolls_back(
    client: httpx.AsyncClient, auth: Any, postgres: Backend
) -> None:
    """Across connections (as across replicas): while one transaction holds number n uncommitted,
    another taker waits; when the first rolls back, the waiting one gets n, not n + 1. Once with
    a new counter row (the INSERT path), once with an existing one (the UPDATE path)."""
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    numbering: Numbering = postgres.app.state.numbering
    actor = Actor("dashi.mediator", Role.mediator, DASHI)
    now = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)

    async def take_and_commit() -> int:
        async with postgres.engine.begin() as conn:
            return (
                await take_number(conn, DASHI, "session_record", case["id"], actor, now, numbering=numbering)
            ).number

    for expected in (1, 2):
        async with postgres.engine.connect() as first:
            transaction = await first.begin()
            held = await take_number(
                first, DASHI, "session_record", case["id"], actor, now, numbering=numbering
            )
            assert held.number == expected
            waiting = asyncio.create_task(take_and_commit())
            await asyncio.sleep(0.5)
            assert not waiting.done()  # blocked on the counter row
            await transaction.rollback()
        assert await asyncio.wait_for(waiting, timeout=10) == expected
