"""The duty to report a risk of crime (人民调解法 art. 25) over HTTP, on both databases: reports
filed by triage at registration and by a mediator later, the receiving unit's read and
acknowledgement, the scope around them, and the overdue list and the sweep's single notice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from service.reporting.queries import crime_report
from service.sweep import sweep
from tests.builders import CITY, DASHI, POLICE, ZHANGPU, move, open_case
from tests.conftest import FIXED_NOW, Backend, FrozenClock

pytestmark = pytest.mark.usefixtures("trail_stays_intact")

STEPS = "已分别约谈双方，劝离现场并约定次日再调"


async def reports_of(
    client: httpx.AsyncClient, headers: dict[str, str], case_id: int
) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/cases/{case_id}/crime-reports", headers=headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


async def inbox(
    client: httpx.AsyncClient, headers: dict[str, str], unit: str, kind: str
) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/units/{unit}/inbox", params={"kind": kind}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def cast(auth) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:  # type: ignore[no-untyped-def]
    """The registering station, the city centre that holds a crime-risk case, and the 派出所."""
    return await auth("dashi.mediator"), await auth("city.coordinator"), await auth("zhangpu.police")


async def crime_risk_case(
    client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    """A dispute at 大市社区 registered with the crime-risk flag: triage sends it to the city centre
    and says it must be reported at once."""
    return await open_case(
        client,
        headers,
        summary="宅基地边界争执，一方扬言要动刀伤人",
        flags=["criminal_risk", *overrides.pop("flags", [])],
        **overrides,
    )


async def file(
    client: httpx.AsyncClient, headers: dict[str, str], case: dict[str, Any], **body: Any
) -> httpx.Response:
    return await client.post(
        f"/api/v1/cases/{case['id']}/crime-reports",
        json={"statement": "双方在调解现场推搡，申请人称要找人报复", "preventive_steps": STEPS, **body},
        headers=headers,
    )


async def test_triage_files_the_reports_with_the_case_and_the_police_station_is_told(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    station, city, police = await cast(auth)

    sent = await crime_risk_case(client, station)
    assert sent["view"] == "sent" and sent["unit_code"] == CITY  # the station follows it from afar
    case = (await client.get(f"/api/v1/cases/{sent['id']}", headers=city)).json()

    assert case["unit_code"] == CITY and case["triage"]["report"] is True
    assert case["version"] == 3  # registered, then one audited event per report
    filed = await reports_of(client, city, case["id"])
    assert [(r["to_unit_code"], r["addressee"], r["raised_by"]) for r in filed] == [
        (POLICE, "police", "triage"),
        (ZHANGPU, "justice", "triage"),
    ]
    assert all(r["from_unit_code"] == CITY and r["reported_by"] == "dashi.mediator" for r in filed)
    assert filed[0]["statement"].endswith("宅基地边界争执，一方扬言要动刀伤人")
    assert filed[0]["acknowledged_at"] is None and filed[0]["overdue"] is False
    events = (await client.get(f"/api/v1/cases/{case['id']}/events", headers=city)).json()
    assert [e["kind"] for e in events] == ["created", "crime_report", "crime_report"]
    assert events[1]["payload"]["crime_report"]["to_unit_code"] == POLICE
    [item] = await inbox(client, police, POLICE, "crime_report")
    assert item["case_id"] == case["id"] and item["payload"]["report_id"] == filed[0]["id"]
    assert item["payload"]["number"] == case["number"]
    assert [i["payload"]["report_id"] for i in await inbox(client, city, ZHANGPU, "crime_report")] == [
        filed[1]["id"]
    ]


async def test_the_police_station_reads_the_report_with_a_masked_brief_but_not_the_case(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    station, police = await auth("dashi.mediator"), await auth("zhangpu.police")
    case = await crime_risk_case(client, station)
    [item] = await inbox(client, police, POLICE, "crime_report")

    response = await client.get(
        f"/api/v1/cases/{case['id']}/crime-reports/{item['payload']['report_id']}", headers=police
    )

    assert response.status_code == 200, response.text
    view = response.json()
    assert view["report"]["to_unit_name"] == "张浦派出所"
    assert view["case"]["number"] == case["number"] and view["case"]["location_name"] == "大市社区"
    assert view["case"]["parties"][0]["phone"] == "138****1234"
    assert view["case"]["parties"][0]["id_number"] == "320583********1234"
    assert (await client.get(f"/api/v1/cases/{case['id']}", headers=police)).status_code == 404
    assert (await client.get(f"/api/v1/cases/{case['id']}/crime-reports", headers=police)).status_code == 404


async def test_the_report_texts_are_sealed_at_rest(client: httpx.AsyncClient, auth, db: Backend) -> None:
    sent = await crime_risk_case(client, await auth("dashi.mediator"))
    case = (await client.get(f"/api/v1/cases/{sent['id']}", headers=await auth("city.coordinator"))).json()

    async with db.engine.connect() as conn:
        stored = (await conn.execute(sa.select(crime_report.c.statement))).scalars().all()

    assert len(stored) == 2 and all(s.startswith("v1:") and "动刀" not in s for s in stored)
    assert case["summary"] == "宅基地边界争执，一方扬言要动刀伤人"


async def test_a_mediator_files_a_report_later_and_a_mass_incident_also_tells_the_government(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    station, police = await auth("dashi.mediator"), await auth("zhangpu.police")
    case = await move(client, station, await open_case(client, station), "accept")

    response = await file(client, station, case)
    assert response.status_code == 201, response.text
    assert [(r["to_unit_code"], r["raised_by"]) for r in response.json()] == [
        (POLICE, "mediator"),
        (ZHANGPU, "mediator"),
    ]
    assert response.json()[0]["preventive_steps"] == STEPS
    mass = await file(client, station, case, mass_incident=True)
    assert mass.status_code == 201, mass.text
    assert [r["addressee"] for r in mass.json()] == ["police", "justice", "government"]
    assert mass.json()[2]["to_unit_code"] == CITY

    filed = await reports_of(client, station, case["id"])
    assert len(filed) == 5 and {r["from_unit_code"] for r in filed} == {DASHI}
    events = (await client.get(f"/api/v1/cases/{case['id']}/events", headers=station)).json()
    assert [e["kind"] for e in events].count("crime_report") == 5
    assert len(await inbox(client, police, POLICE, "crime_report")) == 2
    after = (await client.get(f"/api/v1/cases/{case['id']}", headers=station)).json()
    assert after["version"] == case["version"] + 5


async def test_a_report_needs_its_preventive_steps_and_someone_working_the_case(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    station, neighbour = await auth("dashi.mediator"), await auth("zhouxiang.mediator")
    case = await move(client, station, await open_case(client, station), "accept")

    missing = await client.post(
        f"/api/v1/cases/{case['id']}/crime-reports", json={"statement": "扬言报复"}, headers=station
    )
    assert missing.status_code == 422
    assert "preventive_steps" in missing.text
    assert (await file(client, neighbour, case)).status_code == 404
    stale = await client.post(
        f"/api/v1/cases/{case['id']}/crime-reports",
        json={"statement": "扬言报复", "preventive_steps": STEPS},
        headers={**station, "If-Match": '"1"'},
    )
    assert stale.status_code == 412
    assert await reports_of(client, station, case["id"]) == []


async def test_the_police_station_acknowledges_once_and_the_reporting_unit_is_told(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    station, city, police = await cast(auth)
    case = await crime_risk_case(client, station)
    police_report = (await reports_of(client, city, case["id"]))[0]
    url = f"/api/v1/cases/{case['id']}/crime-reports/{police_report['id']}/acknowledge"

    first = await client.post(url, json={"note": "已安排社区民警上门走访"}, headers=police)
    second = await client.post(url, json={}, headers=police)

    assert first.status_code == 200, first.text
    assert (first.json()["acknowledged_by"], first.json()["ack_note"]) == (
        "zhangpu.police",
        "已安排社区民警上门走访",
    )
    assert second.status_code == 409
    assert second.json()["type"] == "/problems/report-already-acknowledged"
    assert second.json()["acknowledged_by"] == "zhangpu.police"
    [seen, other] = await reports_of(client, city, case["id"])
    assert seen["acknowledged_at"] is not None and other["acknowledged_at"] is None
    events = (await client.get(f"/api/v1/cases/{case['id']}/events", headers=city)).json()
    assert [e["kind"] for e in events][-1] == "report_ack" and events[-1]["actor"] == "zhangpu.police"
    [told] = await inbox(client, city, CITY, "crime_report_acknowledged")
    assert told["payload"]["report_id"] == police_report["id"]


async def test_other_stations_and_units_cannot_reach_a_report(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    station, city = await auth("dashi.mediator"), await auth("city.coordinator")
    other_police, petition = await auth("yushan.police"), await auth("petition.officer")
    case = await crime_risk_case(client, station)
    police_report = (await reports_of(client, city, case["id"]))[0]
    url = f"/api/v1/cases/{case['id']}/crime-reports/{police_report['id']}"

    for outsider in (other_police, petition, station):  # the registering station no longer holds it
        assert (await client.get(url, headers=outsider)).status_code == 404
        assert (await client.post(f"{url}/acknowledge", json={}, headers=outsider)).status_code == 404
    assert (
        await client.get(f"/api/v1/cases/{case['id'] + 1}/crime-reports/{police_report['id']}", headers=city)
    ).status_code == 404
    # The city centre sees the case and the report, but only the 派出所 acknowledges it.
    assert (await client.get(url, headers=city)).status_code == 200
    assert (await client.post(f"{url}/acknowledge", json={}, headers=city)).status_code == 403
    assert (await client.get("/api/v1/crime-reports", headers=other_police)).json()["items"] == []
    assert (await client.get("/api/v1/crime-reports", headers=await auth("auditor"))).status_code == 403


async def test_overdue_reports_are_listed_and_the_sweep_tells_the_coordinators_once(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station, city, police = await cast(auth)
    case = await crime_risk_case(client, station)
    police_report, justice_report = await reports_of(client, city, case["id"])
    hours = db.ctx.settings.crime_report_ack_hours
    early = FIXED_NOW + timedelta(hours=hours) - timedelta(minutes=1)
    frozen_clock.set(early)
    assert (await client.get("/api/v1/crime-reports?overdue=true", headers=city)).json()["items"] == []
    assert (await sweep(db.engine, db.ctx, now=early)).reports_overdue == 0
    ack = f"/api/v1/cases/{case['id']}/crime-reports/{police_report['id']}/acknowledge"
    assert (await client.post(ack, json={}, headers=police)).status_code == 200

    late = FIXED_NOW + timedelta(hours=hours, minutes=1)
    frozen_clock.set(late)
    listed = (await client.get("/api/v1/crime-reports?overdue=true", headers=city)).json()
    first, again = (
        await sweep(db.engine, db.ctx, now=late),
        await sweep(db.engine, db.ctx, now=late + timedelta(hours=1)),
    )

    assert [r["id"] for r in listed["items"]] == [justice_report["id"]] and listed["ack_hours"] == hours
    assert listed["items"][0]["overdue"] is True
    assert (first.reports_overdue, again.reports_overdue) == (1, 0)
    [notice] = await inbox(client, city, CITY, "crime_report_overdue")
    assert notice["payload"] == {
        "number": case["number"],
        "report_id": justice_report["id"],
        "from_unit_code": CITY,
        "to_unit_code": ZHANGPU,
    }
    assert [r["overdue"] for r in await reports_of(client, city, case["id"])] == [False, True]
    zhangpu = await auth("zhangpu.coordinator")  # the receiving 司法所 sees it is overdue too
    assert [
        r["id"]
        for r in (await client.get("/api/v1/crime-reports?overdue=true", headers=zhangpu)).json()["items"]
    ] == [justice_report["id"]]


async def test_a_station_mediator_s_overdue_report_goes_to_its_town_centre(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station, zhangpu = await auth("dashi.mediator"), await auth("zhangpu.coordinator")
    case = await move(client, station, await open_case(client, station), "accept")
    filed = (await file(client, station, case)).json()

    told = await sweep(db.engine, db.ctx, now=FIXED_NOW + timedelta(days=2))

    assert told.reports_overdue == 2
    notices = await inbox(client, zhangpu, ZHANGPU, "crime_report_overdue")
    assert sorted(n["payload"]["report_id"] for n in notices) == sorted(r["id"] for r in filed)


async def test_anonymising_a_closed_case_keeps_who_was_told_but_not_what_was_said(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    from service.privacy.pipl import anonymise_closed_cases

    station = await auth("dashi.mediator")
    case = await open_case(client, station)
    assert (await file(client, station, case)).status_code == 201
    current = (await client.get(f"/api/v1/cases/{case['id']}", headers=station)).json()
    await move(client, station, current, "withdraw", reason="当事人撤回申请")

    done = await anonymise_closed_cases(
        db.engine, db.ctx, closed_before_days=1825, actor="test", now=FIXED_NOW + timedelta(days=10_000)
    )

    assert done == 1
    kept = await reports_of(client, await auth("zhangpu.coordinator"), case["id"])
    assert [(r["to_unit_code"], r["statement"], r["preventive_steps"]) for r in kept] == [
        (POLICE, "（已匿名化）", None),
        (ZHANGPU, "（已匿名化）", None),
    ]


async def test_a_closed_case_takes_no_new_report(client: httpx.AsyncClient, auth, db: Backend) -> None:
    station = await auth("dashi.mediator")
    case = await move(client, station, await open_case(client, station), "withdraw", reason="当事人撤回申请")

    refused = await file(client, station, case)

    assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
