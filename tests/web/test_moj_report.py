"""The MoJ report page: every figure says what it counts (hover and footnote) and opens its cases."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.web.conftest import Web


def test_the_report_shows_definitions_and_drills_down_to_the_cases(web: Web) -> None:
    page = web.page("city.coordinator")
    page.goto("/dashboard")
    # The dashboard's own figures carry their definitions too.
    expect(page.locator("#kpi-success_rate")).to_have_attribute("title", re.compile("不超过 100%"))
    expect(page.locator("#dash-note-3")).to_contain_text("调解成功 ÷")
    page.locator("#moj-link").click()
    expect(page).to_have_url(re.compile(r"/stats/moj\?month=\d{4}-\d{2}"))
    expect(page.locator("h1")).to_contain_text("人民调解工作统计报表")

    accepted = page.locator("#row-accepted th")
    expect(accepted).to_have_attribute("title", re.compile("accept 事件"))
    expect(page.locator("ol.footnotes li").first).to_contain_text("受理调解纠纷")
    expect(page.locator("#row-settled td").first).to_have_attribute("title", re.compile("此后撤回"))
    web.shot(page, "1-moj-report")

    # The demo year has accepted cases: open the year-to-date figure's list.
    cell = page.locator('td[data-cell="accepted.ytd"] a')
    count = int(cell.inner_text())
    assert count > 0
    cell.click()
    expect(page).to_have_url(re.compile(r"/stats/moj/cells/accepted\.ytd\?month="))
    expect(page.locator("p.definition")).to_contain_text("每案计一次")
    rows = page.locator("#cell-cases tbody tr")
    expect(rows).to_have_count(min(count, 100))
    first = rows.first.locator("a")
    number = first.inner_text()
    first.click()
    expect(page).to_have_url(re.compile(r"/cases/\d+$"))
    expect(page.locator("main")).to_contain_text(number)
    web.shot(page, "2-moj-case")


def test_the_report_in_english(web: Web) -> None:
    page = web.page("city.coordinator")
    page.goto("/stats/moj")
    page.get_by_role("link", name="English").click()
    expect(page.locator("h1")).to_contain_text("People's mediation statistics")
    expect(page.locator("#row-settled th")).to_have_text("Settled")
    expect(page.locator("#row-settled th")).to_have_attribute("title", re.compile("even if later withdrawn"))
