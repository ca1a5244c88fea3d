"""What a case file (卷宗) still lacks, over HTTP on SQLite and PostgreSQL: a case gains its items
one by one until complete; a terminated case needs its reason; those outside the scope get 404."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from service.web.session import LANGUAGE_COOKIE
from tests.api.test_attachments import pdf_bytes, upload
from tests.api.test_case_file_page import page_client
from tests.api.test_sessions import lead_of, record
from tests.api.test_subsidy import APRIL_1, MARCH
from tests.builders import DASHI, add_mediator, move, open_case
from tests.conftest import Backend, FrozenClock

pytestmark = pytest.mark.usefixtures("trail_stays_intact")

WRITTEN: dict[str, Any] = {
    "form": "written",
    "terms": "李建国负责维修防水层并补偿王秀英一千五百元",
    "facts": "楼上卫生间漏水致楼下墙面霉变，双方就维修费用争执",
    "performance_manner": "一次性转账",
    "performance_deadline": "2026-12-31",
    "signed_by_parties": True,
    "signed_by_mediator": True,
    "sealed": True,
}


async def file_check(
    client: httpx.AsyncClient, headers: dict[str, str], case: dict[str, Any]
) -> dict[str, Any]:
    response = await client.get(f"/api/v1/cases/{case['id']}/file-check", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def statuses(body: dict[str, Any]) -> dict[str, str]:
    return {item["item"]: item["status"] for item in body["items"]}


async def test_a_case_gains_its_items_one_by_one_until_the_file_is_complete(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)

    registered = await file_check(client, mediator, case)
    assert statuses(registered) == {
        "registration": "met",
        "consents": "missing",
        "session_record": "missing",
        "signed_agreement": "not_applicable",
        "art29_contents": "not_applicable",
        "oral_terms": "not_applicable",
        "follow_up": "not_applicable",
        "termination_reason": "not_applicable",
        "file_number": "not_applicable",
    }
    assert (registered["complete"], registered["missing"]) == (False, ["consents", "session_record"])
    consents = next(i for i in registered["items"] if i["item"] == "consents")
    assert consents["label"] == "各方当事人同意调解"
    assert consents["why"] == "尚有 2 名当事人未记录同意调解"
    assert consents["source"] == "人民调解法第十七条、第二十三条"

    case = await move(client, mediator, case, "accept")  # every party consents
    assert (await file_check(client, mediator, case))["missing"] == ["session_record"]

    lead = await lead_of(db, "dashi.mediator")
    written = await client.post(
        f"/api/v1/cases/{case['id']}/sessions", json=record(case, lead), headers=mediator
    )
    assert written.status_code == 201, written.text
    assert (await file_check(client, mediator, case))["complete"] is True  # nothing else applies yet

    case = await move(client, mediator, await _reload(client, mediator, case), "settle", agreement=WRITTEN)
    settled = await file_check(client, mediator, case)
    assert settled["missing"] == ["signed_agreement", "follow_up"]
    assert statuses(settled)["art29_contents"] == "met"

    scan = await upload(client, mediator, case["id"], "协议书.pdf", pdf_bytes())
    assert scan.status_code == 201, scan.text
    assert (await file_check(client, mediator, case))["missing"] == ["follow_up"]

    case = await move(
        client, mediator, await _reload(client, mediator, case), "record_performance", performance="performed"
    )
    assert case["state"] == "closed"
    closed = await file_check(client, mediator, case)
    assert closed["missing"] == ["file_number"]
    number = next(i for i in closed["items"] if i["item"] == "file_number")
    assert number["why"] == "已结案，尚未编卷宗号"

    given = await client.post(f"/api/v1/cases/{case['id']}/file-number", headers=mediator)
    assert given.status_code == 201, given.text
    complete = await file_check(client, mediator, case)
    assert (complete["complete"], complete["missing"]) == (True, [])
    number = next(i for i in complete["items"] if i["item"] == "file_number")
    assert number["why"] == f"卷宗号 {given.json()['text']}"

    english = await client.get(
        f"/api/v1/cases/{case['id']}/file-check", headers={**mediator, "Accept-Language": "en"}
    )
    assert (
        next(i for i in english.json()["items"] if i["item"] == "file_number")["label"] == "Case file number"
    )


async def test_an_oral_agreement_needs_its_terms_not_a_scan(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await move(client, mediator, await open_case(client, mediator), "accept")
    case = await move(client, mediator, case, "settle", agreement={"form": "oral", "terms": "道歉并修复墙面"})
    found = statuses(await file_check(client, mediator, case))
    assert (found["oral_terms"], found["signed_agreement"], found["art29_contents"]) == (
        "met",
        "not_applicable",
        "not_applicable",
    )


async def test_a_withdrawn_scan_no_longer_counts(client: httpx.AsyncClient, auth: Any, db: Backend) -> None:
    mediator = await auth("dashi.mediator")
    case = await move(client, mediator, await open_case(client, mediator), "accept")
    case = await move(client, mediator, case, "settle", agreement=WRITTEN)
    scan = (await upload(client, mediator, case["id"], "协议书.pdf", pdf_bytes())).json()
    assert statuses(await file_check(client, mediator, case))["signed_agreement"] == "met"
    withdrawn = await client.post(
        f"/api/v1/cases/{case['id']}/attachments/{scan['id']}/withdrawal",
        json={"reason": "传错了"},
        headers=mediator,
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert statuses(await file_check(client, mediator, case))["signed_agreement"] == "missing"


async def test_a_terminated_case_shows_its_reason(client: httpx.AsyncClient, auth: Any, db: Backend) -> None:
    mediator = await auth("dashi.mediator")
    case = await move(client, mediator, await open_case(client, mediator), "accept")
    case = await move(client, mediator, case, "terminate", termination_reason="gap_too_wide")
    body = await file_check(client, mediator, case)
    assert statuses(body)["termination_reason"] == "met"
    assert "termination_reason" not in body["missing"]


async def test_outside_the_scope_the_check_is_404(client: httpx.AsyncClient, auth: Any, db: Backend) -> None:
    mediator = await auth("dashi.mediator")
    other_station = await auth("zhouxiang.mediator")
    auditor = await auth("auditor")
    case = await open_case(client, mediator)

    assert (
        await client.get(f"/api/v1/cases/{case['id']}/file-check", headers=other_station)
    ).status_code == 404
    assert (await client.get("/api/v1/cases/999999/file-check", headers=mediator)).status_code == 404
    assert (await client.get(f"/api/v1/cases/{case['id']}/file-check", headers=auditor)).status_code == 200
    assert (await client.get(f"/api/v1/cases/{case['id']}/file-check")).status_code == 401


async def _reload(client: httpx.AsyncClient, headers: dict[str, str], case: dict[str, Any]) -> dict[str, Any]:
    response = await client.get(f"/api/v1/cases/{case['id']}", headers=headers)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def test_the_case_page_shows_what_the_file_lacks_in_the_readers_language(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await move(client, mediator, await open_case(client, mediator), "accept")
    web = await page_client(db, client, "dashi.mediator")
    try:
        zh = (await web.get(f"/cases/{case['id']}")).text
        web.cookies.set(LANGUAGE_COOKIE, "en")
        en = (await web.get(f"/cases/{case['id']}")).text
    finally:
        await web.aclose()

    section = zh[zh.index('id="file-check"') :]
    assert "卷宗尚缺 1 项。" in section
    row = re.search(
        r'<tr id="file-check-session_record" class="file-check-missing">(.*?)</tr>', section, re.S
    )
    assert row is not None and "调解记录" in row.group(1) and "尚无调解记录" in row.group(1)
    assert "<strong>缺少</strong>" in row.group(1)
    consents = re.search(r'<tr id="file-check-consents" class="file-check-met">(.*?)</tr>', section, re.S)
    assert consents is not None and "各方当事人均已同意调解" in consents.group(1)
    english = en[en.index('id="file-check"') :]
    assert "The file lacks 1 item(s)." in english and "no session record yet" in english
    assert "Not applicable" in english


async def test_the_subsidy_ledger_pays_a_case_only_when_its_file_is_complete(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    """The ledger's "file complete" is this check: a performed case without a session record nor
    its 卷宗 number is not paid, and the month names both gaps; the number fills one of them."""
    mediator = await auth("dashi.mediator")
    await add_mediator(db.engine, "王芳", [DASHI], username="dashi.mediator")
    case = await move(client, mediator, await open_case(client, mediator), "accept")
    case = await move(client, mediator, case, "settle", agreement={"form": "oral", "terms": "道歉并修复墙面"})
    case = await move(client, mediator, case, "record_performance", performance="performed")
    frozen_clock.set(APRIL_1)
    coordinator = await auth("zhangpu.coordinator")

    line = (await client.get(MARCH, headers=coordinator)).json()["cases"][0]
    assert (line["eligible"], [r["code"] for r in line["reasons"]], line["missing_file"]) == (
        False,
        ["file_incomplete"],
        ["session_record", "file_number"],
    )
    assert line["missing_file"] == (await file_check(client, mediator, case))["missing"]

    given = await client.post(f"/api/v1/cases/{case['id']}/file-number", headers=mediator)
    assert given.status_code == 201, given.text
    line = (await client.get(MARCH, headers=coordinator)).json()["cases"][0]
    assert line["missing_file"] == ["session_record"]
