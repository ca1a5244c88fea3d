"""The case API: creation, idempotency, versions, errors, filters and routing flows."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from service.cases.queries import cases
from tests.builders import (
    CITY,
    DASHI,
    WULIAN,
    ZHANGPU,
    ZHOUXIANG,
    case_body,
    fire,
    move,
    open_case,
    read_case,
)
from tests.conftest import Backend


async def test_idempotency_key_retry_returns_the_same_case(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    headers = {**await auth("dashi.mediator"), "Idempotency-Key": "phone-retry-1"}

    first = await client.post("/api/v1/cases", json=case_body(), headers=headers)
    retry = await client.post("/api/v1/cases", json=case_body(), headers=headers)

    assert first.status_code == retry.status_code == 201
    assert retry.json()["id"] == first.json()["id"]
    assert retry.headers["idempotent-replayed"] == "true"
    listing = (await client.get("/api/v1/cases", headers=await auth("dashi.mediator"))).json()
    assert listing["total"] == 1


async def test_idempotency_key_reused_with_another_body_is_422(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    headers = {**await auth("dashi.mediator"), "Idempotency-Key": "phone-retry-2"}
    await client.post("/api/v1/cases", json=case_body(), headers=headers)

    response = await client.post("/api/v1/cases", json=case_body(summary="另一件事"), headers=headers)

    assert response.status_code == 422
    assert response.json()["type"] == "/problems/idempotency-key-reused"


async def test_same_idempotency_key_from_two_users_makes_two_cases(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    body = case_body(location_code=ZHOUXIANG)
    a = await client.post(
        "/api/v1/cases", json=body, headers={**await auth("zhouxiang.mediator"), "Idempotency-Key": "k"}
    )
    b = await client.post(
        "/api/v1/cases", json=body, headers={**await auth("zhangpu.coordinator"), "Idempotency-Key": "k"}
    )

    assert a.json()["id"] != b.json()["id"]


async def test_case_numbers_are_unique_and_readable(client: httpx.AsyncClient, auth, db: Backend) -> None:
    mediator = await auth("dashi.mediator")
    numbers = [(await open_case(client, mediator))["number"] for _ in range(3)]

    assert len(set(numbers)) == 3
    assert all(n.startswith("KS-20") and len(n.split("-")[2]) >= 6 for n in numbers)


async def test_case_numbers_keep_every_digit_past_999999(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    """一案一码: the number is the id padded to six digits, never cut to six (PostgreSQL's lpad
    truncates a longer string: case 1,000,001 would have been numbered like case 100,000)."""
    mediator = await auth("dashi.mediator")
    first = await open_case(client, mediator)
    async with db.engine.begin() as conn:
        if db.name == "postgresql":
            await conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('cases', 'id'), 999999)"))
        else:  # the next id is max(id) + 1
            row = (await conn.execute(sa.select(cases).where(cases.c.id == first["id"]))).mappings().one()
            await conn.execute(sa.insert(cases).values({**row, "id": 999_999, "number": "KS-TEST-999999"}))

    later = [await open_case(client, mediator) for _ in range(2)]

    assert [c["id"] for c in later] == [1_000_000, 1_000_001]
    assert [c["number"].rsplit("-", 1)[1] for c in later] == ["1000000", "1000001"]
    assert first["number"].rsplit("-", 1)[1] == f"{first['id']:06d}"


async def test_stale_if_match_is_412_with_current_version(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    await move(client, mediator, case, "accept")

    response = await fire(client, mediator, case, "suspend", reason="等待鉴定")  # case still says version 1

    assert response.status_code == 412
    assert response.json()["current_version"] == 2
    assert response.headers["etag"] == '"2"'


async def test_transition_not_allowed_is_409_listing_allowed_triggers(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)

    response = await fire(client, mediator, case, "settle", agreement={"form": "oral", "terms": "x"})

    assert response.status_code == 409
    problem = response.json()
    assert problem["type"] == "/problems/transition-not-allowed"
    assert "accept" in problem["allowed"] and "settle" not in problem["allowed"]


@pytest.mark.parametrize(
    ("trigger", "fields", "field"),
    [
        ("decline", {}, "body.reason"),
        ("escalate", {"reason": ""}, "body.reason"),
        ("hand_off", {"reason": "x", "target_unit": "SC-MEDICAL"}, "body.referral_kind"),
        ("accept", {"unexpected": 1}, "body.unexpected"),
    ],
)
async def test_missing_or_unknown_trigger_fields_are_422_naming_the_field(
    client: httpx.AsyncClient, auth, db: Backend, trigger: str, fields: dict[str, object], field: str
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)

    response = await fire(client, mediator, case, trigger, **fields)

    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]


async def test_settle_requires_an_agreement_with_form_and_terms(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await move(client, mediator, await open_case(client, mediator), "accept")

    response = await fire(client, mediator, case, "settle", agreement={"form": "handshake"})

    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"body.agreement.form", "body.agreement.terms"} <= fields


async def test_unknown_location_is_422_on_location_code(client: httpx.AsyncClient, auth, db: Backend) -> None:
    response = await client.post(
        "/api/v1/cases", json=case_body(location_code="999999999999"), headers=await auth("dashi.mediator")
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.location_code"


@pytest.mark.parametrize(
    "body",
    [
        {"dispute_type": "NEIGHBOUR"},
        {**case_body(), "amount_yuan": -5},
        {**case_body(), "amount_yuan": "lots"},
        {**case_body(), "people_involved": 0},
        {**case_body(), "flags": ["not_a_flag"]},
        {**case_body(), "parties": [{"name": "张三", "role": "judge"}]},
        {**case_body(), "parties": [{"name": "张三", "role": "applicant", "phone": "call me"}]},
        {**case_body(), "extra": True},
        [],
        "text",
    ],
)
async def test_bad_case_bodies_are_422_problem_details(
    client: httpx.AsyncClient, auth, db: Backend, body: object
) -> None:
    response = await client.post("/api/v1/cases", json=body, headers=await auth("dashi.mediator"))

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"]


async def test_malformed_json_is_422_not_500(client: httpx.AsyncClient, auth, db: Backend) -> None:
    headers = {**await auth("dashi.mediator"), "Content-Type": "application/json"}

    response = await client.post("/api/v1/cases", content=b'{"dispute_type": ', headers=headers)

    assert response.status_code == 422


async def test_bad_if_match_header_is_422(client: httpx.AsyncClient, auth, db: Backend) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)

    response = await client.post(
        f"/api/v1/cases/{case['id']}/transitions",
        json={"trigger": "accept"},
        headers={**mediator, "If-Match": "soon"},
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "header.If-Match"


async def test_allowed_transitions_list_fields_each_trigger_needs(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)

    options = (await client.get(f"/api/v1/cases/{case['id']}/transitions", headers=mediator)).json()

    by_trigger = {o["trigger"]: o for o in options}
    assert set(by_trigger) == {"accept", "decline", "escalate", "hand_off", "withdraw", "close"}
    assert by_trigger["decline"]["required"] == ["reason"]
    assert set(by_trigger["hand_off"]["required"]) == {"target_unit", "referral_kind", "reason"}


async def test_escalation_goes_village_to_town_to_city(client: httpx.AsyncClient, auth, db: Backend) -> None:
    mediator, town = await auth("dashi.mediator"), await auth("zhangpu.coordinator")
    case = await move(client, mediator, await open_case(client, mediator), "accept")

    at_town = await move(client, mediator, case, "escalate", reason="涉及跨村边界")
    assert (at_town["state"], at_town["unit_code"], at_town["tier"]) == ("assigned", ZHANGPU, "town")

    accepted = await move(client, town, at_town, "accept")
    at_city = await move(client, town, accepted, "escalate", reason="群体性风险")
    assert (at_city["unit_code"], at_city["tier"]) == (CITY, "city")

    # The station no longer holds the case; having sent it on, it follows it read only.
    followed = await read_case(client, mediator, case)
    assert (followed["view"], followed["unit_code"], followed["allowed"]) == ("sent", CITY, [])
    assert "parties" not in followed


async def test_manual_triage_case_is_dispatched_by_the_town_hub(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    town = await auth("zhangpu.coordinator")
    # A contract dispute falls through to the catch-all manual rule: registered at the town hub.
    case = await open_case(client, town, dispute_type="OTHER", amount_yuan=None, location_code=ZHOUXIANG)
    assert (case["state"], case["unit_code"]) == ("registered", ZHANGPU)

    outside = await fire(client, town, case, "dispatch", target_unit=WULIAN)
    assert outside.status_code == 422
    assert outside.json()["errors"][0]["field"] == "body.target_unit"

    dispatched = await move(client, town, case, "dispatch", target_unit=ZHOUXIANG)
    assert (dispatched["state"], dispatched["unit_code"], dispatched["returns_to_code"]) == (
        "assigned",
        ZHOUXIANG,
        ZHANGPU,
    )

    station = await auth("zhouxiang.mediator")
    declined = await move(client, station, dispatched, "decline", reason="当事人不在本社区居住")
    assert (declined["state"], declined["unit_code"]) == ("registered", ZHANGPU)


async def test_hand_off_to_police_station_and_decline_returns_to_sender(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)

    handed = await move(
        client,
        mediator,
        case,
        "hand_off",
        target_unit="PS-320583106",
        referral_kind="administrative",
        reason="涉嫌治安案件",
    )
    assert (handed["view"], handed["unit_code"], handed["channel"]) == (
        "sent",
        "PS-320583106",
        "administrative",
    )
    police = await auth("zhangpu.police")
    assert (await read_case(client, police, handed))["returns_to_code"] == DASHI
    declined = await move(client, police, handed, "decline", reason="不属于治安调解范围")
    assert (declined["view"], declined["unit_code"]) == ("sent", DASHI)  # the answer to the decline
    # A decline gives the case back: the police station does not follow it afterwards.
    assert (await client.get(f"/api/v1/cases/{case['id']}", headers=police)).status_code == 404
    # Back at the station that sent it, to accept again (or send it on to its hub).
    back = await read_case(client, mediator, case)
    assert (back["state"], back["unit_code"], back["returns_to_code"]) == ("assigned", DASHI, ZHANGPU)
    assert (await move(client, mediator, back, "accept"))["state"] == "mediating"


async def test_terminated_case_is_referred_claimed_and_closed_by_the_court(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator, clerk = await auth("dashi.mediator"), await auth("court.clerk")
    case = await move(client, mediator, await open_case(client, mediator), "accept")
    case = await move(client, mediator, case, "terminate", termination_reason="gap_too_wide")
    case = await move(client, mediator, case, "refer_to_court", reason="当事人同意诉前移送")
    assert (case["view"], case["state"], case["unit_code"]) == ("sent", "referred", "COURT-320583-DESK")
    assert (await read_case(client, clerk, case))["court_linked"] is True

    case = await move(client, clerk, case, "claim")
    wrong = await fire(client, clerk, case, "close", outcome="performed")
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "body.outcome"

    closed = await move(client, clerk, case, "close", outcome="litigated")
    assert (closed["state"], closed["outcome"]) == ("closed", "litigated")
    assert closed["closed_at"] is not None


async def test_performance_recorded_closes_as_performed(client: httpx.AsyncClient, auth, db: Backend) -> None:
    mediator = await auth("dashi.mediator")
    case = await move(client, mediator, await open_case(client, mediator), "accept")
    case = await move(client, mediator, case, "settle", agreement={"form": "oral", "terms": "道歉并修复墙面"})

    partly = await move(client, mediator, case, "record_performance", performance="partially")
    assert partly["state"] == "settled"
    done = await move(client, mediator, partly, "record_performance", performance="performed")
    assert (done["state"], done["outcome"]) == ("closed", "performed")


async def test_list_filters_by_state_dispute_type_and_query(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    first = await open_case(client, mediator)
    await open_case(
        client, mediator, dispute_type="MARRIAGE_FAMILY", parties=[{"name": "赵小梅", "role": "applicant"}]
    )
    await move(client, mediator, first, "accept")

    async def total(**params: object) -> int:
        response = await client.get("/api/v1/cases", params=params, headers=mediator)
        assert response.status_code == 200, response.text
        result: int = response.json()["total"]
        return result

    assert await total() == 2
    assert await total(state="mediating") == 1
    assert await total(state=["mediating", "assigned"]) == 2
    assert await total(dispute_type="MARRIAGE_FAMILY") == 1
    assert await total(q="赵小") == 1
    assert await total(q=first["number"]) == 1
    assert await total(q="%") == 0
    assert await total(tier="town") == 0
    assert await total(created_from="2000-01-01T00:00:00+08:00") == 2
    page = (await client.get("/api/v1/cases", params={"limit": 1}, headers=mediator)).json()
    assert (len(page["items"]), page["total"], page["limit"]) == (1, 2, 1)


async def test_list_rejects_naive_dates_and_bad_limits(client: httpx.AsyncClient, auth, db: Backend) -> None:
    mediator = await auth("dashi.mediator")

    naive = await client.get(
        "/api/v1/cases", params={"created_from": "2026-01-01T00:00:00"}, headers=mediator
    )
    too_many = await client.get("/api/v1/cases", params={"limit": 10_000}, headers=mediator)
    bad_state = await client.get("/api/v1/cases", params={"state": "lost"}, headers=mediator)

    assert naive.status_code == too_many.status_code == bad_state.status_code == 422


async def test_triage_preview_explains_without_creating(client: httpx.AsyncClient, auth, db: Backend) -> None:
    mediator = await auth("dashi.mediator")

    preview = await client.post(
        "/api/v1/triage/preview",
        json={
            "dispute_type": "NEIGHBOUR",
            "location_code": DASHI,
            "flags": ["criminal_risk"],
            "people_involved": 2,
        },
        headers=mediator,
    )

    assert preview.status_code == 200
    decision = preview.json()
    assert (decision["tier"], decision["unit_code"], decision["risk"], decision["report"]) == (
        "city",
        CITY,
        "red",
        True,
    )
    assert decision["reasons"]
    assert (await client.get("/api/v1/cases", headers=await auth("auditor"))).json()["total"] == 0


async def test_unknown_case_and_route_are_problem_404(client: httpx.AsyncClient, auth, db: Backend) -> None:
    mediator = await auth("dashi.mediator")

    missing = await client.get("/api/v1/cases/987654", headers=mediator)
    no_route = await client.get("/api/v1/nothing-here", headers=mediator)
    bad_id = await client.get("/api/v1/cases/abc", headers=mediator)

    assert missing.status_code == no_route.status_code == 404
    assert no_route.headers["content-type"] == "application/problem+json"
    assert bad_id.status_code == 422


async def test_a_replay_shows_only_what_the_caller_may_see_now(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    """The registrant retries after the case moved to the town and was flagged (a minor): the
    answer says the case exists and shows nothing it now holds."""
    mediator, town = await auth("dashi.mediator"), await auth("zhangpu.coordinator")
    keyed = {**mediator, "Idempotency-Key": "phone-retry-moved"}
    first = await client.post("/api/v1/cases", json=case_body(), headers=keyed)
    assert first.status_code == 201
    case = await move(client, mediator, first.json(), "accept")
    at_town = await move(client, mediator, case, "escalate", reason="涉及跨村边界")
    flagged = await client.patch(
        f"/api/v1/cases/{case['id']}",
        json={"summary": "涉及未成年人的新情况", "flags": ["minor"], "reason": "当事人未成年"},
        headers={**town, "If-Match": f'"{at_town["version"]}"'},
    )
    assert flagged.status_code == 200, flagged.text

    replay = await client.post("/api/v1/cases", json=case_body(), headers=keyed)

    assert replay.status_code == 409
    problem = replay.json()
    assert problem["type"] == "/problems/idempotency-key-used"
    assert (problem["case_id"], problem["number"]) == (case["id"], case["number"])
    assert "未成年" not in replay.text and "minor" not in replay.text and "parties" not in problem
    listing = (await client.get("/api/v1/cases", headers=town)).json()
    assert listing["total"] == 1  # and it was not registered twice


async def test_a_replay_within_scope_shows_the_case_as_it_is_now(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    keyed = {**mediator, "Idempotency-Key": "phone-retry-now"}
    first = (await client.post("/api/v1/cases", json=case_body(), headers=keyed)).json()
    accepted = await move(client, mediator, first, "accept")

    replay = await client.post("/api/v1/cases", json=case_body(), headers=keyed)

    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert (replay.json()["state"], replay.json()["version"]) == (accepted["state"], accepted["version"])


async def test_an_idempotency_key_expires_and_the_sweep_forgets_it(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock
) -> None:
    from datetime import timedelta

    from service.sweep import sweep

    mediator = await auth("dashi.mediator")
    keyed = {**mediator, "Idempotency-Key": "phone-retry-old"}
    first = await client.post("/api/v1/cases", json=case_body(), headers=keyed)
    frozen_clock.set(frozen_clock.at + timedelta(hours=db.ctx.settings.idempotency_key_hours, minutes=1))

    again = await client.post("/api/v1/cases", json=case_body(), headers=keyed)

    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]  # the old key was forgotten: a new case
    frozen_clock.set(frozen_clock.at + timedelta(hours=db.ctx.settings.idempotency_key_hours, minutes=1))
    report = await sweep(db.engine, db.ctx, now=frozen_clock.at)
    assert report.keys_forgotten == 1
    async with db.engine.connect() as conn:
        left = (await conn.execute(sa.text("SELECT count(*) FROM idempotency_key"))).scalar_one()
    assert left == 0
