"""A unit that sends a case on keeps sight of it (docs/domain.md, "Least privilege" and
"Hand-offs"): the read-only view, the "sent by us" list, the result in its inbox, and the
results still owed back for 警调/访调/检调 hand-offs. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.builders import (
    CITY,
    COURT_DESK,
    DASHI,
    POLICE,
    ZHANGPU,
    case_body,
    hand_to_station,
    move,
    open_case,
    police_case,
    read_case,
)
from tests.conftest import Backend

# 80 000 yuan: triage sends a 大市 neighbour dispute to the 张浦镇 centre (≥ 50 000 yuan → town).
TO_TOWN = {"amount_yuan": 80000}
PERSONAL = ("王秀英", "13800001234", "320583198001011234", "1234", "楼上卫生间漏水")


async def sent_list(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await client.get("/api/v1/cases/sent", params=params, headers=headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def inbox(client: httpx.AsyncClient, headers: dict[str, str], unit: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/units/{unit}/inbox", headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def assert_read_only_view(view: dict[str, Any]) -> None:
    """The sender's view: its own schema, nothing personal, nothing allowed."""
    assert view["view"] == "sent" and view["allowed"] == []
    assert not {"parties", "summary", "agreement", "triage", "amount_yuan", "registered_by"} & set(view)
    text = str(view)
    assert not [p for p in PERSONAL if p in text], text


async def test_a_registration_triage_sends_to_the_town_lands_on_the_read_only_view(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    station, town = await auth("dashi.mediator"), await auth("zhangpu.coordinator")
    response = await client.post("/api/v1/cases", json=case_body(**TO_TOWN), headers=station)

    assert response.status_code == 201, response.text
    sent = response.json()
    assert_read_only_view(sent)
    assert (sent["unit_code"], sent["unit_name"], sent["state"]) == (
        ZHANGPU,
        "张浦镇",
        "assigned",
    )
    assert [(s["trigger"], s["to_unit_code"]) for s in sent["timeline"]] == [(None, ZHANGPU)]
    # The station keeps reading it (no 404), and it is listed as sent by the station.
    assert_read_only_view(await read_case(client, station, sent))
    page = await sent_list(client, station)
    assert [(i["id"], i["unit_code"], i["state"]) for i in page["items"]] == [
        (sent["id"], ZHANGPU, "assigned")
    ]
    assert page["total"] == 1

    # The town settles it: the station is told the result once, and sees it.
    case = await move(client, town, await read_case(client, town, sent), "accept")
    await move(client, town, case, "settle", agreement={"form": "written", "terms": "赔偿维修费 2000 元"})
    results = [i for i in await inbox(client, station, DASHI) if i["kind"] == "sent_case_result"]
    assert [(i["case_id"], i["payload"]["result"]["state"]) for i in results] == [(sent["id"], "settled")]
    assert "terms" not in str(results[0]["payload"])  # the agreement's terms stay with the town
    assert not [i for i in await inbox(client, town, ZHANGPU) if i["kind"] == "sent_case_result"]
    after = await read_case(client, station, sent)
    assert (after["state"], after["unit_code"]) == ("settled", ZHANGPU)
    assert [s["trigger"] for s in after["timeline"]] == [None, "accept", "settle"]
    assert (await sent_list(client, station, state="settled"))["total"] == 1
    assert (await sent_list(client, station, state="mediating"))["total"] == 0


async def test_the_sender_can_do_nothing_and_reveal_nothing(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    station = await auth("dashi.mediator")
    sent = await open_case(client, station, **TO_TOWN)
    base = f"/api/v1/cases/{sent['id']}"

    assert (await client.get(f"{base}/transitions", headers=station)).json() == []
    accept = await client.post(f"{base}/transitions", json={"trigger": "accept"}, headers=station)
    assert (accept.status_code, accept.json()["allowed"]) == (409, [])
    events = await client.get(f"{base}/events", headers=station)
    assert (events.status_code, events.json()["type"]) == (403, "/problems/forbidden")
    town_view = await read_case(client, await auth("zhangpu.coordinator"), sent)
    party = town_view["parties"][0]["id"]
    reveal = await client.post(
        f"{base}/parties/{party}/reveal", json={"reason": "核对", "fields": ["phone"]}, headers=station
    )
    edit = await client.patch(base, json={"amount_yuan": 1, "reason": "更正"}, headers=station)
    assert (reveal.status_code, edit.status_code) == (404, 404)  # only those handling it
    assert (await read_case(client, station, sent))["version"] == sent["version"]  # nothing changed


async def test_escalation_and_referral_to_court_keep_the_sender_s_sight(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    station, town, clerk = (
        await auth("dashi.mediator"),
        await auth("zhangpu.coordinator"),
        await auth("court.clerk"),
    )
    escalated = await move(client, station, await open_case(client, station), "accept")
    escalated = await move(client, station, escalated, "escalate", reason="涉及跨村边界")
    assert_read_only_view(escalated)
    assert (escalated["unit_code"], escalated["state"]) == (ZHANGPU, "assigned")

    failing = await move(client, station, await open_case(client, station), "accept")
    failing = await move(client, station, failing, "terminate", termination_reason="gap_too_wide")
    referred = await move(client, station, failing, "refer_to_court", reason="当事人同意移送法院")
    assert_read_only_view(referred)
    assert (referred["unit_code"], referred["state"]) == (COURT_DESK, "referred")

    page = await sent_list(client, station)
    assert {i["id"]: i["unit_code"] for i in page["items"]} == {
        escalated["id"]: ZHANGPU,
        referred["id"]: COURT_DESK,
    }
    # The town coordinator follows what its stations sent (大市 is in its subtree).
    assert {i["id"] for i in (await sent_list(client, town))["items"]} == {referred["id"], escalated["id"]}

    # The court closes it: the station is told, and its list shows the outcome.
    claimed = await move(client, clerk, await read_case(client, clerk, referred), "claim")
    await move(client, clerk, claimed, "close", outcome="litigated")
    results = [i for i in await inbox(client, station, DASHI) if i["kind"] == "sent_case_result"]
    assert [(i["case_id"], i["payload"]["result"]["outcome"]) for i in results] == [
        (referred["id"], "litigated")
    ]
    assert results[0]["reason"] == "案件结果：已结案（转入诉讼）"
    closed = await sent_list(client, station, outcome="litigated")
    assert [(i["id"], i["outcome"]) for i in closed["items"]] == [(referred["id"], "litigated")]

    # Escalated again by the town to the city: the station still follows, the town now too.
    at_town = await move(client, town, await read_case(client, town, escalated), "accept")
    at_city = await move(client, town, at_town, "escalate", reason="群体性风险")
    assert (at_city["view"], at_city["unit_code"]) == ("sent", CITY)
    assert (await read_case(client, station, escalated))["unit_code"] == CITY


async def test_other_units_and_sensitive_cases_stay_hidden(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    station = await auth("dashi.mediator")
    sent = await open_case(client, station, **TO_TOWN)
    for other in ("wulian.mediator", "yushan.coordinator", "zhangpu.police", "medical.mediator"):
        response = await client.get(f"/api/v1/cases/{sent['id']}", headers=await auth(other))
        assert response.status_code == 404, other
        assert (await sent_list(client, await auth(other)))["total"] == 0, other

    # A sensitive case (a minor involved): the registrar is answered once, then it is hidden.
    sensitive = await open_case(client, station, flags=["minor"], **TO_TOWN)
    assert (sensitive["view"], sensitive["unit_code"]) == ("sent", ZHANGPU)
    assert (await client.get(f"/api/v1/cases/{sensitive['id']}", headers=station)).status_code == 404
    assert [i["id"] for i in (await sent_list(client, station))["items"]] == [sent["id"]]


async def test_a_police_hand_off_is_owed_until_its_result_goes_back(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    police, station, town = (
        await auth("zhangpu.police"),
        await auth("dashi.mediator"),
        await auth("zhangpu.coordinator"),
    )
    settling = await hand_to_station(client, police, await police_case(client, police))
    withdrawn = await hand_to_station(client, police, await police_case(client, police))
    assert_read_only_view(settling)

    async def owed(headers: dict[str, str]) -> list[tuple[int, str]]:
        response = await client.get("/api/v1/referrals/owed", headers=headers)
        assert response.status_code == 200, response.text
        return [(r["case_id"], r["status"]) for r in response.json()]

    both = [(settling["id"], "offered"), (withdrawn["id"], "offered")]
    assert await owed(police) == both  # the sender
    assert await owed(town) == both  # the receiver's coordinator
    assert await owed(await auth("wulian.mediator")) == []
    [first] = (await client.get("/api/v1/referrals/owed", headers=police)).json()[:1]
    assert (first["label"], first["from_unit_code"], first["to_unit_code"], first["offered_by"]) == (
        "警调对接",
        POLICE,
        DASHI,
        "zhangpu.police",
    )
    assert first["outstanding_days"] == 0 and first["expects_back"]

    # One is settled at the station: the result goes back through the referral, told once.
    accepted = await move(client, station, await read_case(client, station, settling), "accept")
    await move(
        client, station, accepted, "settle", agreement={"form": "written", "terms": "赔礼道歉并赔偿 800 元"}
    )
    kinds = [i["kind"] for i in await inbox(client, police, POLICE) if i["case_id"] == settling["id"]]
    assert kinds.count("referral_result") == 1 and "sent_case_result" not in kinds
    # The other is withdrawn at the station before it was accepted: ending the case completes the
    # offer, and the police station is told how it ended; nothing is owed any more.
    await move(client, station, await read_case(client, station, withdrawn), "withdraw", reason="申请人撤回")
    assert (await read_case(client, police, withdrawn))["state"] == "closed"
    [told] = [
        i
        for i in await inbox(client, police, POLICE)
        if i["case_id"] == withdrawn["id"] and i["kind"] == "referral_result"
    ]
    assert (told["payload"]["result"]["state"], told["payload"]["result"]["outcome"]) == (
        "closed",
        "withdrawn",
    )
    [referral] = (await client.get(f"/api/v1/cases/{withdrawn['id']}/referrals", headers=police)).json()
    assert referral["status"] == "completed"
    assert await owed(police) == []
    assert await owed(town) == []


async def test_the_admin_has_no_sent_cases(client: httpx.AsyncClient, auth: Any, db: Backend) -> None:
    admin = await auth("admin")
    assert (await client.get("/api/v1/cases/sent", headers=admin)).status_code == 403
    assert (await client.get("/api/v1/referrals/owed", headers=admin)).status_code == 403
    bad = await client.get(
        "/api/v1/cases/sent", params={"state": "nowhere"}, headers=await auth("dashi.mediator")
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].startswith("query.state")
