"""A village mediator's inbox on a phone: the unread badge, what the town sent in words and local
time, marking one item read and unread again, then everything read; nothing they did themselves."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.web.conftest import Web, fits_phone

ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}|\+00:00")


def test_mediator_reads_the_inbox_with_an_unread_badge_and_marks_items_read(web: Web) -> None:
    town, station = web.api("zhangpu.coordinator"), web.api("dashi.mediator")
    sent = town.open_case(summary="收件箱测试：楼上漏水")
    own = station.open_case(summary="收件箱测试：自己登记的案件")

    page = web.page("dashi.mediator", phone=True)
    page.goto("/inbox")
    badge = page.get_by_test_id("unread-badge")
    expect(badge).to_have_text(re.compile(r"^\d+\+?$"))
    before = badge.inner_text()
    card = page.locator("li.card", has_text=sent["number"])
    expect(card).to_have_count(1)
    expect(card).to_have_class(re.compile(r"\bunread\b"))
    expect(card.locator("p.text")).to_contain_text("新案件：")
    expect(card.locator("p.text")).to_contain_text("，邻里，状态：待受理")
    expect(card.locator("time")).to_have_text(re.compile(r"^\d{1,2}月\d{1,2}日 \d{2}:\d{2}$"))
    # The case the mediator registered is not news to them.
    expect(page.locator("li.card", has_text=own["number"])).to_have_count(0)
    assert not ISO.search(page.locator("main").inner_text())
    fits_phone(page)
    web.shot(page, "1-unread")

    card.get_by_role("button", name="标为已读").click()
    card = page.locator("li.card", has_text=sent["number"])
    expect(card).to_contain_text("已读 · dashi.mediator")
    expect(card).not_to_have_class(re.compile(r"\bunread\b"))
    if not before.endswith("+"):
        if before == "1":
            expect(badge).to_have_count(0)
        else:
            expect(badge).to_have_text(str(int(before) - 1))
    web.shot(page, "2-read")

    card.get_by_role("button", name="标为未读").click()
    expect(page.locator("li.card", has_text=sent["number"])).to_have_class(re.compile(r"\bunread\b"))
    expect(badge).to_have_text(before)

    page.get_by_role("button", name="全部标为已读").click()
    expect(page.get_by_test_id("unread-badge")).to_have_count(0)
    expect(page.get_by_test_id("unread-count")).to_have_text("未读 0")
    expect(page.locator("li.card", has_text=sent["number"])).to_contain_text("已读 · dashi.mediator")
    web.shot(page, "3-all-read")

    # Only unread: nothing left.
    page.get_by_label("只看未读").check()
    page.get_by_role("button", name="筛选").click()
    expect(page.locator("p.empty")).to_be_visible()
