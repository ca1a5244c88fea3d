"""A station mediator's intake in the browser: a dispute the police already accepted is registered
with that declaration and people's mediation refuses to accept it, saying why (人民调解工作若干规定
art. 22) and what can be done; another is accepted with both parties' consent recorded."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.web.conftest import Web


def register(page: Page, summary: str, applicant: str, respondent: str) -> None:
    page.get_by_role("link", name="登记", exact=True).click()
    expect(page).to_have_url(re.compile(r"/cases/new$"))
    page.get_by_label("纠纷类型").select_option("NEIGHBOUR")
    page.get_by_label("纠纷简要情况").fill(summary)
    page.get_by_label("姓名或名称").first.fill(applicant)
    page.get_by_label("姓名或名称").nth(1).fill(respondent)
    page.get_by_label("涉及人数").fill("2")


def test_a_dispute_the_police_accepted_is_refused_and_another_is_accepted_with_consent(web: Web) -> None:
    page = web.page("dashi.mediator")

    register(page, "邻居因停车位发生推搡，已报警处理", "顾建华", "沈美玲")
    page.get_by_label("受理情况").select_option("police")
    page.get_by_label("受理机关名称").fill("昆山市公安局张浦派出所")
    page.get_by_label("受理日期").fill("2026-03-01")
    page.get_by_label("案号/受理编号").fill("JQ2026030100042")
    web.shot(page, "1-declared-police")
    page.get_by_role("button", name="登记", exact=True).click()

    expect(page).to_have_url(re.compile(r"/cases/\d+\?done=created$"))
    expect(page.locator("#prior-proceedings")).to_contain_text(
        "公安机关已受理 · 昆山市公安局张浦派出所 · 2026-03-01"
    )
    # The page says before anyone tries: people's mediation does not accept it, and what to do.
    expect(page.locator("#prior-bar")).to_contain_text(
        "人民调解委员会不予受理（人民调解工作若干规定 第22条）"
    )
    web.shot(page, "2-barred-case")

    page.get_by_role("link", name="受理", exact=True).click()
    for select in page.locator("#consents select").all():
        select.select_option("in_person")
    web.expect_status(409)
    page.get_by_role("button", name="确认办理").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("已由昆山市公安局张浦派出所（2026-03-01）受理")
    expect(alert).to_contain_text("不予受理")
    expect(alert).to_contain_text("移交受理的公安机关")
    web.shot(page, "3-acceptance-refused")

    page.goto("/cases")
    register(page, "楼上装修噪音扰民，双方同意调解", "陆文斌", "钱小红")
    page.get_by_label("受理情况").select_option("none")
    page.get_by_role("button", name="登记", exact=True).click()
    expect(page).to_have_url(re.compile(r"/cases/\d+\?done=created$"))
    expect(page.locator("#prior-bar")).to_have_count(0)

    page.get_by_role("link", name="受理", exact=True).click()
    page.get_by_label("陆文斌（申请人）同意方式").select_option("written")
    # Only one party consented: the form names what is missing and keeps what was chosen.
    web.expect_status(422)
    page.get_by_role("button", name="确认办理").click()
    expect(page.locator("#consent_on-error")).to_contain_text("每一方当事人均须同意")
    expect(page.get_by_label("陆文斌（申请人）同意方式")).to_have_value("written")
    web.shot(page, "4-consent-missing")

    page.get_by_label("钱小红（被申请人）同意方式").select_option("phone")
    page.get_by_label("同意日期").fill("2026-03-02")
    page.get_by_role("button", name="确认办理").click()
    expect(page).to_have_url(re.compile(r"\?done=accept$"))
    expect(page.locator("h1 .state")).to_have_text("调解中")
    consents = page.locator("#consents li")
    expect(consents).to_have_count(2)
    expect(consents.first).to_contain_text("陆文斌：同意调解（书面，2026-03-02；受理")
    expect(consents.nth(1)).to_contain_text("钱小红：同意调解（电话，2026-03-02；受理")
    web.shot(page, "5-accepted-with-consent")

    # Later one party no longer agrees: the refusal is recorded from the case page, on its own.
    page.get_by_role("link", name="记录当事人意愿").click()
    expect(page.locator("h1")).to_contain_text("记录当事人意愿")
    page.get_by_label("当事人").select_option(label="钱小红（被申请人）")
    expect(page.get_by_label("意愿")).to_have_value("refused")
    # How it was said is required: the form says so and keeps the choices made.
    page.locator("#f-manner").evaluate("el => el.removeAttribute('required')")
    web.expect_status(422)
    page.get_by_role("button", name="记录", exact=True).click()
    expect(page.locator("#f-manner")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("当事人").locator("option:checked")).to_have_text("钱小红（被申请人）")
    page.get_by_label("表示方式").select_option("phone")
    page.get_by_label("说明（可选）").fill("电话告知不再同意调解，要求起诉")
    page.get_by_role("button", name="记录", exact=True).click()
    expect(page).to_have_url(re.compile(r"\?done=consent#consents$"))
    expect(page.get_by_role("status")).to_contain_text("已记录当事人意愿")
    consents = page.locator("#consents li")
    expect(consents).to_have_count(3)
    expect(consents.nth(2)).to_contain_text("钱小红：拒绝调解（电话")
    web.shot(page, "6-refusal-recorded")
