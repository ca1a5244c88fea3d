"""Intake and consent over HTTP, on SQLite and PostgreSQL: the declaration of prior proceedings at
registration and the refusal rule it feeds (人民调解工作若干规定 art. 22), each party's consent on
accept, hand-off and delegation (人民调解法 arts. 17-18; 特邀调解规定 art. 11), and a party's refusal."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.builders import (
    DASHI,
    POLICE,
    case_body,
    consents,
    fire,
    hand_to_station,
    move,
    open_case,
    police_case,
    read_case,
)
from tests.conftest import Backend

pytestmark = pytest.mark.usefixtures("trail_stays_intact")

POLICE_ACCEPTED = {
    "authority": "police",
    "authority_name": "昆山市公安局张浦派出所",
    "accepted_on": "2026-02-27",
    "case_number": "JQ2026022700017",
}


async def events(client: httpx.AsyncClient, headers: dict[str, str], case: dict[str, Any]) -> list[Any]:
    response = await client.get(f"/api/v1/cases/{case['id']}/events", headers=headers)
    assert response.status_code == 200, response.text
    found: list[Any] = response.json()
    return found


async def test_registration_without_the_declaration_is_refused_naming_it(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    body = case_body()
    del body["prior_proceedings"]

    response = await client.post("/api/v1/cases", json=body, headers=mediator)

    assert response.status_code == 422
    assert "body.prior_proceedings" in [e["field"] for e in response.json()["errors"]]


async def test_a_declared_acceptance_must_name_the_authority(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")

    response = await client.post(
        "/api/v1/cases", json=case_body(prior_proceedings={"authority": "police"}), headers=mediator
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["body.prior_proceedings.authority_name"]


async def test_a_dispute_the_police_accepted_is_not_accepted_by_people_mediation(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator, prior_proceedings=POLICE_ACCEPTED)
    assert case["prior_proceedings"] == POLICE_ACCEPTED
    created = (await events(client, mediator, case))[0]
    assert created["payload"]["prior_proceedings"] == POLICE_ACCEPTED  # part of the audit event

    refused = await fire(client, mediator, case, "accept")

    assert refused.status_code == 409
    problem = refused.json()
    assert problem["type"].endswith("prior-proceedings") and problem["authority"] == "police"
    assert "第22条" in problem["detail"] and "昆山市公安局张浦派出所" in problem["detail"]
    # 不予受理: closed as rejected, the offer answered.
    closed = await move(client, mediator, case, "close", outcome="rejected", reason="已由派出所受理")
    assert (closed["state"], closed["outcome"]) == ("closed", "rejected")


async def test_the_police_channel_is_not_bound_and_may_refer_the_matter_back_with_consent(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    """A 派出所 mediating what it accepted is administrative mediation; when it hands the matter to
    people's mediation itself (警调对接, the parties agreeing), the station may accept it."""
    police, mediator = await auth("zhangpu.police"), await auth("dashi.mediator")
    case = await open_case(client, police, source="police", prior_proceedings=POLICE_ACCEPTED)
    accepted_by_police = await move(client, police, case, "accept")
    assert accepted_by_police["state"] == "mediating"

    at_station = await read_case(client, mediator, await hand_to_station(client, police, accepted_by_police))
    assert [c["step"] for c in at_station["consents"]] == ["accept", "accept", "hand_off", "hand_off"]

    accepted = await move(client, mediator, at_station, "accept", consents=[])
    assert accepted["state"] == "mediating"  # the consent given to the referral stands


async def test_an_unknown_declaration_holds_acceptance_until_an_edit_answers_it(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator, prior_proceedings={"authority": "unknown"})

    held = await fire(client, mediator, case, "accept")
    assert held.status_code == 409 and "prior_proceedings" in held.json()["detail"]

    edited = await client.patch(
        f"/api/v1/cases/{case['id']}",
        json={"prior_proceedings": {"authority": "none"}, "reason": "申请人确认未向其他机关申请"},
        headers={**mediator, "If-Match": f'"{case["version"]}"'},
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["prior_proceedings"] == {"authority": "none"}
    accepted = await move(client, mediator, edited.json(), "accept")
    assert accepted["state"] == "mediating"


async def test_accept_names_each_party_whose_consent_is_missing(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    applicant, respondent = case["parties"]

    only_one = await fire(client, mediator, case, "accept", consents=consents(case)[:1])

    assert only_one.status_code == 422
    assert [e["field"] for e in only_one.json()["errors"]] == [f"body.consents.{respondent['id']}"]
    assert respondent["name"] in only_one.json()["errors"][0]["message"]
    bad_manner = await fire(
        client,
        mediator,
        case,
        "accept",
        consents=[{"party_id": applicant["id"], "manner": "telepathy", "on": "2026-03-02"}],
    )
    assert bad_manner.status_code == 422
    assert bad_manner.json()["errors"][0]["field"] == "body.consents.0.manner"


async def test_accept_records_each_partys_consent_on_the_case_and_its_trail(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    applicant, respondent = case["parties"]
    given = [
        {"party_id": applicant["id"], "manner": "written", "on": "2026-03-02"},
        {"party_id": respondent["id"], "manner": "phone", "on": "2026-03-03"},
    ]

    accepted = await move(client, mediator, case, "accept", consents=given)

    assert [
        (c["party_name"], c["decision"], c["manner"], c["on"], c["step"]) for c in accepted["consents"]
    ] == [
        (applicant["name"], "given", "written", "2026-03-02", "accept"),
        (respondent["name"], "given", "phone", "2026-03-03", "accept"),
    ]
    assert all(c["recorded_by"] == "dashi.mediator" for c in accepted["consents"])
    trail = await events(client, mediator, case)
    assert trail[-1]["trigger"] == "accept" and trail[-1]["payload"]["consents"] == given


async def test_a_partys_refusal_is_recorded_and_ends_mediation(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await move(client, mediator, await open_case(client, mediator), "accept")
    respondent = case["parties"][1]

    recorded = await client.post(
        f"/api/v1/cases/{case['id']}/consents",
        json={"party_id": respondent["id"], "decision": "refused", "manner": "phone", "on": "2026-03-04"},
        headers={**mediator, "If-Match": f'"{case["version"]}"'},
    )
    assert recorded.status_code == 201, recorded.text
    refusal = recorded.json()["consents"][-1]
    assert (refusal["party_name"], refusal["decision"], refusal["on"]) == (
        respondent["name"],
        "refused",
        "2026-03-04",
    )
    assert (await events(client, mediator, case))[-1]["kind"] == "consent"

    ended = await move(
        client,
        mediator,
        recorded.json(),
        "terminate",
        termination_reason="party_refused",
        refused_by={"party_id": respondent["id"], "manner": "in_person", "on": "2026-03-05"},
    )
    assert (ended["state"], ended["termination_reason"]) == ("terminated", "party_refused")
    assert [c["decision"] for c in ended["consents"]] == ["given", "given", "refused", "refused"]


async def test_a_refusal_naming_no_party_of_the_case_is_refused(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)

    response = await client.post(
        f"/api/v1/cases/{case['id']}/consents",
        json={"party_id": 999999, "decision": "refused", "manner": "phone", "on": "2026-03-04"},
        headers=mediator,
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.party_id"


async def test_a_police_hand_off_needs_the_parties_agreement(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    police = await auth("zhangpu.police")
    case = await police_case(client, police)

    response = await fire(
        client,
        police,
        case,
        "hand_off",
        target_unit=DASHI,
        referral_kind="police",
        reason="邻里纠纷，适宜人民调解",
        referral_payload={"police_report_number": "JQ2026030200123"},
        consents=[],
    )

    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {
        f"body.consents.{p['id']}" for p in case["parties"]
    }
    assert case["unit_code"] == POLICE


async def test_a_court_delegation_needs_each_partys_consent(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator, clerk = await auth("dashi.mediator"), await auth("court.clerk")
    case = await move(client, mediator, await open_case(client, mediator), "accept")
    case = await move(client, mediator, case, "terminate", termination_reason="gap_too_wide")
    case = await move(client, mediator, case, "refer_to_court", reason="调解不成")
    claimed = (await client.post("/api/v1/court/queue/claim", headers=clerk)).json()
    delegation = {"target_unit": DASHI, "court_case_number": "(2026)苏0583民初88号", "procedure": "ordinary"}

    missing = await fire(client, clerk, claimed, "delegate", consents=consents(claimed)[1:], **delegation)
    assert missing.status_code == 422
    assert [e["field"] for e in missing.json()["errors"]] == [f"body.consents.{claimed['parties'][0]['id']}"]

    delegated = await move(client, clerk, claimed, "delegate", **delegation)
    assert [c["step"] for c in delegated["consents"]][-2:] == ["delegate", "delegate"]
