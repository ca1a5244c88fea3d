"""Clocks tell law from local policy, the people's-mediation period may prompt instead of escalate,
and a due date counted on a year without an official calendar is provisional.

The clock is frozen (FIXED_NOW is Monday 2026-03-02 10:00 in Kunshan) and moved by the test.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from service.sweep import sweep
from tests.api.test_deadlines_api import deadline_of, inbox
from tests.builders import DASHI, ZHANGPU, move, open_case
from tests.conftest import Backend, FrozenClock
from workflows.calendar import BusinessCalendar
from workflows.deadlines import BreachAction, PolicySet

pytestmark = pytest.mark.usefixtures("trail_stays_intact")


def prompting(policies: PolicySet) -> PolicySet:
    """The policies with the people's-mediation period prompting on expiry instead of escalating."""
    return PolicySet(
        tuple(
            dataclasses.replace(p, breach=BreachAction.prompt) if p.kind == "people_mediation" else p
            for p in policies.policies
        )
    )


async def accepted(client: httpx.AsyncClient, station: dict[str, str]) -> dict[str, Any]:
    return await move(client, station, await open_case(client, station), "accept")


async def test_each_deadline_says_whether_it_is_statutory_or_local_policy_and_on_what(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    case = await accepted(client, await auth("dashi.mediator"))

    acceptance = deadline_of(case, "acceptance")
    mediation = deadline_of(case, "people_mediation")

    assert (acceptance["basis"], acceptance["breach_basis"]) == ("local_policy", "local_policy")
    assert "昆山市司法局" in acceptance["decided_by"] and "人民调解法 第21条" in acceptance["source"]
    assert (mediation["basis"], mediation["decided_by"]) == ("law", None)
    assert "人民调解工作若干规定(2002) 第33条" in mediation["source"]
    assert "宁波" not in mediation["legal_source"]
    # The month is law; escalating when it ends and extending it are Kunshan's choices.
    assert (mediation["breach_basis"], mediation["extension_basis"]) == ("local_policy", "local_policy")
    assert "昆山市司法局" in mediation["breach_decided_by"]
    assert (mediation["provisional"], mediation["provisional_years"]) == (False, [])


async def test_a_due_date_in_a_year_without_an_official_calendar_is_provisional(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    years = {y: db.ctx.calendar.year_calendar(y) for y in range(2020, 2027)}
    without_2026 = BusinessCalendar({y: c for y, c in years.items() if c is not None and y < 2026})
    monkeypatch.setattr(db.ctx, "calendar", without_2026)
    case = await accepted(client, await auth("dashi.mediator"))

    mediation = deadline_of(case, "people_mediation")

    assert (mediation["provisional"], mediation["provisional_years"]) == (True, [2026])
    monkeypatch.undo()
    again = (await client.get(f"/api/v1/cases/{case['id']}", headers=await auth("dashi.mediator"))).json()
    assert deadline_of(again, "people_mediation")["provisional"] is False


async def test_the_mediation_period_escalates_to_the_town_by_kunshan_default(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station = await auth("dashi.mediator")
    case = await accepted(client, station)
    due = datetime.fromisoformat(deadline_of(case, "people_mediation")["due_at"])

    report = await sweep(db.engine, db.ctx, now=due + timedelta(minutes=1))

    assert report.actions == {"escalated": 1}, report
    frozen_clock.set(due + timedelta(hours=9))
    moved = (
        await client.get(f"/api/v1/cases/{case['id']}", headers=await auth("zhangpu.coordinator"))
    ).json()
    assert (moved["state"], moved["unit_code"]) == ("assigned", ZHANGPU)


async def test_a_prompting_mediation_period_stays_with_the_unit_until_it_is_extended_or_ended(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db.ctx, "policies", prompting(db.ctx.policies))
    station, town = await auth("dashi.mediator"), await auth("zhangpu.coordinator")
    to_extend, to_end = await accepted(client, station), await accepted(client, station)
    due = datetime.fromisoformat(deadline_of(to_end, "people_mediation")["due_at"])

    # Both ran out in one sweep (written as a batch); a repeat does nothing.
    report = await sweep(db.engine, db.ctx, now=due + timedelta(minutes=1))
    repeat = await sweep(db.engine, db.ctx, now=due + timedelta(minutes=2))

    assert report.actions == {"prompted": 2}, report
    assert (repeat.breached, repeat.warned) == (0, 0)
    frozen_clock.set(due + timedelta(hours=9))
    for case in (to_extend, to_end):
        now = (await client.get(f"/api/v1/cases/{case['id']}", headers=station)).json()
        clock = deadline_of(now, "people_mediation")
        assert (now["state"], now["unit_code"]) == ("mediating", DASHI)  # nothing moved
        assert (clock["status"], clock["overdue"], clock["breach_action"]) == ("breached", True, "prompt")
    told = [i for i in (await inbox(client, station, DASHI, kind="breach"))["items"]]
    assert len(told) == 2
    assert all("人民调解法 第26条" in i["reason"] and "延长" in i["reason"] for i in told)
    assert {i["payload"]["options"][0] for i in told} == {"extend"}
    supervisor = (await inbox(client, town, ZHANGPU, kind="breach"))["items"]
    assert len(supervisor) == 2

    # One lawful way: an extension with both parties' consent; the clock runs again.
    mediation = deadline_of(to_extend, "people_mediation")
    extended = await client.post(
        f"/api/v1/cases/{to_extend['id']}/deadlines/{mediation['id']}/extend",
        json={
            "by_length": 1,
            "both_parties_consent": True,
            "consent_record": "双方同意书",
            "reason": "继续调解",
        },
        headers=station,
    )
    assert extended.status_code == 200, extended.text
    after = deadline_of(extended.json(), "people_mediation")
    assert (after["status"], after["overdue"]) == ("active", False)

    # The other: ending mediation because the period ran out without consent to extend.
    current = (await client.get(f"/api/v1/cases/{to_end['id']}", headers=station)).json()
    ended = await move(
        client,
        station,
        current,
        "terminate",
        termination_reason="period_expired",
        reason="期满, 一方不同意延长",
    )
    assert (ended["state"], ended["termination_reason"]) == ("terminated", "period_expired")
    assert deadline_of(ended, "people_mediation")["status"] == "cancelled"
