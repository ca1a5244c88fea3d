"""A town coordinator at a desk: the inbox, dispatching a registered case, the town's overdue cases."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.builders import DASHI, ZHANGPU
from tests.web.conftest import Web

ESCALATION_REASON = "涉及三户居民与物业，需镇中心统筹协调"
HAND_OFF_REASON = "警情已处置，双方同意调解，移交镇矛调中心"


def test_town_coordinator_reads_escalations_and_hand_offs_and_dispatches_a_registered_case(web: Web) -> None:
    station, police = web.api("dashi.mediator"), web.api("zhangpu.police")
    escalated = station.open_case(summary="楼道堆物引发多户纠纷")
    escalated = station.fire(station.fire(escalated, "accept"), "escalate", reason=ESCALATION_REASON)
    handed = police.open_case(source="police", summary="酒后争执致邻居受轻伤")
    police.fire(
        handed,
        "hand_off",
        target_unit=ZHANGPU,
        referral_kind="police",
        reason=HAND_OFF_REASON,
        referral_payload={"police_report_number": "JQ2026112600042"},
    )
    # Triage finds no rule for "other" disputes: registered at the town hub for a person to send on.
    registered = station.open_case(dispute_type="OTHER", summary="村民对公共停车位划分有异议")
    assert (registered["state"], registered["unit_code"]) == ("registered", ZHANGPU)

    page = web.page("zhangpu.coordinator")
    expect(page).to_have_url(re.compile(r"/inbox$"))
    expect(page.locator("h1")).to_contain_text("收件箱")
    escalation = page.locator("li.card", has_text=escalated["number"]).filter(has_text="上报")
    expect(escalation).to_contain_text(ESCALATION_REASON)
    hand_off = page.locator("li.card", has_text=handed["number"]).filter(has_text="移交")
    expect(hand_off).to_contain_text(HAND_OFF_REASON)
    expect(hand_off).to_contain_text("张浦派出所")
    web.shot(page, "1-inbox")

    escalation.get_by_role("button", name="标为已读").click()
    expect(page.locator("li.card", has_text=escalated["number"]).filter(has_text="上报")).to_contain_text(
        "已读 · zhangpu.coordinator"
    )

    # Dispatch the registered case: the form offers the town's stations in a list.
    page.locator("li.card", has_text=registered["number"]).get_by_role("link").click()
    expect(page.locator("h1")).to_contain_text(registered["number"])
    expect(page.locator("h1 .state")).to_have_text("已登记")
    page.get_by_role("link", name="分派", exact=True).click()
    target = page.get_by_label("目标单位")
    expect(target.locator("option", has_text="张浦镇 · 大市社区")).to_have_count(1)
    expect(target.locator("option", has_text="玉山镇")).to_have_count(0)  # another town's stations
    target.select_option(DASHI)
    web.shot(page, "2-dispatch-form")
    page.get_by_role("button", name="确认办理").click()

    expect(page).to_have_url(re.compile(rf"/cases/{registered['id']}\?done=dispatch$"))
    expect(page.locator("h1 .state")).to_have_text("待受理")
    expect(page.locator("p.lead")).to_contain_text("张浦镇 · 大市社区")
    expect(page.locator("ol.timeline > li")).to_have_count(2)
    expect(page.locator("ol.timeline > li").first).to_contain_text("张浦镇 → 大市社区")
    web.shot(page, "3-dispatched")

    # The town's overdue cases, from the menu.
    page.get_by_role("link", name="逾期", exact=True).click()
    expect(page).to_have_url(re.compile(r"/cases\?overdue=1$"))
    expect(page.locator("h1")).to_have_text("逾期案件")
    expect(page.get_by_label("只看逾期")).to_be_checked()
    expect(page.locator("nav [aria-current=page]")).to_have_text("逾期")  # not 案件 as well
    badges = page.locator("li.card .due")
    assert all(text == "已逾期" for text in badges.all_inner_texts()), badges.all_inner_texts()
    web.shot(page, "4-overdue")
