"""A station mediator's own work on a phone (issue 18, part 3): /me lists only the cases the
mediator is assigned to, with their deadlines in local time; a colleague's case is not there."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.web.conftest import Web

# The phone of the brief: an iPhone-sized viewport.
VIEWPORT = {"width": 375, "height": 812}


def assign(web: Web, case: dict[str, Any], username: str, role: str = "lead") -> None:
    """What the assignment service writes: a current row for ``username``'s roster record (the
    demo roster links every demo mediator's sign-in to one), straight into the server's database."""
    at = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    with sqlite3.connect(web.server.data_dir / "jiefen.db", timeout=10) as db:
        (mediator_id,) = db.execute(
            "SELECT m.id FROM mediator m JOIN app_user u ON u.id = m.user_id WHERE u.username = ?",
            (username,),
        ).fetchone()
        db.execute(
            "INSERT INTO case_mediator (case_id, mediator_id, role, unit_code, assigned_at, assigned_by)"
            " VALUES (?, ?, ?, ?, ?, 'test')",
            (case["id"], mediator_id, role, case["unit_code"], at),
        )


def test_a_mediator_sees_only_their_own_cases_and_deadlines_on_a_phone(web: Web) -> None:
    station = web.api("dashi.mediator")
    mine = station.open_case(summary="手机测试：楼上漏水，指派给本人")
    colleague = station.open_case(summary="手机测试：同站另一起纠纷，指派给同事")
    assign(web, mine, "dashi.mediator")
    assign(web, colleague, "zhouxiang.mediator")

    context = web.context(phone=True)
    page = context.new_page()
    page.set_viewport_size(VIEWPORT)
    page.goto("/signin")
    page.get_by_label("用户名").fill("dashi.mediator")
    page.get_by_label("密码").fill("jiefen2026")
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(lambda url: "/signin" not in url)

    page.get_by_role("link", name="我的案件", exact=True).click()
    expect(page).to_have_url(re.compile(r"/me$"))
    expect(page.locator("nav [aria-current=page]")).to_have_text("我的案件")
    expect(page.get_by_role("heading", level=1)).to_contain_text("我的案件")

    # Exactly the cases the API gives this mediator (other journeys on this server may assign
    # more): the one assigned here among them, the colleague's not.
    listed = httpx.get(f"{web.server.base}/api/v1/me/cases", headers=station.headers, timeout=10).json()
    numbers = [c["number"] for c in listed["cases"]]
    assert mine["number"] in numbers and colleague["number"] not in numbers
    cases = page.locator("ul.my-cases > li")
    expect(cases.locator(".number")).to_have_text(numbers)
    card = cases.filter(has_text=mine["number"])
    expect(card).to_contain_text(mine["number"])
    expect(card).to_contain_text("待受理")
    expect(card).to_contain_text("主办")
    # The acceptance clock in Kunshan time, in words: "12月10日 00:00 前", never an ISO instant.
    expect(card.locator(".due")).to_have_text(re.compile(r"^(\d{4}年)?\d{1,2}月\d{1,2}日 \d{2}:\d{2} 前$"))
    expect(page.locator("main")).not_to_contain_text(colleague["number"])
    deadlines = page.locator("ul.my-deadlines > li", has_text=mine["number"])
    expect(deadlines).to_have_count(1)
    expect(deadlines).to_contain_text("受理期限")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORT["width"], f"/me is {width}px wide on a 375px phone"
    web.shot(page, "1-my-cases")

    # The same page in English.
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("My cases")
    english = page.locator("ul.my-cases > li", has_text=mine["number"])
    expect(english.locator(".due")).to_have_text(
        re.compile(r"^before \d{1,2} [A-Z][a-z]{2}( \d{4})? \d{2}:\d{2}$")
    )
    expect(page.locator("ul.my-deadlines > li", has_text=mine["number"])).to_contain_text("Acceptance")
    web.shot(page, "2-my-cases-en")

    # The case opens from its card.
    page.get_by_role("link", name="中文").click()
    page.locator("ul.my-cases > li", has_text=mine["number"]).locator("a").click()
    expect(page).to_have_url(re.compile(rf"/cases/{mine['id']}$"))


def test_a_town_coordinator_sees_each_mediators_caseload(web: Web) -> None:
    station = web.api("dashi.mediator")
    case = station.open_case(summary="工作量测试：指派给王芳")
    assign(web, case, "dashi.mediator")
    api = httpx.get(
        f"{web.server.base}/api/v1/mediators/caseload",
        headers=web.server.token("zhangpu.coordinator"),
        timeout=10,
    ).json()
    wang = next(r for r in api["rows"] if r["name"] == "王芳")
    assert wang["open_lead"] >= 1

    page = web.page("zhangpu.coordinator")
    page.goto("/dashboard")
    page.get_by_role("link", name="调解员工作量").click()
    expect(page).to_have_url(re.compile(r"/mediators/caseload$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("张浦镇")
    row = page.locator(f"table.caseload tr[data-mediator='{wang['mediator_id']}']")
    expect(row).to_contain_text("王芳")
    expect(row.locator("td").nth(1)).to_have_text(str(wang["open_lead"]))
    # Each mediator of the town and its villages has a row, as in the API.
    expect(page.locator("table.caseload tbody tr")).to_have_count(len(api["rows"]))
    web.shot(page, "1-caseload")

    # A village's own roster, chosen from the list.
    page.get_by_label("单位").select_option("320583106005")
    page.get_by_role("button", name="筛选").click()
    expect(page).to_have_url(re.compile(r"unit=320583106005"))
    expect(page.locator("table.caseload")).to_contain_text("王芳")

    # A mediator who tries the page is told it is not for their role.
    web.expect_status(403)
    mediator = web.page("dashi.mediator")
    response = mediator.goto("/mediators/caseload")
    assert response is not None and response.status == 403
