"""Signed scans and other files on a case: typed by content, bounded, hashed into the case's
audit chain, readable only by those who see the case, never deleted."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import struct
import zlib
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from service.attachments.service import check_keys, reseal_attachments
from service.attachments.sniff import display_name
from service.personal.crypto import DataCipher, DataKeyError, new_key_line
from service.web.session import LANGUAGE_COOKIE, SESSION_COOKIE, csrf_token
from tests.builders import hand_to_station, open_case, police_case
from tests.conftest import Backend, token_for

pytestmark = pytest.mark.usefixtures("trail_stays_intact")


# --- files as a phone or a scanner makes them (small, but well formed) --------------------------


def pdf_bytes(body: bytes = b"1 0 obj << /Type /Catalog >> endobj") -> bytes:
    return b"%PDF-1.7\n" + body + b"\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width: int = 2, height: int = 1) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(rows))
        + _png_chunk(b"IEND", b"")
    )


def jpeg_bytes(width: int = 640, height: int = 480) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof0 + b"\x00" * 64 + b"\xff\xd9"


async def upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    case_id: int,
    name: str,
    data: bytes,
    declared: str = "application/octet-stream",
    kind: str = "signed_agreement",
    note: str | None = None,
) -> httpx.Response:
    form: dict[str, Any] = {"kind": kind}
    if note is not None:
        form["note"] = note
    return await client.post(
        f"/api/v1/cases/{case_id}/attachments",
        files={"file": (name, data, declared)},
        data=form,
        headers=headers,
    )


# --- accepted -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "maker", "media_type", "kind"),
    [
        ("调解协议书（签字）.pdf", pdf_bytes, "application/pdf", "signed_agreement"),
        ("IMG_0001.JPG", jpeg_bytes, "image/jpeg", "party_id"),
        ("现场照片.png", png_bytes, "image/png", "evidence"),
    ],
)
async def test_a_pdf_jpeg_or_png_is_kept_with_its_hash_and_the_upload_is_a_chained_case_event(
    client: httpx.AsyncClient, auth, db: Backend, name: str, maker: Any, media_type: str, kind: str
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    data = maker()

    response = await upload(client, mediator, case["id"], name, data, kind=kind, note="双方当场签字")

    assert response.status_code == 201, response.text
    kept = response.json()
    digest = hashlib.sha256(data).hexdigest()
    assert (kept["media_type"], kept["filename"], kept["size_bytes"], kept["sha256"]) == (
        media_type,
        name.rsplit(".", 1)[0]
        + {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}[media_type],
        len(data),
        digest,
    )
    assert (kept["kind"], kept["note"], kept["uploaded_by"], kept["withdrawn"]) == (
        kind,
        "双方当场签字",
        "dashi.mediator",
        False,
    )
    events = (await client.get(f"/api/v1/cases/{case['id']}/events", headers=mediator)).json()
    assert events[-1]["kind"] == "attachment"
    assert events[-1]["payload"] == {
        "attachment_id": kept["id"],
        "sha256": digest,
        "size_bytes": len(data),
        "kind": kind,
        "filename": kept["filename"],
        "media_type": media_type,
    }
    async with db.engine.connect() as conn:  # chained: the trail's check (trail_stays_intact) re-hashes it
        links = (
            await conn.execute(
                sa.text("SELECT seq, prev_hash, hash FROM case_event WHERE case_id = :c ORDER BY seq"),
                {"c": case["id"]},
            )
        ).all()
    assert [seq for seq, _, _ in links] == [1, 2] and links[1].prev_hash == links[0].hash
    # The download is the same bytes, as an attachment of the real type, never sniffed.
    got = await client.get(kept["content_url"], headers=mediator)
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["content-type"].startswith(media_type)
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''" in got.headers["content-disposition"]
    listed = (await client.get(f"/api/v1/cases/{case['id']}/attachments", headers=mediator)).json()
    assert [a["id"] for a in listed] == [kept["id"]]


async def test_a_file_larger_than_one_download_slice_comes_back_whole(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    data = pdf_bytes(bytes(range(256)) * 5000)  # 1.28 MB: three slices

    kept = (await upload(client, mediator, case["id"], "scan.pdf", data)).json()
    got = await client.get(kept["content_url"], headers=mediator)

    assert hashlib.sha256(got.content).hexdigest() == kept["sha256"] == hashlib.sha256(data).hexdigest()
    assert got.headers["content-length"] == str(len(data))


async def test_the_name_shown_is_sanitised_and_never_a_path(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)

    traversal = await upload(client, mediator, case["id"], "../../etc/pass\u200bwd\u202e.pdf", pdf_bytes())
    windows = await upload(client, mediator, case["id"], "C:\\Users\\王\\" + "长" * 300 + ".exe", png_bytes())

    assert traversal.json()["filename"] == "passwd.pdf"
    assert display_name("a\x00b\x07c\r\n.pdf", "application/pdf") == "abc.pdf"  # what a client may not send
    long_name = windows.json()["filename"]
    assert long_name.endswith(".png") and len(long_name) == 120 and "\\" not in long_name


# --- refused ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "declared", "rule"),
    [
        ("协议.pdf", png_bytes(), "application/pdf", None),  # a PNG named .pdf is kept as the PNG it is
        ("photo.jpg", "这不是图片，是文字".encode(), "image/jpeg", "signature"),
        ("scan.pdf", pdf_bytes()[:-7], "application/pdf", "pdf-trailer"),  # cut short: no %%EOF
        ("fake.pdf", b"%PDF-x.y\n%%EOF", "application/pdf", "pdf-header"),
        ("cut.png", png_bytes()[:-12], "image/png", "png-end"),
        ("zero.jpg", jpeg_bytes(width=0), "image/jpeg", "jpeg-header"),
        ("page.html", b"<html><script>alert(1)</script></html>", "image/png", "signature"),
        ("empty.png", b"", "image/png", "empty"),
    ],
)
async def test_the_type_is_judged_by_content_never_by_name_or_declared_type(
    client: httpx.AsyncClient, auth, db: Backend, name: str, data: bytes, declared: str, rule: str | None
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)

    response = await upload(client, mediator, case["id"], name, data, declared)

    if rule is None:
        assert response.status_code == 201, response.text
        assert (response.json()["media_type"], response.json()["filename"]) == ("image/png", "协议.png")
        return
    assert response.status_code == 415, response.text
    problem = response.json()
    assert problem["rule"] == rule and problem["errors"][0]["field"] == "file"
    assert response.headers["content-type"] == "application/problem+json"
    events = (await client.get(f"/api/v1/cases/{case['id']}/events", headers=mediator)).json()
    assert [e["kind"] for e in events] == ["created"]  # nothing written


async def test_a_file_over_the_limit_is_413_and_nothing_is_kept(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    limit = db.ctx.settings.attachment_max_bytes
    just_over = pdf_bytes(b"0" * (limit - len(pdf_bytes(b"")) + 1))
    far_over = b"%PDF-1.7\n" + b"0" * (limit * 2)

    over = await upload(client, mediator, case["id"], "big.pdf", just_over)
    refused_early = await upload(client, mediator, case["id"], "huge.pdf", far_over)
    at_limit = await upload(client, mediator, case["id"], "ok.pdf", just_over[:9] + just_over[10:])

    assert over.status_code == 413, over.text
    assert over.json()["errors"][0]["field"] == "file" and over.json()["limit_bytes"] == limit
    assert refused_early.status_code == 413  # by its Content-Length, before the body is read
    assert at_limit.status_code == 201 and at_limit.json()["size_bytes"] == limit
    listed = (await client.get(f"/api/v1/cases/{case['id']}/attachments", headers=mediator)).json()
    assert [a["filename"] for a in listed] == ["ok.pdf"]


async def test_unknown_kind_and_missing_file_are_422_naming_the_field(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)

    bad_kind = await upload(client, mediator, case["id"], "a.pdf", pdf_bytes(), kind="selfie")
    no_file = await client.post(
        f"/api/v1/cases/{case['id']}/attachments", data={"kind": "evidence"}, headers=mediator
    )

    assert bad_kind.status_code == no_file.status_code == 422
    assert "kind" in bad_kind.json()["errors"][0]["field"]
    assert "file" in no_file.json()["errors"][0]["field"]


# --- who ----------------------------------------------------------------------------------------------


async def test_another_station_and_a_unit_that_sent_the_case_on_see_nothing(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    police = await auth("zhangpu.police")
    mediator = await auth("dashi.mediator")
    other_station = await auth("zhouxiang.mediator")
    case = await hand_to_station(client, police, await police_case(client, police))
    kept = (await upload(client, mediator, case["id"], "id.jpg", jpeg_bytes(), kind="party_id")).json()
    paths = [
        f"/api/v1/cases/{case['id']}/attachments",
        f"/api/v1/cases/{case['id']}/attachments/{kept['id']}/content",
    ]

    for headers in (other_station, police):
        for path in paths:
            assert (await client.get(path, headers=headers)).status_code == 404, path
        assert (await upload(client, headers, case["id"], "x.pdf", pdf_bytes())).status_code == 404
        withdrawal = await client.post(
            f"{paths[0]}/{kept['id']}/withdrawal", json={"reason": "x"}, headers=headers
        )
        assert withdrawal.status_code == 404
    # The town centre above the station sees the file.
    town = await auth("zhangpu.coordinator")
    assert (await client.get(paths[1], headers=town)).content == jpeg_bytes()


async def test_the_auditor_reads_the_files_but_adds_none(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    auditor = await auth("auditor")
    case = await open_case(client, mediator)
    await upload(client, mediator, case["id"], "a.pdf", pdf_bytes())

    listed = await client.get(f"/api/v1/cases/{case['id']}/attachments", headers=auditor)
    added = await upload(client, auditor, case["id"], "b.pdf", pdf_bytes())

    assert listed.status_code == 200 and len(listed.json()) == 1
    assert added.status_code == 409  # sees the case, may not act on it


# --- never deleted, withdrawn with a reason --------------------------------------------------------


async def test_a_wrong_upload_is_withdrawn_with_a_reason_audited_and_still_readable(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    kept = (await upload(client, mediator, case["id"], "wrong.png", png_bytes(), kind="evidence")).json()
    base = f"/api/v1/cases/{case['id']}/attachments/{kept['id']}"

    deleted = await client.delete(base, headers=mediator)
    no_reason = await client.post(f"{base}/withdrawal", json={"reason": ""}, headers=mediator)
    withdrawn = await client.post(f"{base}/withdrawal", json={"reason": "传错了案件的照片"}, headers=mediator)
    again = await client.post(f"{base}/withdrawal", json={"reason": "再撤一次"}, headers=mediator)

    assert deleted.status_code == 405
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"].endswith("reason")
    assert withdrawn.status_code == 200, withdrawn.text
    body = withdrawn.json()
    assert (body["withdrawn"], body["withdrawn_by"], body["withdrawn_reason"]) == (
        True,
        "dashi.mediator",
        "传错了案件的照片",
    )
    assert again.status_code == 409
    events = (await client.get(f"/api/v1/cases/{case['id']}/events", headers=mediator)).json()
    assert events[-1]["kind"] == "file_withdrawn"
    assert events[-1]["reason"] == "传错了案件的照片"
    assert events[-1]["payload"]["sha256"] == kept["sha256"]
    assert (await client.get(f"{base}/content", headers=mediator)).content == png_bytes()


# --- the case page's section, as a browser without JavaScript uses it ------------------------------


async def page_client(db: Backend, client: httpx.AsyncClient, username: str, lang: str) -> httpx.AsyncClient:
    token = await token_for(client, db, username)
    web = httpx.AsyncClient(transport=httpx.ASGITransport(app=db.app), base_url="http://jiefen.test")
    web.cookies.set(SESSION_COOKIE, token)
    web.cookies.set(LANGUAGE_COOKIE, lang)
    web.headers["X-Test-Csrf"] = csrf_token(token)
    return web


def section_of(html: str) -> str:
    part = html.split('id="attachments"', 1)[1].split("</section>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", part))


async def test_the_case_page_uploads_refuses_with_a_message_downloads_and_withdraws(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    web = await page_client(db, client, "dashi.mediator", "zh")
    csrf = {"csrf_token": web.headers["X-Test-Csrf"]}
    url = f"/cases/{case['id']}/attachments"
    try:
        empty = await web.get(f"/cases/{case['id']}")
        no_token = await web.post(url, data={"kind": "evidence"}, files={"file": ("a.pdf", pdf_bytes())})
        lying = await web.post(
            url, data={**csrf, "kind": "evidence"}, files={"file": ("照片.jpg", b"plain text", "image/jpeg")}
        )
        refused_page = await web.get(lying.headers["location"])
        added = await web.post(
            url,
            data={**csrf, "kind": "signed_agreement", "note": "双方签字"},
            files={"file": ("协议.pdf", pdf_bytes())},
        )
        shown = await web.get(added.headers["location"])
        kept = (await client.get(f"/api/v1/cases/{case['id']}/attachments", headers=mediator)).json()[0]
        downloaded = await web.get(f"{url}/{kept['id']}/file")
        withdrawn = await web.post(f"{url}/{kept['id']}/withdrawal", data={**csrf, "reason": "传错了"})
        after = await web.get(withdrawn.headers["location"])
    finally:
        await web.aclose()

    assert "尚无附件" in section_of(empty.text)
    # The phone's camera (its own input: with ``capture`` a phone offers no stored PDF), and a chooser.
    assert 'name="photo" accept="image/jpeg,image/png" capture="environment"' in empty.text
    assert 'name="file" accept="application/pdf,image/jpeg,image/png">' in empty.text
    assert no_token.status_code in (400, 403)
    assert lying.status_code == 303 and "attachment=type&rule=signature" in lying.headers["location"]
    assert "文件内容不是 PDF、JPG 或 PNG" in section_of(refused_page.text)
    assert added.status_code == 303
    text = section_of(shown.text)
    assert "附件已上传" in text and "协议.pdf" in text and "签字协议书" in text and "双方签字" in text
    assert "上传附件" in shown.text  # the timeline names the event
    assert downloaded.status_code == 200 and downloaded.content == pdf_bytes()
    assert downloaded.headers["content-disposition"].startswith("attachment;")
    assert "由 dashi.mediator 撤回：传错了" in section_of(after.text)
    assert 'id="withdraw-reason-' not in after.text  # withdrawn once: no second form


async def test_the_page_shows_no_form_to_an_auditor_and_no_section_to_another_station(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    await upload(client, mediator, case["id"], "证据.png", png_bytes(), kind="evidence")
    auditor = await page_client(db, client, "auditor", "en")
    other = await page_client(db, client, "zhouxiang.mediator", "zh")
    try:
        read_only = await auditor.get(f"/cases/{case['id']}")
        hidden = await other.get(f"/cases/{case['id']}/attachments/1/file")
    finally:
        await auditor.aclose()
        await other.aclose()

    assert "证据.png" in section_of(read_only.text) and "Evidence" in section_of(read_only.text)
    assert 'id="form-attachment"' not in read_only.text
    assert hidden.status_code == 404


def test_the_proxy_lets_a_file_of_the_default_limit_through_on_the_upload_routes_only() -> None:
    from pathlib import Path

    from service.attachments.routes import FORM_ALLOWANCE, UPLOAD_PATHS
    from service.config.settings import Settings

    conf = (Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf").read_text(encoding="utf-8")
    upload_block = conf.split("location ~ ^/(api/v1/)?cases/[0-9]+/attachments$ {", 1)[1].split("}", 1)[0]
    allowed = int(re.search(r"client_max_body_size (\d+)m;", upload_block).group(1)) * 1024 * 1024  # type: ignore[union-attr]

    assert allowed >= Settings.model_fields["attachment_max_bytes"].default + FORM_ALLOWANCE
    location = re.compile(r"^/(api/v1/)?cases/[0-9]+/attachments$")
    for path in ("/api/v1/cases/7/attachments", "/cases/7/attachments"):
        assert location.match(path) and any(p.fullmatch(path) for p in UPLOAD_PATHS)
    assert not location.match("/api/v1/cases/7/attachments/1/withdrawal")


async def test_uploads_at_the_same_time_are_all_kept_each_with_its_own_link_in_the_chain(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    photos = [png_bytes(width=w) for w in (3, 4, 5)]

    responses = await asyncio.gather(
        *(upload(client, mediator, case["id"], f"p{i}.png", p, kind="evidence") for i, p in enumerate(photos))
    )

    assert sorted(r.status_code for r in responses) == [201, 201, 201], [r.text for r in responses]
    events = (await client.get(f"/api/v1/cases/{case['id']}/events", headers=mediator)).json()
    hashes = sorted(e["payload"]["sha256"] for e in events if e["kind"] == "attachment")
    assert hashes == sorted(hashlib.sha256(p).hexdigest() for p in photos)


# --- sealed with the data key ---------------------------------------------------------------------


async def test_the_stored_bytes_are_sealed_and_a_key_rotation_reseals_them_still_readable(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    data = pdf_bytes(b"\xe8\xba\xab\xe4\xbb\xbd\xe8\xaf\x81 320583199001011234 " * 40000)  # 1.4 MB: 3 slices
    kept = (await upload(client, mediator, case["id"], "身份证.pdf", data, kind="party_id")).json()
    async with db.engine.connect() as conn:
        stored, kid = (
            await conn.execute(
                sa.text("SELECT content, key_id FROM case_attachment WHERE id = :i"), {"i": kept["id"]}
            )
        ).one()
    assert b"320583199001011234" not in bytes(stored) and b"%PDF" not in bytes(stored)
    assert kid == db.ctx.cipher.current_kid

    old = db.ctx.cipher
    old_ring = ",".join(f"{k}:{base64.b64encode(v).decode()}" for k, v in old.ring)
    new_key = new_key_line("k9")
    rotated = DataCipher.from_text(f"{new_key},{old_ring}")
    try:
        db.ctx.cipher = rotated
        resealed = await reseal_attachments(db.engine, rotated)
        again = await reseal_attachments(db.engine, rotated)
        got = await client.get(kept["content_url"], headers=mediator)
    finally:  # back under the suite's key for the tests after this one
        db.ctx.cipher = old
        await reseal_attachments(db.engine, DataCipher.from_text(f"{old_ring},{new_key}"))

    assert (resealed, again) == (1, 0)
    assert got.content == data


async def test_every_download_goes_into_the_security_log_an_id_copy_under_its_own_kind(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    auditor = await auth("auditor")
    case = await open_case(client, mediator)
    id_copy = (await upload(client, mediator, case["id"], "身份证.jpg", jpeg_bytes(), kind="party_id")).json()
    evidence = (await upload(client, mediator, case["id"], "现场.png", png_bytes(), kind="evidence")).json()

    await client.get(id_copy["content_url"], headers=mediator)
    await client.get(evidence["content_url"], headers=mediator)
    log = await client.get("/api/v1/security-events", params={"case_id": case["id"]}, headers=auditor)

    assert log.status_code == 200, log.text
    items = log.json()["items"] if isinstance(log.json(), dict) else log.json()
    viewed = [e for e in items if e["kind"] == "id_copy_viewed"]
    assert len(viewed) == 1
    assert (viewed[0]["actor"], viewed[0]["case_id"]) == ("dashi.mediator", case["id"])
    assert viewed[0]["payload"]["attachment_id"] == id_copy["id"]
    other = [e for e in items if e["kind"] == "attachment_downloaded"]
    assert [(e["actor"], e["payload"]["attachment_id"], e["payload"]["sha256"]) for e in other] == [
        ("dashi.mediator", evidence["id"], evidence["sha256"])
    ]


async def test_the_same_bytes_sent_again_are_kept_once_until_withdrawn(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)

    first = await upload(client, mediator, case["id"], "协议.pdf", pdf_bytes())
    resent = await upload(client, mediator, case["id"], "协议(1).pdf", pdf_bytes(), kind="other")
    await client.post(
        f"/api/v1/cases/{case['id']}/attachments/{first.json()['id']}/withdrawal",
        json={"reason": "扫描不清"},
        headers=mediator,
    )
    after_withdrawal = await upload(client, mediator, case["id"], "协议.pdf", pdf_bytes())

    assert (first.status_code, resent.status_code, after_withdrawal.status_code) == (201, 200, 201)
    assert resent.json() == first.json()
    assert after_withdrawal.json()["id"] != first.json()["id"]
    events = (await client.get(f"/api/v1/cases/{case['id']}/events", headers=mediator)).json()
    assert [e["kind"] for e in events] == ["created", "attachment", "file_withdrawn", "attachment"]


async def test_two_identical_uploads_at_once_keep_one_file(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)

    responses = await asyncio.gather(
        *(upload(client, mediator, case["id"], "a.png", png_bytes()) for _ in range(2))
    )

    assert sorted(r.status_code for r in responses) == [200, 201], [r.text for r in responses]
    listed = (await client.get(f"/api/v1/cases/{case['id']}/attachments", headers=mediator)).json()
    assert len(listed) == 1


async def test_a_key_ring_that_cannot_open_the_stored_files_is_found_before_a_download(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    await upload(client, mediator, case["id"], "身份证.png", png_bytes(), kind="party_id")
    kid = db.ctx.cipher.current_kid

    await check_keys(db.engine, db.ctx.cipher)  # the ring in use opens them
    with pytest.raises(DataKeyError, match=f"no key '{kid}'"):
        await check_keys(db.engine, DataCipher.from_text(new_key_line("k7")))
    with pytest.raises(DataKeyError, match="does not verify"):  # another key under the same id
        await check_keys(db.engine, DataCipher.from_text(new_key_line(kid)))


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_the_page_form_answers_a_file_over_the_limit_with_its_message_never_a_bare_413(
    client: httpx.AsyncClient, auth, db: Backend, lang: str
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    web = await page_client(db, client, "dashi.mediator", lang)
    limit = db.ctx.settings.attachment_max_bytes
    url = f"/cases/{case['id']}/attachments"
    csrf = {"csrf_token": web.headers["X-Test-Csrf"]}
    messages = {
        "zh": f"未上传：文件超过 {limit // (1024 * 1024)} MB",
        "en": f"Not added: the file is larger than {limit // (1024 * 1024)} MB",
    }
    try:
        for size in (limit + 1, limit + 200 * 1024, 2 * limit):  # by the file's count, by the body's length
            sent = await web.post(
                url,
                data={**csrf, "kind": "evidence"},
                files={"file": ("扫描.pdf", b"%PDF-1.7\n" + b"0" * size, "application/pdf")},
            )
            assert sent.status_code == 303, (size, sent.status_code, sent.text[:200])
            assert sent.headers["location"] == f"/cases/{case['id']}?attachment=too_large#attachments"
            page = await web.get(sent.headers["location"])
            assert page.status_code == 200
            assert messages[lang] in section_of(page.text)
    finally:
        await web.aclose()
    listed = (await client.get(f"/api/v1/cases/{case['id']}/attachments", headers=mediator)).json()
    assert listed == []
    # The API keeps its 413 problem for the same body.
    api = await upload(client, mediator, case["id"], "big.pdf", b"%PDF-1.7\n" + b"0" * (2 * limit))
    assert api.status_code == 413 and api.headers["content-type"].startswith("application/problem+json")
