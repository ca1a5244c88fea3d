"""On a phone, a village mediator records a mediation session of an accepted case: the day and
times, the place, both parties and the case's mediator ticked as present, what each side said,
the proposal and the result; the case page lists it in Beijing time. Then they correct it while
a colleague has corrected it first: the form says so, saves nothing, and keeps what was typed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import expect

from service.clock import SHANGHAI
from tests.web.conftest import Web, fits_phone


def test_a_mediator_records_a_session_on_the_phone_and_a_stale_correction_is_told(web: Web) -> None:
    api = web.api("dashi.mediator")
    case = api.fire(api.open_case(summary="楼上空调外机滴水致楼下窗台损坏纠纷"), "accept")
    applicant, respondent = case["parties"]
    yesterday = (datetime.now(UTC) - timedelta(days=1)).astimezone(SHANGHAI).date()
    page = web.page("dashi.mediator", phone=True)

    page.goto(f"/cases/{case['id']}")
    sessions = page.locator("#sessions")
    expect(sessions.get_by_role("heading", name="调解记录")).to_be_visible()
    expect(sessions).to_contain_text("尚无调解记录")
    sessions.get_by_role("link", name="添加调解记录").click()
    expect(page).to_have_url(re.compile(rf"/cases/{case['id']}/sessions/new$"))
    fits_phone(page)
    unlabelled = page.locator(
        "main form input:not([type=hidden]), main form select, main form textarea"
    ).evaluate_all(
        "els => els.filter(el => ![...el.labels].some(l => l.textContent.trim())).map(el => el.name)"
    )
    assert unlabelled == [], f"form controls without a label: {unlabelled}"

    page.get_by_label("调解日期").fill(yesterday.isoformat())
    page.get_by_label("开始时间").fill("09:30")
    page.get_by_label("结束时间").fill("11:00")
    page.get_by_label("调解地点").fill("大市社区调解室")
    parties = page.locator("#f-parties")
    parties.get_by_label(applicant["name"], exact=True).check()
    parties.get_by_label(respondent["name"], exact=True).check()
    mediators = page.locator("#f-mediators input[type=checkbox]")
    expect(mediators).to_have_count(1)  # the case's lead, who accepted it
    mediators.first.check()
    page.get_by_label(f"{applicant['name']}陈述").fill("空调滴水半年，窗台木料腐烂，要求赔偿八百元。")
    page.get_by_label(f"{respondent['name']}陈述").fill("愿意加装接水管，赔偿金额可以商量。")
    page.get_by_label("调解方案").fill("加装接水管，并赔偿五百元。")
    page.get_by_label("调解结果").select_option(label="部分达成协议")
    web.shot(page, "1-form-filled")
    page.get_by_role("button", name="保存调解记录").click()

    expect(page).to_have_url(re.compile(rf"/cases/{case['id']}\?done=session#session-\d+$"))
    expect(page.locator("p.notice").first).to_contain_text("调解记录已保存")
    card = page.locator("#sessions li").first
    expect(card).to_contain_text("第1次调解")
    expect(card).to_contain_text(f"{yesterday.year}年{yesterday.month}月{yesterday.day}日 09:30–11:00")
    expect(card).to_contain_text("部分达成协议")
    expect(card).to_contain_text(applicant["name"])
    fits_phone(page)
    web.shot(page, "2-on-the-case-page")

    card.get_by_role("link", name="第1次调解").click()
    expect(page.locator("#session-record")).to_contain_text("愿意加装接水管")
    page.get_by_role("link", name="更正此记录").click()
    expect(page.get_by_label("调解地点")).to_have_value("大市社区调解室")
    session_id = int(page.url.rstrip("/").split("/")[-2])

    # A colleague corrects the record first, from another phone.
    current = httpx.get(
        f"{api.base}/api/v1/cases/{case['id']}/sessions/{session_id}", headers=api.headers, timeout=10
    ).json()
    keep = {k: current[k] for k in ("started_at", "ended_at", "place", "proposal", "result")}
    colleague = httpx.put(
        f"{api.base}/api/v1/cases/{case['id']}/sessions/{session_id}",
        json={
            **keep,
            "party_ids": [p["id"] for p in current["parties"]],
            "mediator_ids": [m["id"] for m in current["mediators"]],
            "statements": [{"party_id": s["party_id"], "text": s["text"]} for s in current["statements"]],
            "notes": "同事补记：双方约定下周复谈",
        },
        headers={**api.headers, "If-Match": '"1"'},
        timeout=10,
    )
    assert colleague.status_code == 200, colleague.text

    page.get_by_label("备注").fill("我的补记：申请人情绪激动")
    page.get_by_label("更正原因").fill("补记现场情况")
    web.expect_status(412)
    page.get_by_role("button", name="保存更正").click()
    expect(page.locator("#session-stale")).to_contain_text("已被他人更正（现为第2版）")
    expect(page.get_by_label("备注")).to_have_value("我的补记：申请人情绪激动")
    fits_phone(page)
    web.shot(page, "3-stale-correction-told")

    page.locator("#session-stale").get_by_role("link", name="重新打开记录").click()
    expect(page.locator("#session-record")).to_contain_text("同事补记：双方约定下周复谈")
    expect(page.locator("#session-record")).not_to_contain_text("我的补记")
