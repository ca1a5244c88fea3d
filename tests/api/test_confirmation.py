"""Judicial confirmation: the parties' joint application (人民调解法 art. 33; 民事诉讼法 arts. 205–206),
its 30-day window, eligibility (人民调解法 art. 29; 民诉解释 art. 355), the court's answers and clocks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.builders import CONFIRMABLE_AGREEMENT, COURT_DESK, application, fire, move, open_case, read_case
from tests.conftest import Backend, FrozenClock

pytestmark = pytest.mark.usefixtures("trail_stays_intact")


def kunshan(year: int, month: int, day: int, hour: int = 10) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC) - timedelta(hours=8)


async def settled_case(
    client: httpx.AsyncClient, station: dict[str, str], frozen_clock: FrozenClock, on: datetime
) -> dict[str, Any]:
    frozen_clock.set(on)
    case = await move(client, station, await open_case(client, station), "accept")
    return await move(client, station, case, "settle", agreement=CONFIRMABLE_AGREEMENT)


def day(at: datetime) -> str:
    """The Kunshan date of ``at``."""
    return (at + timedelta(hours=8)).date().isoformat()


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
    on_time = await fire(client, station, first, "request_confirmation", **application(day(frozen_clock.at)))
    frozen_clock.set(kunshan(*last_day) + timedelta(days=1))
    too_late = await fire(
        client, station, second, "request_confirmation", **application(day(frozen_clock.at))
    )

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
    requested = await move(client, station, case, "request_confirmation", **application("2026-03-02"))
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


async def applied(
    client: httpx.AsyncClient, station: dict[str, str], frozen_clock: FrozenClock
) -> dict[str, Any]:
    case = await settled_case(client, station, frozen_clock, kunshan(2026, 3, 2))
    return await move(client, station, case, "request_confirmation", **application("2026-03-02"))


async def as_seen_by(client: httpx.AsyncClient, who: dict[str, str], case: dict[str, Any]) -> dict[str, Any]:
    response = await client.get(f"/api/v1/cases/{case['id']}", headers=who)
    assert response.status_code == 200, response.text
    seen: dict[str, Any] = response.json()
    return seen


async def inbox_kinds(client: httpx.AsyncClient, who: dict[str, str], unit: str) -> list[str]:
    response = await client.get(f"/api/v1/units/{unit}/inbox", headers=who)
    assert response.status_code == 200, response.text
    return [item["kind"] for item in response.json()["items"]]


async def test_the_application_reaches_the_court_desk_and_is_accepted_once(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station, clerk = await auth("dashi.mediator"), await auth("court.clerk")
    case = await applied(client, station, frozen_clock)

    listed = await client.get("/api/v1/cases", params={"state": "confirming"}, headers=clerk)
    assert [c["id"] for c in listed.json()["items"]] == [case["id"]]
    assert "confirmation_application" in await inbox_kinds(client, clerk, COURT_DESK)

    accepted = await move(client, clerk, await as_seen_by(client, clerk, case), "accept_confirmation")
    again = await fire(client, clerk, accepted, "accept_confirmation")
    assert again.status_code == 409
    assert set(again.json()["allowed"]) == {"confirm", "reject_confirmation"}

    confirmed = await move(client, clerk, accepted, "confirm")
    mine = await as_seen_by(client, station, confirmed)
    assert "request_confirmation" not in {
        o["trigger"]
        for o in (await client.get(f"/api/v1/cases/{case['id']}/transitions", headers=station)).json()
    }
    second = await fire(client, station, mine, "request_confirmation", **application("2026-03-02"))
    assert second.status_code == 409  # a confirmed agreement is not sent again


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"applicants": [{"party": "王秀英"}]}, "body.applicants"),
        (
            {"applicants": [{"party": "王秀英"}, {"party": "李建国", "agent": "张明"}]},
            "body.applicants[1].authority_document",
        ),
        ({"applied_on": "2026-03-03"}, "body.applied_on"),
        ({"court": "320583106"}, "body.court"),
        ({"materials": []}, "body.materials"),
    ],
    ids=["one-side", "agent-without-authority", "future", "not-a-court", "no-materials"],
)
async def test_an_application_the_law_does_not_allow_is_a_422_naming_the_field(
    client: httpx.AsyncClient,
    auth,
    db: Backend,
    frozen_clock: FrozenClock,
    fields: dict[str, Any],
    field: str,
) -> None:
    station = await auth("dashi.mediator")
    case = await settled_case(client, station, frozen_clock, kunshan(2026, 3, 2))
    response = await fire(
        client, station, case, "request_confirmation", **{**application("2026-03-02"), **fields}
    )
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert (await as_seen_by(client, station, case))["state"] == "settled"


async def test_an_agreement_on_marriage_is_recorded_as_not_confirmable_and_refused(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station = await auth("dashi.mediator")
    frozen_clock.set(kunshan(2026, 3, 2))
    case = await move(
        client, station, await open_case(client, station, dispute_type="MARRIAGE_FAMILY"), "accept"
    )
    family = {k: v for k, v in CONFIRMABLE_AGREEMENT.items() if k != "touches"}  # the form pre-ticks marriage
    settled = await move(client, station, case, "settle", agreement=family)
    eligibility = settled["agreement"]["confirmation_eligibility"]
    assert (settled["agreement"]["touches"], eligibility["confirmable"]) == (["marriage"], False)

    response = await fire(client, station, settled, "request_confirmation", **application("2026-03-02"))
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == "/problems/agreement-not-confirmable"
    assert "第355条" in problem["detail"]


async def test_a_labour_agreement_must_be_written_signed_and_sealed(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station = await auth("dashi.mediator")
    case = await open_case(client, station, dispute_type="LABOUR_OTHER")
    worker = await auth_for_unit(client, auth, case)
    case = await move(client, worker, await read_case(client, worker, case), "accept")

    oral = await fire(client, worker, case, "settle", agreement={"form": "oral", "terms": "补发工资 3000 元"})
    unsealed = await fire(
        client, worker, case, "settle", agreement={**CONFIRMABLE_AGREEMENT, "sealed": False}
    )
    written = await fire(client, worker, case, "settle", agreement=CONFIRMABLE_AGREEMENT)

    for refused in (oral, unsealed):
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["field"] == "body.agreement"
        assert "劳动争议调解仲裁法 第14条" in refused.json()["detail"]
    assert written.status_code == 200, written.text


async def auth_for_unit(client: httpx.AsyncClient, auth: Any, case: dict[str, Any]) -> dict[str, str]:
    """A mediator of the unit triage sent the case to (a labour dispute: the labour committee)."""
    username = {"320583106005": "dashi.mediator"}.get(case["unit_code"], f"m.{case['unit_code'].lower()}")
    headers: dict[str, str] = await auth(username)
    return headers


@pytest.mark.parametrize(
    ("ending", "who", "accepted_first", "result"),
    [
        ("refuse_confirmation", "clerk", False, "not_accepted"),
        ("reject_confirmation", "clerk", True, "rejected"),
        ("withdraw_confirmation", "station", True, "withdrawn"),
    ],
    ids=["not-accepted", "rejected", "withdrawn"],
)
async def test_an_application_that_ends_without_confirmation_returns_the_case_to_the_parties_choices(
    client: httpx.AsyncClient,
    auth,
    db: Backend,
    frozen_clock: FrozenClock,
    ending: str,
    who: str,
    accepted_first: bool,
    result: str,
) -> None:
    station, clerk = await auth("dashi.mediator"), await auth("court.clerk")
    case = await as_seen_by(client, clerk, await applied(client, station, frozen_clock))
    if accepted_first:
        case = await move(client, clerk, case, "accept_confirmation")
    actor = clerk if who == "clerk" else station
    ended = await move(client, actor, case, ending, reason="协议内容需要调整")

    mine = await as_seen_by(client, station, ended)
    assert (mine["state"], mine["termination_reason"]) == ("settled", None)  # not a failed mediation
    assert [(r["result"], r["reason"]) for r in mine["agreement"]["confirmation_results"]] == [
        (result, "协议内容需要调整")
    ]
    clocks = {d["kind"]: d["status"] for d in mine["deadlines"]}
    assert clocks["confirmation_acceptance"] == (
        "met" if ending == "refuse_confirmation" or accepted_first else "cancelled"
    )
    if accepted_first:
        assert clocks["confirmation_decision"] == ("met" if ending == "reject_confirmation" else "cancelled")
    options = (await client.get(f"/api/v1/cases/{case['id']}/transitions", headers=station)).json()
    assert {"amend", "close", "request_confirmation"} <= {o["trigger"] for o in options}

    # The parties change the agreement through mediation: the mediation clock runs again.
    amended = await move(client, station, mine, "amend", reason="双方同意变更协议")
    assert amended["state"] == "mediating"
    assert any(d["kind"] == "people_mediation" and d["status"] == "active" for d in amended["deadlines"])


async def test_after_a_rejection_the_parties_may_go_to_court(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station, clerk = await auth("dashi.mediator"), await auth("court.clerk")
    case = await as_seen_by(client, clerk, await applied(client, station, frozen_clock))
    case = await move(client, clerk, case, "accept_confirmation")
    rejected = await move(client, clerk, case, "reject_confirmation", reason="协议内容违反法律强制性规定")

    sued = await move(
        client, station, await as_seen_by(client, station, rejected), "close", outcome="litigated"
    )
    assert (sued["state"], sued["outcome"], sued["termination_reason"]) == ("closed", "litigated", None)
