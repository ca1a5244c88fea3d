"""报表报送 in the browser: 张浦镇's coordinator files a past month, opens the cases behind the total
of accepted cases (受理), opens one of them, files a correction with its reason (version 2, version 1
kept), and opens the court reconciliation; the filing page in English."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
from playwright.sync_api import expect

from tests.builders import ZHANGPU
from tests.web.conftest import Web

SHANGHAI = ZoneInfo("Asia/Shanghai")


def a_past_month_with_cases(web: Web) -> tuple[str, int]:
    """The latest month before this one in which 张浦镇 accepted cases (the MoJ report's 受理):
    (month, how many)."""
    today = datetime.now(SHANGHAI)
    year, month = today.year, today.month
    for _ in range(36):
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        label = f"{year:04d}-{month:02d}"
        response = httpx.get(
            f"{web.server.base}/api/v1/stats/moj",
            params={"unit": ZHANGPU, "month": label},
            headers=web.server.token("zhangpu.coordinator"),
            timeout=30,
        )
        assert response.status_code == 200, response.text
        accepted = next(c["value"] for c in response.json()["cells"] if c["key"] == "accepted.month")
        if accepted:
            return label, int(accepted)
    raise AssertionError("the demo data has no case accepted in 张浦镇 in the last three years")


def test_a_coordinator_files_a_month_and_opens_the_cases_behind_a_figure(web: Web) -> None:
    month, accepted = a_past_month_with_cases(web)
    page = web.page("zhangpu.coordinator")
    page.get_by_role("link", name="报表报送", exact=True).click()
    expect(page).to_have_url(re.compile(r"/filings$"))
    expect(page.get_by_text("尚无报送的月报")).to_be_visible()

    page.get_by_label("月份", exact=True).fill(month)
    page.get_by_role("button", name="报送", exact=True).click()
    expect(page.get_by_role("status").first).to_contain_text("已报送并冻结")
    expect(page.locator("h1")).to_contain_text("第 1 版")
    sha256 = page.locator("#filing-sha256").inner_text()
    assert re.fullmatch(r"[0-9a-f]{64}", sha256)
    total = page.locator('#filing-cells a[data-key="accepted.month"]')
    expect(total).to_have_text(str(accepted))
    expect(total).to_have_attribute("title", re.compile("^本期内在人民调解组织受理"))  # the definition
    web.shot(page, "1-filed")

    total.click()
    expect(page.locator("#cell-total")).to_have_text(str(accepted))
    expect(page.locator("#cell-cases tbody tr")).to_have_count(min(accepted, 50))
    first = page.locator("#cell-cases tbody tr a").first
    number = first.inner_text()
    web.shot(page, "2-cell-cases")
    first.click()
    expect(page).to_have_url(re.compile(r"/cases/\d+$"))
    expect(page.locator("body")).to_contain_text(number)

    page.go_back()
    page.get_by_role("link", name="返回该版本").click()
    page.get_by_role("textbox", name=re.compile("更正理由")).fill("补录一件漏登案件")
    page.get_by_role("button", name="提交更正").click()
    expect(page.get_by_role("status").first).to_contain_text("已提交更正")
    expect(page.locator("h1")).to_contain_text("第 2 版")
    expect(page.locator("#filing-reason")).to_have_text("补录一件漏登案件")
    page.get_by_role("link", name="第 1 版").click()
    expect(page.locator("#filing-status")).to_contain_text("已被更正")
    expect(page.locator("#filing-sha256")).to_have_text(sha256)
    expect(page.get_by_role("button", name="提交更正")).to_have_count(0)
    web.shot(page, "3-version-1")

    page.goto(f"/filings/reconciliation?unit={ZHANGPU}&month={month}")
    expect(page.locator("h1")).to_contain_text("法院委托调解对账")
    expect(page.locator("#mismatched")).to_be_visible()
    web.shot(page, "4-reconciliation")

    page.goto("/filings")
    expect(page.locator("#filings")).to_contain_text("第 2 版")
    page.get_by_role("link", name="English").click()
    expect(page.locator("h1")).to_contain_text("Monthly filings")
    expect(page.locator("#filings")).to_contain_text("version 2")
    web.shot(page, "5-english")
