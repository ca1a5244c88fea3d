"""A village mediator on a 360-pixel phone: the station's cases, registering a dispute, working it."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.builders import DASHI
from tests.web.conftest import Web, fits_phone, sign_in

CITY_CENTRE = "昆山市矛盾纠纷调处中心"


def timeline_length(page: Page) -> int:
    return page.locator("ol.timeline > li").count()


def test_village_mediator_registers_a_dispute_on_a_phone_then_accepts_and_settles_it(web: Web) -> None:
    waiting = web.api("dashi.mediator").open_case(summary="手机测试：邻居装修噪音纠纷")
    page = web.page("dashi.mediator", phone=True)

    # The station's open cases, each with the working days left on its legal clock.
    expect(page).to_have_url(re.compile(r"/cases$"))
    card = page.locator("li.card", has_text=waiting["number"])
    expect(card).to_contain_text("待受理")
    expect(card.locator(".due")).to_have_text(re.compile(r"剩 \d+ 个工作日"))
    expect(page.locator("li.card .due")).to_have_count(page.locator("li.card").count())
    expect(page.locator("nav [aria-current=page]")).to_have_text("案件")
    fits_phone(page)
    web.shot(page, "1-cases")

    page.get_by_role("link", name="登记", exact=True).click()
    expect(page).to_have_url(re.compile(r"/cases/new$"))
    expect(page.get_by_label("纠纷发生地")).to_have_value(DASHI)  # the station's own place
    triage = page.locator("#triage-result")
    expect(triage).to_contain_text("选择纠纷类型和发生地后显示分流结果")

    # Where triage sends it, before saving: updated live as the form changes.
    page.get_by_label("纠纷类型").select_option("NEIGHBOUR")
    expect(triage).to_contain_text("将分流至：张浦镇 · 大市社区（")
    expect(triage).to_contain_text("分派至纠纷发生地调解组织: 大市社区")
    page.get_by_label("民转刑风险").check()
    expect(triage).to_contain_text(f"将分流至：{CITY_CENTRE}（")
    expect(triage).to_contain_text("民转刑风险")
    expect(triage).to_contain_text("须立即报告")
    fits_phone(page)
    web.shot(page, "2-triage-city")
    page.get_by_label("民转刑风险").uncheck()
    page.get_by_label("涉及人数").fill("6")
    expect(triage).to_contain_text("将分流至：张浦镇（")
    expect(triage).to_contain_text("涉及人数 6 人")
    page.get_by_label("涉及人数").fill("2")
    expect(triage).to_contain_text("将分流至：张浦镇 · 大市社区（")

    page.get_by_label("纠纷简要情况").fill("邻居空调外机噪音扰民，协商未果")
    page.get_by_label("姓名或名称").first.fill("周晓东")
    page.get_by_label("联系电话").first.fill("13912345678")
    page.get_by_label("姓名或名称").nth(1).fill("钱丽萍")
    page.get_by_label("涉及金额（元）").fill("1500")
    page.get_by_label("受理情况").select_option("none")  # no other authority has it (2002 规定 art. 22)
    web.shot(page, "3-form-filled")
    page.get_by_role("button", name="登记", exact=True).click()

    # The new case: registered, kept at the station, one entry in its timeline.
    expect(page).to_have_url(re.compile(r"/cases/\d+\?done=created$"))
    number = page.locator("h1").inner_text().split()[0]
    assert re.fullmatch(r"KS-\d{4}-\d{6}", number), number
    expect(page.get_by_role("status")).to_have_text(f"已登记 {number}。")
    expect(page.locator("h1 .state")).to_have_text("待受理")
    expect(page.locator(".summary")).to_have_text("邻居空调外机噪音扰民，协商未果")
    expect(page.locator("ol.timeline > li")).to_have_count(1)
    expect(page.locator("ol.timeline")).to_contain_text("登记")
    # Its acceptance clock is Kunshan's own rule, not law: badged so, with who decided it on hover.
    clocks = page.locator("ul.deadlines > li")
    expect(clocks).to_have_count(1)
    expect(clocks.first.locator("span.basis")).to_have_text("本地规定")
    expect(clocks.first.locator("span.basis")).to_have_attribute("title", re.compile("昆山市司法局"))
    fits_phone(page)
    web.shot(page, "4-registered")

    # Accept: each party's consent (how, and the day, today by default) and an optional note.
    page.get_by_role("link", name="受理", exact=True).click()
    expect(page).to_have_url(re.compile(r"/act/accept$"))
    form = page.locator("main form")
    expect(form.locator("select, textarea, input:not([type=hidden])")).to_have_count(4)
    expect(page.get_by_label("说明")).not_to_have_attribute("required", "")
    page.get_by_label("周晓东（申请人）同意方式").select_option("in_person")
    page.get_by_label("钱丽萍（被申请人）同意方式").select_option("oral")
    fits_phone(page)
    web.shot(page, "5-accept-form")
    page.get_by_role("button", name="确认办理").click()
    expect(page).to_have_url(re.compile(r"\?done=accept$"))
    expect(page.get_by_role("status")).to_have_text("已办理：受理。")
    expect(page.locator("h1 .state")).to_have_text("调解中")
    expect(page.locator("ol.timeline > li")).to_have_count(2)
    # The people's-mediation month is law (a soft limit); its source opens on a tap.
    month = page.locator("ul.deadlines > li", has_text="人民调解期限")
    expect(month.locator("span.basis")).to_have_text("法定")
    month.locator("details.basis summary").click()
    expect(month.locator("details.basis")).to_contain_text("人民调解工作若干规定(2002) 第33条")
    # Counted into a year whose official holidays are not published yet (next January, from
    # December), the date is provisional and says why; otherwise it is not marked.
    case_id = int(page.url.split("/cases/")[1].split("?")[0])
    api_clock = next(
        d for d in web.api("dashi.mediator").case(case_id)["deadlines"] if d["kind"] == "people_mediation"
    )
    if api_clock["provisional"]:
        expect(month.locator(".provisional")).to_have_text("暂定")
        expect(month.locator(".provisional-why")).to_contain_text("法定节假日安排尚未配置")
    else:
        expect(month.locator(".provisional")).to_have_count(0)
    fits_phone(page)
    web.shot(page, "5b-accepted")

    # Settle: only the agreement's fields; a missing required one is named, not lost.
    page.get_by_role("link", name="达成协议", exact=True).click()
    expect(page.get_by_label("协议形式")).to_be_visible()
    # Form, terms, amount, manner, deadline, signatories, facts, three signature/seal boxes, five
    # 民诉解释 art. 355 boxes and the note.
    expect(page.locator("main form").locator("select, textarea, input:not([type=hidden])")).to_have_count(16)
    page.get_by_label("协议内容").fill("被申请人将空调外机移至北侧，并赔偿申请人 500 元。")
    page.locator("main form").evaluate("form => form.noValidate = true")  # let the server judge
    web.expect_status(422)
    page.get_by_role("button", name="确认办理").click()
    expect(page.get_by_role("alert")).to_have_text("请更正标出的内容。")
    expect(page.get_by_label("协议内容")).to_have_value("被申请人将空调外机移至北侧，并赔偿申请人 500 元。")
    expect(page.locator("#agreement_form-error")).to_have_text("必须填写")
    fits_phone(page)
    web.shot(page, "6-settle-missing-field")
    page.get_by_label("协议形式").select_option("written")
    page.get_by_label("签字人（每行一人）").fill("周晓东\n钱丽萍")
    page.get_by_role("button", name="确认办理").click()

    expect(page).to_have_url(re.compile(r"\?done=settle$"))
    expect(page.locator("h1 .state")).to_have_text("达成协议")
    expect(page.locator("dl.facts")).to_contain_text("书面协议 · 被申请人将空调外机移至北侧")
    expect(page.locator("ol.timeline > li")).to_have_count(3)
    expect(page.locator("ol.timeline > li").first).to_contain_text("调解中 → 达成协议")
    expect(page.get_by_role("link", name="履行回访")).to_be_visible()
    fits_phone(page)
    web.shot(page, "7-settled")


def test_triage_preview_button_works_without_javascript(web: Web) -> None:
    page = web.context(phone=True, javascript=False).new_page()
    sign_in(page, "dashi.mediator")
    page.goto("/cases/new")
    page.get_by_label("纠纷类型").select_option("MEDICAL")
    page.get_by_label("纠纷简要情况").fill("术后感染，家属要求赔偿")
    # The form is not complete (no applicant yet): a preview must not wait for that.
    with page.expect_navigation():
        page.get_by_role("button", name="查看分流结果").click()

    # The server answered with the same form, filled in as it was, and the decision shown.
    expect(page).to_have_url(re.compile(r"/cases/new$"))
    expect(page.locator("#triage-result")).to_contain_text("将分流至：昆山市医疗纠纷人民调解委员会")
    expect(page.get_by_label("纠纷简要情况")).to_have_value("术后感染，家属要求赔偿")
    expect(page.get_by_label("纠纷类型")).to_have_value("MEDICAL")
    fits_phone(page)
    web.shot(page, "preview-no-js")
