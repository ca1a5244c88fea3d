"""A village mediator keeps sight of a dispute triage sends to the town: the "sent to" view
right after registering, the "sent by us" list, and the result once the town settles it."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.web.conftest import Web, fits_phone


def test_a_registration_sent_to_the_town_stays_in_sight_until_its_result(web: Web) -> None:
    page = web.page("dashi.mediator", phone=True)
    page.get_by_role("link", name="登记", exact=True).click()
    page.get_by_label("纠纷类型").select_option("NEIGHBOUR")
    page.get_by_label("涉及金额（元）").fill("80000")  # ≥ 50 000 yuan: triage sends it to the town
    triage = page.locator("#triage-result")
    expect(triage).to_contain_text("将分流至：张浦镇（")
    page.get_by_label("纠纷简要情况").fill("宅基地边界围墙纠纷，涉及赔偿八万元")
    page.get_by_label("姓名或名称").first.fill("陈国华")
    page.get_by_label("联系电话").first.fill("13911112222")
    page.get_by_label("姓名或名称").nth(1).fill("孙美玲")
    page.get_by_label("受理情况").select_option("none")  # no other authority has it (2002 规定 art. 22)
    page.get_by_role("button", name="登记", exact=True).click()

    # Not "没有找到此案件": where it went, read only, without the parties' data.
    expect(page).to_have_url(re.compile(r"/cases/\d+\?done=sent$"))
    number = page.locator("h1").inner_text().split()[0]
    assert re.fullmatch(r"KS-\d{4}-\d{6}", number), number
    expect(page.get_by_role("status")).to_contain_text(f"已移送至 张浦镇，案件 {number}")
    expect(page.locator("h1 .state")).to_have_text("待受理")
    expect(page.locator(".read-only")).to_contain_text("只读")
    expect(page.locator("main")).not_to_contain_text("陈国华")
    expect(page.locator("main")).not_to_contain_text("13911112222")
    expect(page.locator("main a.button")).to_have_count(0)  # nothing to act on
    fits_phone(page)
    web.shot(page, "1-sent-to-town")
    case_url = page.url.split("?")[0]

    # "Sent by us", from the navigation: where it is now.
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="我方移送").click()
    expect(page).to_have_url(re.compile(r"/sent$"))
    card = page.locator("li.card", has_text=number)
    expect(card).to_contain_text("待受理")
    expect(card).to_contain_text("张浦镇")
    fits_phone(page)
    web.shot(page, "2-sent-by-us")

    # Later the town accepts and settles it; the station sees the result and is told.
    case_id = int(case_url.rsplit("/", 1)[1])
    town = web.api("zhangpu.coordinator")
    accepted = town.fire(town.case(case_id), "accept")
    town.fire(accepted, "settle", agreement={"form": "written", "terms": "拆除越界围墙并赔偿 3000 元"})
    page.reload()
    card = page.locator("li.card", has_text=number)
    expect(card).to_contain_text("达成协议")
    card.get_by_role("link").click()
    expect(page.locator("h1 .state")).to_have_text("达成协议")
    expect(page.locator("ol.timeline")).to_contain_text("达成协议")
    expect(page.locator("main")).not_to_contain_text("拆除越界围墙")  # the terms stay with the town
    page.get_by_role("link", name="收件箱", exact=True).click()
    item = page.locator("li.card", has_text=number).filter(has_text="移送案件结果")
    expect(item).to_contain_text("结果：达成协议")
    web.shot(page, "3-told-the-result")
