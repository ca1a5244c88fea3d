"""以案定补 in the browser: the city coordinator opens a station's past month, sees each case's line,
approves it after ticking the confirmation, sees it frozen, records a correction and downloads the
file for finance; the same page in English."""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from playwright.sync_api import expect

from tests.web.conftest import Web, fits_phone

SHANGHAI = ZoneInfo("Asia/Shanghai")


def assign_roster_mediators(web: Web, case: dict[str, Any]) -> str:
    """The demo roster's mediators of the case's station, written straight to the server's database
    as lead and co-mediator (the assignment pages are another part of the issue); returns the
    lead's name."""
    with sqlite3.connect(web.server.data_dir / "jiefen.db") as db:
        serving = db.execute(
            "SELECT m.id, m.name FROM mediator m JOIN mediator_unit u ON u.mediator_id = m.id"
            " WHERE u.unit_code = ? ORDER BY m.id LIMIT 2",
            (case["unit_code"],),
        ).fetchall()
        assert serving, case["unit_code"]
        for (mediator_id, _), role in zip(serving, ["lead", "co"], strict=False):
            db.execute(
                "INSERT INTO case_mediator (case_id, mediator_id, role, unit_code, assigned_at, assigned_by)"
                " VALUES (?, ?, ?, ?, ?, 'test')",
                (case["id"], mediator_id, role, case["unit_code"], case["created_at"]),
            )
    return str(serving[0][1])


def complete_the_file(web: Web, case: dict[str, Any], headers: dict[str, str]) -> None:
    """What the case file check asks of a closed case that the demo data does not hold: a session
    record (written straight to the server's database: a closed case's sessions are final) and
    the 卷宗 number (through the API)."""
    with sqlite3.connect(web.server.data_dir / "jiefen.db") as db:
        if not db.execute("SELECT 1 FROM mediation_session WHERE case_id = ?", (case["id"],)).fetchone():
            db.execute(
                "INSERT INTO mediation_session (case_id, number, started_at, ended_at, place, party_ids,"
                " agents, mediator_ids, others, statements, result, recorded_at, recorded_by, version)"
                " VALUES (?, 1, ?, ?, '调解室', '[]', '[]', '[]', '[]', '[]', 'agreement', ?, 'test', 1)",
                (case["id"], case["created_at"], case["created_at"], case["created_at"]),
            )
    given = httpx.post(
        f"{web.server.base}/api/v1/cases/{case['id']}/file-number", headers=headers, timeout=10
    )
    assert given.status_code in (200, 201), given.text


def a_paid_case_of_a_past_month(web: Web) -> tuple[dict[str, Any], str, str]:
    """A demo case closed as performed before this month whose month, once it has mediators, pays
    it: (case, month, lead mediator's name)."""
    headers = web.server.token("city.coordinator")
    this_month = datetime.now(SHANGHAI).strftime("%Y-%m")
    listing = httpx.get(
        f"{web.server.base}/api/v1/cases",
        params={"state": "closed", "limit": 200},
        headers=headers,
        timeout=10,
    )
    assert listing.status_code == 200, listing.text
    for item in listing.json()["items"]:
        case = httpx.get(f"{web.server.base}/api/v1/cases/{item['id']}", headers=headers, timeout=10).json()
        if case.get("outcome") != "performed" or not case.get("closed_at"):
            continue
        month = datetime.fromisoformat(case["closed_at"]).astimezone(SHANGHAI).strftime("%Y-%m")
        if month == this_month:
            continue
        lead = assign_roster_mediators(web, case)
        complete_the_file(web, case, headers)
        computed = httpx.get(
            f"{web.server.base}/api/v1/subsidy/{case['unit_code']}/{month}", headers=headers, timeout=10
        ).json()
        if computed["status"] == "computed" and any(
            c["case_id"] == case["id"] and c["eligible"] for c in computed["cases"]
        ):
            return case, month, lead
    raise AssertionError("the demo data has no performed case of a past month that qualifies")


def test_coordinator_computes_approves_sees_frozen_corrects_and_exports_a_month(web: Web) -> None:
    case, month, lead = a_paid_case_of_a_past_month(web)
    page = web.page("city.coordinator")
    page.get_by_role("link", name="以案定补", exact=True).click()
    expect(page).to_have_url(re.compile(r"/subsidy$"))

    page.get_by_label("单位", exact=True).select_option(case["unit_code"])
    page.get_by_label("月份", exact=True).fill(month)
    page.get_by_role("button", name="查看").click()
    expect(page.locator("#ledger-status")).to_contain_text("试算")
    row = page.locator("#case-lines tr", has_text=case["number"])
    expect(row).to_contain_text(lead)
    expect(row).to_contain_text("主办")
    expect(page.locator("#mediator-totals")).to_contain_text(lead)
    total = page.locator("#ledger-total").inner_text()
    web.shot(page, "1-computed")

    # The confirmation box must be ticked: the browser refuses the form without it.
    page.get_by_role("button", name="审核并冻结").click()
    expect(page.locator("#ledger-status")).to_contain_text("试算")
    page.get_by_label(re.compile("我已核对")).check()
    page.get_by_role("button", name="审核并冻结").click()
    expect(page.get_by_role("status").first).to_contain_text("已审核并冻结")
    expect(page.locator("#ledger-status")).to_contain_text("已审核并冻结（city.coordinator")
    expect(page.locator("#ledger-total")).to_have_text(total)
    expect(page.get_by_role("button", name="审核并冻结")).to_have_count(0)
    web.shot(page, "2-frozen")

    # A correction is a new line with its reason; the frozen shares stay as they were.
    page.get_by_role("combobox", name="调解员").select_option(label=lead)
    page.get_by_label(re.compile("金额（元，扣减")).fill("-10.00")
    page.get_by_role("textbox", name="原因").fill("重复计发，扣回")
    page.get_by_role("button", name="记录更正").click()
    expect(page.get_by_role("status").first).to_contain_text("更正已记录")
    expect(page.locator("#correction-lines")).to_contain_text("重复计发，扣回")
    expect(page.locator("#correction-lines")).to_contain_text("-10.00")
    web.shot(page, "3-corrected")

    with page.expect_download() as download:
        page.get_by_role("link", name="导出 CSV（财务）").click()
    assert download.value.suggested_filename == f"jiefen-subsidy-{case['unit_code']}-{month}.csv"
    content = download.value.path().read_bytes()
    assert content.startswith(b"\xef\xbb\xbf")
    text = content.decode("utf-8-sig")
    assert "（已审核）" in text and case["number"] in text and "重复计发，扣回" in text

    with page.expect_download() as xlsx:
        page.get_by_role("link", name="导出 Excel（财务）").click()
    assert xlsx.value.suggested_filename.endswith(".xlsx")

    page.get_by_role("link", name="English").click()
    expect(page.locator("h1")).to_contain_text("Case subsidy")
    expect(page.locator("#ledger-status")).to_contain_text("Approved and frozen")
    expect(page.get_by_role("link", name="Export CSV (finance)")).to_be_visible()
    web.shot(page, "4-english")


def test_a_mediator_reads_their_stations_month_on_a_phone(web: Web) -> None:
    page = web.page("dashi.mediator", phone=True)
    page.goto("/subsidy")
    expect(page.locator("h1")).to_contain_text("大市社区")
    expect(page.get_by_text("仅显示您本人的补贴记录。")).to_be_visible()
    expect(page.get_by_role("button", name="审核并冻结")).to_have_count(0)
    expect(page.get_by_role("link", name="导出 CSV（财务）")).to_be_visible()
    fits_phone(page)
    web.shot(page, "1-phone")
