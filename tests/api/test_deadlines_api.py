"""Legal deadlines as a mediator and a town centre meet them: shown, warned, breached, escalated.

The clock is frozen (FIXED_NOW is Monday 2026-03-02 10:00 in Kunshan) and moved by the test;
sweeps run explicitly as of a given instant. No sleeps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from service.sweep import sweep
from tests.builders import DASHI, ZHANGPU, add_colleague, move, open_case
from tests.conftest import Backend, FrozenClock

pytestmark = pytest.mark.usefixtures("trail_stays_intact")

SHANGHAI_OFFSET = timedelta(hours=8)


def kunshan(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A Kunshan wall-clock time as an aware UTC instant."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - SHANGHAI_OFFSET


def deadline_of(case: dict[str, Any], kind: str) -> dict[str, Any]:
    matches = [d for d in case["deadlines"] if d["kind"] == kind]
    assert matches, f"no {kind} deadline on case {case['number']}: {[d['kind'] for d in case['deadlines']]}"
    found: dict[str, Any] = matches[-1]
    return found


async def inbox(
    client: httpx.AsyncClient, headers: dict[str, str], unit: str, **params: Any
) -> dict[str, Any]:
    response = await client.get(f"/api/v1/units/{unit}/inbox", params=params, headers=headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def test_a_dispatched_case_shows_when_it_must_be_accepted(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    case = await open_case(client, await auth("dashi.mediator"))

    acceptance = deadline_of(case, "acceptance")

    # Three working days after Monday 2 March, the start day not counted: Thursday 5 March.
    assert acceptance["due_date"] == "2026-03-05"
    assert datetime.fromisoformat(acceptance["due_at"]) == kunshan(2026, 3, 6)
    assert acceptance["working_days_left"] == 4  # Mon (today) .. Thu
    assert acceptance["status"] == "active"
    assert acceptance["legal_source"]
    assert acceptance["breach_action"] == "escalate"


async def test_unaccepted_case_warns_the_station_then_escalates_to_the_town_inbox(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station, town = await auth("dashi.mediator"), await auth("zhangpu.coordinator")
    case = await open_case(client, station)

    warned = await sweep(db.engine, db.ctx, now=kunshan(2026, 3, 5, 9, 0))
    again = await sweep(db.engine, db.ctx, now=kunshan(2026, 3, 5, 9, 5))

    assert (warned.warned, again.warned) == (1, 0)
    station_inbox = await inbox(client, station, DASHI, kind="warning")
    assert station_inbox["total"] == 1

    breached = await sweep(db.engine, db.ctx, now=kunshan(2026, 3, 6, 0, 1))

    assert breached.breached == 1, breached
    assert breached.actions == {"escalated": 1}, breached
    frozen_clock.set(kunshan(2026, 3, 6, 9))
    response = await client.get(f"/api/v1/cases/{case['id']}", headers=town)
    assert response.status_code == 200, response.text
    at_town = response.json()
    assert (at_town["state"], at_town["unit_code"], at_town["tier"]) == ("assigned", ZHANGPU, "town")
    kinds = {d["kind"]: d["status"] for d in at_town["deadlines"] if d["status"] != "active"}
    assert "acceptance" in kinds
    assert deadline_of(at_town, "acceptance")["status"] == "active"  # the town's own clock now runs
    town_inbox = await inbox(client, town, ZHANGPU, unread=True)
    escalations = [i for i in town_inbox["items"] if i["kind"] == "escalation"]
    assert len(escalations) == 1 and "受理期限已届满" in escalations[0]["reason"]
    events = (await client.get(f"/api/v1/cases/{case['id']}/events", headers=town)).json()
    assert (events[-1]["trigger"], events[-1]["actor"], events[-1]["actor_role"]) == (
        "escalate",
        "system",
        "system",
    )

    # Nothing fires twice, however often the sweep runs.
    repeat = await sweep(db.engine, db.ctx, now=kunshan(2026, 3, 6, 0, 2))
    assert (repeat.breached, repeat.warned) == (0, 0)


async def test_mediation_month_warns_at_75_percent_and_pauses_while_suspended(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station = await auth("dashi.mediator")
    case = await move(client, station, await open_case(client, station), "accept")
    mediation = deadline_of(case, "people_mediation")
    due = datetime.fromisoformat(mediation["due_at"])
    assert mediation["due_date"] == "2026-04-02"  # one calendar month after 2 March

    frozen_clock.set(kunshan(2026, 3, 10, 9))
    suspended = await move(client, station, case, "suspend", reason="等待伤情鉴定")
    assert deadline_of(suspended, "people_mediation")["status"] == "paused"
    assert deadline_of(suspended, "people_mediation")["working_days_left"] is None
    paused_sweep = await sweep(db.engine, db.ctx, now=due + timedelta(days=1))
    assert paused_sweep.breached == 0  # a paused clock never breaches

    frozen_clock.set(kunshan(2026, 3, 15, 9))  # five days later
    resumed = await move(client, station, suspended, "resume")
    moved = deadline_of(resumed, "people_mediation")
    assert moved["status"] == "active"
    assert datetime.fromisoformat(moved["due_at"]) == due + timedelta(days=5)


async def test_settling_meets_the_mediation_clock_and_opens_the_confirmation_window(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station = await auth("dashi.mediator")
    case = await move(client, station, await open_case(client, station), "accept")

    settled = await move(
        client, station, case, "settle", agreement={"form": "written", "terms": "赔偿 2000 元"}
    )

    statuses = {d["kind"]: d["status"] for d in settled["deadlines"]}
    assert statuses["acceptance"] == "met"
    assert statuses["people_mediation"] == "met"
    assert statuses["confirmation_window"] == "active"


async def test_overdue_and_due_before_filters(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    town = await auth("zhangpu.coordinator")
    station = await auth("dashi.mediator")
    late = await open_case(client, station)
    frozen_clock.set(kunshan(2026, 3, 4, 10))
    await open_case(client, station)  # opened later: due later

    frozen_clock.set(kunshan(2026, 3, 6, 10))  # the first is past due, not yet swept

    overdue = (await client.get("/api/v1/cases", params={"overdue": "true"}, headers=town)).json()
    assert [c["id"] for c in overdue["items"]] == [late["id"]]
    soon = (
        await client.get("/api/v1/cases", params={"due_before": "2026-03-07T00:00:00+08:00"}, headers=town)
    ).json()
    assert [c["id"] for c in soon["items"]] == [late["id"]]
    everything = (
        await client.get("/api/v1/cases", params={"due_before": "2026-03-31T00:00:00+08:00"}, headers=town)
    ).json()
    assert everything["total"] == 2


async def test_inbox_is_scoped_and_items_are_marked_read_once(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    opener, other = await auth("dashi.mediator"), await auth("wulian.mediator")
    # The one who opened the case is not told of it; a colleague at the station is.
    station = await auth(await add_colleague(db.engine, "dashi.mediator", "dashi.colleague"))
    await open_case(client, opener)
    items = (await inbox(client, station, DASHI))["items"]
    assert [i["kind"] for i in items] == ["new_case"]

    assert (await client.get(f"/api/v1/units/{DASHI}/inbox", headers=other)).status_code == 404
    marked = await client.post(f"/api/v1/units/{DASHI}/inbox/{items[0]['id']}/read", headers=station)
    assert marked.status_code == 204
    page = await inbox(client, station, DASHI)
    assert page["unread"] == 0 and page["items"][0]["read_by"] == "dashi.colleague"
    assert (await inbox(client, await auth("zhangpu.coordinator"), DASHI))[
        "total"
    ] == 1  # the town sees below
    audit = await client.post(
        f"/api/v1/units/{DASHI}/inbox/{items[0]['id']}/read", headers=await auth("auditor")
    )
    assert audit.status_code == 403


async def test_sweep_as_of_a_restart_fires_what_fell_due_while_stopped(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station = await auth("dashi.mediator")
    case = await open_case(client, station)

    # Nobody swept for two weeks: the warning and the breach are both overdue.
    report = await sweep(db.engine, db.ctx, now=kunshan(2026, 3, 16, 9))

    assert report.breached == 1
    async with db.engine.connect() as conn:
        actions = (
            await conn.execute(
                sa.text(
                    "SELECT a.action, a.level FROM deadline_action a JOIN deadline d ON d.id = a.deadline_id "
                    "WHERE d.case_id = :id ORDER BY a.id"
                ),
                {"id": case["id"]},
            )
        ).all()
    assert [tuple(a) for a in actions] == [("breach", "due")]


async def test_mediation_period_is_extended_with_both_parties_consent(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station = await auth("dashi.mediator")
    case = await move(client, station, await open_case(client, station), "accept")
    mediation = deadline_of(case, "people_mediation")
    url = f"/api/v1/cases/{case['id']}/deadlines/{mediation['id']}/extend"

    without_consent = await client.post(url, json={"by_length": 1, "reason": "需补充证据"}, headers=station)
    too_long = await client.post(
        url, json={"by_length": 2, "both_parties_consent": True, "reason": "x"}, headers=station
    )
    by_auditor = await client.post(
        url, json={"by_length": 1, "both_parties_consent": True, "reason": "x"}, headers=await auth("auditor")
    )
    assert without_consent.status_code == too_long.status_code == by_auditor.status_code == 409
    assert without_consent.json()["type"] == "/problems/extension-not-allowed"

    extended = await client.post(
        url,
        json={
            "by_length": 1,
            "both_parties_consent": True,
            "consent_record": "双方签署延期同意书",
            "reason": "需等待鉴定结论",
        },
        headers=station,
    )

    assert extended.status_code == 200, extended.text
    after = deadline_of(extended.json(), "people_mediation")
    # 2 April + 1 month = 2 May, inside the Labour Day holiday (1–5 May 2026) → Wednesday 6 May.
    assert after["due_date"] == "2026-05-06"
    record = after["extensions"][0]
    assert (record["both_parties_consent"], record["consent_record"], record["actor"]) == (
        True,
        "双方签署延期同意书",
        "dashi.mediator",
    )
    events = (await client.get(f"/api/v1/cases/{case['id']}/events", headers=station)).json()
    assert events[-1]["kind"] == "deadline" and events[-1]["payload"]["extended"] == "people_mediation"
    again = await client.post(
        url, json={"by_length": 1, "both_parties_consent": True, "reason": "再延"}, headers=station
    )
    assert again.status_code == 409  # at most one month in total
