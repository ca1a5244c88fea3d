"""Hand-off referral records over HTTP: offered → accepted / declined / returned → completed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from service.clock import SHANGHAI
from service.sweep import sweep
from tests.builders import (
    CONFIRMABLE_AGREEMENT,
    COURT_DESK,
    DASHI,
    POLICE,
    add_colleague,
    application,
    fire,
    hand_to_station,
    move,
    open_case,
    police_case,
    read_case,
)
from tests.conftest import Backend, FrozenClock

pytestmark = pytest.mark.usefixtures("trail_stays_intact")


def kunshan(year: int, month: int, day: int, hour: int = 10) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC) - timedelta(hours=8)


async def referrals(
    client: httpx.AsyncClient, headers: dict[str, str], case: dict[str, Any]
) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/cases/{case['id']}/referrals", headers=headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


async def inbox_kinds(client: httpx.AsyncClient, headers: dict[str, str], unit: str) -> list[str]:
    page = (await client.get(f"/api/v1/units/{unit}/inbox", headers=headers)).json()
    return [item["kind"] for item in page["items"]]


async def referred_to_court(
    client: httpx.AsyncClient, station: dict[str, str], reason: str = "诉前"
) -> dict[str, Any]:
    """A case the station accepted, failed to settle and referred to the court's queue."""
    case = await move(client, station, await open_case(client, station), "accept")
    case = await move(client, station, case, "terminate", termination_reason="gap_too_wide")
    return await move(client, station, case, "refer_to_court", reason=reason)


async def claimed_by_court(
    client: httpx.AsyncClient, station: dict[str, str], clerk: dict[str, str], reason: str = "诉前"
) -> dict[str, Any]:
    """A case referred to the court and claimed from the queue by ``clerk``, ready to delegate."""
    await referred_to_court(client, station, reason)
    response = await client.post("/api/v1/court/queue/claim", headers=clerk)
    assert response.status_code == 200, response.text
    claimed: dict[str, Any] = response.json()
    return claimed


async def delegated_by_court(
    client: httpx.AsyncClient,
    station: dict[str, str],
    clerk: dict[str, str],
    court_case_number: str,
    procedure: str,
    reason: str = "诉前",
    **extra: Any,
) -> dict[str, Any]:
    """A case the court claimed and delegated back to the station, offered but not yet accepted."""
    claimed = await claimed_by_court(client, station, clerk, reason)
    return await move(
        client,
        clerk,
        claimed,
        "delegate",
        target_unit=DASHI,
        court_case_number=court_case_number,
        procedure=procedure,
        **extra,
    )


async def test_police_referral_round_trip_returns_the_agreement_to_the_police_station(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    police, station = await auth("zhangpu.police"), await auth("dashi.mediator")
    sent = await hand_to_station(client, police, await police_case(client, police))
    assert (sent["view"], sent["unit_code"], sent["state"], sent["allowed"]) == (
        "sent",
        DASHI,
        "assigned",
        [],
    )
    handed = await read_case(client, station, sent)
    [offered] = await referrals(client, station, handed)
    assert (offered["kind"], offered["label"], offered["status"]) == ("police", "警调对接", "offered")
    assert offered["payload"] == {"police_report_number": "JQ2026030200123"}
    assert "hand_off" in await inbox_kinds(client, station, DASHI)
    # The officer who sent it is not told of their own act; a colleague at the station is.
    colleague = await auth(await add_colleague(db.engine, "zhangpu.police", "zhangpu.police2"))
    assert "referral_sent" in await inbox_kinds(client, colleague, POLICE)
    assert "referral_sent" not in await inbox_kinds(client, police, POLICE)
    assert any(d["kind"] == "referral_acceptance" for d in handed["deadlines"])

    accepted = await move(client, station, handed, "accept")
    assert (await referrals(client, station, accepted))[0]["status"] == "accepted"
    settled = await move(
        client, station, accepted, "settle", agreement={"form": "written", "terms": "赔礼道歉并赔偿 800 元"}
    )

    [done] = await referrals(client, station, settled)
    assert done["status"] == "completed"
    assert done["result"]["agreement"]["terms"] == "赔礼道歉并赔偿 800 元"
    police_inbox = (await client.get(f"/api/v1/units/{POLICE}/inbox", headers=police)).json()["items"]
    results = [i for i in police_inbox if i["kind"] == "referral_result"]
    assert len(results) == 1 and results[0]["payload"]["result"]["state"] == "settled"


async def test_declined_referral_goes_back_to_the_sender(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    police, station = await auth("zhangpu.police"), await auth("dashi.mediator")
    handed = await hand_to_station(client, police, await police_case(client, police))

    back = await move(client, station, handed, "decline", reason="涉嫌刑事，不宜调解")

    assert (back["unit_code"], back["state"]) == (POLICE, "assigned")
    [declined] = await referrals(client, police, back)
    assert (declined["status"], declined["decline_reason"]) == ("declined", "涉嫌刑事，不宜调解")
    assert "returned" in await inbox_kinds(client, police, POLICE)


async def test_unaccepted_referral_returns_to_the_sender_after_three_working_days(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    police = await auth("zhangpu.police")
    handed = await hand_to_station(client, police, await police_case(client, police))

    report = await sweep(db.engine, db.ctx, now=kunshan(2026, 3, 6, 0) + timedelta(minutes=1))

    assert report.actions.get("returned to sender") == 1
    back = (await client.get(f"/api/v1/cases/{handed['id']}", headers=police)).json()
    assert (back["unit_code"], back["state"]) == (POLICE, "assigned")
    [returned] = await referrals(client, police, back)
    assert (returned["status"], returned["responded_by"]) == ("returned", "system")


async def test_a_referral_must_carry_its_payload_and_go_the_right_way(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    police, station = await auth("zhangpu.police"), await auth("dashi.mediator")
    case = await police_case(client, police)

    no_payload = await fire(
        client, police, case, "hand_off", target_unit=DASHI, referral_kind="police", reason="x"
    )
    at_station = await open_case(client, station)
    wrong_way = await fire(
        client,
        station,
        at_station,
        "hand_off",
        target_unit=POLICE,
        referral_kind="police",
        reason="x",
        referral_payload={"police_report_number": "JQ1"},
    )

    assert no_payload.status_code == wrong_way.status_code == 422
    assert no_payload.json()["errors"][0]["field"] == "body.referral_payload.police_report_number"
    assert wrong_way.json()["errors"][0]["field"] == "body.referral_kind"
    administrative = await fire(
        client,
        station,
        at_station,
        "hand_off",
        target_unit=POLICE,
        referral_kind="administrative",
        reason="治安调解",
    )
    assert administrative.status_code == 200


async def test_court_delegation_round_trip(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station, clerk = await auth("dashi.mediator"), await auth("court.clerk")
    delegated = await delegated_by_court(
        client,
        station,
        clerk,
        "(2026)苏0583民初88号",
        "ordinary",
        reason="当事人起诉",
        materials=["起诉状", "证据目录"],
    )
    [offer] = await referrals(client, clerk, delegated)
    assert (offer["kind"], offer["from_unit_code"], offer["to_unit_code"]) == (
        "court_delegation",
        COURT_DESK,
        DASHI,
    )
    assert offer["payload"]["materials"] == ["起诉状", "证据目录"]

    accepted = await move(client, station, delegated, "accept")
    assert any(
        d["kind"] == "court_delegation_ordinary" and d["status"] == "active" for d in accepted["deadlines"]
    )
    settled = await move(
        client, station, accepted, "settle", agreement={"form": "written", "terms": "原告撤诉"}
    )
    # The agreement answers the court's delegation and the case waits in the court's queue.
    assert (settled["state"], settled["unit_code"]) == ("referred", COURT_DESK)
    assert (await referrals(client, clerk, settled))[0]["status"] == "completed"
    assert {"referral_result", "delegation_settled"} <= set(await inbox_kinds(client, clerk, COURT_DESK))

    claimed = await move(client, clerk, settled, "claim")
    closed = await move(client, clerk, claimed, "close", outcome="withdrawn", reason="原告撤诉")
    assert (closed["state"], closed["outcome"]) == ("closed", "withdrawn")


async def test_judicial_confirmation_is_a_referral_to_the_court(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station, clerk = await auth("dashi.mediator"), await auth("court.clerk")
    case = await move(client, station, await open_case(client, station), "accept")
    case = await move(client, station, case, "settle", agreement=CONFIRMABLE_AGREEMENT)
    today = frozen_clock.at.astimezone(SHANGHAI).date().isoformat()
    requested = await move(client, station, case, "request_confirmation", **application(today))
    [offer] = await referrals(client, station, requested)
    assert (offer["kind"], offer["to_unit_code"], offer["status"]) == (
        "judicial_confirmation",
        COURT_DESK,
        "offered",
    )
    assert offer["payload"]["court"] == "COURT-320583" and offer["payload"]["applied_on"] == today

    accepted = await move(client, clerk, requested, "accept_confirmation")
    confirmed = await move(client, clerk, accepted, "confirm")

    assert (await referrals(client, station, confirmed))[0]["status"] == "completed"
    assert "referral_result" in await inbox_kinds(client, station, DASHI)


async def agency_hands_off(
    client: httpx.AsyncClient,
    officer: dict[str, str],
    kind: str,
    payload: dict[str, str],
    target: str = DASHI,
) -> dict[str, Any]:
    case = await open_case(client, officer)
    return await move(
        client,
        officer,
        case,
        "hand_off",
        target_unit=target,
        referral_kind=kind,
        reason="移交人民调解",
        referral_payload=payload,
    )


async def test_petition_and_procuratorate_referrals_round_trip(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station = await auth("dashi.mediator")
    for officer, unit, kind, payload in (
        ("petition.officer", "PETITION-320583", "petition", {"petition_number": "XF2026-0301"}),
        (
            "procuratorate.officer",
            "PROC-320583",
            "procuratorate",
            {"procuratorate_case_number": "昆检刑诉[2026]12号"},
        ),
    ):
        sender = await auth(officer)
        handed = await agency_hands_off(client, sender, kind, payload)
        accepted = await move(client, station, handed, "accept")
        await move(client, station, accepted, "terminate", termination_reason="party_refused")

        [record] = await referrals(client, sender, handed)
        assert (record["kind"], record["from_unit_code"], record["status"]) == (kind, unit, "completed")
        assert record["result"]["termination_reason"] == "party_refused"  # the failure report goes back
        assert "referral_result" in await inbox_kinds(client, sender, unit)


async def test_sectoral_hand_off_to_the_medical_committee(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station, committee = await auth("dashi.mediator"), await auth("medical.mediator")
    case = await open_case(client, station)

    handed = await move(
        client,
        station,
        case,
        "hand_off",
        target_unit="SC-MEDICAL",
        referral_kind="sectoral",
        reason="涉医疗损害",
    )

    assert (handed["unit_code"], handed["channel"]) == ("SC-MEDICAL", "people")
    assert (await referrals(client, committee, handed))[0]["label"] == "专业调解移送"


async def test_legacy_court_assignment_runs_a_thirty_day_clock(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station, clerk = await auth("dashi.mediator"), await auth("court.clerk")
    assigned = await delegated_by_court(client, station, clerk, "(2024)苏0583民诉前调1号", "assignment")
    accepted = await move(client, station, assigned, "accept")

    assert (await referrals(client, clerk, assigned))[0]["kind"] == "court_assignment"
    clock = next(d for d in accepted["deadlines"] if d["kind"] == "court_assignment")
    assert clock["due_date"] == "2026-04-01"  # 30 days after 2 March


async def test_court_delegation_is_extended_by_thirty_days_with_both_parties_consent(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station, clerk = await auth("dashi.mediator"), await auth("court.clerk")
    delegated = await delegated_by_court(client, station, clerk, "(2026)苏0583民初9号", "simplified")
    accepted = await move(client, station, delegated, "accept")
    clock = next(d for d in accepted["deadlines"] if d["kind"] == "court_delegation_simplified")
    assert clock["due_date"] == "2026-03-09"  # 7 days after Monday 2 March

    url = f"/api/v1/cases/{accepted['id']}/deadlines/{clock['id']}/extend"
    extended = await client.post(
        url,
        json={
            "by_length": 30,
            "by_unit": "days",
            "both_parties_consent": True,
            "consent_record": "双方书面同意",
            "reason": "等待鉴定",
        },
        headers=clerk,
    )
    over = await client.post(
        url,
        json={"by_length": 1, "by_unit": "days", "both_parties_consent": True, "reason": "再延"},
        headers=clerk,
    )

    assert extended.status_code == 200, extended.text
    after = next(d for d in extended.json()["deadlines"] if d["kind"] == "court_delegation_simplified")
    assert after["due_date"] == "2026-04-08"  # 9 March + 30 days
    assert over.status_code == 409


async def test_the_courts_own_system_claims_with_a_machine_token(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    from service.users.service import issue_machine_token

    station = await auth("dashi.mediator")
    case = await referred_to_court(client, station)
    async with db.engine.begin() as conn:
        token = await issue_machine_token(
            conn, "court.clerk2", "court-system", now=frozen_clock(), expires_at=None
        )

    claimed = await client.post("/api/v1/court/queue/claim", headers={"Authorization": f"Bearer {token}"})

    assert claimed.status_code == 200
    assert claimed.json()["id"] == case["id"]


async def test_a_settled_agreement_is_followed_up_until_performed(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station = await auth("dashi.mediator")
    case = await move(client, station, await open_case(client, station), "accept")
    settled = await move(client, station, case, "settle", agreement={"form": "oral", "terms": "分三期付款"})
    first = next(d for d in settled["deadlines"] if d["kind"] == "performance_followup")
    assert (first["status"], first["due_date"]) == ("active", "2026-04-01")

    reminded = await sweep(db.engine, db.ctx, now=kunshan(2026, 4, 1, 9))
    assert reminded.warned >= 1

    frozen_clock.set(kunshan(2026, 3, 20))
    partly = await move(client, station, settled, "record_performance", performance="partially")
    clocks = [d for d in partly["deadlines"] if d["kind"] == "performance_followup"]
    assert [c["status"] for c in clocks] == ["met", "active"]  # the next follow-up runs from today
    done = await move(client, station, partly, "record_performance", performance="performed")
    assert all(d["status"] != "active" for d in done["deadlines"])


async def test_a_failed_court_delegation_goes_back_to_trial(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station, clerk = await auth("dashi.mediator"), await auth("court.clerk")
    delegated = await delegated_by_court(client, station, clerk, "(2026)苏0583民初77号", "ordinary")
    accepted = await move(client, station, delegated, "accept")

    failed = await move(client, station, accepted, "terminate", termination_reason="refused_to_sign")
    [record] = await referrals(client, clerk, failed)
    assert (record["status"], record["result"]["termination_reason"]) == ("completed", "refused_to_sign")
    back = await move(client, station, failed, "refer_to_court", reason="委托调解不成，退回审理")
    reclaimed = (await client.post("/api/v1/court/queue/claim", headers=clerk)).json()
    assert reclaimed["id"] == back["id"]
    tried = await move(client, clerk, reclaimed, "docket", reason="恢复审理")

    assert (tried["state"], tried["outcome"]) == ("closed", "litigated")
