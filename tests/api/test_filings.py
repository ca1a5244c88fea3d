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
    move,
    open_case,
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


async def march_cases(
    client: httpx.AsyncClient, auth: Any
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Two neighbour disputes at 大市 (张浦镇), one accepted and not yet settled; one at 五联 (玉山镇)."""
    station = await auth("dashi.mediator")
    first = await open_case(client, station)
    second = await move(client, station, await open_case(client, station, amount_yuan=5000), "accept")
    other = await open_case(client, await auth("wulian.mediator"), location_code=WULIAN)
    return first, second, other


async def test_a_filed_month_is_frozen_with_its_cases_and_its_hash_is_in_the_security_log(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    coordinator, station = await auth("zhangpu.coordinator"), await auth("dashi.mediator")
    first, second, other = await march_cases(client, auth)
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
    assert cell(filing, "total.registered")["value"] == 2  # 五联 is 玉山镇's
    assert cell(filing, "total.settled")["value"] == 0
    assert cell(filing, "total.amount_yuan")["value"] == "8000.00"
    assert cell(filing, "total.registered")["definition"].startswith("受理数")
    assert await cases_of(client, coordinator, filing, "total.registered") == [first["id"], second["id"]]
    assert await cases_of(client, coordinator, filing, f"{ZHANGPU}.NEIGHBOUR.registered") == [
        first["id"],
        second["id"],
    ]
    assert other["id"] not in await cases_of(client, coordinator, filing, "total.registered")

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

    # Later events: the accepted case settles, a case is registered (in April). Nothing filed moves.
    await move(client, station, second, "settle", agreement=CONFIRMABLE_AGREEMENT)
    await open_case(client, station)
    live = (
        await client.get(f"/api/v1/stats/report?month={MARCH}&unit={ZHANGPU}", headers=coordinator)
    ).json()
    assert live["total"]["settled"] == 1  # the live report moved
    again = (await client.get(f"/api/v1/filings/{filing['id']}", headers=coordinator)).json()
    assert again["cells"] == filing["cells"] and again["sha256"] == filing["sha256"]
    assert await cases_of(client, coordinator, again, "total.settled") == []
    assert (await file(client, coordinator, ZHANGPU)).status_code == 409  # filed once; corrections after

    # No way to change a filed row: the database refuses an UPDATE (a trigger on both backends).
    with pytest.raises(sa.exc.DBAPIError):
        async with db.engine.begin() as conn:
            await conn.execute(sa.text("UPDATE filing SET sha256 = 'x' WHERE id = :id"), {"id": filing["id"]})


async def test_a_correction_is_a_new_version_with_its_reason_and_the_first_stays_as_filed(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    coordinator, station = await auth("zhangpu.coordinator"), await auth("dashi.mediator")
    _, second, _ = await march_cases(client, auth)
    frozen_clock.set(APRIL)
    v1 = (await file(client, coordinator, ZHANGPU)).json()
    await move(client, station, second, "settle", agreement=CONFIRMABLE_AGREEMENT)

    without = await client.post(
        f"/api/v1/filings/{v1['id']}/corrections", json={"reason": " "}, headers=coordinator
    )
    assert without.status_code == 422 and "reason" in without.text
    response = await client.post(
        f"/api/v1/filings/{v1['id']}/corrections",
        json={"reason": "大市社区一件漏登的调解成功"},
        headers=coordinator,
    )

    assert response.status_code == 201, response.text
    v2 = response.json()
    assert (v2["version"], v2["reason"], v2["current"]) == (2, "大市社区一件漏登的调解成功", True)
    assert cell(v2, "total.settled")["value"] == 1
    assert await cases_of(client, coordinator, v2, "total.settled") == [second["id"]]
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
    assert corrected.reason == "大市社区一件漏登的调解成功" and payload["sha256"] == v2["sha256"]

    csv = await client.get(f"/api/v1/filings/{v1['id']}/export?format=csv", headers=coordinator)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    text = csv.content.decode("utf-8-sig")
    assert v1["sha256"] in text and "受理数" in text
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
    assert cell(consolidated, "sum:total.registered")["value"] == 3
    assert cell(consolidated, f"{ZHANGPU}:total.registered")["value"] == 2
    assert cell(consolidated, f"{YUSHAN}:total.registered")["value"] == 1
    assert len(await cases_of(client, city, consolidated, "sum:total.registered")) == 3
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
    assert (await file(client, zhangpu, ZHANGPU, "2026-13")).status_code == 422

    filing = (await file(client, zhangpu, ZHANGPU)).json()
    assert (await client.get(f"/api/v1/filings/{filing['id']}", headers=yushan)).status_code == 404
    assert (
        await client.get(f"/api/v1/filings/{filing['id']}/cells/total.registered/cases", headers=yushan)
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
    assert len(await cases_of(client, auditor, filing, "total.registered")) == 2


async def test_a_sensitive_case_behind_a_figure_is_listed_by_number_to_those_who_may_not_open_it(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    coordinator = await auth("zhangpu.coordinator")
    minor = await open_case(client, await auth("dashi.mediator"), flags=["minor"])
    frozen_clock.set(APRIL)
    filing = (await file(client, coordinator, ZHANGPU)).json()
    url = f"/api/v1/filings/{filing['id']}/cells/total.registered/cases"

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
    assert "已报送并冻结" in text_of(page.text) and 'data-key="total.registered"' in page.text
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
