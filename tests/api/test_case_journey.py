"""The first user journey of the issue, on both databases."""

from __future__ import annotations

import httpx
import pytest

from tests.builders import DASHI, ZHANGPU, move, open_case
from tests.conftest import Backend

pytestmark = pytest.mark.usefixtures("trail_stays_intact")


async def test_village_mediator_registers_accepts_and_settles_a_neighbour_dispute(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")

    case = await open_case(client, mediator)

    assert case["state"] == "assigned"
    assert case["unit_code"] == DASHI
    assert case["tier"] == "village"
    assert case["channel"] == "people"
    assert case["number"].startswith("KS-")
    assert case["triage"]["rule"] == "simple-local"
    assert any("邻里" in reason for reason in case["triage"]["reasons"])
    assert case["returns_to_code"] == ZHANGPU

    accepted = await move(client, mediator, case, "accept")
    assert accepted["state"] == "mediating"
    assert accepted["version"] == 2

    settled = await move(
        client, mediator, accepted, "settle", agreement={"form": "written", "terms": "赔偿维修费 2000 元"}
    )
    assert settled["state"] == "settled"
    assert settled["agreement"]["form"] == "written"

    events = (await client.get(f"/api/v1/cases/{case['id']}/events", headers=mediator)).json()
    assert [(e["seq"], e["kind"], e["trigger"], e["to_state"]) for e in events] == [
        (1, "created", None, "assigned"),
        (2, "transition", "accept", "mediating"),
        (3, "transition", "settle", "settled"),
    ]
    assert all(e["actor"] == "dashi.mediator" and e["actor_unit_code"] == DASHI for e in events)


async def test_town_coordinator_sees_the_case_and_another_village_gets_404(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    case = await open_case(client, await auth("dashi.mediator"))

    as_coordinator = await client.get(
        f"/api/v1/cases/{case['id']}", headers=await auth("zhangpu.coordinator")
    )
    as_wulian = await client.get(f"/api/v1/cases/{case['id']}", headers=await auth("wulian.mediator"))

    assert as_coordinator.status_code == 200
    assert as_coordinator.headers["etag"] == '"1"'
    assert as_wulian.status_code == 404
    assert as_wulian.headers["content-type"] == "application/problem+json"
    assert as_wulian.json()["status"] == 404
