"""Labour mediation over HTTP, on SQLite and PostgreSQL: the 15 days count from receipt of the
application (劳动争议调解仲裁法 art. 14 ¶3), the arbitration route is shown once they ran out
(on the case, and once in the unit's inbox), and the 支付令 route when a wage agreement is not
performed (art. 16).

The clock is frozen at Monday 2026-03-02 10:00 in Kunshan (FIXED_NOW) and moved by the tests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from service.sweep import sweep
from tests.builders import CONFIRMABLE_AGREEMENT, move, open_case, read_case
from tests.conftest import Backend, FrozenClock

pytestmark = pytest.mark.usefixtures("trail_stays_intact")

LABOUR_COMMITTEE = "SC-LABOUR"


def kunshan(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


async def wage_case(client: httpx.AsyncClient, auth) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    case = await open_case(
        client,
        await auth("dashi.mediator"),
        dispute_type="LABOUR_WAGE_ARREARS",
        summary="装修公司拖欠三名工人两个月工资",
        people_involved=3,
    )
    assert (case["view"], case["unit_code"]) == ("sent", LABOUR_COMMITTEE)  # the station follows it
    return await read_case(client, await auth("m.sc-labour"), case)


def labour_clock(case: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = next(d for d in case["deadlines"] if d["kind"] == "labour_mediation")
    return found


async def test_the_fifteen_days_run_from_receipt_not_from_acceptance(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    case = await wage_case(client, auth)
    received = labour_clock(case)
    assert received["due_date"] == "2026-03-17"  # 2 March + 15 days, the start day not counted
    assert received["legal_source"].startswith("劳动争议调解仲裁法 第14条第3款")

    frozen_clock.set(kunshan(2026, 3, 5, 9))
    accepted = await move(client, await auth("m.sc-labour"), case, "accept")

    assert labour_clock(accepted)["id"] == received["id"]  # the same clock runs on
    assert labour_clock(accepted)["due_date"] == "2026-03-17"
    assert accepted["labour_routes"] == []


async def test_after_fifteen_days_without_agreement_the_mediator_is_told_arbitration_is_open_once(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    committee = await auth("m.sc-labour")
    case = await move(client, committee, await wage_case(client, auth), "accept")

    after = kunshan(2026, 3, 18, 0, 5)
    frozen_clock.set(after)
    await sweep(db.engine, db.ctx, now=after)
    await sweep(db.engine, db.ctx, now=after + timedelta(hours=2))
    shown = (await client.get(f"/api/v1/cases/{case['id']}", headers=committee)).json()

    assert [r["route"] for r in shown["labour_routes"]] == ["arbitration"]
    assert "劳动争议仲裁" in shown["labour_routes"][0]["text"]
    inbox = await client.get(f"/api/v1/units/{LABOUR_COMMITTEE}/inbox", headers=committee)
    told = [i for i in inbox.json()["items"] if i["case_id"] == case["id"] and i["kind"] == "breach"]
    assert len(told) == 1
    assert "申请劳动争议仲裁" in told[0]["reason"] and told[0]["payload"]["route"]["route"] == "arbitration"


async def test_an_unperformed_wage_agreement_opens_the_payment_order_route(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    committee = await auth("m.sc-labour")
    case = await move(client, committee, await wage_case(client, auth), "accept")
    settled = await move(
        client,
        committee,
        case,
        "settle",
        # Written, signed by both parties and the mediator, sealed (劳动争议调解仲裁法 art. 14).
        agreement={**CONFIRMABLE_AGREEMENT, "terms": "公司于3月15日前支付三名工人工资合计 36000 元"},
    )
    assert settled["labour_routes"] == []

    unpaid = await move(client, committee, settled, "record_performance", performance="not_performed")

    assert unpaid["state"] == "settled"
    assert [r["route"] for r in unpaid["labour_routes"]] == ["payment_order"]
    assert "支付令" in unpaid["labour_routes"][0]["text"]
    assert unpaid["labour_routes"][0]["basis"] == "劳动争议调解仲裁法 第16条"
