"""Statutory documents generated from the case as it stands: 人民调解申请书, 人民调解协议书 and
终止调解通知书, as A4 PDF (the CJK font embedded) and Word; each generation a numbered version
whose hash is in the case's audit chain; readable only in the case's scope."""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pypdfium2
import pytest
from pypdf import PdfReader

from service.config.settings import Settings
from service.documents.render import DocumentKind, TemplateError, load_templates
from service.main import create_app
from service.web.session import LANGUAGE_COOKIE, SESSION_COOKIE, csrf_token
from tests.builders import move, open_case
from tests.conftest import CONFIG_DIR, TEST_AUDIT_KEY, TEST_DATA_KEY, Backend, token_for

pytestmark = pytest.mark.usefixtures("trail_stays_intact", "frozen_clock")

PREVIEWS = Path(__file__).resolve().parents[2] / "test-artifacts" / "documents"
# A rare name character (堃) and ordinary ones: all must be printed, none dropped.
PARTIES = [
    {"name": "王秀英", "role": "applicant", "phone": "13800001234", "id_number": "320583198001011234"},
    {"name": "李堃", "role": "respondent", "address": "昆山市张浦镇大市社区8号"},
]


async def generate(
    client: httpx.AsyncClient, headers: dict[str, str], case: dict[str, Any], kind: str, fmt: str
) -> httpx.Response:
    return await client.post(
        f"/api/v1/cases/{case['id']}/documents", json={"kind": kind, "format": fmt}, headers=headers
    )


def pdf_text(data: bytes) -> tuple[str, int]:
    reader = PdfReader(io.BytesIO(data))
    return "".join(page.extract_text() for page in reader.pages), len(reader.pages)


def docx_text(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        xml = archive.read("word/document.xml").decode("utf-8")
    return "".join(re.findall(r"<w:t(?: [^>]*)?>([^<]*)</w:t>", xml))


def save_preview(name: str, data: bytes) -> None:
    """The first page as a PNG, for a person to look at (test-artifacts/documents/)."""
    PREVIEWS.mkdir(parents=True, exist_ok=True)
    page = pypdfium2.PdfDocument(data)[0]
    page.render(scale=1.5).to_pil().save(PREVIEWS / f"{name}.png")


async def fetch(client: httpx.AsyncClient, headers: dict[str, str], kept: dict[str, Any]) -> bytes:
    got = await client.get(kept["content_url"], headers=headers)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith(kept["media_type"])
    assert hashlib.sha256(got.content).hexdigest() == kept["sha256"]
    return got.content


def assert_a4_with_embedded_font(data: bytes) -> None:
    reader = PdfReader(io.BytesIO(data))
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)  # A4 in points
    fonts = reader.pages[0]["/Resources"]["/Font"]
    for ref in fonts.values():
        descendant = ref.get_object()["/DescendantFonts"][0].get_object()
        assert "/FontFile2" in descendant["/FontDescriptor"].get_object()  # embedded, not referenced
        assert "NotoSansSC" in str(descendant["/BaseFont"])


async def test_the_application_as_pdf_and_word_carries_the_parties_number_and_chinese_date(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator, parties=PARTIES)

    made = await generate(client, mediator, case, "application", "pdf")

    assert made.status_code == 201, made.text
    kept = made.json()
    assert (kept["kind"], kept["kind_label"], kept["format"], kept["version"]) == (
        "application",
        "人民调解申请书",
        "pdf",
        1,
    )
    assert re.fullmatch(r"\(2026\)昆\S*调申字第 0001 号", kept["number"]), kept["number"]
    data = await fetch(client, mediator, kept)
    text, pages = pdf_text(data)
    assert pages == 1
    for expected in (
        "人民调解申请书",
        kept["number"],
        "王秀英",
        "李堃",
        "320583198001011234",
        "2026年3月2日",
    ):
        assert expected in text, expected
    assert "楼上卫生间漏水" in text
    assert_a4_with_embedded_font(data)
    save_preview("application", data)

    word = await generate(client, mediator, case, "application", "docx")
    assert word.status_code == 201, word.text
    again = word.json()
    # Regenerating is a new version; the document keeps its number; the first version stays.
    assert (again["version"], again["number"], again["format"]) == (2, kept["number"], "docx")
    words = docx_text(await fetch(client, mediator, again))
    for expected in ("人民调解申请书", kept["number"], "王秀英", "李堃", "2026年3月2日"):
        assert expected in words, expected
    listed = (await client.get(f"/api/v1/cases/{case['id']}/documents", headers=mediator)).json()
    assert [(d["version"], d["format"]) for d in listed] == [(1, "pdf"), (2, "docx")]
    assert await fetch(client, mediator, listed[0]) == data
    events = (await client.get(f"/api/v1/cases/{case['id']}/events", headers=mediator)).json()
    documents = [e["payload"] for e in events if e["kind"] == "document"]
    assert [(p["version"], p["sha256"], p["number"]) for p in documents] == [
        (1, kept["sha256"], kept["number"]),
        (2, again["sha256"], kept["number"]),
    ]
    assert all(e["actor"] == "dashi.mediator" for e in events if e["kind"] == "document")


async def test_the_written_agreement_states_the_article_29_contents_with_signature_lines(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await move(client, mediator, await open_case(client, mediator, parties=PARTIES), "accept")
    before = await generate(client, mediator, case, "written_agreement", "pdf")
    assert before.status_code == 422 and "kind" in before.text  # no agreement yet
    agreement = {
        "form": "written",
        "terms": "李堃于2026年3月31日前向王秀英支付维修费人民币3000元。",
        "facts": "楼上卫生间漏水致楼下墙面霉变",
        "performance_manner": "一次性银行转账",
        "performance_deadline": "2026-03-31",
        "effective_on": "2026-03-02",
    }
    case = await move(client, mediator, case, "settle", agreement=agreement)

    made = await generate(client, mediator, case, "written_agreement", "pdf")

    assert made.status_code == 201, made.text
    kept = made.json()
    assert re.fullmatch(r"\(2026\)昆\S*调字第 0001 号", kept["number"]), kept["number"]
    data = await fetch(client, mediator, kept)
    text, pages = pdf_text(data)
    assert pages == 1
    for expected in (
        "人民调解协议书",
        kept["number"],
        "申请人：王秀英",
        "被申请人：李堃",
        "纠纷的主要事实、争议事项：楼上卫生间漏水致楼下墙面霉变",
        "支付维修费人民币3000元",
        "履行方式：一次性银行转账",
        "履行期限：2026年3月31日",
        "人民调解员（签名）",
        "（签名、盖章或者按指印）",
        "2026年3月2日",
    ):
        assert expected in text, expected
    assert_a4_with_embedded_font(data)
    save_preview("written_agreement", data)
    word = await generate(client, mediator, case, "written_agreement", "docx")
    assert word.status_code == 201, word.text
    words = docx_text(await fetch(client, mediator, word.json()))
    assert "履行期限：2026年3月31日" in words and "支付维修费人民币3000元" in words


async def test_the_termination_notice_names_the_reason_and_the_parties(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await move(client, mediator, await open_case(client, mediator, parties=PARTIES), "accept")
    case = await move(client, mediator, case, "terminate", termination_reason="gap_too_wide")

    made = await generate(client, mediator, case, "termination_notice", "pdf")

    assert made.status_code == 201, made.text
    kept = made.json()
    assert re.fullmatch(r"\(2026\)昆\S*调终字第 0001 号", kept["number"]), kept["number"]
    text, pages = pdf_text(await fetch(client, mediator, kept))
    assert pages == 1
    for expected in (
        "终止调解通知书",
        kept["number"],
        "王秀英",
        "李堃",
        "分歧过大",
        "第二十六条",
        "2026年3月2日",
    ):
        assert expected in text, expected
    save_preview("termination_notice", await fetch(client, mediator, kept))
    word = await generate(client, mediator, case, "termination_notice", "docx")
    assert word.status_code == 201
    assert "分歧过大" in docx_text(await fetch(client, mediator, word.json()))


async def test_outside_the_case_scope_the_documents_are_404_and_a_character_the_font_lacks_is_422(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    other = await auth("wulian.mediator")
    case = await open_case(client, mediator, parties=PARTIES)
    kept = (await generate(client, mediator, case, "application", "pdf")).json()

    assert (await client.get(f"/api/v1/cases/{case['id']}/documents", headers=other)).status_code == 404
    assert (await client.get(kept["content_url"], headers=other)).status_code == 404
    assert (await generate(client, other, case, "application", "pdf")).status_code == 404
    missing = await client.get(f"/api/v1/cases/{case['id']}/documents/999999/content", headers=mediator)
    assert missing.status_code == 404
    rare = [{**PARTIES[0], "name": "王𠮷"}, PARTIES[1]]  # U+20BB7, beyond the font's plane
    refused = await generate(
        client, mediator, await open_case(client, mediator, parties=rare), "application", "pdf"
    )
    assert refused.status_code == 422 and "𠮷" in refused.text


def test_a_bad_template_fails_start_up_naming_the_file(tmp_path: Path) -> None:
    for source in (CONFIG_DIR / "documents").glob("*.txt"):
        (tmp_path / source.name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    broken = tmp_path / "written_agreement.txt"
    broken.write_text("= 人民调解协议书\n{{ agreement.term }}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"written_agreement\.txt: .*term"):
        load_templates(tmp_path)
    broken.write_text("= 人民调解协议书\n{% for p in parties %}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"written_agreement\.txt: line \d"):
        load_templates(tmp_path)
    broken.unlink()
    with pytest.raises(TemplateError, match=r"written_agreement\.txt: missing"):
        load_templates(tmp_path)
    assert set(load_templates(CONFIG_DIR / "documents").compiled) == set(DocumentKind)


# --- the case page's section ----------------------------------------------------------------------


async def page_client(db: Backend, client: httpx.AsyncClient, username: str) -> httpx.AsyncClient:
    token = await token_for(client, db, username)
    web = httpx.AsyncClient(transport=httpx.ASGITransport(app=db.app), base_url="http://jiefen.test")
    web.cookies.set(SESSION_COOKIE, token)
    web.cookies.set(LANGUAGE_COOKIE, "zh")
    web.headers["X-Test-Csrf"] = csrf_token(token)
    return web


def section_of(html: str) -> str:
    part = html.split('id="documents"', 1)[1].split("</section>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", part))


async def test_the_case_page_offers_the_documents_that_apply_and_downloads_each_version(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator, parties=PARTIES)
    web = await page_client(db, client, "dashi.mediator")
    csrf = {"csrf_token": web.headers["X-Test-Csrf"]}
    url = f"/cases/{case['id']}/documents"
    try:
        empty = await web.get(f"/cases/{case['id']}")
        refused = await web.post(url, data={**csrf, "kind": "termination_notice", "format": "pdf"})
        made = await web.post(url, data={**csrf, "kind": "application", "format": "docx"})
        shown = await web.get(made.headers["location"])
        kept = (await client.get(f"/api/v1/cases/{case['id']}/documents", headers=mediator)).json()[0]
        downloaded = await web.get(f"{url}/{kept['id']}/file")
    finally:
        await web.aclose()

    before = section_of(empty.text)
    assert "人民调解申请书" in before and "尚未生成文书" in before
    assert "人民调解协议书" not in before and "终止调解通知书" not in before  # not yet applicable
    assert refused.status_code == 303 and "document=refused" in refused.headers["location"]
    text = section_of(shown.text)
    assert "文书已生成" in text and "第 1 版" in text and kept["number"] in text
    assert "生成文书" in shown.text  # the timeline names the event
    assert downloaded.status_code == 200 and hashlib.sha256(downloaded.content).hexdigest() == kept["sha256"]
    assert downloaded.headers["content-disposition"].startswith("attachment;")


def test_the_service_does_not_start_with_a_bad_template_and_says_which(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    (config / "documents" / "termination_notice.txt").write_text(
        "= 终止调解通知书\n{% if %}\n", encoding="utf-8"
    )
    settings = Settings(
        config_dir=config,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        run_scheduler=False,
        data_key=TEST_DATA_KEY,
        audit_key=TEST_AUDIT_KEY,
    )
    with pytest.raises(SystemExit, match=r"termination_notice\.txt: line 2"):
        create_app(settings)
