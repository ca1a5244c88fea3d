"""The MoJ report counted from events: a month of cases built through the API, every cell checked
against a hand count, figures that stay put when later events arrive, and the drill-down."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
from openpyxl import load_workbook

from tests.api.test_crime_reports import file as file_crime_report
from tests.api.test_referrals import kunshan, referred_to_court
from tests.builders import (
    CONFIRMABLE_AGREEMENT,
    WULIAN,
    add_mediator,
    application,
    move,
    open_case,
    police_case,
)
from tests.conftest import Backend, FrozenClock

Headers = dict[str, str]


def agreement(amount: int) -> dict[str, Any]:
    return {**CONFIRMABLE_AGREEMENT, "amount_yuan": amount}


async def report(client: httpx.AsyncClient, h: Headers, month: str, **params: str) -> dict[str, Any]:
    response = await client.get("/api/v1/stats/moj", params={"month": month, **params}, headers=h)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def figures(body: dict[str, Any], column: str = "month") -> dict[str, Any]:
    return {c["row"]: c["value"] for c in body["cells"] if c["column"] == column}


async def a_march(client: httpx.AsyncClient, auth: Any, clock: FrozenClock) -> dict[str, dict[str, Any]]:
    """March 2026: cases A–F, each covering a rule (the comments say which)."""
    station, village = await auth("dashi.mediator"), await auth("wulian.mediator")
    clerk, police = await auth("court.clerk"), await auth("zhangpu.police")
    clock.set(kunshan(2026, 3, 3))
    cases: dict[str, dict[str, Any]] = {}
    # A: 居 station, settled for 2000 (3000 claimed); confirmation applied and not accepted.
    a = await move(client, station, await open_case(client, station, amount_yuan=3000), "accept")
    a = await move(client, station, a, "settle", agreement=agreement(2000))
    a = await move(client, station, a, "request_confirmation", **application("2026-03-03"))
    seen = (await client.get(f"/api/v1/cases/{a['id']}", headers=clerk)).json()
    cases["A"] = await move(client, clerk, seen, "refuse_confirmation", reason="材料不全")
    # B: wage arrears of twelve workers, which triage sends to the town centre (乡镇), settled
    # there for 500 (3000 claimed); withdrawn in April.
    town = await auth("zhangpu.coordinator")
    b = await open_case(client, station, dispute_type="LABOUR_WAGE_ARREARS", people_involved=12)
    b = (await client.get(f"/api/v1/cases/{b['id']}", headers=town)).json()
    assert b["unit_code"] == "320583106"
    b = await move(client, town, b, "accept")
    cases["B"] = await move(client, town, b, "settle", agreement=agreement(500))
    # C: 村 station, a FINANCE dispute (其他), ended without agreement, a crime report filed,
    # acknowledged by the town and the case closed (防止民转刑: 1 case, 4 people).
    # Triage leaves a FINANCE dispute to the town, which dispatches it to the village.
    yushan = await auth("yushan.coordinator")
    c = await open_case(client, village, location_code=WULIAN, dispute_type="FINANCE", people_involved=4)
    c = (await client.get(f"/api/v1/cases/{c['id']}", headers=yushan)).json()
    c = await move(client, yushan, c, "dispatch", target_unit=WULIAN)
    c = (await client.get(f"/api/v1/cases/{c['id']}", headers=village)).json()
    c = await move(client, village, c, "accept")
    filed = await file_crime_report(client, village, c)
    assert filed.status_code == 201, filed.text
    c = (await client.get(f"/api/v1/cases/{c['id']}", headers=village)).json()
    c = await move(client, village, c, "terminate", termination_reason="gap_too_wide")
    # The town's 司法所 acknowledges the crime-risk report and the case is closed: 防止民转刑.
    reports = (await client.get(f"/api/v1/cases/{c['id']}/crime-reports", headers=yushan)).json()
    justice = next(r for r in reports if r["addressee"] == "justice")
    acked = await client.post(
        f"/api/v1/cases/{c['id']}/crime-reports/{justice['id']}/acknowledge", json={}, headers=yushan
    )
    assert acked.status_code == 200, acked.text
    c = (await client.get(f"/api/v1/cases/{c['id']}", headers=village)).json()
    cases["C"] = await move(client, village, c, "close", outcome="other_route")
    # D: registered on application, ended, referred to court; the court delegates it (委托) after
    # intake, the station settles it for 800 and the court closes it with a mediation statement.
    await referred_to_court(client, station)
    claimed = (await client.post("/api/v1/court/queue/claim", headers=clerk)).json()
    d = await move(
        client,
        clerk,
        claimed,
        "delegate",
        target_unit="320583106005",
        court_case_number="(2026)苏0583民初1号",
        procedure="ordinary",
    )
    d = await move(
        client, station, (await client.get(f"/api/v1/cases/{d['id']}", headers=station)).json(), "accept"
    )
    d = await move(client, station, d, "settle", agreement=agreement(800))
    claimed = (await client.post("/api/v1/court/queue/claim", headers=clerk)).json()
    assert claimed["id"] == d["id"]
    cases["D"] = await move(client, clerk, claimed, "close", outcome="mediation_statement")
    # G: dispatched to the village, which declines it: back at the town, never accepted.
    g = await open_case(client, village, location_code=WULIAN, dispute_type="VILLAGE_AFFAIRS")
    g = await move(
        client,
        yushan,
        (await client.get(f"/api/v1/cases/{g['id']}", headers=yushan)).json(),
        "dispatch",
        target_unit=WULIAN,
    )
    g = (await client.get(f"/api/v1/cases/{g['id']}", headers=village)).json()
    cases["G"] = await move(client, village, g, "decline", reason="不属于本村")
    assert cases["G"]["state"] == "registered"
    # E: registered, never accepted in March (accepted in April).
    cases["E"] = await open_case(client, station)
    # F: administrative mediation at the 派出所: accepted and settled, never in the people's rows.
    f = await move(client, police, await police_case(client, police), "accept")
    cases["F"] = await move(client, police, f, "settle", agreement={"form": "oral", "terms": "赔礼道歉"})
    return cases


MARCH = {
    "accepted": 4,
    "org_community": 2,
    "org_village": 1,
    "org_township": 1,
    "org_sectoral": 0,
    "type_NEIGHBOUR": 2,
    "type_LABOUR": 1,
    "type_LABOUR_WAGE_ARREARS": 1,
    "type_OTHER": 1,
    "type_CONTRACT": 0,
    "source_application": 3,
    "source_court": 1,
    "source_police": 0,
    "settled": 3,
    "terminated": 2,
    "concluded": 4,
    "success_rate": "0.7500",
    "agreed_amount": "3300.00",
    "confirmation_applied": 1,
    "confirmation_confirmed": 0,
    "confirmation_refused": 1,
    "performed": 0,
    "criminal_prevented": 1,
    "criminal_prevented_people": 4,
    "admin_accepted": 1,
    "admin_settled": 1,
    "court_delegated": 1,
    "court_statement": 1,
}


async def test_every_cell_of_a_month_is_counted_from_its_events(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    cases = await a_march(client, auth, frozen_clock)
    admin = await auth("auditor")

    body = await report(client, admin, "2026-03", case_ids="true")

    march = figures(body)
    assert {k: march[k] for k in MARCH} == MARCH
    assert figures(body, "ytd") == march | {}  # nothing before March this year: the same figures
    ids = body["case_ids"]
    assert ids["settled.month"] == sorted(cases[k]["id"] for k in "ABD")
    assert ids["accepted.month"] == sorted(cases[k]["id"] for k in "ABCD")
    assert ids["source_court.month"] == [cases["D"]["id"]]
    assert ids["admin_settled.month"] == [cases["F"]["id"]]
    assert ids["success_rate.month"] == [] and ids["committees.month"] == []
    assert (await report(client, admin, "2026-03"))["case_ids"] == {}  # unless asked for
    # Every cell says what it counts.
    assert all(c["definition"] and c["definition_en"] for c in body["cells"])


async def test_a_month_does_not_change_when_later_events_arrive(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    cases = await a_march(client, auth, frozen_clock)
    admin, station = await auth("auditor"), await auth("dashi.mediator")
    before = await report(client, admin, "2026-03", case_ids="true")

    frozen_clock.set(kunshan(2026, 4, 2))
    town = await auth("zhangpu.coordinator")
    await move(client, town, cases["B"], "close", outcome="withdrawn")  # the success is abandoned
    await move(client, station, cases["E"], "accept")

    after = await report(client, admin, "2026-03", case_ids="true")
    april = await report(client, admin, "2026-04")

    assert after["cells"] == before["cells"] and after["case_ids"] == before["case_ids"]
    assert (figures(april)["accepted"], figures(april)["settled"]) == (1, 0)
    assert figures(april, "ytd")["accepted"] == 5 and figures(april, "ytd")["settled"] == 3


async def test_the_drill_down_lists_exactly_the_cases_counted(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    cases = await a_march(client, auth, frozen_clock)
    admin = await auth("auditor")

    first = await client.get(
        "/api/v1/stats/moj/cells/accepted.month/cases", params={"month": "2026-03", "limit": 3}, headers=admin
    )
    assert first.status_code == 200, first.text
    page = first.json()
    rest = (
        await client.get(
            "/api/v1/stats/moj/cells/accepted.month/cases",
            params={"month": "2026-03", "after": page["next_after"]},
            headers=admin,
        )
    ).json()

    listed = [c["id"] for c in page["items"] + rest["items"]]
    assert listed == sorted(cases[k]["id"] for k in "ABCD") and page["value"] == 4
    assert rest["next_after"] is None and page["definition"]
    assert [c["number"] for c in rest["items"]] == [cases["D"]["number"]]
    missing = await client.get(
        "/api/v1/stats/moj/cells/nothing.month/cases", params={"month": "2026-03"}, headers=admin
    )
    assert missing.status_code == 404


async def test_a_station_sees_its_own_cases_and_the_court_desk_none(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    await a_march(client, auth, frozen_clock)

    village = figures(await report(client, await auth("wulian.mediator"), "2026-03"))
    zhangpu = figures(await report(client, await auth("zhangpu.coordinator"), "2026-03"))
    clerk = await client.get(
        "/api/v1/stats/moj", params={"month": "2026-03"}, headers=await auth("court.clerk")
    )
    outside = await client.get(
        "/api/v1/stats/moj",
        params={"month": "2026-03", "unit": "320583106"},
        headers=await auth("wulian.mediator"),
    )

    assert (village["accepted"], village["terminated"], village["criminal_prevented"]) == (1, 1, 1)
    assert (zhangpu["accepted"], zhangpu["settled"], zhangpu["admin_accepted"]) == (3, 3, 0)
    assert clerk.status_code == 403 and outside.status_code == 404
    bad = await client.get("/api/v1/stats/moj", params={"month": "2026-13"}, headers=await auth("auditor"))
    assert bad.status_code == 422


async def test_committees_and_mediators_are_counted_from_the_roster(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    admin = await auth("auditor")
    before = figures(await report(client, admin, "2026-03"))
    await add_mediator(db.engine, "周专职", ["320583106005"], employment="full_time")
    await add_mediator(db.engine, "吴兼职", [WULIAN], employment="part_time")
    await add_mediator(db.engine, "郑离任", [WULIAN], employment="part_time", active=False)
    await add_mediator(db.engine, "钱派出所", ["PS-320583106"], employment="full_time")

    after = figures(await report(client, admin, "2026-03"))

    assert before["committees"] == after["committees"] == 58  # 26 村, 18 居, 9 镇, 4 行业, the city
    assert after["mediators_full_time"] == before["mediators_full_time"] + 1
    assert after["mediators_part_time"] == before["mediators_part_time"] + 1


async def test_the_exports_keep_the_forms_layout_with_footnotes(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    await a_march(client, auth, frozen_clock)
    admin = await auth("auditor")

    csv_response = await client.get(
        "/api/v1/stats/moj", params={"month": "2026-03", "format": "csv"}, headers=admin
    )
    xlsx_response = await client.get(
        "/api/v1/stats/moj", params={"month": "2026-03", "format": "xlsx"}, headers=admin
    )

    assert csv_response.status_code == 200 and csv_response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(csv_response.content.decode("utf-8-sig"))))
    assert rows[1] == ["项目", "报表项目", "本月", "本年累计", "注"]
    by_label = {r[0].strip(): r for r in rows if len(r) == 5}
    assert by_label["受理调解纠纷"][2:4] == ["4", "4"]
    assert by_label["调解成功率"][2] == "75.00%"
    assert by_label["协议涉及金额(元)"][2] == "3300.0"
    assert by_label["其中:拖欠农民工工资"][2] == "1"
    note = by_label["调解成功"][4]
    assert any(r[:1] == [note] and "settle" in r[2] for r in rows)  # the footnote defines it
    sheet = load_workbook(io.BytesIO(xlsx_response.content)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert ["  居调委会", "按组织类型:居", 2, 2, "注3"] in values
    assert "attachment" in xlsx_response.headers["content-disposition"]


async def test_a_sensitive_case_is_counted_and_listed_without_its_number_to_whom_may_not_open_it(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    station = await auth("dashi.mediator")
    case = await move(client, station, await open_case(client, station, flags=["minor"]), "accept")
    params = {"month": "2026-03"}

    auditor = (
        await client.get(
            "/api/v1/stats/moj/cells/accepted.month/cases", params=params, headers=await auth("auditor")
        )
    ).json()
    town = (
        await client.get(
            "/api/v1/stats/moj/cells/accepted.month/cases",
            params=params,
            headers=await auth("zhangpu.coordinator"),
        )
    ).json()

    assert auditor["value"] == 1
    assert auditor["items"] == [
        {
            "id": case["id"],
            "number": None,
            "dispute_type": "NEIGHBOUR",
            "unit_code": case["unit_code"],
            "readable": False,
        }
    ]
    assert town["items"][0]["number"] == case["number"] and town["items"][0]["readable"] is True
