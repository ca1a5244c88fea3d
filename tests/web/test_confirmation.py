"""Judicial confirmation in the browser: the mediator records a written agreement and the parties'
joint application, the clerk sees the application on the court desk and does not accept it (不予受理),
and the case is back in 达成协议 with the parties' choices shown (人民调解法 art. 33 ¶3)."""

from __future__ import annotations

import re
from datetime import datetime

from playwright.sync_api import expect

from service.clock import SHANGHAI
from tests.web.conftest import Web


def test_the_parties_apply_the_clerk_refuses_and_the_parties_choose_again(web: Web) -> None:
    station = web.api("dashi.mediator")
    case = station.fire(station.open_case(summary="楼上漏水致楼下墙面霉变，已达成书面协议"), "accept")
    today = datetime.now(SHANGHAI).date().isoformat()

    page = web.page("dashi.mediator")
    page.goto(f"/cases/{case['id']}")
    page.get_by_role("link", name="达成协议", exact=True).click()
    page.get_by_label("协议形式").select_option("written")
    page.get_by_label("协议内容").fill("被申请人于十五日内支付申请人维修费 2000 元")
    page.get_by_label("履行方式").fill("一次性转账")
    page.get_by_label("履行期限").fill("2030-12-31")
    page.get_by_label("纠纷的主要事实、争议事项").fill("楼上卫生间漏水致楼下墙面霉变，双方就维修费用争执")
    page.get_by_label("各方当事人已签名、盖章或按指印").check()
    page.get_by_label("调解员已签名").check()
    page.get_by_label("已加盖调解委员会（调解组织）印章").check()
    expect(page.get_by_label("婚姻关系")).not_to_be_checked()  # a neighbour dispute: nothing pre-ticked
    web.shot(page, "1-agreement-form")
    page.get_by_role("button", name="确认办理").click()
    expect(page).to_have_url(re.compile(r"\?done=settle$"))
    expect(page.locator("dd.confirmation")).to_contain_text("可申请司法确认")

    page.get_by_role("link", name="申请司法确认", exact=True).click()
    page.get_by_label("申请人（每行一方：姓名，或 姓名｜代理人｜授权委托书）").fill(
        "王秀英\n李建国｜张明律师｜授权委托书(2026)第12号"
    )
    expect(page.get_by_label("受理法院")).to_have_value("COURT-320583")  # the desk's own court
    page.get_by_label("申请日期").fill(today)
    page.get_by_label("申请材料（每行一项）").fill("人民调解协议书\n双方身份证明\n授权委托书")
    web.shot(page, "2-application-form")
    page.get_by_role("button", name="确认办理").click()
    expect(page).to_have_url(re.compile(r"\?done=request_confirmation$"))
    expect(page.locator("h1 .state")).to_have_text("司法确认中")

    clerk = web.page("court.clerk")
    clerk.goto("/court")
    applications = clerk.locator("#applications")
    expect(applications).to_contain_text(case["number"])
    web.shot(clerk, "3-court-desk")
    applications.get_by_role("link").filter(has_text=case["number"]).click()
    clerk.get_by_role("link", name="不予受理确认申请", exact=True).click()
    clerk.get_by_label("说明").fill("申请人未提交调解组织主持调解的证明")
    clerk.get_by_role("button", name="确认办理").click()
    expect(clerk).to_have_url(re.compile(r"\?done=refuse_confirmation$"))
    expect(clerk.locator("h1 .state")).to_have_text("达成协议")

    page.goto(f"/cases/{case['id']}")
    expect(page.locator("h1 .state")).to_have_text("达成协议")
    expect(page.locator(".confirmation-results")).to_contain_text("法院不予受理")
    expect(page.locator("#choices-after-refusal")).to_contain_text("人民调解法第三十三条第三款")
    expect(page.get_by_role("link", name="变更调解协议", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="结案", exact=True)).to_be_visible()
    web.shot(page, "4-back-to-the-parties")
