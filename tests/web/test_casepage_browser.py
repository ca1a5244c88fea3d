"""The case page on a 360-pixel phone, for the page items of issues 19 and 20: a village mediator
makes a recorded session's 调解记录 from the session's own card (one tap, PDF, then downloaded,
its text read and its first page looked at), photographs a signed page straight onto the case
with the phone's camera input; then reports the case as a major dispute from its page, and the
town's coordinator acknowledges it there with one tap."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from playwright.sync_api import expect
from pypdf import PdfReader

from tests.web.conftest import Web, fits_phone
from tests.web.test_documents_browser import PARTIES, look_at, photo, render_first_pages


def record_session(web: Web, case: dict[str, object], place: str) -> dict[str, object]:
    """A session of the accepted case, as the API records it, with the case's lead present."""
    base, headers = web.server.base, web.server.token("dashi.mediator")
    mediators = httpx.get(f"{base}/api/v1/cases/{case['id']}/mediators", headers=headers, timeout=10).json()
    applicant, respondent = (p["id"] for p in case["parties"])  # type: ignore[attr-defined]
    started = datetime.now(UTC) - timedelta(hours=3)
    body = {
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(minutes=90)).isoformat(),
        "place": place,
        "party_ids": [applicant, respondent],
        "mediator_ids": [mediators["lead"]["mediator_id"]],
        "statements": [
            {"party_id": applicant, "text": "楼上漏水三个月，要求赔偿维修费三千元。"},
            {"party_id": respondent, "text": "同意维修，但认为三千元过高。"},
        ],
        "proposal": "李堃负责维修防水层，并补偿王秀英一千五百元。",
        "result": "none",
    }
    response = httpx.post(
        f"{base}/api/v1/cases/{case['id']}/sessions", json=body, headers=headers, timeout=10
    )
    assert response.status_code == 201, response.text
    made: dict[str, object] = response.json()
    return made


def test_a_sessions_record_and_a_camera_photo_from_the_case_page_on_a_phone(web: Web, tmp_path: Path) -> None:
    api = web.api("dashi.mediator")
    case = api.fire(api.open_case(parties=PARTIES, summary="楼上卫生间漏水"), "accept")
    first = record_session(web, case, "大市社区调解室")
    second = record_session(web, case, "张浦镇矛调中心")
    page = web.page("dashi.mediator", phone=True)

    page.goto(f"/cases/{case['id']}#sessions")
    card = page.locator(f"#session-{second['id']}")
    expect(card.get_by_role("button", name="生成调解记录 PDF")).to_be_visible()
    expect(card.get_by_role("button", name="生成调解记录 Word")).to_be_visible()
    expect(
        page.locator(f"#session-{first['id']}").get_by_role("button", name="生成调解记录 PDF")
    ).to_be_visible()
    fits_phone(page)

    # About a second of CPU (the font cut to the document's characters); more on a busy machine.
    card.get_by_role("button", name="生成调解记录 PDF").click(timeout=90_000)
    expect(page).to_have_url(
        re.compile(rf"document=generated&session={second['id']}#session-{second['id']}$")
    )
    card = page.locator(f"#session-{second['id']}")
    expect(card.locator("#session-document-outcome")).to_contain_text("文书已生成", timeout=90_000)
    versions = card.locator(".session-record-versions li")
    expect(versions).to_have_count(1)
    expect(versions.first).to_contain_text("第 1 版 · PDF")
    expect(page.locator(f"#session-{first['id']} .session-record-versions")).to_have_count(0)
    fits_phone(page)
    web.shot(page, "session-record")
    with page.expect_download() as downloading:
        versions.first.get_by_role("link", name="人民调解调解记录").click()
    data = Path(downloading.value.path()).read_bytes()
    assert data.startswith(b"%PDF-")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages)
    compact = re.sub(r"\s+", "", text)
    assert "调解记录" in compact and "张浦镇矛调中心" in compact and "第2次" in compact, compact[:400]
    assert "同意维修，但认为三千元过高" in compact
    pictures = render_first_pages(data, "session_record", tmp_path)

    # The signed page photographed with the phone's camera input, straight onto the case.
    page.goto(f"/cases/{case['id']}#attachments")
    camera = page.locator("#attach-photo")
    expect(camera).to_have_attribute("capture", "environment")
    expect(camera).to_have_attribute("accept", "image/jpeg,image/png")
    expect(page.locator("#attach-file")).to_have_attribute("accept", "application/pdf,image/jpeg,image/png")
    expect(page.get_by_label("拍照（打开手机相机）")).to_be_visible()
    fits_phone(page)
    camera.set_input_files(files=[{"name": "IMG_3001.jpg", "mimeType": "image/jpeg", "buffer": photo()}])
    page.get_by_label("类别").select_option("signed_agreement")
    page.get_by_role("button", name="上传").click()
    expect(page.locator("#attachment-outcome")).to_contain_text("附件已上传")
    expect(page.locator("#attachment-list li").first).to_contain_text("IMG_3001.jpg")
    fits_phone(page)

    look_at(page, pictures)


def test_a_major_dispute_is_reported_and_acknowledged_from_the_case_page_on_phones(web: Web) -> None:
    case = web.api("dashi.mediator").open_case(summary="十余户村民因排水沟堵塞与养殖户发生争执")
    station = web.page("dashi.mediator", phone=True)

    station.goto(f"/cases/{case['id']}#major-reports")
    section = station.locator("#major-reports")
    expect(section.get_by_role("heading", name="重大纠纷即时报告")).to_be_visible()
    section.locator("#major-file summary").click()
    section.get_by_label("群体性纠纷").check()
    section.get_by_label("群体性械斗风险").check()
    section.get_by_label("报告内容").fill("双方各有十余人聚集，有人携带农具，已劝离。")
    fits_phone(station)
    section.get_by_role("button", name="立即报告镇和市矛调中心").click()
    expect(station.locator("#major-outcome")).to_contain_text("已报告镇和市矛调中心")
    report = station.locator("#major-list li").first
    expect(report).to_contain_text("群体性纠纷")
    expect(report).to_contain_text("群体性械斗风险")
    expect(report).to_contain_text("报：张浦镇")
    expect(report).to_contain_text("待确认")
    expect(report.get_by_role("button", name="确认收到")).to_have_count(0)
    expect(station.locator(".timeline")).to_contain_text("重大纠纷即时报告")
    fits_phone(station)
    web.shot(station, "major-reported")

    town = web.page("zhangpu.coordinator", phone=True)
    town.goto(f"/cases/{case['id']}#major-reports")
    town.locator("#major-list li").first.get_by_role("button", name="确认收到").click()
    expect(town.locator("#major-outcome")).to_contain_text("已确认收到该报告")
    acknowledged = town.locator("#major-list li").first
    expect(acknowledged).to_contain_text("已确认：zhangpu.coordinator")
    expect(acknowledged.get_by_role("button", name="确认收到")).to_have_count(0)
    fits_phone(town)
    web.shot(town, "major-acknowledged")

    station.reload()
    expect(station.locator("#major-list li").first).to_contain_text("已确认：zhangpu.coordinator")
