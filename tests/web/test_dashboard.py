"""The city coordinator's statistics: charts drawn in the page, filters, the monthly report files."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import datetime
from zoneinfo import ZoneInfo

from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from tests.builders import ZHANGPU
from tests.web.conftest import Web, fits_phone

REPORT_HEADER = "单位代码,单位,纠纷类型代码,纠纷类型,登记数,调解成功数,调解成功率"


def registered(page: Page) -> int:
    return int(page.locator("ul.kpis li", has_text="登记").locator("strong").inner_text())


def test_city_coordinator_reads_the_charts_filters_and_downloads_the_monthly_report(web: Web) -> None:
    this_month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    page = web.page("city.coordinator")
    page.get_by_role("link", name="统计", exact=True).click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))
    expect(page.locator("h1")).to_contain_text("统计")

    # Charts are SVG inside the page (no script, no image requests), each with a title.
    charts = page.locator("main figure.chart > svg")
    expect(charts).to_have_count(6)
    for i in range(charts.count()):
        expect(charts.nth(i).locator("title").first).not_to_be_empty()
    whole_city = registered(page)
    assert whole_city > 0  # the demo year of cases
    # Not the MoJ rows' names: flagged and settled, with the definition on hover.
    criminal = page.locator("#kpi-prevent_criminal")
    expect(criminal).to_contain_text("有民转刑风险且调解成功")
    expect(criminal).to_have_attribute("title", re.compile("带民转刑风险标记且调解成功"))
    expect(page.locator("ul.kpis")).not_to_contain_text("防止民转刑")
    # The cohort report says what it is, and which report to file instead.
    expect(page.locator("#report-heading")).to_have_text("案件登记月报（按登记月份统计，反映案件当前状态）")
    expect(page.locator("#report-not-moj")).to_contain_text("不是向司法局报送的报表")
    expect(page.locator("#moj-link")).to_have_attribute("href", re.compile(r"^/stats/moj\?month="))
    web.shot(page, "1-city")

    # One town, one month: the figures narrow.
    page.get_by_label("镇（区）", exact=True).select_option(ZHANGPU)
    page.get_by_label("起始月份").fill(this_month)
    page.get_by_label("截止月份").fill(this_month)
    page.get_by_role("button", name="查看").click()
    expect(page).to_have_url(re.compile(rf"from={this_month}&to={this_month}&unit={ZHANGPU}"))
    expect(page.get_by_label("镇（区）", exact=True)).to_have_value(ZHANGPU)
    expect(page.locator("h1 small")).to_have_text(f"{this_month} – {this_month}")
    assert registered(page) <= whole_city
    web.shot(page, "2-zhangpu-this-month")

    # The monthly report of that town, as the centres file it.
    expect(page.get_by_label("报表月份")).to_have_value(this_month)
    with page.expect_download() as csv_download:
        page.get_by_role("button", name="下载 CSV").click()
    assert csv_download.value.suggested_filename == f"jiefen-report-{this_month}-{ZHANGPU}.csv"
    content = csv_download.value.path().read_bytes()
    assert content.startswith(b"\xef\xbb\xbf")  # Excel opens Chinese headings right only with a BOM
    assert content.decode("utf-8-sig").splitlines()[0].startswith(REPORT_HEADER)

    with page.expect_download() as xlsx_download:
        page.get_by_role("button", name="下载 Excel").click()
    assert xlsx_download.value.suggested_filename == f"jiefen-report-{this_month}-{ZHANGPU}.xlsx"
    workbook_bytes = xlsx_download.value.path().read_bytes()
    assert zipfile.is_zipfile(io.BytesIO(workbook_bytes))
    sheet = load_workbook(io.BytesIO(workbook_bytes)).active
    assert sheet is not None
    assert [c.value for c in sheet[1]][:7] == REPORT_HEADER.split(",")


def test_dashboard_in_english_and_on_a_phone(web: Web) -> None:
    page = web.page("city.coordinator", phone=True)
    page.goto("/dashboard")
    page.get_by_role("link", name="English").click()
    expect(page.locator("h1")).to_contain_text("Statistics")
    expect(page.get_by_role("button", name="Download Excel")).to_be_visible()
    fits_phone(page)
    web.shot(page, "1-phone-en")
