"""The duty to report a risk of crime in the browser (人民调解法 art. 25): a case registered with
the crime-risk flag reports itself to the 派出所 and the town's 司法所; the 派出所 officer reads
the report from the inbox and acknowledges it; the case page shows who acknowledged when."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.builders import DASHI
from tests.web.conftest import Web

SUMMARY = "宅基地边界争执升级，一方扬言要找人报复"
NOTE = "已安排社区民警当晚上门走访"


def test_a_crime_risk_is_reported_at_registration_and_the_police_station_acknowledges_it(web: Web) -> None:
    # The city centre (where triage sends a crime-risk case) registers one at 大市社区.
    centre = web.page("city.coordinator")
    centre.goto("/cases/new")
    centre.get_by_label("纠纷类型").select_option("HOUSING_HOMESTEAD")
    centre.get_by_label("纠纷发生地").select_option(DASHI)
    centre.get_by_label("民转刑风险").check()
    expect(centre.locator("#triage-result")).to_contain_text("须立即报告")
    centre.get_by_label("纠纷简要情况").fill(SUMMARY)
    centre.get_by_label("姓名或名称").first.fill("沈建华")
    centre.get_by_label("联系电话").first.fill("13912345678")
    centre.get_by_label("受理情况").select_option("none")  # no other authority has it (2002 规定 art. 22)
    centre.get_by_role("button", name="登记", exact=True).click()
    expect(centre).to_have_url(re.compile(r"/cases/\d+\?done=created$"))
    case_url = centre.url.split("?")[0]
    number = centre.locator("h1").inner_text().split()[0]
    reports = centre.locator("section.crime-reports li.card")
    expect(reports).to_have_count(2)
    expect(reports.nth(0)).to_contain_text("张浦派出所")
    expect(reports.nth(0)).to_contain_text("登记时分级诊疗提示")
    expect(reports.nth(0).locator(".report-status")).to_contain_text("待确认")
    expect(reports.nth(1)).to_contain_text("张浦镇")
    expect(centre.locator("ol.timeline")).to_contain_text("报告民转刑风险")
    web.shot(centre, "1-reported")

    # The 派出所 officer finds it in the inbox and opens the report, not the case.
    police = web.page("zhangpu.police")
    police.goto("/inbox")
    item = police.locator("li.card", has_text=number).filter(has_text="民转刑风险报告")
    expect(item).to_have_count(1)
    item.get_by_role("link", name=number).click()
    expect(police).to_have_url(re.compile(r"/cases/\d+/crime-reports/\d+$"))
    expect(police.locator("h1")).to_have_text(f"民转刑风险报告：{number}")
    expect(police.locator(".summary").first).to_contain_text(SUMMARY)
    brief = police.locator("ul.parties")
    expect(brief).to_contain_text("沈建华")
    expect(brief).to_contain_text("139****5678")  # masked, as everywhere
    expect(brief).not_to_contain_text("13912345678")
    police.get_by_label("处置说明（可选）").fill(NOTE)
    web.shot(police, "2-report")
    police.get_by_role("button", name="确认收到").click()
    expect(police.locator("dd.report-status")).to_contain_text("已确认：zhangpu.police")
    expect(police.locator("dd.report-status")).to_contain_text(NOTE)
    expect(police.get_by_role("button", name="确认收到")).to_have_count(0)
    web.shot(police, "3-acknowledged")

    # The city centre's case page shows the acknowledgement; the 司法所's is still awaited.
    centre.goto(case_url)
    expect(reports.nth(0).locator(".report-status")).to_contain_text("已确认：zhangpu.police")
    expect(reports.nth(1).locator(".report-status")).to_contain_text("待确认")
    expect(centre.locator("ol.timeline")).to_contain_text("确认收到报告")
    centre.get_by_role("link", name="报告", exact=True).click()
    expect(centre).to_have_url(re.compile(r"/reports$"))
    expect(centre.locator("h1")).to_have_text("民转刑风险报告")
    expect(centre.locator("main")).to_contain_text("24 小时内确认收到（本地规定）")
    web.shot(centre, "4-case-page")


def test_a_station_mediator_files_a_report_from_the_case_page(web: Web) -> None:
    case = web.api("dashi.mediator").open_case(summary="邻里因漏水多次争吵，一方持械威胁")
    page = web.page("dashi.mediator", phone=True)
    page.goto(f"/cases/{case['id']}")

    page.get_by_role("link", name="报告民转刑风险").click()
    expect(page).to_have_url(re.compile(r"/crime-reports/new$"))
    expect(page.locator("main")).to_contain_text("第二十五条")
    page.get_by_label("报告内容").fill("被申请人持械到申请人家门口威胁")
    page.get_by_label("已采取的预防措施").fill("劝离现场，已分别约谈双方")
    page.get_by_role("button", name="提交报告").click()

    expect(page).to_have_url(re.compile(r"/cases/\d+\?done=crime_report$"))
    expect(page.get_by_role("status")).to_contain_text("已报告")
    reports = page.locator("section.crime-reports li.card")
    expect(reports).to_have_count(2)
    expect(reports.nth(0)).to_contain_text("调解中发现")
