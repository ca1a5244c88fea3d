"""The case file check on a case's page, from a village mediator's phone: what the 卷宗 still lacks,
each item with why and its source, and the list shrinking as the case gains its items."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.web.conftest import Web, fits_phone


def test_a_mediator_sees_what_the_case_file_still_lacks_on_a_phone(web: Web) -> None:
    api = web.api("dashi.mediator")
    case = api.open_case(summary="手机查看卷宗完整性")
    page = web.page("dashi.mediator", phone=True)
    page.goto(f"{web.server.base}/cases/{case['id']}#file-check")
    section = page.locator("#file-check")
    expect(section.get_by_role("heading", name="卷宗完整性检查")).to_be_visible()
    expect(section.locator("#file-check-summary")).to_have_text("卷宗尚缺 2 项。")
    consents = section.locator("#file-check-consents")
    expect(consents).to_contain_text("缺少")
    expect(consents).to_contain_text("尚有 2 名当事人未记录同意调解")
    expect(consents).to_contain_text("人民调解法第十七条")
    expect(section.locator("#file-check-file_number")).to_contain_text("不适用")
    fits_phone(page)
    web.shot(page, "registered")

    api.fire(api.case(case["id"]), "accept")  # every party consents
    page.reload()
    expect(section.locator("#file-check-summary")).to_have_text("卷宗尚缺 1 项。")
    expect(section.locator("#file-check-consents")).to_contain_text("各方当事人均已同意调解")
    expect(section.locator("#file-check-session_record")).to_contain_text("尚无调解记录")
    fits_phone(page)
    web.shot(page, "accepted")
