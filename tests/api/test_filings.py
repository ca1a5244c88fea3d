"""Frozen monthly filings (issue 20, item 2): a town files a month, the figures and the cases behind
each cell are frozen and hashed into the security log, later events change nothing filed, a
correction is a new version with its reason, the city consolidates from its towns' filings, and the
court reconciliation finds where the court desk's records and the bureau's differ."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from service.filings import service as filings_service
from service.referrals.models import Referral
from service.web.session import LANGUAGE_COOKIE, SESSION_COOKIE, csrf_token
from tests.api.test_referrals import delegated_by_court
from tests.api.test_web_pages import Browser, csrf, text_of
from tests.builders import (
    CITY,
    CONFIRMABLE_AGREEMENT,
    COURT_DESK,
    DASHI,
    WULIAN,
    YUSHAN,
    ZHANGPU,
    add_mediator,
    move,
    open_case,
    read_case,
)
from tests.conftest import Backend, FrozenClock, token_for
from workflows.org import UnitKind

pytestmark = pytest.mark.usefixtures("trail_stays_intact")

APRIL = datetime(2026, 4, 2, 2, 0, tzinfo=UTC)  # 10:00 on 2 April in Kunshan: March is over
MARCH = "2026-03"


async def file(
    client: httpx.AsyncClient, headers: dict[str, str], unit: str, month: str = MARCH
) -> httpx.Response:
    return await client.post("/api/v1/filings", json={"unit": unit, "month": month}, headers=headers)


def cell(filing: dict[str, Any], key: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in filing["cells"] if c["key"] == key)
    return found


async def cases_of(
    client: httpx.AsyncClient, headers: dict[str, str], filing: dict[str, Any], key: str
) -> list[int]:
    response = await client.get(
        f"/api/v1/filings/{filing['id']}/cells/{key}/cases?limit=200", headers=headers
    )
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["items"]]


def agreed(amount: int) -> dict[str, Any]:
    return {**CONFIRMABLE_AGREEMENT, "amount_yuan": amount}


async def march_cases(
    client: httpx.AsyncClient, auth: Any
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """March at 大市 (张浦镇's 居 station): a neighbour dispute accepted and settled for 1500 yuan
    (5000 claimed), one accepted and still open, one only registered (counted nowhere); and one
    accepted at 五联 (玉山镇's)."""
    station, village = await auth("dashi.mediator"), await auth("wulian.mediator")
    settled = await move(client, station, await open_case(client, station, amount_yuan=5000), "accept")
    settled = await move(client, station, settled, "settle", agreement=agreed(1500))
    accepted = await move(client, station, await open_case(client, station), "accept")
    await open_case(client, station)
    other = await move(client, village, await open_case(client, village, location_code=WULIAN), "accept")
    return settled, accepted, other


async def moj(client: httpx.AsyncClient, headers: dict[str, str], unit: str) -> dict[str, Any]:
    """The live MoJ report of March for ``unit``: cell key → value."""
    response = await client.get(f"/api/v1/stats/moj?month={MARCH}&unit={unit}", headers=headers)
    assert response.status_code == 200, response.text
    return {c["key"]: c["value"] for c in response.json()["cells"]}


async def reclassify(client: httpx.AsyncClient, headers: dict[str, str], case: dict[str, Any]) -> None:
    """The station corrects the case's type: NEIGHBOUR was wrong, it is a CONTRACT dispute."""
    response = await client.patch(
        f"/api/v1/cases/{case['id']}",
        json={"dispute_type": "CONTRACT", "reason": "登记时纠纷类型选错"},
        headers=headers,
    )
    assert response.status_code == 200, response.text


async def test_a_filed_month_is_frozen_with_its_cases_and_its_hash_is_in_the_security_log(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    coordinator, station = await auth("zhangpu.coordinator"), await auth("dashi.mediator")
    settled, accepted, other = await march_cases(client, auth)
    frozen_clock.set(APRIL)

    response = await file(client, coordinator, ZHANGPU)

    assert response.status_code == 201, response.text
    filing = response.json()
    assert (filing["unit_code"], filing["month"], filing["version"], filing["kind"], filing["current"]) == (
        ZHANGPU,
        MARCH,
        1,
        "town",
        True,
    )
    both = [settled["id"], accepted["id"]]
    assert cell(filing, "accepted.month")["value"] == 2  # not the registered-only one; 五联 is 玉山镇's
    assert cell(filing, "accepted.month")["row"] == "受理调解纠纷"
    assert cell(filing, "accepted.month")["column"] == "本月"
    assert cell(filing, "accepted.month")["definition"].startswith("本期内在人民调解组织受理")
    assert cell(filing, "accepted.ytd")["value"] == 2
    assert cell(filing, "settled.month")["value"] == 1
    assert cell(filing, "agreed_amount.month")["value"] == "1500.00"  # agreed, not the 5000 claimed
    assert cell(filing, "success_rate.month")["value"] == "100.00%"
    assert cell(filing, "org_community.month")["row"] == "其中：居调委会"
    assert await cases_of(client, coordinator, filing, "accepted.month") == both
    assert await cases_of(client, coordinator, filing, "type_NEIGHBOUR.month") == both
    assert await cases_of(client, coordinator, filing, "org_community.month") == both
    assert await cases_of(client, coordinator, filing, "settled.month") == [settled["id"]]
    assert await cases_of(client, coordinator, filing, "agreed_amount.month") == [settled["id"]]
    assert other["id"] not in await cases_of(client, coordinator, filing, "accepted.month")

    # The hash: SHA-256 of the canonical JSON of what was filed, in the security event that recorded it.
    async with db.engine.connect() as conn:
        row = (
            (await conn.execute(sa.text("SELECT * FROM filing WHERE id = :id"), {"id": filing["id"]}))
            .mappings()
            .one()
        )
        event = (
            await conn.execute(
                sa.text("SELECT kind, payload, hash FROM security_event WHERE id = :id"),
                {"id": filing["security_event_id"]},
            )
        ).one()
    stored = {
        k: json.loads(row[k]) if isinstance(row[k], str) else row[k] for k in ("cells", "case_ids", "sources")
    }
    canonical = json.dumps(
        {"unit_code": ZHANGPU, "month": MARCH, "version": 1, "kind": "town", "reason": None, **stored},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()
    payload = json.loads(event.payload) if isinstance(event.payload, str) else event.payload
    assert event.kind == "report_filed" and event.hash
    assert payload["sha256"] == filing["sha256"] == row["sha256"] == hashlib.sha256(canonical).hexdigest()
    assert await filings_service.verify(db.engine, filing["id"])

    # Later (in April): the open case is found to be a contract dispute and settles, a case is
    # registered, a mediator joins the station. March as reported live moves (the type and the
    # roster as they stand now); nothing filed does.
    await reclassify(client, station, accepted)
    await move(client, station, await read_case(client, station, accepted), "settle", agreement=agreed(900))
    await open_case(client, station)
    await add_mediator(db.engine, "周新任", [DASHI], employment="full_time")
    live = await moj(client, coordinator, ZHANGPU)
    assert (live["type_NEIGHBOUR.month"], live["type_CONTRACT.month"]) == (1, 1)  # the live report moved
    assert live["mediators_full_time.month"] == cell(filing, "mediators_full_time.month")["value"] + 1
    assert (live["settled.month"], live["agreed_amount.month"]) == (1, "1500.00")  # April's settle is April's
    again = (await client.get(f"/api/v1/filings/{filing['id']}", headers=coordinator)).json()
    assert again["cells"] == filing["cells"] and again["sha256"] == filing["sha256"]
    assert await cases_of(client, coordinator, again, "type_NEIGHBOUR.month") == both
    assert await cases_of(client, coordinator, again, "type_CONTRACT.month") == []
    assert (await file(client, coordinator, ZHANGPU)).status_code == 409  # filed once; corrections after

    # No way to change a filed row: the database refuses an UPDATE (a trigger on both backends).
    with pytest.raises(sa.exc.DBAPIError):
        async with db.engine.begin() as conn:
            await conn.execute(sa.text("UPDATE filing SET sha256 = 'x' WHERE id = :id"), {"id": filing["id"]})


async def test_a_correction_is_a_new_version_with_its_reason_and_the_first_stays_as_filed(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    coordinator, station = await auth("zhangpu.coordinator"), await auth("dashi.mediator")
    _, accepted, _ = await march_cases(client, auth)
    frozen_clock.set(APRIL)
    v1 = (await file(client, coordinator, ZHANGPU)).json()
    await reclassify(client, station, accepted)

    without = await client.post(
        f"/api/v1/filings/{v1['id']}/corrections", json={"reason": " "}, headers=coordinator
    )
    assert without.status_code == 422 and "reason" in without.text
    response = await client.post(
        f"/api/v1/filings/{v1['id']}/corrections",
        json={"reason": "大市社区一件纠纷类型登记有误"},
        headers=coordinator,
    )

    assert response.status_code == 201, response.text
    v2 = response.json()
    assert (v2["version"], v2["reason"], v2["current"]) == (2, "大市社区一件纠纷类型登记有误", True)
    assert (cell(v1, "type_CONTRACT.month")["value"], cell(v1, "type_NEIGHBOUR.month")["value"]) == (0, 2)
    assert (cell(v2, "type_CONTRACT.month")["value"], cell(v2, "type_NEIGHBOUR.month")["value"]) == (1, 1)
    assert cell(v2, "accepted.month")["value"] == 2  # the total is the same cases
    assert await cases_of(client, coordinator, v2, "type_CONTRACT.month") == [accepted["id"]]
    assert await cases_of(client, coordinator, v1, "type_CONTRACT.month") == []
    assert v2["sha256"] != v1["sha256"]
    first = (await client.get(f"/api/v1/filings/{v1['id']}", headers=coordinator)).json()
    assert first["cells"] == v1["cells"] and first["sha256"] == v1["sha256"] and first["current"] is False
    assert [v["version"] for v in first["versions"]] == [1, 2]
    listed = (await client.get(f"/api/v1/filings?unit={ZHANGPU}&month={MARCH}", headers=coordinator)).json()
    assert [(f["version"], f["current"]) for f in listed["items"]] == [(2, True), (1, False)]
    stale = await client.post(
        f"/api/v1/filings/{v1['id']}/corrections", json={"reason": "再改"}, headers=coordinator
    )
    assert stale.status_code == 409 and stale.json()["current_filing_id"] == v2["id"]
    async with db.engine.connect() as conn:
        corrected = (
            await conn.execute(
                sa.text("SELECT reason, payload FROM security_event WHERE id = :id"),
                {"id": v2["security_event_id"]},
            )
        ).one()
    payload = json.loads(corrected.payload) if isinstance(corrected.payload, str) else corrected.payload
    assert corrected.reason == "大市社区一件纠纷类型登记有误" and payload["sha256"] == v2["sha256"]

    csv = await client.get(f"/api/v1/filings/{v1['id']}/export?format=csv", headers=coordinator)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    text = csv.content.decode("utf-8-sig")
    assert v1["sha256"] in text and "受理调解纠纷" in text and "本年累计" in text
    assert f"{cell(v1, 'type_CONTRACT.month')['row']},0,0" in text.splitlines()  # v1 as filed
    xlsx = await client.get(f"/api/v1/filings/{v2['id']}/export?format=xlsx", headers=coordinator)
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


async def test_the_city_consolidates_only_once_every_town_has_filed(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    city, zhangpu = await auth("city.coordinator"), await auth("zhangpu.coordinator")
    await march_cases(client, auth)
    frozen_clock.set(APRIL)
    towns = sorted(u.code for u in db.ctx.org.of_kind(UnitKind.town_centre))
    assert (await file(client, zhangpu, ZHANGPU)).status_code == 201

    refused = await file(client, city, CITY)

    assert refused.status_code == 409
    assert refused.json()["missing_towns"] == [t for t in towns if t != ZHANGPU]
    assert YUSHAN in refused.json()["missing_towns"] and "玉山" in refused.json()["detail"]

    # With the switch on, the city may file without them, and says which were missing.
    monkeypatch.setattr(db.ctx.settings, "filing_city_allows_missing_towns", True)
    partial = await file(client, city, CITY)
    assert partial.status_code == 201, partial.text
    assert YUSHAN in partial.json()["missing_towns"]
    assert [s["unit"] for s in partial.json()["sources"]] == [ZHANGPU]
    monkeypatch.setattr(db.ctx.settings, "filing_city_allows_missing_towns", False)

    for town in towns:
        if town != ZHANGPU:
            assert (await file(client, city, town)).status_code == 201
    full = await client.post(
        f"/api/v1/filings/{partial.json()['id']}/corrections", json={"reason": "各镇均已报送"}, headers=city
    )
    assert full.status_code == 201, full.text
    consolidated = full.json()
    assert consolidated["kind"] == "city" and consolidated["missing_towns"] == []
    assert sorted(s["unit"] for s in consolidated["sources"]) == towns
    assert cell(consolidated, "sum:accepted.month")["value"] == 3
    assert cell(consolidated, f"{ZHANGPU}:accepted.month")["value"] == 2
    assert cell(consolidated, f"{YUSHAN}:accepted.month")["value"] == 1
    assert cell(consolidated, "sum:settled.month")["value"] == 1
    assert cell(consolidated, "sum:agreed_amount.month")["value"] == "1500.00"
    # The cases behind a sum are its towns' frozen lists together, not stored a second time.
    assert len(await cases_of(client, city, consolidated, "sum:accepted.month")) == 3
    assert cell(consolidated, "sum:accepted.month")["cases"] == 3
    assert sorted(
        await cases_of(client, city, consolidated, f"{ZHANGPU}:accepted.month")
        + await cases_of(client, city, consolidated, f"{YUSHAN}:accepted.month")
    ) == await cases_of(client, city, consolidated, "sum:accepted.month")
    async with db.engine.connect() as conn:
        stored = (
            await conn.execute(
                sa.text("SELECT case_ids FROM filing WHERE id = :id"), {"id": consolidated["id"]}
            )
        ).scalar_one()
    stored = json.loads(stored) if isinstance(stored, str) else stored
    assert stored and not [k for k in stored if k.startswith("sum:")]
    # A rate is never added up; each town's stays as filed.
    assert not any(c["key"] == "sum:success_rate.month" for c in consolidated["cells"])
    assert cell(consolidated, f"{ZHANGPU}:success_rate.month")["value"] == "100.00%"
    # Stocks add up over the towns and the city's own committees (the city centre, the sectoral ones).
    committees = sum(
        c["value"]
        for c in consolidated["cells"]
        if c["key"].endswith(":committees.month") and not c["key"].startswith("sum:")
    )
    assert cell(consolidated, "sum:committees.month")["value"] == committees == 58
    # The town filings it was built from are named with their hashes.
    zhangpu_filing = next(s for s in consolidated["sources"] if s["unit"] == ZHANGPU)
    filed = (await client.get(f"/api/v1/filings/{zhangpu_filing['filing_id']}", headers=city)).json()
    assert filed["sha256"] == zhangpu_filing["sha256"]


async def test_filings_refuse_other_roles_other_scopes_other_units_and_months_not_over(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    zhangpu, yushan = await auth("zhangpu.coordinator"), await auth("yushan.coordinator")
    await march_cases(client, auth)
    frozen_clock.set(APRIL)

    assert (await file(client, await auth("dashi.mediator"), ZHANGPU)).status_code == 403
    assert (await file(client, await auth("auditor"), ZHANGPU)).status_code == 403
    assert (await file(client, yushan, ZHANGPU)).status_code == 404
    station = await file(client, zhangpu, DASHI)
    assert station.status_code == 422 and station.json()["errors"][0]["field"] == "body.unit"
    april = await file(client, zhangpu, ZHANGPU, "2026-04")
    assert april.status_code == 422 and april.json()["errors"][0]["field"] == "body.month"
    for bad in ("2026-13", "March", "2026-3-1"):
        refused = await file(client, zhangpu, ZHANGPU, bad)
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "body.month", bad

    filing = (await file(client, zhangpu, ZHANGPU)).json()
    assert (await client.get(f"/api/v1/filings/{filing['id']}", headers=yushan)).status_code == 404
    assert (
        await client.get(f"/api/v1/filings/{filing['id']}/cells/accepted.month/cases", headers=yushan)
    ).status_code == 404
    assert (
        await client.get(f"/api/v1/filings/{filing['id']}/cells/nope/cases", headers=zhangpu)
    ).status_code == 404
    assert (await client.get("/api/v1/filings", headers=yushan)).json()["total"] == 0
    assert (await client.get("/api/v1/filings", headers=await auth("court.clerk"))).status_code == 403
    assert (await client.get("/api/v1/filings", headers=await auth("dashi.mediator"))).status_code == 403
    refused = await client.post(
        f"/api/v1/filings/{filing['id']}/corrections", json={"reason": "x"}, headers=await auth("auditor")
    )
    assert refused.status_code == 403
    # The auditor reads every filing and the cases behind its cells, a sensitive one by number only.
    auditor = await auth("auditor")
    assert (await client.get(f"/api/v1/filings/{filing['id']}", headers=auditor)).status_code == 200
    assert len(await cases_of(client, auditor, filing, "accepted.month")) == 2


async def test_a_sensitive_case_behind_a_figure_is_listed_by_number_to_those_who_may_not_open_it(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    coordinator = await auth("zhangpu.coordinator")
    station = await auth("dashi.mediator")
    minor = await move(client, station, await open_case(client, station, flags=["minor"]), "accept")
    frozen_clock.set(APRIL)
    filing = (await file(client, coordinator, ZHANGPU)).json()
    url = f"/api/v1/filings/{filing['id']}/cells/accepted.month/cases"

    as_coordinator = (await client.get(url, headers=coordinator)).json()["items"]
    as_auditor = (await client.get(url, headers=await auth("auditor"))).json()["items"]
    as_admin = (await client.get(url, headers=await auth("admin"))).json()["items"]

    assert [(c["id"], c["visible"], c["dispute_type"]) for c in as_coordinator] == [
        (minor["id"], True, "NEIGHBOUR")
    ]
    for items in (as_auditor, as_admin):
        assert [(c["number"], c["visible"], c["dispute_type"], c["state"]) for c in items] == [
            (minor["number"], False, None, None)
        ]


async def test_the_reconciliation_finds_a_planted_mismatch_between_the_court_desk_and_the_bureau(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station, clerk, coordinator = (
        await auth("dashi.mediator"),
        await auth("court.clerk"),
        await auth("zhangpu.coordinator"),
    )
    quiet = await delegated_by_court(client, station, clerk, "(2026)苏0583民初102号", "ordinary")
    delegated = await delegated_by_court(client, station, clerk, "(2026)苏0583民初101号", "ordinary")
    accepted = await move(client, station, delegated, "accept")
    await move(client, station, accepted, "settle", agreement=CONFIRMABLE_AGREEMENT)  # back to the court
    url = f"/api/v1/filings/reconciliation?unit={ZHANGPU}&month={MARCH}"

    agreed = (await client.get(url, headers=coordinator)).json()

    rows = {r["case_id"]: r for r in agreed["rows"]}
    assert agreed["mismatched"] == 0, agreed
    settled = rows[delegated["id"]]
    assert settled["court"]["court_case_number"] == "(2026)苏0583民初101号"
    assert (settled["court"]["status"], settled["court"]["outcome"], settled["bureau"]["outcome"]) == (
        "completed",
        "referred",
        "referred",
    )
    assert settled["court"]["returned_on"] == settled["bureau"]["returned_on"] == "2026-03-02"
    assert rows[quiet["id"]]["court"]["returned_on"] is None

    # Plant: the court desk recorded the second delegation on another day; and it records a
    # delegation of a case the bureau never saw delegated.
    lone = await open_case(client, station)
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE referral SET offered_at = :at WHERE case_id = :id"),
            {"at": datetime(2026, 3, 5, 2, 0, tzinfo=UTC), "id": quiet["id"]},
        )
        await conn.execute(
            sa.insert(Referral.__table__).values(  # type: ignore[attr-defined]
                case_id=lone["id"],
                kind="court_delegation",
                from_unit_code=COURT_DESK,
                to_unit_code=DASHI,
                status="offered",
                payload={"court_case_number": "(2026)苏0583民初103号"},
                offered_at=datetime(2026, 3, 3, 2, 0, tzinfo=UTC),
                offered_by="court.clerk",
            )
        )

    # And the bureau registered a case as referred by the court, which the desk has no record of.
    from_court = await open_case(client, station, source="court")

    found = (await client.get(url, headers=coordinator)).json()

    rows = {r["case_id"]: r for r in found["rows"]}
    assert found["mismatched"] == 3
    assert rows[from_court["id"]]["mismatches"] == ["only_bureau"] and rows[from_court["id"]]["court"] is None
    assert rows[from_court["id"]]["bureau"]["registered_from_court"] is True
    assert rows[quiet["id"]]["mismatches"] == ["delegated_on"]
    assert (rows[quiet["id"]]["court"]["delegated_on"], rows[quiet["id"]]["bureau"]["delegated_on"]) == (
        "2026-03-05",
        "2026-03-02",
    )
    assert rows[lone["id"]]["mismatches"] == ["only_court"] and rows[lone["id"]]["bureau"] is None
    assert rows[delegated["id"]]["mismatches"] == []
    # Scope and role: another town's coordinator sees nothing of 张浦; the court desk does not reconcile.
    assert (await client.get(url, headers=await auth("yushan.coordinator"))).status_code == 404
    assert (await client.get(url, headers=clerk)).status_code == 403
    assert (await client.get(url, headers=await auth("auditor"))).json()["mismatched"] == 3


# --- the pages ------------------------------------------------------------------------------------


@pytest.fixture
async def pages(db: Backend, client: httpx.AsyncClient) -> AsyncIterator[Browser]:
    """``await pages("zhangpu.coordinator")``: a client of the pages signed in as that user."""
    opened: list[httpx.AsyncClient] = []

    async def make(username: str, *, lang: str | None = None) -> httpx.AsyncClient:
        web = httpx.AsyncClient(transport=httpx.ASGITransport(app=db.app), base_url="http://jiefen.test")
        token = await token_for(client, db, username)
        web.cookies.set(SESSION_COOKIE, token)
        web.headers["X-Test-Csrf"] = csrf_token(token)
        if lang:
            web.cookies.set(LANGUAGE_COOKIE, lang)
        opened.append(web)
        return web

    yield make
    for web in opened:
        await web.aclose()


async def test_the_filing_pages_name_what_is_refused_in_the_readers_language(
    client: httpx.AsyncClient, auth, pages: Browser, db: Backend, frozen_clock: FrozenClock
) -> None:
    await march_cases(client, auth)
    frozen_clock.set(APRIL)
    town, city = await pages("zhangpu.coordinator"), await pages("city.coordinator", lang="en")

    not_over = await town.post(
        "/filings", data={"csrf_token": csrf(town), "unit": ZHANGPU, "month": "2026-04"}
    )
    assert not_over.status_code == 422 and "该月份尚未结束" in text_of(not_over.text)
    filed = await town.post("/filings", data={"csrf_token": csrf(town), "unit": ZHANGPU, "month": MARCH})
    assert filed.status_code == 303 and filed.headers["location"].endswith("?done=filed")
    page = await town.get(filed.headers["location"])
    assert "已报送并冻结" in text_of(page.text) and 'data-key="accepted.month"' in page.text
    blank = await town.post(
        filed.headers["location"].split("?")[0] + "/corrections",
        data={"csrf_token": csrf(town), "reason": " "},
    )
    assert blank.status_code == 422 and "请写明更正理由" in text_of(blank.text)

    missing = await city.post("/filings", data={"csrf_token": csrf(city), "unit": CITY, "month": MARCH})
    assert missing.status_code == 409
    assert "have not filed the month yet" in text_of(missing.text) and "Yushan" in text_of(missing.text)


async def test_the_reconciliation_page_marks_a_mismatch(
    client: httpx.AsyncClient, auth, pages: Browser, db: Backend, frozen_clock: FrozenClock
) -> None:
    station, clerk = await auth("dashi.mediator"), await auth("court.clerk")
    delegated = await delegated_by_court(client, station, clerk, "(2026)苏0583民初104号", "ordinary")
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE referral SET offered_at = :at WHERE case_id = :id"),
            {"at": datetime(2026, 3, 6, 2, 0, tzinfo=UTC), "id": delegated["id"]},
        )
    web = await pages("zhangpu.coordinator")

    page = await web.get(f"/filings/reconciliation?unit={ZHANGPU}&month={MARCH}")

    assert page.status_code == 200
    text = text_of(page.text)
    assert "1 条记录不一致" in text and "委托日期不同" in text and "(2026)苏0583民初104号" in text
    assert f'class="mismatch" data-case="{delegated["id"]}"' in page.text
