"""The court desk queue: ordered, claimed atomically, each claim a lease."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from service.court.service import claim_next
from service.integrity.verify import verify_audit
from service.sweep import sweep
from tests.builders import COURT_DESK, DASHI, fire, move, open_case
from tests.conftest import FIXED_NOW, Backend, FrozenClock
from workflows.lifecycle import Actor, Role


async def referred_case(
    client: httpx.AsyncClient, mediator: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    case = await move(client, mediator, await open_case(client, mediator, **overrides), "accept")
    case = await move(client, mediator, case, "terminate", termination_reason="gap_too_wide")
    return await move(client, mediator, case, "refer_to_court", reason="调解不成，当事人同意移送")


@pytest.mark.usefixtures("trail_stays_intact")
async def test_queue_lists_gravest_first_and_claims_go_in_that_order(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station, clerk = await auth("dashi.mediator"), await auth("court.clerk")
    plain = await referred_case(client, station)
    frozen_clock.set(FIXED_NOW + timedelta(minutes=5))
    # A criminal-risk case is triaged red at the city centre: the city refers it.
    grave = await referred_case(client, await auth("city.coordinator"), flags=["criminal_risk"])

    queue = (await client.get("/api/v1/court/queue", headers=clerk)).json()
    assert [c["id"] for c in queue["items"]] == [grave["id"], plain["id"]]

    first = await client.post("/api/v1/court/queue/claim", headers=clerk)
    second = await client.post("/api/v1/court/queue/claim", headers=await auth("court.clerk2"))
    empty = await client.post("/api/v1/court/queue/claim", headers=clerk)

    assert (first.status_code, second.status_code, empty.status_code) == (200, 200, 204)
    assert (first.json()["id"], first.json()["state"]) == (grave["id"], "in_court")
    assert second.json()["id"] == plain["id"]
    assert (await client.get("/api/v1/court/queue", headers=clerk)).json()["total"] == 0


@pytest.mark.usefixtures("trail_stays_intact")
async def test_only_the_court_desk_works_the_queue(client: httpx.AsyncClient, auth, db: Backend) -> None:
    station = await auth("dashi.mediator")

    assert (await client.get("/api/v1/court/queue", headers=station)).status_code == 403
    assert (await client.post("/api/v1/court/queue/claim", headers=station)).status_code == 403
    assert (await client.get("/api/v1/court/queue", headers=await auth("auditor"))).status_code == 200


@pytest.mark.usefixtures("trail_stays_intact")
async def test_an_unworked_claim_returns_to_the_queue_when_its_lease_runs_out(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    clerk = await auth("court.clerk")
    case = await referred_case(client, await auth("dashi.mediator"))
    claimed = (await client.post("/api/v1/court/queue/claim", headers=clerk)).json()
    assert claimed["id"] == case["id"]

    early = await sweep(db.engine, db.ctx, now=FIXED_NOW + timedelta(minutes=29))
    late = await sweep(db.engine, db.ctx, now=FIXED_NOW + timedelta(minutes=31))

    assert (early.released, late.released) == (0, 1)
    back = (await client.get(f"/api/v1/cases/{case['id']}", headers=clerk)).json()
    assert (back["state"], back["unit_code"]) == ("referred", COURT_DESK)
    events = (await client.get(f"/api/v1/cases/{case['id']}/events", headers=clerk)).json()
    assert (events[-1]["trigger"], events[-1]["actor"]) == ("release", "system")
    assert "court.clerk" in events[-1]["reason"]


@pytest.mark.usefixtures("trail_stays_intact")
async def test_a_clerk_who_acts_keeps_the_case(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    clerk = await auth("court.clerk")
    await referred_case(client, await auth("dashi.mediator"))
    claimed = (await client.post("/api/v1/court/queue/claim", headers=clerk)).json()

    delegated = await move(
        client,
        clerk,
        claimed,
        "delegate",
        target_unit=DASHI,
        court_case_number="(2026)苏0583民初1234号",
        procedure="simplified",
    )
    report = await sweep(db.engine, db.ctx, now=FIXED_NOW + timedelta(hours=2))

    assert report.released == 0
    assert (delegated["state"], delegated["unit_code"], delegated["court_procedure"]) == (
        "assigned",
        DASHI,
        "simplified",
    )
    accepted = await move(client, await auth("dashi.mediator"), delegated, "accept")
    kinds = {d["kind"]: d for d in accepted["deadlines"] if d["status"] == "active"}
    assert "court_delegation_simplified" in kinds  # the 7-day clock runs from the mediator's acceptance
    assert "people_mediation" not in kinds


@pytest.mark.usefixtures("trail_stays_intact")
async def test_a_claim_answers_with_the_case_as_stored_and_keeps_the_audit_chain(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    clerk = await auth("court.clerk")
    case = await referred_case(client, await auth("dashi.mediator"))

    claimed = await client.post("/api/v1/court/queue/claim", headers=clerk)

    assert claimed.status_code == 200, claimed.text
    stored = await client.get(f"/api/v1/cases/{case['id']}", headers=clerk)
    assert claimed.json() == stored.json()
    assert claimed.headers["etag"] == stored.headers["etag"] == f'"{case["version"] + 1}"'
    assert claimed.json()["state"] == "in_court"
    events = (await client.get(f"/api/v1/cases/{case['id']}/events", headers=clerk)).json()
    assert (events[-1]["trigger"], events[-1]["actor"], events[-1]["seq"]) == (
        "claim",
        "court.clerk",
        case["version"] + 1,
    )
    assert (await verify_audit(db.engine)).intact


class TestConcurrentClerks:
    # SKIP LOCKED decides on PostgreSQL (on SQLite the version check does, one writer at a time).
    pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

    async def test_sixteen_clerks_drain_a_thousand_cases_each_claimed_once(self, db: Backend) -> None:
        await _bulk_referred(db, 1000)
        clerk = Actor("court.clerk", Role.court_clerk, COURT_DESK)
        claimed: list[int] = []

        async def work() -> None:
            while (case := await claim_next(db.engine, db.ctx, clerk, now=FIXED_NOW)) is not None:
                claimed.append(case.id)

        await asyncio.gather(*(work() for _ in range(16)))

        assert len(claimed) == len(set(claimed)) == 1000
        async with db.engine.connect() as conn:
            states = dict(
                (await conn.execute(sa.text("SELECT state, count(*) FROM cases GROUP BY state"))).all()
            )
            claims = (
                await conn.execute(
                    sa.text(
                        "SELECT count(*), count(DISTINCT case_id), count(*) FILTER (WHERE seq = 2) "
                        "FROM case_event WHERE trigger = 'claim'"
                    )
                )
            ).one()
        assert states == {"in_court": 1000}
        assert tuple(claims) == (1000, 1000, 1000)


TRIAGE = (
    '{"rule": "manual-dispatch", "reasons": ["兜底规则"], "route": "manual", "unit_code": "320583106", '
    '"tier": "town", "channel": "people", "risk": "green", "state": "registered", "hub_code": "320583106", '
    '"report": false}'
)


async def _bulk_referred(db: Backend, count: int) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.text(
                """
                INSERT INTO cases (number, dispute_type, summary, location_code, people_involved,
                    flag_cross_area, flag_criminal_risk, flag_group_dispute, flag_repeat_petition, source, risk,
                    priority, queued_at, unit_code, tier, channel, state, court_linked, triage, registered_by,
                    registered_unit_code, version, created_at, updated_at)
                SELECT 'KS-2026-Q' || lpad(g::text, 6, '0'), 'LABOUR_OTHER', '劳动争议 (queue test)', :village, 3,
                    false, false, false, false, 'application', 'green', g % 4, :now, :desk, 'city', 'judicial',
                    'referred', true, CAST(:triage AS jsonb), 'test', :village, 1, :now, :now
                FROM generate_series(1, :count) AS g
                """
            ),
            {"village": DASHI, "desk": COURT_DESK, "now": FIXED_NOW, "count": count, "triage": TRIAGE},
        )


async def test_a_clerk_cannot_release_another_clerks_claim(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    clerk, other = await auth("court.clerk"), await auth("court.clerk2")
    case = await referred_case(client, await auth("dashi.mediator"))
    claimed = (await client.post("/api/v1/court/queue/claim", headers=clerk)).json()

    by_other = await fire(client, other, claimed, "release", reason="我来处理")
    options = await client.get(f"/api/v1/cases/{case['id']}/transitions", headers=other)
    by_holder = await fire(client, clerk, claimed, "release", reason="需补充材料，退回队列")

    assert by_other.status_code == 409, by_other.text
    assert "release" not in by_other.json()["allowed"]
    assert "release" not in [o["trigger"] for o in options.json()]
    assert by_holder.status_code == 200, by_holder.text
    assert by_holder.json()["state"] == "referred"
