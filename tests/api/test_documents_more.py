"""The statutory documents after the application (issue 19, part 2b): the acceptance register and
the notice of rights and duties, the record of each session, the oral-agreement register, the
follow-up record, the joint application for judicial confirmation and the hand-off or delegation
letter; each for a realistic case, as PDF and Word, with its number, its parties (a rare name
character among them), its mediators and its dates in Chinese; the rules on when each applies;
typed text that cannot make layout; the number taken while nothing is being rendered."""

from __future__ import annotations

import asyncio
import io
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from docx import Document
from docx.oxml.ns import qn
from sqlalchemy import event

from service.documents import render as render_module
from service.documents import service as documents_service
from service.documents.render import SAMPLE, DocumentKind, Style, load_templates
from tests.api.test_documents import (
    assert_a4_with_embedded_font,
    docx_text,
    fetch,
    pdf_text,
    save_preview,
)
from tests.builders import (
    CONFIRMABLE_AGREEMENT,
    DASHI,
    add_mediator,
    application,
    hand_to_station,
    move,
    open_case,
    police_case,
    read_case,
)
from tests.conftest import CONFIG_DIR, FIXED_NOW, Backend

pytestmark = pytest.mark.usefixtures("trail_stays_intact", "frozen_clock")

# A rare name character (堃) among ordinary ones: all must be printed.
PARTIES = [
    {"name": "王秀英", "role": "applicant", "phone": "13800001234", "id_number": "320583198001011234"},
    {"name": "李堃", "role": "respondent", "address": "昆山市张浦镇大市社区8号"},
]


async def make(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    case: dict[str, Any],
    kind: str,
    fmt: str = "pdf",
    **extra: Any,
) -> dict[str, Any]:
    made = await client.post(
        f"/api/v1/cases/{case['id']}/documents", json={"kind": kind, "format": fmt, **extra}, headers=headers
    )
    assert made.status_code == 201, made.text
    kept: dict[str, Any] = made.json()
    return kept


async def pdf_of(
    client: httpx.AsyncClient, headers: dict[str, str], kept: dict[str, Any], name: str
) -> tuple[str, int]:
    data = await fetch(client, headers, kept)
    assert_a4_with_embedded_font(data)
    save_preview(name, data)
    return pdf_text(data)


def assert_all_in(text: str, *expected: str) -> None:
    for part in expected:
        assert part in text, part


async def refused(
    client: httpx.AsyncClient, headers: dict[str, str], case: dict[str, Any], kind: str, **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        f"/api/v1/cases/{case['id']}/documents",
        json={"kind": kind, "format": "pdf", **extra},
        headers=headers,
    )
    assert response.status_code == 422, response.text
    problem: dict[str, Any] = response.json()
    return problem


def fields_named(problem: dict[str, Any]) -> list[str]:
    return [e["field"] for e in problem.get("errors", [])]


async def accepted_with_co_mediator(
    client: httpx.AsyncClient, mediator: dict[str, str], db: Backend, **overrides: Any
) -> dict[str, Any]:
    """A case at 大市社区 accepted by dashi.mediator (王芳, its lead), with 陈静 as co-mediator."""
    case = await move(client, mediator, await open_case(client, mediator, **overrides), "accept")
    co = await add_mediator(db.engine, "陈静", [DASHI])
    assigned = await client.post(
        f"/api/v1/cases/{case['id']}/mediators/assign",
        json={"mediator_id": co, "role": "co", "reason": "熟悉该小区"},
        headers=mediator,
    )
    assert assigned.status_code == 200, assigned.text
    return (await client.get(f"/api/v1/cases/{case['id']}", headers=mediator)).json()  # type: ignore[no-any-return]


async def test_the_acceptance_register_and_the_rights_notice_apply_once_accepted_and_name_the_mediators(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    registered = await open_case(client, mediator, parties=PARTIES)
    for kind in ("acceptance_register", "rights_notice"):
        assert fields_named(await refused(client, mediator, registered, kind)) == ["kind"]
    case = await accepted_with_co_mediator(client, mediator, db, parties=PARTIES)

    register = await make(client, mediator, case, "acceptance_register")
    notice = await make(client, mediator, case, "rights_notice")

    assert re.fullmatch(r"\(2026\)昆\S*调受字第 0001 号", register["number"]), register["number"]
    assert re.fullmatch(r"\(2026\)昆\S*调告字第 0001 号", notice["number"]), notice["number"]
    text, pages = await pdf_of(client, mediator, register, "acceptance_register")
    assert pages == 1
    assert_all_in(
        text,
        "人民调解受理登记表",
        register["number"],
        "申请人：王秀英",
        "被申请人：李堃",
        "320583198001011234",
        "受理日期：2026年3月2日",
        "纠纷来源：依申请",
        "纠纷类型：邻里纠纷",
        "承办人民调解员：王芳、陈静",
        "楼上卫生间漏水",
        "大市社区人民调解委员会",
    )
    text, pages = await pdf_of(client, mediator, notice, "rights_notice")
    assert pages == 1
    assert_all_in(
        text,
        "人民调解权利义务告知书",
        notice["number"],
        "第二十三条、第二十四条",
        "选择或者接受人民调解员",
        "如实陈述纠纷事实",
        "王秀英",
        "李堃",
        "王芳、陈静",
        "2026年3月2日",
    )
    word = docx_text(
        await fetch(client, mediator, await make(client, mediator, case, "rights_notice", "docx"))
    )
    assert_all_in(word, "人民调解权利义务告知书", notice["number"], "李堃", "王芳、陈静", "2026年3月2日")
    word = docx_text(
        await fetch(client, mediator, await make(client, mediator, case, "acceptance_register", "docx"))
    )
    assert_all_in(
        word,
        "人民调解受理登记表",
        register["number"],
        "被申请人：李堃",
        "受理日期：2026年3月2日",
        "王芳、陈静",
    )


def session_body(case: dict[str, Any], mediator_id: int, **overrides: Any) -> dict[str, Any]:
    applicant, respondent = (p["id"] for p in case["parties"])
    body: dict[str, Any] = {
        "started_at": (FIXED_NOW - timedelta(minutes=30)).isoformat(),  # 9:30 in Kunshan
        "ended_at": (FIXED_NOW - timedelta(minutes=5)).isoformat(),
        "place": "大市社区调解室",
        "party_ids": [applicant, respondent],
        "agents": [{"name": "王小明", "party_id": applicant}],
        "mediator_ids": [mediator_id],
        "others": [{"name": "赵村委", "role": "村委会主任"}],
        "statements": [
            {"party_id": applicant, "text": "楼上漏水三个月，墙面霉变，要求赔偿维修费三千元。"},
            # Typed text that looks like layout markup stays what it is: what the party said.
            {"party_id": respondent, "text": "= 同意维修防水层\n> 但认为三千元过高\n| 不签字"},
        ],
        "proposal": "由李堃负责维修防水层，并补偿王秀英一千五百元。",
        "result": "adjourned",
        "adjourned_to": "2026-03-09",
        "notes": "双方同意一周后再次到场。",
    }
    body.update(overrides)
    return body


async def lead_id(client: httpx.AsyncClient, headers: dict[str, str], case: dict[str, Any]) -> int:
    view = (await client.get(f"/api/v1/cases/{case['id']}/mediators", headers=headers)).json()
    found: int = view["lead"]["mediator_id"]
    return found


async def test_a_session_record_is_of_one_session_of_the_case_named_by_session_id(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await accepted_with_co_mediator(client, mediator, db, parties=PARTIES)
    assert fields_named(await refused(client, mediator, case, "session_record")) == ["kind"]  # none yet
    recorded = await client.post(
        f"/api/v1/cases/{case['id']}/sessions",
        json=session_body(case, await lead_id(client, mediator, case)),
        headers=mediator,
    )
    assert recorded.status_code == 201, recorded.text
    session = recorded.json()
    other = await move(client, mediator, await open_case(client, mediator), "accept")
    elsewhere = await client.post(
        f"/api/v1/cases/{other['id']}/sessions",
        json=session_body(other, await lead_id(client, mediator, other)),
        headers=mediator,
    )
    assert elsewhere.status_code == 201, elsewhere.text

    assert fields_named(await refused(client, mediator, case, "session_record")) == ["session_id"]
    wrong = await refused(client, mediator, case, "session_record", session_id=elsewhere.json()["id"])
    assert fields_named(wrong) == ["session_id"]
    assert fields_named(await refused(client, mediator, case, "application", session_id=session["id"])) == [
        "session_id"
    ]
    kept = await make(client, mediator, case, "session_record", session_id=session["id"])

    assert kept["session_id"] == session["id"]
    assert re.fullmatch(r"\(2026\)昆\S*调记字第 0001 号", kept["number"]), kept["number"]
    assert "第1次" in kept["filename"]
    text, pages = await pdf_of(client, mediator, kept, "session_record")
    assert pages == 1
    assert_all_in(
        text,
        "人民调解调解记录",
        kept["number"],
        "第 1 次",
        "2026年3月2日 9时30分",
        "大市社区调解室",
        "人民调解员：王芳",
        "申请人 王秀英、被申请人 李堃",
        "王小明（王秀英的代理人）",
        "赵村委（村委会主任）",
        "申请人王秀英陈述：楼上漏水三个月",
        "被申请人李堃陈述：= 同意维修防水层",
        "> 但认为三千元过高",
        "| 不签字",
        "由李堃负责维修防水层",
        "改期继续调解，定于2026年3月9日继续调解",
    )
    again = await make(client, mediator, case, "session_record", "docx", session_id=session["id"])
    assert (again["version"], again["number"]) == (2, kept["number"])  # the session's own number kept
    doc = Document(io.BytesIO(await fetch(client, mediator, again)))
    said = [p for p in doc.paragraphs if any(t in p.text for t in ("同意维修防水层", "三千元过高", "不签字"))]
    # Each typed line is an ordinary paragraph: not centred, not right-aligned, not a title's run.
    assert len(said) == 3 and all(p.alignment is None for p in said)
    assert all(not run.bold for p in said for run in p.runs)
    listed = (await client.get(f"/api/v1/cases/{case['id']}/documents", headers=mediator)).json()
    assert [(d["kind"], d["session_id"], d["version"]) for d in listed] == [
        ("session_record", session["id"], 1),
        ("session_record", session["id"], 2),
    ]


async def test_an_oral_agreement_has_its_register_and_its_follow_up_its_record(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await accepted_with_co_mediator(client, mediator, db, parties=PARTIES)
    assert fields_named(await refused(client, mediator, case, "oral_agreement_register")) == ["kind"]
    oral = {
        "form": "oral",
        "terms": "李堃当场向王秀英支付维修费人民币1500元，双方再无争议。",
        "amount_yuan": 1500,
        "performance_manner": "当场现金支付",
        "effective_on": "2026-03-02",
    }
    case = await move(client, mediator, case, "settle", agreement=oral)
    assert fields_named(await refused(client, mediator, case, "written_agreement")) == ["kind"]
    assert fields_named(await refused(client, mediator, case, "follow_up_record")) == ["kind"]

    register = await make(client, mediator, case, "oral_agreement_register")
    case = await move(
        client,
        mediator,
        await read_case(client, mediator, case),  # each document is an event: the version moved
        "record_performance",
        performance="performed",
        reason="电话回访，款项已当场付清",
    )
    follow_up = await make(client, mediator, case, "follow_up_record")

    assert re.fullmatch(r"\(2026\)昆\S*调口字第 0001 号", register["number"]), register["number"]
    text, pages = await pdf_of(client, mediator, register, "oral_agreement_register")
    assert pages == 1
    assert_all_in(
        text,
        "口头调解协议登记表",
        register["number"],
        "申请人：王秀英",
        "被申请人：李堃",
        "李堃当场向王秀英支付维修费人民币1500元",
        "涉及金额：1,500.00元",
        "履行方式：当场现金支付",
        "协议达成日期：2026年3月2日",
        "第二十八条",
        "王芳、陈静",
    )
    assert re.fullmatch(r"\(2026\)昆\S*调访字第 0001 号", follow_up["number"]), follow_up["number"]
    text, pages = await pdf_of(client, mediator, follow_up, "follow_up_record")
    assert pages == 1
    assert_all_in(
        text,
        "人民调解回访记录",
        follow_up["number"],
        "李堃",
        "回访日期：2026年3月2日；回访人：王芳",
        "履行情况：已全部履行",
        "电话回访，款项已当场付清",
        "回访结论：已全部履行",
    )
    word = docx_text(
        await fetch(client, mediator, await make(client, mediator, case, "follow_up_record", "docx"))
    )
    assert_all_in(word, "人民调解回访记录", follow_up["number"], "已全部履行", "2026年3月2日")
    word = docx_text(
        await fetch(client, mediator, await make(client, mediator, case, "oral_agreement_register", "docx"))
    )
    assert_all_in(
        word,
        "口头调解协议登记表",
        register["number"],
        "李堃当场向王秀英支付维修费人民币1500元",
        "协议达成日期：2026年3月2日",
    )


async def test_the_written_agreement_names_its_mediator_and_the_parties_apply_jointly_for_confirmation(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await accepted_with_co_mediator(client, mediator, db)  # 王秀英 and 李建国 (builders)
    assert fields_named(await refused(client, mediator, case, "judicial_confirmation")) == ["kind"]
    case = await move(client, mediator, case, "settle", agreement=CONFIRMABLE_AGREEMENT)

    agreement = await make(client, mediator, case, "written_agreement")
    before = await make(client, mediator, case, "judicial_confirmation")
    case = await read_case(client, mediator, case)  # each document is an event: the version moved
    case = await move(client, mediator, case, "request_confirmation", **application("2026-03-02"))
    applied = await make(client, mediator, case, "judicial_confirmation")

    text, _ = pdf_text(await fetch(client, mediator, agreement))
    assert "人民调解员（签名）：王芳" in text  # no longer blank: the case's lead mediator
    assert re.fullmatch(r"\(2026\)昆\S*调确字第 0001 号", before["number"]), before["number"]
    text, pages = pdf_text(await fetch(client, mediator, before))
    assert pages == 1
    # Before the parties applied: every party applies, to the desk's court.
    assert_all_in(
        text, "申请人：王秀英", "申请人：李建国", "昆山市人民法院", "人民调解协议书、双方当事人身份证明"
    )
    assert (applied["version"], applied["number"]) == (2, before["number"])
    text, pages = await pdf_of(client, mediator, applied, "judicial_confirmation")
    assert pages in (1, 2)
    assert_all_in(
        text,
        "司法确认申请书",
        applied["number"],
        "申请人：王秀英，证件号码：320583198001011234",
        "申请人：李建国",
        "委托代理人：张明律师（授权委托书(2026)第12号）",
        f"人民调解协议（{agreement['number']}）有效",
        "被申请人于十五日内支付申请人维修费 2000 元",
        "履行期限：2026年12月31日",
        "第三十三条",
        "第二百零五条",
        "三十日内",
        "附：人民调解协议书、双方身份证明、授权委托书",
        "此致",
        "昆山市人民法院",
        "2026年3月2日",
    )
    word = docx_text(
        await fetch(client, mediator, await make(client, mediator, case, "judicial_confirmation", "docx"))
    )
    assert_all_in(word, "司法确认申请书", applied["number"], "张明律师", "第二百零五条")


async def test_a_hand_off_has_its_letter_from_the_sender_and_a_court_delegation_its_own(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    police, mediator, clerk = (
        await auth("zhangpu.police"),
        await auth("dashi.mediator"),
        await auth("court.clerk"),
    )
    plain = await open_case(client, mediator)
    assert fields_named(await refused(client, mediator, plain, "handoff_letter")) == ["kind"]
    handed = await hand_to_station(client, police, await police_case(client, police))

    letter = await make(client, mediator, handed, "handoff_letter")

    # Numbered in the register of the unit that sent it (the police station's 调移字).
    assert re.fullmatch(r"\(2026\)\S+调移字第 0001 号", letter["number"]), letter["number"]
    text, pages = await pdf_of(client, mediator, letter, "handoff_letter")
    assert pages == 1
    assert_all_in(
        text,
        "移交函",
        letter["number"],
        "大市社区人民调解委员会：",
        "警调对接",
        "警情编号：JQ2026030200123",
        "王秀英",
        "李建国",
        "邻里纠纷，适宜人民调解",
        "张浦派出所（印章）",
        "2026年3月2日",
    )

    case = await move(client, mediator, await open_case(client, mediator, parties=PARTIES), "accept")
    case = await move(client, mediator, case, "terminate", termination_reason="gap_too_wide")
    case = await move(client, mediator, case, "refer_to_court", reason="调解不成，当事人同意移送")
    claimed = (await client.post("/api/v1/court/queue/claim", headers=clerk)).json()
    assert claimed["id"] == case["id"]
    delegated = await move(
        client,
        clerk,
        claimed,
        "delegate",
        target_unit=DASHI,
        court_case_number="(2026)苏0583民初1234号",
        procedure="simplified",
        materials=["起诉状副本", "证据材料"],
    )
    by_court = await make(client, clerk, delegated, "handoff_letter", "docx")
    text = docx_text(await fetch(client, clerk, by_court))
    assert_all_in(
        text,
        "委托调解函",
        by_court["number"],
        "大市社区人民调解委员会：",
        "案号 (2026)苏0583民初1234号，简易程序",
        "起诉状副本、证据材料",
        "李堃",
        "昆山市人民法院（印章）",
        "2026年3月2日",
    )
    assert by_court["number"] != letter["number"] and "第 0001 号" in by_court["number"]


def test_typed_text_that_looks_like_layout_is_printed_as_a_paragraph() -> None:
    templates = load_templates(CONFIG_DIR / "documents")
    party = {**SAMPLE["parties"][0], "name": "= 伪造的标题", "details": "\n| 伪造的签名行\n> 伪造的日期"}
    values = {
        **SAMPLE,
        "summary": "= 标题\n> 右对齐\n| 签名\n\ue001= 私用区字符不能打开一行",
        "parties": [party],
        "applicants": [party],
        "respondents": [],
    }

    lines = templates.lines(DocumentKind.application, values)

    titles = [line.text for line in lines if line.style is Style.heading]
    assert titles == ["人民调解申请书"]  # the template's, and only it
    typed = {
        line.text: line.style
        for line in lines
        if "伪造" in line.text or line.text.startswith(("= ", "> ", "| "))
    }
    assert typed == {
        "申请人：= 伪造的标题": Style.paragraph,
        "| 伪造的签名行": Style.paragraph,
        "> 伪造的日期": Style.paragraph,
        "> 右对齐": Style.paragraph,
        "| 签名": Style.paragraph,
        "= 私用区字符不能打开一行": Style.paragraph,
        # The template's own signature line keeps its style, whatever the name says.
        "申请人（签名、盖章或者按指印）：= 伪造的标题  ______________": Style.signature,
    }
    assert all("\ue000" not in line.text and "\ue001" not in line.text for line in lines)


def test_word_names_east_asian_fonts_windows_has() -> None:
    data = render_module.render_docx(["= 人民调解协议书", "申请人：李堃“甲”"], title="人民调解协议书")
    doc = Document(io.BytesIO(data))
    normal = doc.styles["Normal"].element.rPr.rFonts
    assert normal.get(qn("w:eastAsia")) == "宋体" and normal.get(qn("w:hint")) == "eastAsia"
    title_fonts = doc.paragraphs[0].runs[0]._r.rPr.rFonts
    assert title_fonts.get(qn("w:eastAsia")) == "黑体"
    assert doc.paragraphs[1].text == "申请人：李堃“甲”"


async def test_the_number_is_taken_while_nothing_is_rendered_and_a_failed_render_takes_none(
    client: httpx.AsyncClient, auth, db: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator, parties=PARTIES)
    open_transactions: list[object] = []
    during: list[tuple[str, int]] = []
    sync = db.engine.sync_engine

    def begin(conn: object) -> None:
        open_transactions.append(conn)

    def end(conn: object) -> None:
        if conn in open_transactions:
            open_transactions.remove(conn)

    real_prepare, real_render = documents_service.prepare_font, documents_service.render

    def prepare(*args: Any, **kwargs: Any) -> Any:
        during.append(("prepare_font", len(open_transactions)))
        return real_prepare(*args, **kwargs)

    def rendering(*args: Any, **kwargs: Any) -> Any:
        during.append(("render", len(open_transactions)))
        return real_render(*args, **kwargs)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the typesetter failed")

    monkeypatch.setattr(documents_service, "prepare_font", broken)
    with pytest.raises(RuntimeError, match="typesetter"):
        await client.post(
            f"/api/v1/cases/{case['id']}/documents", json={"kind": "application"}, headers=mediator
        )
    monkeypatch.setattr(documents_service, "prepare_font", prepare)
    monkeypatch.setattr(documents_service, "render", rendering)
    for name, listener in (("begin", begin), ("commit", end), ("rollback", end)):
        event.listen(sync, name, listener)
    try:
        kept = await make(client, mediator, case, "application")
    finally:
        for name, listener in (("begin", begin), ("commit", end), ("rollback", end)):
            event.remove(sync, name, listener)

    assert kept["number"].endswith("第 0001 号")  # the failed attempt gave its number back
    assert during == [("prepare_font", 0), ("render", 0)]  # both before the transaction
    async with db.engine.connect() as conn:
        taken = (await conn.execute(sa.text("SELECT count(*) FROM number_taken"))).scalar_one()
    assert taken == 1


async def test_a_number_taken_meanwhile_is_printed_on_the_document(
    client: httpx.AsyncClient, auth, db: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another request took the number this one read: the document is set again in the
    transaction, with the number it was given (and the font already cut)."""
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator, parties=PARTIES)
    real = documents_service._expected_number

    async def stale(*args: Any, **kwargs: Any) -> str | None:
        found = await real(*args, **kwargs)
        assert found is not None
        return found.replace("0001", "0007")

    monkeypatch.setattr(documents_service, "_expected_number", stale)
    kept = await make(client, mediator, case, "application")

    assert kept["number"].endswith("第 0001 号")
    text, _ = pdf_text(await fetch(client, mediator, kept))
    assert kept["number"] in text and "0007" not in text


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
async def test_twenty_concurrent_generations_number_one_to_twenty_each_printing_its_own(
    client: httpx.AsyncClient, auth, postgres: Backend
) -> None:
    """Each request reads the number it expects without a lock and sets its document with it; most
    find another took it and set it again inside the transaction: every document still prints the
    number it was given, and the register has 1..20 without a gap. (Word, which needs no font cut:
    the numbering is the same for PDF.)"""
    mediator = await auth("dashi.mediator")
    cases = [await open_case(client, mediator, parties=PARTIES) for _ in range(20)]

    responses = await asyncio.gather(
        *(
            client.post(
                f"/api/v1/cases/{case['id']}/documents",
                json={"kind": "application", "format": "docx"},
                headers=mediator,
            )
            for case in cases
        )
    )

    assert [r.status_code for r in responses] == [201] * 20, [
        r.text for r in responses if r.status_code != 201
    ]
    kept = [r.json() for r in responses]
    assert sorted(int(k["number"].split("第 ")[1][:4]) for k in kept) == list(range(1, 21))
    for k in kept:
        assert k["number"] in docx_text(await fetch(client, mediator, k))
    async with postgres.engine.connect() as conn:
        stored = (
            await conn.execute(
                sa.text("SELECT number FROM number_taken WHERE kind = 'application' ORDER BY number")
            )
        ).scalars()
        assert list(stored) == list(range(1, 21))
