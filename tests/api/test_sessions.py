"""Mediation sessions recorded on a case (调解笔录): record, correct with If-Match, list, read; the
rules on what a record may say; who may write and read; on both databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from service.clock import SHANGHAI
from service.mediators.models import Mediator
from service.users.models import User
from service.web.session import LANGUAGE_COOKIE, SESSION_COOKIE, csrf_token
from tests.builders import DASHI, WULIAN, add_mediator, move, open_case
from tests.conftest import Backend, token_for

pytestmark = pytest.mark.usefixtures("trail_stays_intact")

mediators = Mediator.__table__  # type: ignore[attr-defined]
users = User.__table__  # type: ignore[attr-defined]


def url(case: dict[str, Any], tail: str = "") -> str:
    return f"/api/v1/cases/{case['id']}/sessions{tail}"


def at(hours_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat()


async def lead_of(db: Backend, username: str) -> int:
    async with db.engine.connect() as conn:
        found: int = (
            await conn.execute(
                sa.select(mediators.c.id)
                .join(users, users.c.id == mediators.c.user_id)
                .where(users.c.username == username)
            )
        ).scalar_one()
    return found


async def mediating(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    """A case at 大市社区 accepted by dashi.mediator (who becomes its lead)."""
    return await move(client, headers, await open_case(client, headers), "accept")


def record(case: dict[str, Any], mediator_id: int, **overrides: Any) -> dict[str, Any]:
    applicant, respondent = (p["id"] for p in case["parties"])
    body: dict[str, Any] = {
        "started_at": at(3),
        "ended_at": at(1.5),
        "place": "大市社区调解室",
        "party_ids": [applicant, respondent],
        "agents": [{"name": "王小明", "party_id": applicant}],
        "mediator_ids": [mediator_id],
        "others": [{"name": "赵村委", "role": "村委会主任"}],
        "statements": [
            {"party_id": applicant, "text": "楼上漏水三个月，墙面霉变，要求赔偿维修费三千元。"},
            {"party_id": respondent, "text": "同意维修防水层，但认为三千元过高。"},
        ],
        "proposal": "由李建国负责维修防水层，并补偿王秀英一千五百元。",
        "result": "adjourned",
        "adjourned_to": (datetime.now(UTC) + timedelta(days=7)).date().isoformat(),
        "notes": "双方同意一周后再次到场。",
    }
    body.update(overrides)
    return body


async def events_of(client: httpx.AsyncClient, headers: dict[str, str], case: dict[str, Any]) -> list[Any]:
    response = await client.get(f"/api/v1/cases/{case['id']}/events", headers=headers)
    assert response.status_code == 200, response.text
    return [e for e in response.json() if e["kind"] == "session"]


async def test_a_session_is_recorded_on_the_case_with_who_attended_and_what_was_said(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await mediating(client, mediator)
    lead = await lead_of(db, "dashi.mediator")

    response = await client.post(url(case), json=record(case, lead), headers=mediator)

    assert response.status_code == 201, response.text
    written = response.json()
    assert response.headers["ETag"] == '"1"'
    assert (written["number"], written["version"], written["recorded_by"]) == (1, 1, "dashi.mediator")
    assert [p["name"] for p in written["parties"]] == ["王秀英", "李建国"]
    assert [m["id"] for m in written["mediators"]] == [lead]
    assert written["agents"] == [
        {"name": "王小明", "party_id": case["parties"][0]["id"], "party_name": "王秀英"}
    ]
    assert [s["party_name"] for s in written["statements"]] == ["王秀英", "李建国"]
    assert written["result"] == "adjourned" and written["others"][0]["role"] == "村委会主任"
    listed = (await client.get(url(case), headers=mediator)).json()
    assert listed["may_record"] is True and [s["id"] for s in listed["sessions"]] == [written["id"]]
    one = await client.get(url(case, f"/{written['id']}"), headers=mediator)
    assert one.status_code == 200 and one.json() == written and one.headers["ETag"] == '"1"'
    (event,) = await events_of(client, mediator, case)
    assert event["payload"]["action"] == "record" and event["payload"]["number"] == 1
    assert event["payload"]["record"]["proposal"] == written["proposal"]
    after = (await client.get(f"/api/v1/cases/{case['id']}", headers=mediator)).json()
    assert after["version"] == case["version"] + 1


async def test_a_second_session_takes_the_next_number(client: httpx.AsyncClient, auth, db: Backend) -> None:
    mediator = await auth("dashi.mediator")
    case = await mediating(client, mediator)
    lead = await lead_of(db, "dashi.mediator")

    first = await client.post(
        url(case), json=record(case, lead, started_at=at(50), ended_at=at(49)), headers=mediator
    )
    second = await client.post(
        url(case), json=record(case, lead, result="agreement", adjourned_to=None), headers=mediator
    )

    assert (first.json()["number"], second.json()["number"]) == (1, 2)
    listed = (await client.get(url(case), headers=mediator)).json()["sessions"]
    assert [s["number"] for s in listed] == [1, 2]


async def test_a_correction_keeps_the_old_text_on_the_trail(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await mediating(client, mediator)
    lead = await lead_of(db, "dashi.mediator")
    written = (await client.post(url(case), json=record(case, lead), headers=mediator)).json()
    corrected_body = record(
        case,
        lead,
        started_at=written["started_at"],
        ended_at=written["ended_at"],
        adjourned_to=written["adjourned_to"],
    )
    corrected_body["proposal"] = "由李建国维修防水层，并补偿王秀英二千元。"

    response = await client.put(
        url(case, f"/{written['id']}"),
        json={**corrected_body, "reason": "补偿金额记错"},
        headers={**mediator, "If-Match": '"1"'},
    )

    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2 and response.json()["corrected_by"] == "dashi.mediator"
    assert response.json()["proposal"] == corrected_body["proposal"]
    correction = (await events_of(client, mediator, case))[-1]
    assert correction["payload"]["action"] == "correct" and correction["reason"] == "补偿金额记错"
    assert correction["payload"]["changes"] == {"proposal": [written["proposal"], corrected_body["proposal"]]}


async def test_a_correction_of_an_old_version_is_told_to_reload(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await mediating(client, mediator)
    lead = await lead_of(db, "dashi.mediator")
    written = (await client.post(url(case), json=record(case, lead), headers=mediator)).json()
    path = url(case, f"/{written['id']}")
    first = await client.put(
        path, json=record(case, lead, notes="第一次更正"), headers={**mediator, "If-Match": '"1"'}
    )
    assert first.status_code == 200, first.text

    stale = await client.put(
        path, json=record(case, lead, notes="第二次更正"), headers={**mediator, "If-Match": '"1"'}
    )
    missing = await client.put(path, json=record(case, lead, notes="第二次更正"), headers=mediator)

    assert stale.status_code == 412 and stale.headers["ETag"] == '"2"'
    assert stale.headers["content-type"] == "application/problem+json"
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "header.If-Match"
    assert (await client.get(path, headers=mediator)).json()["notes"] == "第一次更正"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda c, b: b.update(ended_at=b["started_at"]), "body.ended_at"),
        (lambda c, b: b.update(started_at=at(-2), ended_at=at(-3)), "body.started_at"),
        (lambda c, b: b.update(ended_at=at(-30), started_at=at(2)), "body.ended_at"),
        (lambda c, b: b.update(party_ids=[*b["party_ids"], 2**31 - 1]), "body.party_ids.2"),
        (lambda c, b: b.update(party_ids=[b["party_ids"][0], b["party_ids"][0]]), "body.party_ids.1"),
        (lambda c, b: b.update(mediator_ids=[2**40]), "body.mediator_ids.0"),
        (lambda c, b: b.update(agents=[{"name": "某人", "party_id": 2**31 - 1}]), "body.agents.0.party_id"),
        (lambda c, b: b.update(party_ids=[b["party_ids"][0]], agents=[]), "body.statements.1.party_id"),
        (lambda c, b: b.update(party_ids=[], agents=[], statements=[]), "body.party_ids"),
        (lambda c, b: b.update(adjourned_to=None), "body.adjourned_to"),
        (lambda c, b: b.update(result="agreement"), "body.adjourned_to"),
        (lambda c, b: b.update(place="调" * 201), "body.place"),
        (lambda c, b: b.update(place="  "), "body.place"),
        (lambda c, b: b.update(result="maybe"), "body.result"),
        (lambda c, b: b.update(started_at="2026-03-02T09:00:00"), "body.started_at"),
        (lambda c, b: b.update(statements=b["statements"] * 26), "body.statements"),
        (lambda c, b: b.update(notes="字" * 10001), "body.notes"),
        (lambda c, b: b["statements"][0].update(text="同意\x00赔偿"), "body.statements.0.text"),
        (lambda c, b: b.update(place="调解室\u202e"), "body.place"),
        (lambda c, b: b.update(others=[{"name": "赵建华", "role": ""}]), "body.others.0.role"),
    ],
)
async def test_an_invalid_record_is_refused_naming_the_field(
    client: httpx.AsyncClient, auth, db: Backend, change: Any, field: str
) -> None:
    mediator = await auth("dashi.mediator")
    case = await mediating(client, mediator)
    body = record(case, await lead_of(db, "dashi.mediator"))
    change(case, body)

    response = await client.post(url(case), json=body, headers=mediator)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]
    assert (await client.get(url(case), headers=mediator)).json()["sessions"] == []


async def test_attendees_must_be_of_this_case(client: httpx.AsyncClient, auth, db: Backend) -> None:
    mediator = await auth("dashi.mediator")
    case = await mediating(client, mediator)
    other = await mediating(client, mediator)
    on_roster_only = await add_mediator(db.engine, "周敏", [DASHI])
    lead = await lead_of(db, "dashi.mediator")

    wrong_party = await client.post(
        url(case), json=record(case, lead, party_ids=[other["parties"][0]["id"]]), headers=mediator
    )
    not_assigned = await client.post(url(case), json=record(case, on_roster_only), headers=mediator)

    assert wrong_party.json()["errors"][0]["field"] == "body.party_ids.0"
    assert not_assigned.json()["errors"][0]["field"] == "body.mediator_ids.0"


async def test_only_those_handling_the_case_write_and_those_who_read_it_read(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await mediating(client, mediator)
    lead = await lead_of(db, "dashi.mediator")
    written = (await client.post(url(case), json=record(case, lead), headers=mediator)).json()
    auditor, coordinator, outsider = (
        await auth("auditor"),
        await auth("zhangpu.coordinator"),
        await auth("wulian.mediator"),
    )

    by_auditor = await client.post(url(case), json=record(case, lead), headers=auditor)
    auditor_reads = await client.get(url(case, f"/{written['id']}"), headers=auditor)
    by_coordinator = await client.post(url(case), json=record(case, lead), headers=coordinator)
    outsider_reads = await client.get(url(case), headers=outsider)
    outsider_writes = await client.post(url(case), json=record(case, lead), headers=outsider)
    nobody = await client.get(url(case))

    assert by_auditor.status_code == 409 and auditor_reads.status_code == 200
    assert (await client.get(url(case), headers=auditor)).json()["may_record"] is False
    assert by_coordinator.status_code == 201, by_coordinator.text
    assert outsider_reads.status_code == outsider_writes.status_code == 404
    assert nobody.status_code == 401
    assert WULIAN


async def test_a_closed_case_sessions_are_final(client: httpx.AsyncClient, auth, db: Backend) -> None:
    mediator = await auth("dashi.mediator")
    case = await mediating(client, mediator)
    lead = await lead_of(db, "dashi.mediator")
    written = (await client.post(url(case), json=record(case, lead), headers=mediator)).json()
    closed = await client.post(
        f"/api/v1/cases/{case['id']}/transitions",
        json={"trigger": "withdraw", "reason": "当事人撤回申请"},
        headers=mediator,
    )
    assert closed.status_code == 200, closed.text

    added = await client.post(url(case), json=record(case, lead), headers=mediator)
    corrected = await client.put(
        url(case, f"/{written['id']}"),
        json=record(case, lead, notes="改"),
        headers={**mediator, "If-Match": '"1"'},
    )

    assert added.status_code == corrected.status_code == 409
    listed = (await client.get(url(case), headers=mediator)).json()
    assert listed["may_record"] is False and listed["sessions"][0]["notes"] == written["notes"]


async def test_an_unknown_session_is_not_found(client: httpx.AsyncClient, auth, db: Backend) -> None:
    mediator = await auth("dashi.mediator")
    case = await mediating(client, mediator)

    response = await client.get(url(case, "/999999"), headers=mediator)

    assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"


# --- the pages, as a browser without JavaScript uses them -----------------------------------------


async def page_client(db: Backend, client: httpx.AsyncClient, username: str, lang: str) -> httpx.AsyncClient:
    token = await token_for(client, db, username)
    web = httpx.AsyncClient(transport=httpx.ASGITransport(app=db.app), base_url="http://jiefen.test")
    web.cookies.set(SESSION_COOKIE, token)
    web.cookies.set(LANGUAGE_COOKIE, lang)
    web.headers["X-Test-Csrf"] = csrf_token(token)
    return web


def form_of(case: dict[str, Any], lead: int, csrf: str, **overrides: str) -> dict[str, Any]:
    applicant, respondent = (p["id"] for p in case["parties"])
    yesterday = (datetime.now(UTC) - timedelta(days=1)).astimezone(SHANGHAI).date()
    form: dict[str, Any] = {
        "csrf_token": csrf,
        "day": yesterday.isoformat(),
        "start": "09:30",
        "end": "11:00",
        "place": "大市社区调解室",
        "party_ids": [str(applicant), str(respondent)],
        "mediator_ids": [str(lead)],
        f"agent_{applicant}": "王小明",
        f"statement_{applicant}": "要求赔偿维修费三千元。",
        f"statement_{respondent}": "同意维修，但金额过高。",
        "others": "赵建华 村委会主任",
        "proposal": "补偿一千五百元。",
        "result": "partial",
    }
    form.update(overrides)
    return form


async def test_a_session_added_from_the_form_shows_on_the_case_page_in_beijing_time(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await mediating(client, mediator)
    lead = await lead_of(db, "dashi.mediator")
    web = await page_client(db, client, "dashi.mediator", "zh")
    try:
        empty = await web.get(f"/cases/{case['id']}")
        form = await web.get(f"/cases/{case['id']}/sessions/new")
        sent = await web.post(
            f"/cases/{case['id']}/sessions", data=form_of(case, lead, web.headers["X-Test-Csrf"])
        )
        page = await web.get(f"/cases/{case['id']}")
        (written,) = (await client.get(url(case), headers=mediator)).json()["sessions"]
        one = await web.get(f"/cases/{case['id']}/sessions/{written['id']}")
    finally:
        await web.aclose()
    auditor = await page_client(db, client, "auditor", "zh")
    try:
        audited = await auditor.get(f"/cases/{case['id']}")
        audited_one = await auditor.get(f"/cases/{case['id']}/sessions/{written['id']}")
        audited_form = await auditor.get(f"/cases/{case['id']}/sessions/new")
        audited_edit = await auditor.get(f"/cases/{case['id']}/sessions/{written['id']}/edit")
    finally:
        await auditor.aclose()

    assert "添加调解记录" in empty.text and f'href="/cases/{case["id"]}/sessions/new"' in empty.text
    assert form.status_code == 200 and 'type="checkbox" name="party_ids"' in form.text
    assert sent.status_code == 303, sent.text
    assert (
        written["started_at"].endswith("01:30:00Z") or "T01:30:00" in written["started_at"]
    )  # 09:30 Beijing
    assert [a["name"] for a in written["agents"]] == ["王小明"] and written["others"][0][
        "role"
    ] == "村委会主任"
    section = page.text.split('id="sessions"', 1)[1].split("</section>", 1)[0]
    assert "第1次调解" in section and "09:30–11:00" in section and "部分达成协议" in section
    assert "年" in section and "T09" not in section
    assert one.status_code == 200 and "王小明（王秀英的代理人）" in one.text and "更正此记录" in one.text
    assert "第1次调解" in audited.text and "添加调解记录" not in audited.text
    assert audited_one.status_code == 200 and "更正此记录" not in audited_one.text
    assert audited_form.status_code == audited_edit.status_code == 409


async def test_the_form_names_the_field_a_rule_refuses(client: httpx.AsyncClient, auth, db: Backend) -> None:
    mediator = await auth("dashi.mediator")
    case = await mediating(client, mediator)
    lead = await lead_of(db, "dashi.mediator")
    web = await page_client(db, client, "dashi.mediator", "en")
    try:
        csrf = web.headers["X-Test-Csrf"]
        silent = {f"{kind}_{p['id']}": "" for p in case["parties"] for kind in ("agent", "statement")}
        backwards = await web.post(
            f"/cases/{case['id']}/sessions", data=form_of(case, lead, csrf, end="08:00")
        )
        nobody = await web.post(
            f"/cases/{case['id']}/sessions", data=form_of(case, lead, csrf, party_ids=[], **silent)
        )
        adjourned = await web.post(
            f"/cases/{case['id']}/sessions", data=form_of(case, lead, csrf, result="adjourned")
        )
    finally:
        await web.aclose()

    assert backwards.status_code == nobody.status_code == adjourned.status_code == 422
    assert 'id="end-error"' in backwards.text and "must be after the start" in backwards.text
    assert 'id="party_ids-error"' in nobody.text and "tick the case" in nobody.text
    assert 'id="adjourned_to-error"' in adjourned.text
    assert "大市社区调解室" in backwards.text  # what was typed is kept
    assert (await client.get(url(case), headers=mediator)).json()["sessions"] == []


async def test_a_correction_from_a_stale_form_is_told_and_keeps_the_typing(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await mediating(client, mediator)
    lead = await lead_of(db, "dashi.mediator")
    written = (await client.post(url(case), json=record(case, lead), headers=mediator)).json()
    web = await page_client(db, client, "dashi.mediator", "zh")
    try:
        edit = await web.get(f"/cases/{case['id']}/sessions/{written['id']}/edit")
        first = await client.put(
            url(case, f"/{written['id']}"),
            json=record(case, lead, notes="他人先更正"),
            headers={**mediator, "If-Match": '"1"'},
        )
        assert first.status_code == 200, first.text
        late = await web.post(
            f"/cases/{case['id']}/sessions/{written['id']}",
            data=form_of(
                case, lead, web.headers["X-Test-Csrf"], version="1", notes="我的更正", result="none"
            ),
        )
    finally:
        await web.aclose()

    assert edit.status_code == 200 and 'name="version" value="1"' in edit.text
    assert late.status_code == 412 and "已被他人更正（现为第2版）" in late.text and "我的更正" in late.text
    assert (await client.get(url(case, f"/{written['id']}"), headers=mediator)).json()[
        "notes"
    ] == "他人先更正"


async def test_retention_clears_what_was_said_but_keeps_when_who_and_the_result(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    from service.privacy.pipl import anonymise_closed_cases

    mediator = await auth("dashi.mediator")
    case = await mediating(client, mediator)
    lead = await lead_of(db, "dashi.mediator")
    written = (await client.post(url(case), json=record(case, lead), headers=mediator)).json()
    await move(client, mediator, case | {"version": case["version"] + 1}, "withdraw", reason="撤回")

    later = datetime.now(UTC) + timedelta(days=10_000)
    assert (
        await anonymise_closed_cases(db.engine, db.ctx, closed_before_days=1825, actor="test", now=later) >= 1
    )

    kept = (await client.get(url(case, f"/{written['id']}"), headers=mediator)).json()
    assert (kept["started_at"], kept["place"], kept["result"]) == (
        written["started_at"],
        written["place"],
        written["result"],
    )
    assert [p["id"] for p in kept["parties"]] == [p["id"] for p in written["parties"]]
    assert {s["text"] for s in kept["statements"]} == {"（已匿名化）"}
    assert kept["agents"][0]["name"] == kept["others"][0]["name"] == "（已匿名化）"
    assert kept["proposal"] is None and kept["notes"] is None


async def test_sessions_recorded_at_once_are_numbered_without_gaps_or_twins(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await mediating(client, mediator)
    lead = await lead_of(db, "dashi.mediator")

    responses = await asyncio.gather(
        *(
            client.post(url(case), json=record(case, lead, notes=f"第{i}份"), headers=mediator)
            for i in range(6)
        )
    )

    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {201, 412} and 201 in statuses, statuses
    listed = (await client.get(url(case), headers=mediator)).json()["sessions"]
    assert sorted(s["number"] for s in listed) == list(range(1, statuses.count(201) + 1))
    events = await events_of(client, mediator, case)
    assert len(events) == statuses.count(201)
