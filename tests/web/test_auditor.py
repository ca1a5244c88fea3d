"""The auditor at a desk: an alert in the inbox, the security log filtered to one person; and a
second administrator approving a role grant."""

from __future__ import annotations

import re
from uuid import uuid4

import httpx
from playwright.sync_api import expect

from tests.builders import CITY
from tests.web.conftest import Web

REASON = "电话通知当事人参加调解"


def test_an_approved_grant_alerts_the_auditor_who_reads_the_log_of_the_people_involved(web: Web) -> None:
    base = web.server.base
    station = web.api("dashi.mediator")
    case = station.open_case(summary="楼上漏水致楼下墙面霉变")
    revealed = httpx.post(
        f"{base}/api/v1/cases/{case['id']}/parties/{case['parties'][0]['id']}/reveal",
        json={"reason": REASON, "fields": ["phone"]},
        headers=station.headers,
        timeout=10,
    )
    assert revealed.status_code == 200, revealed.text
    newcomer = f"city.coordinator.{uuid4().hex[:6]}"
    requested = httpx.post(
        f"{base}/api/v1/admin/users",
        json={"username": newcomer, "password": "Grant-Pass 2026 授权", "role": "coordinator", "unit": CITY},
        headers=web.server.token("admin2"),
        timeout=10,
    )
    assert requested.status_code == 202, requested.text

    # The other administrator approves it on the role-grant page.
    admin = web.page("admin")
    admin.get_by_role("link", name="角色授权", exact=True).click()
    expect(admin.locator("h1")).to_have_text("角色授权")
    grant = admin.locator("li.card", has_text=newcomer)
    expect(grant).to_contain_text("协调员")
    expect(grant).to_contain_text("admin2 申请于")
    web.shot(admin, "1-pending-grant")
    grant.get_by_role("button", name="批准").click()
    expect(admin).to_have_url(re.compile(r"/admin/role-grants\?done=approved$"))
    expect(admin.locator("p.notice")).to_have_text("已批准，角色已生效。")
    expect(admin.locator("table.log")).to_contain_text(newcomer)

    # The auditor finds the alert in the inbox, and from it the log.
    auditor = web.page("auditor")
    auditor.get_by_role("link", name="收件箱", exact=True).click()
    alert = auditor.locator("li.card", has_text="授予高权限角色").filter(has_text=newcomer)
    expect(alert).to_contain_text("admin2 申请、admin 批准")
    web.shot(auditor, "2-alert")
    alert.get_by_role("button", name="标为已读").click()
    expect(auditor.locator("li.card", has_text=newcomer).first).to_contain_text("已读 · auditor")

    auditor.get_by_role("link", name="安全日志", exact=True).click()
    expect(auditor.locator("h1")).to_have_text("安全日志")
    auditor.get_by_label("操作人").fill("dashi.mediator")
    auditor.get_by_label("类型").select_option("reveal")
    auditor.get_by_role("button", name="筛选").click()
    expect(auditor).to_have_url(re.compile(r"/audit\?actor=dashi.mediator&.*kind=reveal"))
    rows = auditor.locator("table.log tbody tr")
    expect(rows.first).to_contain_text(REASON)
    expect(rows.first).to_contain_text("查看个人信息")
    expect(auditor.get_by_role("link", name="导出 CSV")).to_be_visible()
    web.shot(auditor, "3-log")
