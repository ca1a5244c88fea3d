"""A station mediator assigns the lead mediator of a new case from its page, sees the suggestions
with their reasons, and then replaces the lead: without a reason the form says one is needed and
keeps the choice; with one, the history shows who handled the case before and why it changed."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.web.conftest import Web


def test_a_mediator_assigns_and_reassigns_the_lead_from_the_case_page(web: Web) -> None:
    case = web.api("dashi.mediator").open_case(summary="相邻房屋排水沟堵塞引发积水纠纷")
    page = web.page("dashi.mediator")

    page.goto(f"/cases/{case['id']}")
    section = page.locator("#mediators")
    expect(section.get_by_role("heading", name="调解员")).to_be_visible()
    expect(page.locator("#mediators-lead")).to_contain_text("尚未指派主办调解员")
    # The suggestions name each candidate with the reasons, in words.
    expect(page.locator("#mediators-suggestions li").first).to_contain_text("在办案件")
    web.shot(page, "1-no-lead")

    page.locator("#assign-mediator_id").select_option(label="王芳")
    page.locator("#assign-role").select_option("lead")
    page.locator("#assign-reason").fill("熟悉该片区")
    page.locator("#form-assign").get_by_role("button", name="指派").click()
    expect(page).to_have_url(re.compile(rf"/cases/{case['id']}#mediators$"))
    expect(page.locator("#mediators-lead")).to_contain_text("王芳")
    web.shot(page, "2-lead-assigned")

    others = [
        name
        for name in page.locator("#reassign-mediator_id option").all_text_contents()
        if name not in ("请选择", "王芳")
    ]
    assert others, "the station's roster has a second mediator"
    page.get_by_text("更换主办调解员").click()
    page.locator("#reassign-mediator_id").select_option(label=others[0])
    web.expect_status(422)
    page.locator("#form-reassign").get_by_role("button", name="更换").click()
    expect(page.locator("#reassign-reason")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#form-reassign .field-error")).to_contain_text("必须填写")
    expect(page.locator("#reassign-mediator_id option:checked")).to_have_text(others[0])
    web.shot(page, "3-reason-missing")

    page.locator("#reassign-reason").fill("王芳外出培训一个月")
    page.locator("#form-reassign").get_by_role("button", name="更换").click()
    expect(page).to_have_url(re.compile(rf"/cases/{case['id']}#mediators$"))
    expect(page.locator("#mediators-lead")).to_contain_text(others[0])
    history = page.locator("#mediators-history")
    expect(history).to_contain_text("王芳（主办调解员）")
    expect(history).to_contain_text("改派 王芳外出培训一个月")
    # The timeline has both changes, by the mediators' names.
    expect(page.locator("#timeline-heading")).to_be_visible()
    web.shot(page, "4-lead-replaced")


def unfold(page: Page, form: str) -> None:
    """Open the folded section holding ``form`` (a section opens by itself in some states)."""
    page.locator("details", has=page.locator(form)).evaluate("el => { el.open = true; }")


def test_a_party_refuses_the_lead_and_a_co_mediator_withdraws_and_neither_can_come_back(web: Web) -> None:
    """人民调解法 art. 19 and 回避 on the page: each is recorded with its party or ground, ends that
    mediator's assignment, and the form refuses to assign them to this case again."""
    case = web.api("dashi.mediator").open_case(summary="邻居装修噪音扰民纠纷")
    page = web.page("dashi.mediator")
    page.goto(f"/cases/{case['id']}")

    page.locator("#assign-mediator_id").select_option(label="王芳")
    page.locator("#assign-role").select_option("lead")
    page.locator("#form-assign").get_by_role("button", name="指派").click()
    expect(page.locator("#mediators-lead")).to_contain_text("王芳")
    others = [
        name
        for name in page.locator("#assign-mediator_id option").all_text_contents()
        if name not in ("请选择", "王芳")
    ]
    assert others, "the station's roster has a second mediator"
    co = others[0]
    unfold(page, "#form-assign")
    page.locator("#assign-mediator_id").select_option(label=co)
    page.locator("#assign-role").select_option("co")
    page.locator("#form-assign").get_by_role("button", name="指派").click()
    expect(page.locator("#mediators")).to_contain_text(co)

    # The first party refuses 王芳.
    party = case["parties"][0]["name"]
    unfold(page, "#form-decision")
    page.locator("#decision-kind").select_option("party_refused")
    page.locator("#decision-mediator_id").select_option(label="王芳")
    page.locator("#decision-party_id").select_option(label=party)
    page.locator("#decision-note").fill("当事人认为王芳与对方熟识")
    page.locator("#form-decision").get_by_role("button", name="记录").click()
    expect(page).to_have_url(re.compile(rf"/cases/{case['id']}#mediators$"))
    expect(page.locator("#mediators-lead")).to_contain_text("尚未指派主办调解员")
    history = page.locator("#mediators-history")
    expect(history).to_contain_text("当事人拒绝调解员：王芳")
    expect(history).to_contain_text(party)
    web.shot(page, "5-party-refused")

    # The co-mediator withdraws: an interest in the outcome.
    unfold(page, "#form-decision")
    page.locator("#decision-kind").select_option("withdrawal")
    page.locator("#decision-mediator_id").select_option(label=co)
    page.locator("#decision-ground").select_option("interest")
    page.locator("#form-decision").get_by_role("button", name="记录").click()
    expect(history).to_contain_text(f"调解员回避：{co}")
    expect(history).to_contain_text("与纠纷有利害关系")

    # Neither is suggested any more, and assigning 王芳 again is refused with the rule.
    excluded = page.locator("#mediators")
    expect(excluded).to_contain_text("已被当事人拒绝或已回避，不得再指派")
    web.expect_status(409, 422)
    unfold(page, "#form-assign")
    page.locator("#assign-mediator_id").select_option(label="王芳")
    page.locator("#assign-role").select_option("lead")
    page.locator("#form-assign").get_by_role("button", name="指派").click()
    expect(page.locator("#mediators")).to_contain_text("该调解员已被当事人拒绝或已回避，不得再办理本案")
    expect(page.locator("#mediators-lead")).to_contain_text("尚未指派主办调解员")
    web.shot(page, "6-barred")
