"""Files on a case from a village mediator's phone: the signed agreement photographed from the
case page (the file input goes straight to the camera), a text file that claims to be a photo
refused with a message, the file downloaded again, and a wrong upload withdrawn with a reason."""

from __future__ import annotations

import hashlib
import re

from playwright.sync_api import expect

from tests.api.test_attachments import jpeg_bytes, pdf_bytes
from tests.web.conftest import Web, fits_phone


def test_a_mediator_photographs_the_signed_agreement_onto_the_case_from_a_phone(web: Web) -> None:
    case = web.api("dashi.mediator").open_case(summary="手机上传签字协议书")
    page = web.page("dashi.mediator", phone=True)
    page.goto(f"{web.server.base}/cases/{case['id']}#attachments")
    section = page.locator("#attachments")
    expect(section.locator("#attachment-none")).to_be_visible()
    picker = page.locator("#attach-photo")  # the phone's rear camera, straight away
    expect(picker).to_have_attribute("accept", "image/jpeg,image/png")
    expect(picker).to_have_attribute("capture", "environment")
    fits_phone(page)

    # A text file named like a photo: refused, the page says why.
    picker.set_input_files(
        files=[{"name": "IMG_2041.jpg", "mimeType": "image/jpeg", "buffer": b"not a photo"}]
    )
    page.get_by_role("button", name="上传").click()
    expect(page.locator("#attachment-outcome")).to_contain_text("文件内容不是 PDF、JPG 或 PNG")
    expect(section.locator("#attachment-none")).to_be_visible()

    # The photo of the signed agreement, as the camera hands it over.
    photo = jpeg_bytes(1200, 1600)
    page.locator("#attach-photo").set_input_files(
        files=[{"name": "IMG_2042.jpg", "mimeType": "image/jpeg", "buffer": photo}]
    )
    page.get_by_label("类别").select_option("signed_agreement")
    page.get_by_label("说明（可选）").fill("双方在调解室签字，原件存档")
    page.get_by_role("button", name="上传").click()
    expect(page).to_have_url(re.compile(rf"/cases/{case['id']}\?attachment=added"))
    expect(page.locator("#attachment-outcome")).to_contain_text("附件已上传")
    card = section.locator("#attachment-list li").first
    expect(card).to_contain_text("IMG_2042.jpg")
    expect(card).to_contain_text("签字协议书")
    expect(card).to_contain_text("双方在调解室签字")
    expect(page.locator(".timeline")).to_contain_text("上传附件")
    fits_phone(page)
    web.shot(page, "uploaded")

    with page.expect_download() as downloading:
        card.get_by_role("link", name="IMG_2042.jpg").click()
    download = downloading.value
    assert download.suggested_filename == "IMG_2042.jpg"
    assert hashlib.sha256(open(download.path(), "rb").read()).hexdigest() == hashlib.sha256(photo).hexdigest()

    # A second file put on the wrong case by mistake: withdrawn, with the reason, still listed.
    page.locator("#attach-file").set_input_files(
        files=[{"name": "别的案子.pdf", "mimeType": "application/pdf", "buffer": pdf_bytes()}]
    )
    page.get_by_label("类别").select_option("evidence")
    page.get_by_role("button", name="上传").click()
    wrong = section.locator("#attachment-list li").nth(1)
    wrong.locator("summary").click()
    wrong.get_by_label("撤回理由").fill("传错了案件")
    wrong.get_by_role("button", name="撤回").click()
    expect(page.locator("#attachment-outcome")).to_contain_text("附件已标为撤回")
    wrong = section.locator("#attachment-list li").nth(1)
    expect(wrong).to_contain_text("传错了案件")
    expect(wrong.locator("s")).to_have_text("别的案子.pdf")
    expect(page.locator(".timeline")).to_contain_text("撤回附件")
    fits_phone(page)
    web.shot(page, "withdrawn")


def test_a_photo_over_the_limit_from_the_phone_comes_back_to_the_page_with_the_message(web: Web) -> None:
    case = web.api("dashi.mediator").open_case(summary="超大照片")
    page = web.page("dashi.mediator", phone=True)
    page.goto(f"{web.server.base}/cases/{case['id']}#attachments")

    # 12 MB: past the form handler's count and past the body limit (10 MB and 64 KB of form).
    huge = b"\xff\xd8\xff\xe0" + b"\x00" * (12 * 1024 * 1024) + b"\xff\xd9"
    page.locator("#attach-file").set_input_files(
        files=[{"name": "IMG_4000.jpg", "mimeType": "image/jpeg", "buffer": huge}]
    )
    page.get_by_role("button", name="上传").click()

    expect(page).to_have_url(re.compile(rf"/cases/{case['id']}\?attachment=too_large"), timeout=60_000)
    expect(page.locator("#attachment-outcome")).to_contain_text("未上传：文件超过 10 MB")
    expect(page.locator("#attachments #attachment-none")).to_be_visible()
    fits_phone(page)
    web.shot(page, "too-large")
