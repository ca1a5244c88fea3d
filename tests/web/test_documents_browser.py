"""The documents section and the 卷宗 in the browser: a mediator generates the application, the
written agreement and the termination notice from the case page, sees each listed, downloads it;
the closed case's 卷宗 is downloaded from its 卷宗 section. The first page of every PDF (and the
卷宗's cover and index) is rendered to PNG for a person to look at: the paths are printed, the
pictures kept under the test's tmp dir and test-artifacts/documents/, and each is shown in the
browser. The documents section is also opened on a 360-pixel phone."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from pathlib import Path
from typing import Any

import httpx
import pypdfium2
from PIL import Image
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from tests.web.conftest import Web, fits_phone

PREVIEWS = Path(__file__).resolve().parents[2] / "test-artifacts" / "documents"
PARTIES = [
    {"name": "王秀英", "role": "applicant", "phone": "13800001234", "id_number": "320583198001011234"},
    {"name": "李堃", "role": "respondent", "address": "昆山市张浦镇大市社区8号"},
]
AGREEMENT = {
    "form": "written",
    "terms": "李堃于2026年3月31日前向王秀英支付维修费人民币3000元。",
    "facts": "楼上卫生间漏水致楼下墙面霉变",
    "performance_manner": "一次性银行转账",
    "performance_deadline": "2026-03-31",
    "effective_on": "2026-03-02",
}


def render_first_pages(data: bytes, name: str, tmp_path: Path, pages: int = 1) -> list[Path]:
    """The first ``pages`` pages as PNG, under the test's tmp dir and test-artifacts/documents/."""
    PREVIEWS.mkdir(parents=True, exist_ok=True)
    document = pypdfium2.PdfDocument(data)
    saved = []
    for n in range(pages):
        picture = document[n].render(scale=1.5).to_pil()
        path = tmp_path / f"{name}-page{n + 1}.png"
        picture.save(path)
        picture.save(PREVIEWS / path.name)
        print(f"first page of {name}: {path}")
        saved.append(path)
    return saved


def look_at(page: Page, pictures: list[Path]) -> None:
    """Each picture shown in the browser, at A4's proportions, not blank."""
    images = "".join(
        f'<img alt="{p.name}" width="300" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">'
        for p in pictures
    )
    # The case page's Content-Security-Policy stays in force (img-src allows data:; no inline style).
    page.set_content(f"<!doctype html><title>previews</title><body>{images}</body>")
    for picture in pictures:
        shown = page.get_by_alt_text(picture.name)
        expect(shown).to_be_visible()
        width, height = shown.evaluate("i => [i.naturalWidth, i.naturalHeight]")
        assert abs(height / width - 297 / 210) < 0.02, picture.name  # A4
        colours = Image.open(picture).convert("L").getextrema()
        assert colours[0] < 100 < colours[1], f"{picture.name} is blank"  # ink on paper


def generate_on_page(page: Page, kind: str) -> None:
    card = page.locator(f'#document-kinds [data-document-kind="{kind}"]')
    # About a second of CPU per document (the font cut to its characters); more on a busy machine.
    card.get_by_role("button", name="生成 PDF").click(timeout=90_000)
    expect(page.locator("#document-outcome")).to_contain_text("文书已生成", timeout=90_000)


def download_latest(page: Page, label: str) -> bytes:
    link = page.locator("#document-list li").first.get_by_role("link", name=label)
    with page.expect_download() as downloading:
        link.click()
    download = downloading.value
    assert download.suggested_filename.endswith(".pdf"), download.suggested_filename
    data = Path(download.path()).read_bytes()
    assert data.startswith(b"%PDF-")
    return data


def photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (900, 1200), (250, 248, 240)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def api_post(web: Web, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(
        f"{web.server.base}{path}", headers=web.server.token("dashi.mediator"), timeout=30, **kwargs
    )


def test_a_mediator_generates_lists_and_downloads_each_document_and_the_closed_cases_dossier(
    web: Web, tmp_path: Path
) -> None:
    api = web.api("dashi.mediator")
    case = api.fire(api.open_case(parties=PARTIES, summary="楼上漏水"), "accept")
    case = api.fire(case, "settle", agreement=AGREEMENT)
    ended = api.fire(
        api.fire(api.open_case(parties=PARTIES), "accept"), "terminate", termination_reason="gap_too_wide"
    )
    page = web.page("dashi.mediator")
    pictures: list[Path] = []

    page.goto(f"/cases/{case['id']}#documents")
    expect(page.locator("#document-none")).to_be_visible()
    generate_on_page(page, "application")
    expect(page.locator("#document-list li")).to_have_count(1)
    expect(page.locator("#document-list li").first).to_contain_text("人民调解申请书")
    application = download_latest(page, "人民调解申请书")
    assert "王秀英" in PdfReader(io.BytesIO(application)).pages[0].extract_text()
    pictures += render_first_pages(application, "application", tmp_path)

    generate_on_page(page, "written_agreement")
    expect(page.locator("#document-list li")).to_have_count(2)
    agreement = download_latest(page, "人民调解协议书")
    assert "支付维修费人民币3000元" in PdfReader(io.BytesIO(agreement)).pages[0].extract_text()
    pictures += render_first_pages(agreement, "written_agreement", tmp_path)
    expect(page.locator(".timeline")).to_contain_text("生成文书")
    web.shot(page, "documents")

    page.goto(f"/cases/{ended['id']}#documents")
    generate_on_page(page, "termination_notice")
    notice = download_latest(page, "终止调解通知书")
    assert "终止调解通知书" in PdfReader(io.BytesIO(notice)).pages[0].extract_text()
    pictures += render_first_pages(notice, "termination_notice", tmp_path)

    # The signed agreement photographed, the agreement performed: closed, numbered on the page.
    scan = api_post(
        web,
        f"/api/v1/cases/{case['id']}/attachments",
        files={"file": ("签字协议书.jpg", photo(), "image/jpeg")},
        data={"kind": "signed_agreement"},
    )
    assert scan.status_code == 201, scan.text
    closed = api.fire(api.case(case["id"]), "record_performance", performance="performed")
    assert closed["state"] == "closed"
    page.goto(f"/cases/{case['id']}#case-file")
    page.locator("#form-file-number").get_by_role("button", name="编卷宗号").click()
    number = page.locator("#case-file-number")
    expect(number).to_have_text(re.compile(r"\(\d{4}\)昆\S*调卷字第 \d{4} 号"))
    with page.expect_download(timeout=120_000) as downloading:
        page.locator("#dossier-download").click()
    dossier = Path(downloading.value.path()).read_bytes()
    reader = PdfReader(io.BytesIO(dossier))
    # cover + index + application + agreement (latest PDF each) + the photo on a page
    assert len(reader.pages) == 5
    assert number.inner_text() in reader.pages[0].extract_text()
    assert "卷内目录" in reader.pages[1].extract_text()
    pictures += render_first_pages(dossier, "dossier", tmp_path, pages=2)
    web.shot(page, "case-file")

    look_at(page, pictures)
    web.shot(page, "previews")
    assert {p.name for p in pictures} == {
        "application-page1.png",
        "written_agreement-page1.png",
        "termination_notice-page1.png",
        "dossier-page1.png",
        "dossier-page2.png",
    }
    assert hashlib.sha256(dossier).hexdigest() != hashlib.sha256(agreement).hexdigest()


def test_the_documents_section_fits_a_phone_and_downloads_there(web: Web) -> None:
    api = web.api("dashi.mediator")
    case = api.fire(api.open_case(parties=PARTIES, summary="手机上生成文书"), "accept")
    page = web.page("dashi.mediator", phone=True)

    page.goto(f"/cases/{case['id']}#documents")
    section = page.locator("#documents")
    expect(section).to_be_visible()
    fits_phone(page)
    generate_on_page(page, "application")
    expect(section.locator("#document-list li")).to_have_count(1)
    section.scroll_into_view_if_needed()
    fits_phone(page)
    box = section.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360
    assert download_latest(page, "人民调解申请书").startswith(b"%PDF-")
    web.shot(page, "phone")
