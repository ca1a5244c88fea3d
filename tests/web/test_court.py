"""The court desk's clerk: claiming referred cases, delegating one, closing one, confirming an agreement."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Page, expect

from tests.builders import CONFIRMABLE_AGREEMENT, DASHI, application
from tests.web.conftest import Api, Web


def referred(station: Api, summary: str) -> dict[str, Any]:
    case = station.fire(station.open_case(summary=summary), "accept")
    case = station.fire(case, "terminate", termination_reason="gap_too_wide")
    return station.fire(case, "refer_to_court", reason="调解不成，当事人同意诉前移送法院")


def claim_next(page: Page) -> str:
    """Claim from the queue page; the number of the case the queue showed first."""
    page.goto("/court")
    first = page.locator("li.card .number").first.inner_text()
    page.get_by_role("button", name="领取下一件").click()
    expect(page).to_have_url(re.compile(r"/cases/\d+\?done=claim$"))
    expect(page.locator("h1")).to_contain_text(first)
    expect(page.locator("h1 .state")).to_have_text("法院处理中")
    return first


def test_court_clerk_claims_delegates_and_closes_referred_cases(web: Web) -> None:
    station = web.api("dashi.mediator")
    referred(station, "合伙经营散伙，货款结算争议")
    referred(station, "装修合同工期延误，业主要求赔偿")

    page = web.page("court.clerk")
    expect(page).to_have_url(re.compile(r"/court$"))
    expect(page.locator("h1")).to_have_text("法院诉前调解队列")
    expect(page.locator("form.claim")).to_contain_text(re.compile(r"等待中 \d+ 件"))
    web.shot(page, "1-queue")

    claim_next(page)
    web.shot(page, "2-claimed")
    page.get_by_role("link", name="委托调解", exact=True).click()
    page.get_by_label("目标单位").select_option(DASHI)
    page.get_by_label("法院案号").fill("(2026)苏0583民诉前调1234号")
    page.get_by_label("程序").select_option("assignment")
    page.get_by_label("移交材料（每行一项）").fill("起诉状\n证据目录")
    consented = page.locator("#consents select")
    for i in range(consented.count()):  # each party agreed to the delegation (特邀调解规定 art. 11)
        consented.nth(i).select_option("in_person")
    web.shot(page, "3-delegate-form")
    page.get_by_role("button", name="确认办理").click()
    expect(page).to_have_url(re.compile(r"\?done=delegate$"))
    expect(page.locator("h1 .state")).to_have_text("待受理")
    expect(page.locator("p.lead")).to_contain_text("张浦镇 · 大市社区")
    expect(page.locator("dl.facts")).to_contain_text("(2026)苏0583民诉前调1234号")
    expect(page.locator("ol.timeline > li").first).to_contain_text("法院处理中 → 待受理")
    web.shot(page, "4-delegated")

    claim_next(page)
    page.get_by_role("link", name="结案", exact=True).click()
    outcome = page.get_by_label("结案结果")
    # From the court only these outcomes are possible, so only they are offered.
    assert outcome.locator("option:not([value=''])").all_inner_texts() == [
        "撤回",
        "转入诉讼",
        "出具调解书",
        "法院以其他方式结案",
    ]
    outcome.select_option("litigated")
    page.get_by_label("说明").fill("当事人坚持起诉，转立案")
    page.get_by_role("button", name="确认办理").click()
    expect(page).to_have_url(re.compile(r"\?done=close$"))
    expect(page.locator("h1 .state")).to_have_text("已结案")
    expect(page.locator("dl.facts")).to_contain_text("结果")
    expect(page.get_by_text("当前没有您可办理的操作。")).to_be_visible()
    web.shot(page, "5-closed")


def test_court_clerk_accepts_and_decides_an_application_for_judicial_confirmation(web: Web) -> None:
    station = web.api("dashi.mediator")
    case = station.fire(station.open_case(summary="赡养费分担纠纷，已达成书面协议"), "accept")
    agreement = {**CONFIRMABLE_AGREEMENT, "terms": "三子女每月各付赡养费 800 元"}
    case = station.fire(case, "settle", agreement=agreement)
    case = station.fire(case, "request_confirmation", **application(case["agreement"]["effective_on"]))

    page = web.page("court.clerk")
    page.goto(f"/cases/{case['id']}")
    expect(page.locator("h1 .state")).to_have_text("司法确认中")
    before = page.locator("ol.timeline > li").count()
    page.get_by_role("link", name="受理确认申请", exact=True).click()
    page.get_by_role("button", name="确认办理").click()
    expect(page).to_have_url(re.compile(r"\?done=accept_confirmation$"))
    expect(page.locator("ol.timeline > li")).to_have_count(before + 1)
    web.shot(page, "1-accepted")

    page.get_by_role("link", name="确认有效", exact=True).click()
    page.get_by_role("button", name="确认办理").click()
    expect(page).to_have_url(re.compile(r"\?done=confirm$"))
    expect(page.locator("h1 .state")).to_have_text("达成协议")
    expect(page.locator("ol.timeline > li")).to_have_count(before + 2)
    expect(page.locator("ol.timeline > li").first).to_contain_text("确认有效")
    web.shot(page, "2-confirmed")
