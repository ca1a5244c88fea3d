"""Alerts to the auditors: inbox items only auditors see, for an elevated role granted, a reveal out
of working hours and too many reveals by one person in a day (once a day)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.builders import CITY, open_case
from tests.conftest import FIXED_NOW, Backend, FrozenClock

ALERTS = f"/api/v1/units/{CITY}/inbox"  # the auditors sit at the city centre


def kunshan(day: int, hour: int, minute: int = 0) -> datetime:
    """March 2026, Kunshan wall-clock time."""
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


async def reveal(client: httpx.AsyncClient, headers: dict[str, str], case: dict[str, Any]) -> None:
    party = case["parties"][0]["id"]
    response = await client.post(
        f"/api/v1/cases/{case['id']}/parties/{party}/reveal",
        json={"reason": "电话通知当事人到场", "fields": ["phone"]},
        headers=headers,
    )
    assert response.status_code == 200, response.text


async def alerts(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get(ALERTS, headers=headers)
    assert response.status_code == 200, response.text
    return [i for i in response.json()["items"] if i["case_id"] is None]


async def test_an_elevated_role_granted_alerts_the_auditors_and_no_one_else(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    requested = await client.post(
        "/api/v1/admin/users",
        json={
            "username": "new.city.coordinator",
            "password": "Grant-Pass 2026 授权",
            "role": "coordinator",
            "unit": CITY,
        },
        headers=await auth("admin"),
    )
    before = await alerts(client, await auth("auditor"))
    approved = await client.post(
        f"/api/v1/admin/role-grants/{requested.json()['id']}/approve", headers=await auth("admin2")
    )
    auditor, coordinator = await auth("auditor"), await auth("city.coordinator")

    seen = await alerts(client, auditor)
    hidden = await alerts(client, coordinator)  # the city centre's inbox, as its coordinator reads it
    marked = await client.post(f"{ALERTS}/{seen[0]['id']}/read", headers=auditor)
    not_theirs = await client.post(f"{ALERTS}/{seen[0]['id']}/read", headers=coordinator)

    assert approved.status_code == 200
    assert before == []  # a request alone grants nothing
    assert [(a["kind"], a["audience"]) for a in seen] == [("role_granted", "auditor")]
    assert seen[0]["payload"] == {
        "user": "new.city.coordinator",
        "role": "coordinator",
        "unit_code": CITY,
        "requested_by": "admin",
        "approved_by": "admin2",
        "grant_id": requested.json()["id"],
    }
    assert hidden == []
    assert marked.status_code == 204  # an auditor marks the alerts addressed to auditors
    assert not_theirs.status_code == 404
    assert (await alerts(client, auditor))[0]["read_by"] == "auditor"


@pytest.mark.parametrize(
    ("at", "alerted"),
    [
        (kunshan(2, 10), False),  # Monday 10:00
        (kunshan(2, 8, 29), True),  # before the office opens
        (kunshan(2, 17, 30), True),  # the office has closed
        (kunshan(2, 21), True),
        (kunshan(7, 10), True),  # Saturday
    ],
    ids=["monday-10:00", "monday-08:29", "monday-17:30", "monday-21:00", "saturday-10:00"],
)
async def test_a_reveal_outside_working_hours_alerts_the_auditors(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock, at: datetime, alerted: bool
) -> None:
    assert not db.ctx.calendar.is_working_day(kunshan(7, 10).date())  # the calendar says Saturday is off
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    frozen_clock.set(at)

    await reveal(client, mediator, case)

    found = await alerts(client, await auth("auditor"))
    if not alerted:
        assert found == []
        return
    assert [a["kind"] for a in found] == ["reveal_after_hours"]
    assert found[0]["payload"] | {"at": None} == {
        "user": "dashi.mediator",
        "role": "mediator",
        "unit_code": case["unit_code"],
        "case_id": case["id"],
        "party_id": case["parties"][0]["id"],
        "at": None,
    }


async def test_the_office_hours_are_a_setting(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import time

    monkeypatch.setattr(db.ctx.settings, "alert_office_closes", time(22, 0))  # an evening shift
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    frozen_clock.set(kunshan(2, 21))

    await reveal(client, mediator, case)

    assert await alerts(client, await auth("auditor")) == []


async def test_more_reveals_in_a_day_than_the_limit_alert_once_per_person_per_day(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db.ctx.settings, "alert_reveals_per_day", 3)
    mediator, coordinator, auditor = (
        await auth("dashi.mediator"),
        await auth("zhangpu.coordinator"),
        await auth("auditor"),
    )
    case = await open_case(client, mediator)

    for _ in range(3):
        await reveal(client, mediator, case)
        await reveal(client, coordinator, case)
    at_the_limit = await alerts(client, auditor)
    for _ in range(3):
        await reveal(client, mediator, case)  # the 4th, 5th and 6th of the day
    over = await alerts(client, auditor)
    frozen_clock.set(FIXED_NOW + timedelta(days=1))  # Tuesday
    for _ in range(4):
        await reveal(client, mediator, case)
    next_day = await alerts(client, auditor)

    assert at_the_limit == []
    assert [(a["kind"], a["payload"]["user"], a["payload"]["day"], a["payload"]["count"]) for a in over] == [
        ("reveal_volume", "dashi.mediator", "2026-03-02", 4)
    ]
    assert [(a["payload"]["day"], a["payload"]["limit"]) for a in next_day] == [
        ("2026-03-03", 3),
        ("2026-03-02", 3),
    ]


async def test_reveals_past_the_limit_at_the_same_moment_raise_one_alert(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen_clock.set(kunshan(2, 10))  # a Monday morning: within office hours, whenever the suite runs
    monkeypatch.setattr(db.ctx.settings, "alert_reveals_per_day", 1)
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)

    await asyncio.gather(*(reveal(client, mediator, case) for _ in range(8)))

    assert [a["kind"] for a in await alerts(client, await auth("auditor"))] == ["reveal_volume"]
