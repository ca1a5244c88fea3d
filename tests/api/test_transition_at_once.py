"""A transition on PostgreSQL in one autocommit statement (service.cases.service._apply_at_once):
the case, its event, its clocks (ended, paused, resumed, started), the referral it answers and
the announcement to the unit it arrives at. Each journey here runs twice from a new case, once so
and once through the transaction (effects.after_change); both must write the same rows, and every
answer must be what a read shows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from service import fastpg
from service.cases import queries, service
from service.privacy.audit import verify_audit
from tests.builders import (
    COURT_DESK,
    DASHI,
    POLICE,
    ZHANGPU,
    ZHOUXIANG,
    fire,
    hand_to_station,
    move,
    open_case,
    police_case,
)
from tests.conftest import Backend, FrozenClock
from tests.rows import refusing_inserts, subscribe, written

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def count_writes_at_once(patch: pytest.MonkeyPatch) -> list[None]:
    """One entry per call of ``queries.apply_change_at_once`` from now on (which still writes)."""
    calls: list[None] = []
    write = queries.apply_change_at_once

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(None)
        return await write(*args, **kwargs)

    patch.setattr(queries, "apply_change_at_once", counted)
    return calls


Auth = Callable[[str], Awaitable[dict[str, str]]]


async def accepted(client: httpx.AsyncClient, auth: Auth) -> list[dict[str, Any]]:
    station = await auth("dashi.mediator")
    case = await open_case(client, station)
    return [case, await move(client, station, case, "accept")]


async def escalated(client: httpx.AsyncClient, auth: Auth) -> list[dict[str, Any]]:
    station = await auth("dashi.mediator")
    steps = await accepted(client, auth)
    return [*steps, await move(client, station, steps[-1], "escalate", reason="涉及跨村边界")]


async def dispatched(client: httpx.AsyncClient, auth: Auth) -> list[dict[str, Any]]:
    town = await auth("zhangpu.coordinator")
    case = await open_case(client, town, dispute_type="OTHER", amount_yuan=None, location_code=ZHOUXIANG)
    assert (case["state"], case["unit_code"]) == ("registered", ZHANGPU)
    return [case, await move(client, town, case, "dispatch", target_unit=ZHOUXIANG)]


async def _handed(client: httpx.AsyncClient, auth: Auth) -> dict[str, Any]:
    police = await auth("zhangpu.police")
    return await hand_to_station(client, police, await police_case(client, police))


async def handed_and_accepted(client: httpx.AsyncClient, auth: Auth) -> list[dict[str, Any]]:
    handed = await _handed(client, auth)
    return [handed, await move(client, await auth("dashi.mediator"), handed, "accept")]


async def handed_and_declined(client: httpx.AsyncClient, auth: Auth) -> list[dict[str, Any]]:
    handed = await _handed(client, auth)
    station = await auth("dashi.mediator")
    return [handed, await move(client, station, handed, "decline", reason="涉嫌刑事，不宜调解")]


async def referred_to_court(client: httpx.AsyncClient, auth: Auth) -> list[dict[str, Any]]:
    station = await auth("dashi.mediator")
    steps = await accepted(client, auth)
    ended = await move(client, station, steps[-1], "terminate", termination_reason="gap_too_wide")
    return [
        *steps,
        ended,
        await move(client, station, ended, "refer_to_court", reason="调解不成，当事人同意移送"),
    ]


JOURNEYS = [accepted, escalated, dispatched, handed_and_accepted, handed_and_declined, referred_to_court]


@pytest.mark.parametrize("journey", JOURNEYS, ids=[j.__name__ for j in JOURNEYS])
async def test_a_transition_written_at_once_writes_what_the_transaction_writes(
    client: httpx.AsyncClient,
    auth: Auth,
    db: Backend,
    frozen_clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
    journey: Callable[[httpx.AsyncClient, Auth], Awaitable[list[dict[str, Any]]]],
) -> None:
    for unit in (DASHI, ZHANGPU, ZHOUXIANG, POLICE, COURT_DESK):
        await subscribe(db, unit)
    reader = await auth("city.coordinator")
    at_once = count_writes_at_once(monkeypatch)
    fast = await journey(client, auth)
    assert at_once, "the journey's last transition was written at once"
    with monkeypatch.context() as general:
        general.setattr(service, "plan_at_once", lambda *args, **kwargs: None)
        slow = await journey(client, auth)

    for answered in fast:  # the answers of the one statement are what a read shows
        shown = await client.get(f"/api/v1/cases/{answered['id']}", headers=reader)
        if shown.status_code == 200 and shown.json()["version"] == answered["version"]:
            assert answered == shown.json()
    final, reference = await written(db, fast[-1]["id"]), await written(db, slow[-1]["id"])
    assert final == reference
    assert final["inbox"] and final["outbox"], "the arrival was announced, to the webhook too"
    assert (await verify_audit(db.engine)).intact


async def test_a_statement_that_fails_at_its_announcement_leaves_the_case_as_it_was(
    client: httpx.AsyncClient, auth: Auth, db: Backend
) -> None:
    """One statement: when the escalation's announcement cannot be written, neither is the case
    change, its event, a clock ended or started (a trigger refuses inbox rows: 422)."""
    station = await auth("dashi.mediator")
    case = await move(client, station, await open_case(client, station), "accept")
    before = await written(db, case["id"])
    async with refusing_inserts(db, "inbox_item"):
        refused = await fire(client, station, case, "escalate", reason="涉及跨村边界")

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert await written(db, case["id"]) == before
    escalated = await move(client, station, case, "escalate", reason="涉及跨村边界")
    assert (escalated["unit_code"], escalated["version"]) == (ZHANGPU, case["version"] + 1)


@pytest.mark.parametrize("journey", [accepted, escalated, handed_and_declined], ids=lambda j: j.__name__)
async def test_without_the_fast_pool_a_transition_takes_the_transaction(
    client: httpx.AsyncClient,
    auth: Auth,
    db: Backend,
    frozen_clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
    journey: Callable[[httpx.AsyncClient, Auth], Awaitable[list[dict[str, Any]]]],
) -> None:
    """Scripts and tools (`jiefen serve --demo` seeding its cases, say) have no fast pool. The
    one statement is sent only compiled once, on that pool: through the engine SQLAlchemy
    would add a SET to its UPDATEs for every parameter named like a column."""
    fast = await journey(client, auth)
    with monkeypatch.context() as engine_only:
        engine_only.setattr(fastpg, "for_engine", lambda engine: None)
        at_once = count_writes_at_once(engine_only)
        through_engine = await journey(client, auth)

    assert not at_once
    assert await written(db, through_engine[-1]["id"]) == await written(db, fast[-1]["id"])
    assert (await verify_audit(db.engine)).intact
