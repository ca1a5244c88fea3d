"""The 卷宗 of a closed case, on SQLite and PostgreSQL: one PDF with its cover (number, committee,
parties, mediator, dates, outcome), its index (each item with the page it starts on, and the
total), then the latest PDF of each document and the scans kept, in the configured order; only
for a closed case (409), only for those who see the case (404); each download in the security log
with the SHA-256 served."""

from __future__ import annotations

import hashlib
import io
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fpdf import FPDF
from PIL import Image
from pypdf import PdfReader

from tests.api.test_attachments import page_client, upload
from tests.api.test_documents_more import session_body
from tests.builders import move, open_case, read_case
from tests.conftest import Backend

pytestmark = pytest.mark.usefixtures("trail_stays_intact", "frozen_clock")

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


def photo_jpeg() -> bytes:
    """A real phone-like photo (decodable, not just a well-formed header): 1200 × 1600."""
    buffer = io.BytesIO()
    Image.new("RGB", (1200, 1600), (235, 230, 220)).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def scanned_pdf(pages: int) -> bytes:
    """A scanner's PDF of ``pages`` pages, each saying which it is."""
    pdf = FPDF(format="A4")
    pdf.set_font("helvetica", size=16)
    for n in range(1, pages + 1):
        pdf.add_page()
        pdf.cell(0, 10, f"signed agreement scan page {n}")
    return bytes(pdf.output())


def corner_text(page: Any) -> str:
    """What is written in the page's top right corner (its 页号), by position."""
    width, height = float(page.mediabox.width), float(page.mediabox.height)
    found: list[str] = []

    def visit(text: str, cm: list[float], tm: list[float], *_: Any) -> None:
        x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
        y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
        if text.strip() and x > width * 0.75 and y > height * 0.9:
            found.append(text.strip())

    page.extract_text(visitor_text=visit)
    return "".join(found)


def page_texts(data: bytes) -> list[str]:
    """Each page's text without its 页号 (checked apart: ``corner_text``)."""
    texts = []
    for number, page in enumerate(PdfReader(io.BytesIO(data)).pages, start=1):
        assert corner_text(page) == str(number), (number, corner_text(page))
        lines = page.extract_text().splitlines()
        texts.append("\n".join(line for line in lines if line.strip() != str(number)))
    return texts


async def generate(
    client: httpx.AsyncClient, headers: dict[str, str], case_id: int, kind: str, fmt: str, **more: Any
) -> Any:
    made = await client.post(
        f"/api/v1/cases/{case_id}/documents", json={"kind": kind, "format": fmt, **more}, headers=headers
    )
    assert made.status_code == 201, made.text
    return made.json()


async def closed_case_with_its_file(client: httpx.AsyncClient, mediator: dict[str, str]) -> dict[str, Any]:
    """A neighbour dispute as a committee files it: two sessions and their records (the second's
    twice: its latest version is bound), the application and the written agreement generated (the
    agreement twice as well), the signed agreement scanned as
    a two-page PDF, the applicant's ID photographed, a wrong evidence photo withdrawn; performed,
    closed, numbered."""
    case = await move(client, mediator, await open_case(client, mediator, parties=PARTIES), "accept")
    lead = (await client.get(f"/api/v1/cases/{case['id']}/mediators", headers=mediator)).json()["lead"]
    sessions = []
    for _ in range(2):  # two sittings, each with its record
        sat = await client.post(
            f"/api/v1/cases/{case['id']}/sessions",
            json=session_body(case, lead["mediator_id"]),
            headers=mediator,
        )
        assert sat.status_code == 201, sat.text
        sessions.append(sat.json()["id"])
    first_record = await generate(
        client, mediator, case["id"], "session_record", "pdf", session_id=sessions[0]
    )
    await generate(client, mediator, case["id"], "session_record", "pdf", session_id=sessions[1])
    second_record = await generate(
        client, mediator, case["id"], "session_record", "pdf", session_id=sessions[1]
    )
    application = await generate(client, mediator, case["id"], "application", "pdf")
    await generate(client, mediator, case["id"], "application", "docx")  # Word is not bound
    case = await move(
        client, mediator, await read_case(client, mediator, case), "settle", agreement=AGREEMENT
    )
    await generate(client, mediator, case["id"], "written_agreement", "pdf")
    agreement = await generate(client, mediator, case["id"], "written_agreement", "pdf")
    signed = await upload(
        client, mediator, case["id"], "协议书签字.pdf", scanned_pdf(2), kind="signed_agreement"
    )
    id_copy = await upload(client, mediator, case["id"], "身份证.jpg", photo_jpeg(), kind="party_id")
    wrong = await upload(
        client, mediator, case["id"], "错拍.jpg", photo_jpeg()[:-2] + b"\x00\xff\xd9", kind="evidence"
    )
    assert {signed.status_code, id_copy.status_code, wrong.status_code} == {201}, wrong.text
    withdrawn = await client.post(
        f"/api/v1/cases/{case['id']}/attachments/{wrong.json()['id']}/withdrawal",
        json={"reason": "拍错了"},
        headers=mediator,
    )
    assert withdrawn.status_code == 200, withdrawn.text
    case = await move(
        client,
        mediator,
        await read_case(client, mediator, case),
        "record_performance",
        performance="performed",
    )
    assert case["state"] == "closed"
    number = await client.post(f"/api/v1/cases/{case['id']}/file-number", headers=mediator)
    assert number.status_code in (200, 201), number.text
    mediators = (await client.get(f"/api/v1/cases/{case['id']}/mediators", headers=mediator)).json()
    return {
        "case": case,
        "number": number.json()["text"],
        "application": application,
        "agreement": agreement,
        "sessions": (first_record, second_record),
        "mediator": (mediators["lead"] or mediators["past"][0])["mediator_name"],
    }


async def test_a_closed_cases_dossier_binds_cover_index_documents_and_scans_with_right_page_numbers(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    filed = await closed_case_with_its_file(client, mediator)
    case = filed["case"]

    got = await client.get(f"/api/v1/cases/{case['id']}/dossier.pdf", headers=mediator)

    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "application/pdf"
    assert "attachment" in got.headers["content-disposition"]
    digest = hashlib.sha256(got.content).hexdigest()
    assert got.headers["etag"] == f'"{digest}"'
    pages = page_texts(got.content)
    # cover 1 + index 1 + application 1 + ID photo 1 + two session records 1 each + agreement 1 +
    # signed scan 2 (the withdrawn photo, the Word file and the earlier versions are not bound)
    assert len(pages) == 1 + 1 + 1 + 1 + 2 + 1 + 2
    assert got.headers["x-dossier-pages"] == str(len(pages))

    cover = pages[0]
    for expected in (
        "人民调解卷宗",
        filed["number"],
        "大市社区人民调解委员会",
        "申请人：王秀英",
        "被申请人：李堃",
        "邻里纠纷",
        filed["mediator"],
        "2026年3月2日",
        "协议履行完毕",
        "共 9 页",
    ):
        assert expected in cover, expected
    assert re.search(r"\(2026\)昆\S*调卷字第 0001 号", cover)

    index = [line.strip() for line in pages[1].splitlines()]
    assert index[0] == "卷内目录"
    rows = [line for line in index if re.match(r"^\d+ ", line)]
    app, agr = filed["application"]["number"], filed["agreement"]["number"]
    one, two = (record["number"] for record in filed["sessions"])
    assert rows == [
        f"1 人民调解申请书（{app}） 2026年3月2日 3",
        "2 身份证明：身份证.jpg 2026年3月2日 4",
        f"3 人民调解调解记录（{one}） 2026年3月2日 5",
        f"4 人民调解调解记录（{two}） 2026年3月2日 6",
        f"5 人民调解协议书（{agr}） 2026年3月2日 7",
        "6 签字协议书：协议书签字.pdf 2026年3月2日 8",
    ]
    assert one != two
    assert "本卷共 9 页（含封面、目录）" in pages[1]
    # Each page the index names is the item it names.
    assert "人民调解申请书" in pages[2] and "王秀英" in pages[2]
    assert pages[3].strip() == ""  # the photo, on a page of its own
    assert one in pages[4] and two in pages[5] and "大市社区调解室" in pages[5]
    assert "人民调解协议书" in pages[6] and "支付维修费人民币3000元" in pages[6]
    assert "signed agreement scan page 1" in pages[7] and "signed agreement scan page 2" in pages[8]

    auditor = await auth("auditor")
    log = await client.get("/api/v1/security-events", params={"kind": "dossier_downloaded"}, headers=auditor)
    assert log.status_code == 200, log.text
    items = log.json()["items"] if isinstance(log.json(), dict) else log.json()
    served = [e for e in items if e["kind"] == "dossier_downloaded"]
    assert len(served) == 1
    event = served[0]
    assert (event["actor"], event["case_id"]) == ("dashi.mediator", case["id"])
    assert event["payload"]["sha256"] == digest
    assert event["payload"]["file_number"] == filed["number"]
    assert event["payload"]["pages"] == 9
    assert "王秀英" not in str(event)  # who, which case, which file: never what it says


async def test_an_open_case_has_no_dossier_and_an_outsider_sees_none(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    open_one = await move(client, mediator, await open_case(client, mediator, parties=PARTIES), "accept")

    refused = await client.get(f"/api/v1/cases/{open_one['id']}/dossier.pdf", headers=mediator)

    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert problem["rule"] == "dossier-closed-cases-only"
    assert "closed" in problem["detail"]

    closed = (await closed_case_with_its_file(client, mediator))["case"]
    outsider = await client.get(
        f"/api/v1/cases/{closed['id']}/dossier.pdf", headers=await auth("wulian.mediator")
    )
    assert outsider.status_code == 404, outsider.text
    assert (await client.get("/api/v1/cases/999999/dossier.pdf", headers=mediator)).status_code == 404


async def test_the_case_page_offers_the_dossier_of_a_closed_case_and_serves_it(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = (await closed_case_with_its_file(client, mediator))["case"]
    web = await page_client(db, client, "dashi.mediator", "zh")

    page = await web.get(f"/cases/{case['id']}")
    assert page.status_code == 200
    section = page.text.split('id="case-file"', 1)[1].split("</section>", 1)[0]
    assert f'href="/cases/{case["id"]}/dossier.pdf"' in section and "下载卷宗（PDF）" in section

    got = await web.get(f"/cases/{case['id']}/dossier.pdf")
    assert got.status_code == 200 and got.headers["content-type"] == "application/pdf"
    assert len(PdfReader(io.BytesIO(got.content)).pages) == 9
    # An open case's link, typed by hand: the page's error, in words, never a 500.
    still_open = await open_case(client, mediator, parties=PARTIES)
    refused = await web.get(f"/cases/{still_open['id']}/dossier.pdf")
    assert refused.status_code == 409 and refused.headers["content-type"].startswith("text/html")
    await web.aclose()


async def test_downloading_a_document_by_the_api_or_the_page_goes_into_the_security_log(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator, parties=PARTIES)
    made = await generate(client, mediator, case["id"], "application", "pdf")
    web = await page_client(db, client, "dashi.mediator", "zh")

    by_api = await client.get(made["content_url"], headers=mediator)
    by_page = await web.get(f"/cases/{case['id']}/documents/{made['id']}/file")

    assert by_api.status_code == 200 and by_page.status_code == 200
    log = await client.get(
        "/api/v1/security-events",
        params={"case_id": case["id"], "kind": "document_downloaded"},
        headers=await auth("auditor"),
    )
    assert log.status_code == 200, log.text
    items = log.json()["items"] if isinstance(log.json(), dict) else log.json()
    read = [e for e in items if e["kind"] == "document_downloaded"]
    assert len(read) == 2
    for event in read:
        assert (event["actor"], event["case_id"]) == ("dashi.mediator", case["id"])
        payload = event["payload"]
        assert (payload["document_id"], payload["kind"], payload["version"]) == (made["id"], "application", 1)
        assert payload["sha256"] == made["sha256"] == hashlib.sha256(by_api.content).hexdigest()
        assert "王秀英" not in str(event) and "320583198001011234" not in str(event)


async def test_retention_erases_the_scans_bytes_and_destroys_the_documents_of_an_anonymised_case(
    client: httpx.AsyncClient, auth: Any, db: Backend
) -> None:
    from service.privacy.pipl import anonymise_closed_cases
    from tests.conftest import FIXED_NOW

    mediator = await auth("dashi.mediator")
    filed = await closed_case_with_its_file(client, mediator)
    case = filed["case"]
    kept = await open_case(client, mediator, parties=PARTIES)  # still open: untouched
    kept_scan = (await upload(client, mediator, kept["id"], "证据.jpg", photo_jpeg(), kind="evidence")).json()
    before = (await client.get(f"/api/v1/cases/{case['id']}/attachments", headers=mediator)).json()
    assert len(before) == 3

    done = await anonymise_closed_cases(
        db.engine, db.ctx, closed_before_days=1825, actor="test", now=FIXED_NOW + timedelta(days=10_000)
    )

    assert done == 1
    files = (await client.get(f"/api/v1/cases/{case['id']}/attachments", headers=mediator)).json()
    # The records stay, with their hashes (the case events vouch for them); names and bytes go.
    assert [(f["id"], f["sha256"]) for f in files] == [(f["id"], f["sha256"]) for f in before]
    assert all(f["erased_at"] is not None and f["filename"] == "（已按保存期限删除）" for f in files)
    gone = await client.get(files[0]["content_url"], headers=mediator)
    assert gone.status_code == 410, gone.text
    assert gone.json()["rule"] == "retention"
    async with db.engine.connect() as conn:
        sizes = (
            (
                await conn.execute(
                    sa.text("SELECT length(content) FROM case_attachment WHERE case_id = :c"),
                    {"c": case["id"]},
                )
            )
            .scalars()
            .all()
        )
        documents = (
            await conn.execute(
                sa.text("SELECT count(*) FROM case_document WHERE case_id = :c"), {"c": case["id"]}
            )
        ).scalar_one()
    assert sizes == [0, 0, 0] and documents == 0
    assert (await client.get(f"/api/v1/cases/{case['id']}/documents", headers=mediator)).json() == []
    # What is left still binds: a cover and an index, nothing personal.
    bound = await client.get(f"/api/v1/cases/{case['id']}/dossier.pdf", headers=mediator)
    assert bound.status_code == 200, bound.text
    pages = page_texts(bound.content)
    assert len(pages) == 2 and "王秀英" not in "".join(pages)
    # The open case keeps its file, and the summary of the run counts what went.
    assert (await client.get(kept_scan["content_url"], headers=mediator)).content == photo_jpeg()
    log = await client.get(
        "/api/v1/security-events", params={"kind": "closed_cases_anonymised"}, headers=await auth("auditor")
    )
    items = log.json()["items"] if isinstance(log.json(), dict) else log.json()
    assert [(e["payload"]["files_erased"], e["payload"]["documents_destroyed"]) for e in items] == [(3, 7)]
