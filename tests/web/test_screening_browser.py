"""The screening register in the browser: a station's mediator records a zero report and then a
round that found a dispute on a phone (the dispute registered as a case in the same step and
reported at once as a suicide risk), a round that says neither is refused at its field, and the
town reads its stations' rounds and who has not reported, and acknowledges the report."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.web.conftest import Web, fits_phone

SUMMARY = "两户因院墙排水沟堵塞争执，已现场调处未果"


def test_a_station_records_rounds_on_a_phone_and_the_town_reads_them(web: Web) -> None:
    page = web.page("dashi.mediator", phone=True)
    page.goto("/screening")
    expect(page.locator("h1")).to_have_text("矛盾纠纷排查")
    fits_phone(page)

    # A zero report: where, what, who, and the one box.
    page.get_by_label("排查地点").fill("大市社区一至三组")
    page.get_by_label("排查范围").fill("邻里、婚姻家庭")
    page.get_by_label("参加人员（每行一人）").fill("张调解\n网格员李四")
    page.get_by_label("零报告：未发现矛盾纠纷").check()
    web.shot(page, "1-zero-report")
    page.get_by_role("button", name="提交排查情况").click()
    expect(page).to_have_url(re.compile(r"/screening\?done=1$"))
    expect(page.get_by_role("status")).to_contain_text("排查情况已登记")
    first = page.locator("ul.rounds li.card").first
    expect(first).to_contain_text("零报告")
    expect(first).to_contain_text("大市社区一至三组")

    # Neither a zero report nor anything found: refused, said at the box.
    web.expect_status(422)
    page.get_by_label("排查地点").fill("大市社区四组")
    page.get_by_label("排查范围").fill("物业")
    page.get_by_label("参加人员（每行一人）").fill("张调解")
    page.get_by_role("button", name="提交排查情况").click()
    expect(page.locator("#nothing_found-error")).to_contain_text("零报告不能同时登记纠纷")
    fits_phone(page)

    # What was found: one dispute registered as a case, two resolved on the spot.
    page.get_by_label("当场化解（预防纠纷）件数").fill("2")
    page.get_by_label("纠纷类型").select_option("NEIGHBOUR")
    page.get_by_label("纠纷简要情况").fill(SUMMARY)
    page.get_by_label("一方当事人", exact=True).fill("周海峰")
    page.get_by_label("另一方当事人").fill("陆梅")
    page.get_by_label("自杀风险").check()  # reported at once to the town and the city centre
    page.get_by_label("报告内容（可选，默认为简要情况）").fill("一方称要喝农药，已由村干部陪护")
    web.shot(page, "2-found")
    page.get_by_role("button", name="提交排查情况").click()
    expect(page).to_have_url(re.compile(r"/screening\?done=1$"))
    found = page.locator("ul.rounds li.card").first
    expect(found).to_contain_text("发现纠纷 1 件，预防纠纷 2 件")
    case_link = found.get_by_role("link", name=re.compile(r"^KS-\d{4}-\d+$"))
    expect(case_link).to_have_count(1)
    case_link.click()
    expect(page).to_have_url(re.compile(r"/cases/\d+$"))
    expect(page.locator("main")).to_contain_text(SUMMARY)
    expect(page.locator("main")).to_contain_text("主动排查")
    web.shot(page, "3-case")

    # The town reads the station's rounds and the list of who has not reported.
    town = web.page("zhangpu.coordinator")
    town.get_by_role("link", name="排查", exact=True).click()
    expect(town).to_have_url(re.compile(r"/screening$"))
    expect(town.locator("#missing-heading")).to_have_text("未按期报送排查情况的调委会")
    expect(town.locator("ul.rounds")).to_contain_text("大市社区一至三组")
    report = town.locator("ul.majors li.card").first
    expect(report).to_contain_text("自杀风险")
    expect(report.locator(".major-status")).to_contain_text("待确认")
    web.shot(town, "4-town")
    report.get_by_role("button", name="确认收到").click()
    expect(town.locator("ul.majors li.card").first.locator(".major-status")).to_contain_text(
        "已确认：zhangpu.coordinator"
    )
    expect(town.locator("ul.majors li.card").first.get_by_role("button", name="确认收到")).to_have_count(0)
    # The station sees the acknowledgement too, and cannot acknowledge its own report.
    page.goto("/screening")
    expect(page.locator("ul.majors li.card").first.locator(".major-status")).to_contain_text("已确认")
