"""Judicial confirmation: the 30-day window (人民调解法 art. 33) and the court's clocks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.builders import fire, move, open_case
from tests.conftest import Backend, FrozenClock

pytestmark = pytest.mark.usefixtures("trail_stays_intact")


def kunshan(year: int, month: int, day: int, hour: int = 10) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC) - timedelta(hours=8)


async def settled_case(
    client: httpx.AsyncClient, station: dict[str, str], frozen_clock: FrozenClock, on: datetime
) -> dict[str, Any]:
    frozen_clock.set(on)
    case = await move(client, station, await open_case(client, station), "accept")
    return await move(
        client,
        station,
        case,
        "settle",
        agreement={
            "form": "written",
            "terms": "被申请人于十五日内支付申请人维修费 2000 元",
            "amount_yuan": 2000,
            "performance_manner": "一次性转账",
            "performance_deadline": "2026-12-31",
            "signatories": ["王秀英", "李建国", "调解员 王芳"],
        },
    )


@pytest.mark.parametrize(
    ("effective", "last_day"),
    [
        ((2026, 3, 2), (2026, 4, 1)),  # day 30 is a Wednesday
        ((2026, 9, 5), (2026, 10, 8)),  # day 30 (5 Oct) is in the National Day holiday: rolls to 8 Oct
    ],
    ids=["ordinary", "holiday-roll"],
)
async def test_confirmation_is_accepted_on_the_last_day_and_refused_the_day_after(
    client: httpx.AsyncClient,
    auth,
    db: Backend,
    frozen_clock: FrozenClock,
    effective: tuple[int, int, int],
    last_day: tuple[int, int, int],
) -> None:
    station = await auth("dashi.mediator")
    first = await settled_case(client, station, frozen_clock, kunshan(*effective))
    second = await settled_case(client, station, frozen_clock, kunshan(*effective))
    assert first["agreement"]["effective_on"] == date(*effective).isoformat()
    assert first["agreement"]["signatories"] == ["王秀英", "李建国", "调解员 王芳"]

    frozen_clock.set(kunshan(*last_day, hour=17))
    on_time = await fire(client, station, first, "request_confirmation")
    frozen_clock.set(kunshan(*last_day) + timedelta(days=1))
    too_late = await fire(client, station, second, "request_confirmation")

    assert on_time.status_code == 200, on_time.text
    assert too_late.status_code == 409
    problem = too_late.json()
    assert problem["type"] == "/problems/confirmation-window-closed"
    assert problem["last_day"] == date(*last_day).isoformat()
    assert problem["last_day"] in problem["detail"]


async def test_the_court_accepts_and_confirms_with_its_clocks(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station, clerk = await auth("dashi.mediator"), await auth("court.clerk")
    case = await settled_case(client, station, frozen_clock, kunshan(2026, 3, 2))
    requested = await move(client, station, case, "request_confirmation")
    assert {d["kind"]: d["status"] for d in requested["deadlines"]}["confirmation_acceptance"] == "active"

    as_clerk = (await client.get(f"/api/v1/cases/{case['id']}", headers=clerk)).json()
    accepted = await move(client, clerk, as_clerk, "accept_confirmation")
    clocks = {d["kind"]: d for d in accepted["deadlines"]}
    assert clocks["confirmation_acceptance"]["status"] == "met"
    assert clocks["confirmation_decision"]["status"] == "active"
    assert clocks["confirmation_decision"]["due_date"] == "2026-03-17"  # 15 days after 2 March

    confirmed = await move(client, clerk, accepted, "confirm")
    assert (confirmed["state"], confirmed["agreement"]["confirmed_by"]) == ("settled", "court.clerk")
    clocks = {d["kind"]: d["status"] for d in confirmed["deadlines"]}
    assert clocks["confirmation_decision"] == "met"
    assert clocks["performance_followup"] == "active"  # 回访 goes on after the ruling

    performed = await move(client, station, confirmed, "record_performance", performance="performed")
    assert (performed["state"], performed["outcome"]) == ("closed", "confirmed")
