"""The MoJ report counted from events: a month of cases built through the API, every cell checked
against a hand count, figures that stay put when later events arrive, and the drill-down."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
from openpyxl import load_workbook

from service.screening.major import escalate_unacknowledged
from tests.api.test_crime_reports import file as file_crime_report
from tests.api.test_referrals import kunshan, referred_to_court
from tests.api.test_screening import found, record
from tests.builders import (
    CONFIRMABLE_AGREEMENT,
    WULIAN,
    ZHANGPU,
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


# --- the screening and prevention rows ---------------------------------------------------------


async def a_screening_march(
    client: httpx.AsyncClient, auth: Any, db: Backend, clock: FrozenClock
) -> dict[str, Any]:
    """March 2026 in the screening register, on top of ``a_march``: rounds at 大市 (张浦镇's 居
    station) and 五联 (玉山镇's 村), two of them zero reports, one in February; disputes found and
    registered in one step, two of them reported major (suicide: acknowledged in time; a group
    fight: escalated and acknowledged late) and one suicide report never acknowledged."""
    dashi, wulian = await auth("dashi.mediator"), await auth("wulian.mediator")
    town, city = await auth("zhangpu.coordinator"), await auth("city.coordinator")
    clock.set(kunshan(2026, 3, 20))
    made: dict[str, Any] = {
        "february": await record(client, dashi, held_at="2026-02-20T09:00:00+08:00"),
        "zero_dashi": await record(client, dashi, held_at="2026-03-02T09:00:00+08:00"),
        "zero_wulian": await record(client, wulian, held_at="2026-03-05T09:00:00+08:00"),
        "busy": await record(
            client,
            dashi,
            held_at="2026-03-20T09:00:00+08:00",
            nothing_found=False,
            findings="两户因漏水争执，一方扬言轻生；夜间噪音",
            disputes=[
                found(
                    summary="两户因漏水争执，一方扬言轻生",
                    people_involved=3,
                    major={"risks": ["suicide"], "statement": "一方情绪激动，扬言轻生"},
                ),
                found(summary="夜间噪音扰民"),
            ],
            disputes_prevented=3,
        ),
        "fight": await record(
            client,
            dashi,
            held_at="2026-03-20T09:30:00+08:00",
            nothing_found=False,
            findings="两村村民因排水沟对峙；宅基地边界",
            disputes=[
                found(
                    summary="两户村民因排水沟对峙，各自召集亲友准备械斗",
                    people_involved=4,
                    major={"risks": ["group_fight"], "statement": "双方亲友聚集，情绪激动"},
                ),
                found(
                    summary="宅基地边界争执",
                    people_involved=2,
                    major={"risks": ["suicide"], "statement": "一方称不解决就跳河"},
                ),
            ],
        ),
    }
    suicide, noise = made["busy"]["cases"]
    fight, unheard = made["fight"]["cases"]
    ack = await client.post(
        f"/api/v1/major-reports/{suicide['major_report_id']}/acknowledge", json={}, headers=town
    )
    assert ack.status_code == 200, ack.text
    # Nobody acknowledges the group fight in time: the sweep escalates it, the city takes it up late.
    # (The sweep's major-report step alone: the rest of the sweep would move a_march's clocks.)
    escalated = await escalate_unacknowledged(db.engine, db.ctx, now=kunshan(2026, 3, 20, 13))
    assert escalated == 2  # the group fight, and the suicide report nobody ever takes up
    clock.set(kunshan(2026, 3, 20, 14))
    late = await client.post(
        f"/api/v1/major-reports/{fight['major_report_id']}/acknowledge", json={}, headers=city
    )
    assert late.status_code == 200 and late.json()["late"] is True, late.text
    clock.set(kunshan(2026, 3, 21))
    for listed in (suicide, fight, unheard):
        case = (await client.get(f"/api/v1/cases/{listed['id']}", headers=dashi)).json()
        await move(client, dashi, case, "close", outcome="rejected", reason="已由信访部门受理")
    made.update(suicide=suicide, noise=noise, fight_case=fight, unheard=unheard)
    return made


SCREENING_MARCH = {
    "screening_rounds": 4,  # two zero reports and two rounds that found something; February's is not March's
    "screening_zero_reports": 2,
    "disputes_found": 4,  # registered with the rounds, whatever became of them
    "disputes_prevented": 3,  # resolved on the spot, as the busy round counted them
    "suicide_prevented": 1,  # acknowledged and closed; the unacknowledged one does not count
    "suicide_prevented_people": 3,
    "group_fight_prevented": 1,  # acknowledged late (after escalation): still acknowledged
    "group_fight_prevented_people": 4,
    "criminal_prevented": 1,  # a_march's C: the crime-risk report acknowledged, the case closed
    "criminal_prevented_people": 4,
}


async def cell_page(
    client: httpx.AsyncClient, h: Headers, cell: str, month: str = "2026-03", **params: Any
) -> dict[str, Any]:
    response = await client.get(
        f"/api/v1/stats/moj/cells/{cell}/cases", params={"month": month, **params}, headers=h
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_screening_and_prevention_rows_are_counted_from_the_register(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    cases = await a_march(client, auth, frozen_clock)
    made = await a_screening_march(client, auth, db, frozen_clock)
    admin = await auth("auditor")

    body = await report(client, admin, "2026-03", case_ids="true")

    march, ytd = figures(body), figures(body, "ytd")
    assert {k: march[k] for k in SCREENING_MARCH} == SCREENING_MARCH
    assert {k: march[k] for k in MARCH} == MARCH  # the rest of the month is untouched
    assert {k: ytd[k] for k in SCREENING_MARCH} == SCREENING_MARCH | {
        "screening_rounds": 5,
        "screening_zero_reports": 3,
    }
    ids = body["case_ids"]
    found_ids = sorted(c["id"] for r in ("busy", "fight") for c in made[r]["cases"])
    assert ids["disputes_found.month"] == found_ids
    assert ids["suicide_prevented.month"] == ids["suicide_prevented_people.month"] == [made["suicide"]["id"]]
    assert ids["group_fight_prevented.month"] == [made["fight_case"]["id"]]
    assert ids["criminal_prevented.month"] == [cases["C"]["id"]]
    assert ids["screening_rounds.month"] == []  # rounds are not cases
    # Scope: each station its own rounds and reports, the town its stations'.
    village = figures(await report(client, await auth("wulian.mediator"), "2026-03"))
    zhangpu = figures(await report(client, await auth("zhangpu.coordinator"), "2026-03"))
    assert [village[k] for k in SCREENING_MARCH] == [1, 1, 0, 0, 0, 0, 0, 0, 1, 4]
    assert [zhangpu[k] for k in SCREENING_MARCH] == [3, 1, 4, 3, 1, 3, 1, 4, 0, 0]
    # The register's own figures are the same definitions (one statement each, shared).
    over_http = await client.get(
        "/api/v1/screening/figures",
        params={"start": kunshan(2026, 3, 1, 0).isoformat(), "end": kunshan(2026, 4, 1, 0).isoformat()},
        headers=admin,
    )
    assert over_http.status_code == 200, over_http.text
    register = over_http.json()
    assert register["screening"] == {
        "rounds": 4,
        "disputes_found": 4,
        "disputes_prevented": 3,
        "zero_reports": 2,
    }
    assert (
        register["prevention"]["suicide_prevented"],
        register["prevention"]["group_fight_prevented"],
        register["prevention"]["crime_prevented"],
    ) == (1, 1, 1)
    # The exports carry the new rows with their footnotes.
    csv_response = await client.get(
        "/api/v1/stats/moj", params={"month": "2026-03", "format": "csv"}, headers=admin
    )
    rows = list(csv.reader(io.StringIO(csv_response.content.decode("utf-8-sig"))))
    by_label = {r[0].strip(): r for r in rows if len(r) == 5}
    assert by_label["排查次数"][2:4] == ["4", "5"] and by_label["其中:零报告"][2:4] == ["2", "3"]
    assert by_label["防止群体性械斗(人)"][2] == "4" and by_label["防止自杀(件)"][2] == "1"


async def test_the_screening_cells_drill_down_to_cases_or_to_rounds(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    await a_march(client, auth, frozen_clock)
    made = await a_screening_march(client, auth, db, frozen_clock)
    admin = await auth("auditor")

    found_cells = await cell_page(client, admin, "disputes_found.month")
    first = await cell_page(client, admin, "screening_rounds.month", limit=3)
    rest = await cell_page(client, admin, "screening_rounds.month", after=first["next_after"])
    zero = await cell_page(client, admin, "screening_zero_reports.ytd")
    prevented = await cell_page(client, admin, "disputes_prevented.month")
    fight = await cell_page(client, admin, "group_fight_prevented_people.month")
    stock = await cell_page(client, admin, "committees.month")

    assert found_cells["counts"] == "cases" and found_cells["rounds"] == []
    assert [c["id"] for c in found_cells["items"]] == sorted(
        c["id"] for r in ("busy", "fight") for c in made[r]["cases"]
    )
    # 排查次数 is not a case figure: the answer says so and lists the rounds behind it, paged.
    assert (first["counts"], first["items"], first["value"]) == ("rounds", [], 4)
    march_rounds = sorted(made[r]["id"] for r in ("zero_dashi", "zero_wulian", "busy", "fight"))
    assert [r["id"] for r in first["rounds"] + rest["rounds"]] == march_rounds
    assert rest["next_after"] is None
    assert [r["id"] for r in zero["rounds"]] == sorted(
        made[r]["id"] for r in ("february", "zero_dashi", "zero_wulian")
    )
    assert all(r["nothing_found"] for r in zero["rounds"])
    assert [(r["id"], r["disputes_prevented"]) for r in prevented["rounds"]] == [(made["busy"]["id"], 3)]
    assert [c["id"] for c in fight["items"]] == [made["fight_case"]["id"]] and fight["value"] == 4
    assert (stock["counts"], stock["items"], stock["rounds"]) == ("none", [], [])
    # The page says the same, in both languages: rounds, not cases.
    from service.web.session import LANGUAGE_COOKIE, SESSION_COOKIE
    from tests.conftest import token_for

    for lang, words in (("zh", "不是案件数"), ("en", "not cases")):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=db.app), base_url="http://jiefen.test"
        ) as web:
            web.cookies.set(SESSION_COOKIE, await token_for(client, db, "auditor"))
            web.cookies.set(LANGUAGE_COOKIE, lang)
            page = await web.get("/stats/moj/cells/screening_rounds.month", params={"month": "2026-03"})
        assert page.status_code == 200, page.text
        assert 'id="cell-rounds"' in page.text and words in page.text
        assert page.text.count("<tr>") == 1 + 4  # the heading and March's four rounds


async def test_the_screening_month_does_not_change_and_a_filing_has_its_rows(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    await a_march(client, auth, frozen_clock)
    made = await a_screening_march(client, auth, db, frozen_clock)
    admin, city, town = (
        await auth("auditor"),
        await auth("city.coordinator"),
        await auth("zhangpu.coordinator"),
    )
    before = await report(client, admin, "2026-03", case_ids="true")

    # April: the group fight is recorded as having happened after all, a new round, a new report.
    frozen_clock.set(kunshan(2026, 4, 2))
    occurred = await client.post(
        f"/api/v1/major-reports/{made['fight_case']['major_report_id']}/occurred", headers=city
    )
    assert occurred.status_code == 200, occurred.text
    await record(client, await auth("dashi.mediator"), held_at="2026-04-01T09:00:00+08:00")

    after = await report(client, admin, "2026-03", case_ids="true")
    april = figures(await report(client, admin, "2026-04"))
    assert after["cells"] == before["cells"] and after["case_ids"] == before["case_ids"]
    assert (april["screening_rounds"], april["group_fight_prevented"], april["suicide_prevented"]) == (
        1,
        0,
        0,
    )

    filed = await client.post("/api/v1/filings", json={"unit": ZHANGPU, "month": "2026-03"}, headers=town)
    assert filed.status_code == 201, filed.text
    filing = filed.json()
    values = {c["key"]: c["value"] for c in filing["cells"]}
    assert [values[f"{k}.month"] for k in SCREENING_MARCH] == [3, 1, 4, 3, 1, 3, 1, 4, 0, 0]
    listed = await client.get(
        f"/api/v1/filings/{filing['id']}/cells/suicide_prevented.month/cases", headers=town
    )
    assert [c["id"] for c in listed.json()["items"]] == [made["suicide"]["id"]]
    rounds_cell = await client.get(
        f"/api/v1/filings/{filing['id']}/cells/screening_rounds.month/cases", headers=town
    )
    assert rounds_cell.json()["counts"] == "rounds" and rounds_cell.json()["items"] == []
