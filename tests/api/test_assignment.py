"""Who handles a case: assigning, reassigning and removing mediators, the parties' refusals and the
mediators' withdrawals (回避), suggestions, the cases needing a new lead; on both databases."""

from __future__ import annotations

import asyncio
import re
from typing import Any
from uuid import uuid4

import httpx
import pytest
import sqlalchemy as sa

from service.mediators.models import Mediator
from service.users.models import User
from service.web.session import LANGUAGE_COOKIE, SESSION_COOKIE, csrf_token
from tests.builders import DASHI, WULIAN, ZHANGPU, add_mediator, move, open_case
from tests.conftest import Backend, token_for

pytestmark = pytest.mark.usefixtures("trail_stays_intact")

mediators = Mediator.__table__  # type: ignore[attr-defined]
users = User.__table__  # type: ignore[attr-defined]


def url(case: dict[str, Any], tail: str = "") -> str:
    return f"/api/v1/cases/{case['id']}/mediators{tail}"


async def post(
    client: httpx.AsyncClient, headers: dict[str, str], case: dict[str, Any], tail: str, **body: Any
) -> httpx.Response:
    return await client.post(url(case, f"/{tail}"), json=body, headers=headers)


async def events_of(client: httpx.AsyncClient, headers: dict[str, str], case: dict[str, Any]) -> list[Any]:
    response = await client.get(f"/api/v1/cases/{case['id']}/events", headers=headers)
    assert response.status_code == 200, response.text
    events: list[Any] = response.json()
    return events


async def demo_record(db: Backend, username: str) -> int:
    """The demo roster's record of a demo sign-in (tests keep it linked: the roster tests count on it)."""
    async with db.engine.connect() as conn:
        found: int = (
            await conn.execute(
                sa.select(mediators.c.id)
                .join(users, users.c.id == mediators.c.user_id)
                .where(users.c.username == username)
            )
        ).scalar_one()
    return found


async def new_login(client: httpx.AsyncClient, auth, unit: str) -> str:
    """A new mediator's sign-in at ``unit`` (users outlive a test, so the name is unique)."""
    username = f"assign.{uuid4().hex[:10]}"
    response = await client.post(
        "/api/v1/admin/users",
        json={"username": username, "password": "Assign-Pass 2026 测试", "role": "mediator", "unit": unit},
        headers=await auth("admin"),
    )
    assert response.status_code == 201, response.text
    return username


async def test_accepting_a_case_makes_the_accepting_mediator_its_lead(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    me = await demo_record(db, "dashi.mediator")
    case = await open_case(client, mediator)

    await move(client, mediator, case, "accept")

    view = (await client.get(url(case), headers=mediator)).json()
    assert view["lead"]["mediator_id"] == me
    assert (view["lead"]["role"], view["lead"]["assigned_by"], view["co"]) == ("lead", "dashi.mediator", [])
    assert view["may_change"] is True


async def test_assigning_a_co_mediator_and_reassigning_the_lead_with_a_reason_is_audited(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    login = await new_login(client, auth, DASHI)
    co = await add_mediator(db.engine, "陈静", [DASHI], username=login)
    other = await add_mediator(db.engine, "赵磊", [DASHI])
    case = await move(client, mediator, await open_case(client, mediator), "accept")

    assigned = await post(client, mediator, case, "assign", mediator_id=co, role="co", reason="熟悉该小区")
    no_reason = await post(client, mediator, case, "reassign-lead", mediator_id=other)
    reassigned = await post(client, mediator, case, "reassign-lead", mediator_id=other, reason="王芳休产假")

    assert assigned.status_code == 200, assigned.text
    assert [c["mediator_name"] for c in assigned.json()["co"]] == ["陈静"]
    assert no_reason.status_code == 422
    assert no_reason.json()["errors"][0]["field"] == "body.reason"
    assert reassigned.status_code == 200, reassigned.text
    view = reassigned.json()
    assert view["lead"]["mediator_name"] == "赵磊"
    assert [(p["mediator_name"], p["end"], p["end_reason"]) for p in view["past"]] == [
        ("王芳", "reassigned", "王芳休产假")
    ]
    events = await events_of(client, mediator, case)
    assert [(e["kind"], e["payload"].get("action"), e["payload"].get("mediator")) for e in events[-2:]] == [
        ("assignment", "assign", "陈静"),
        ("assignment", "reassign_lead", "赵磊"),
    ]
    assert events[-1]["reason"] == "王芳休产假" and events[-1]["payload"]["replaced"] == "王芳"
    # The co-mediator with a sign-in is told, by name; the one who assigned is the cause.
    inbox = db.app.state.engine
    async with inbox.connect() as conn:
        items = (
            await conn.execute(
                sa.text(
                    "SELECT addressee, caused_by, reason FROM inbox_item"
                    " WHERE kind = 'mediator_assigned' ORDER BY id"
                )
            )
        ).all()
    assert [(i.addressee, i.caused_by) for i in items] == [
        (login, "dashi.mediator"),
        (None, "dashi.mediator"),
    ]
    assert "陈静" in items[0].reason


async def test_a_party_refusing_a_mediator_ends_the_assignment_and_bars_them_for_good(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    first = await add_mediator(db.engine, "孙红", [DASHI])
    second = await add_mediator(db.engine, "钱亮", [DASHI])
    case = await open_case(client, mediator)
    await post(client, mediator, case, "assign", mediator_id=first)
    applicant = case["parties"][0]

    refused = await post(
        client,
        mediator,
        case,
        "decisions",
        kind="party_refused",
        mediator_id=first,
        party_id=applicant["id"],
        note="申请人认为其与对方熟识",
    )
    again = await post(client, mediator, case, "assign", mediator_id=first)
    await post(client, mediator, case, "assign", mediator_id=second)
    as_new_lead = await post(client, mediator, case, "reassign-lead", mediator_id=first, reason="再试")

    assert refused.status_code == 200, refused.text
    view = refused.json()
    assert view["lead"] is None and view["barred"] == [first]
    assert view["past"][0]["end"] == "refused"
    assert [(d["kind"], d["party_name"]) for d in view["decisions"]] == [("party_refused", applicant["name"])]
    for response in (again, as_new_lead):
        assert response.status_code == 409
        problem = response.json()
        assert problem["type"].endswith("mediator-barred")
        assert problem["rule"] == "barred-after-refusal-or-withdrawal"
    events = await events_of(client, mediator, case)
    decision = next(e for e in events if e["kind"] == "mediator_choice")
    assert decision["payload"]["mediator"] == "孙红" and decision["payload"]["ended_assignment"] is True


async def test_a_party_decision_names_a_party_of_this_case(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    someone = await add_mediator(db.engine, "孙红", [DASHI])
    case = await open_case(client, mediator)
    other = await open_case(client, mediator)

    no_party = await post(client, mediator, case, "decisions", kind="party_chose", mediator_id=someone)
    wrong_party = await post(
        client,
        mediator,
        case,
        "decisions",
        kind="party_chose",
        mediator_id=someone,
        party_id=other["parties"][0]["id"],
    )
    chose = await post(
        client,
        mediator,
        case,
        "decisions",
        kind="party_chose",
        mediator_id=someone,
        party_id=case["parties"][1]["id"],
    )

    assert [r.status_code for r in (no_party, wrong_party)] == [422, 422]
    assert (
        no_party.json()["errors"][0]["field"] == wrong_party.json()["errors"][0]["field"] == "body.party_id"
    )
    assert chose.status_code == 200, chose.text
    assert chose.json()["barred"] == []


async def test_a_withdrawal_for_a_conflict_names_its_ground_and_bars_the_mediator(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    relative = await add_mediator(db.engine, "李梅", [DASHI])
    case = await open_case(client, mediator)
    await post(client, mediator, case, "assign", mediator_id=relative, role="co")

    no_ground = await post(client, mediator, case, "decisions", kind="withdrawal", mediator_id=relative)
    withdrew = await post(
        client,
        mediator,
        case,
        "decisions",
        kind="withdrawal",
        mediator_id=relative,
        ground="party_relative",
        note="系被申请人之妹",
    )
    again = await post(client, mediator, case, "assign", mediator_id=relative, role="co")

    assert no_ground.status_code == 422
    assert no_ground.json()["errors"][0]["field"] == "body.ground"
    assert withdrew.status_code == 200, withdrew.text
    view = withdrew.json()
    assert view["co"] == [] and view["past"][0]["end"] == "withdrew"
    assert view["decisions"][0]["ground_label"] == "是当事人或其代理人的近亲属"
    assert again.status_code == 409 and again.json()["type"].endswith("mediator-barred")


async def test_suggestions_rank_by_specialty_and_load_and_exclude_a_mediator_who_is_a_party(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)  # a neighbour dispute; 王秀英 applies with her phone
    expert = await add_mediator(db.engine, "周强", [DASHI], specialties=["NEIGHBOUR"], languages=["吴语"])
    novice = await add_mediator(db.engine, "吴敏", [DASHI], specialties=["CONTRACT"])
    party = await add_mediator(db.engine, "王秀英", [DASHI], specialties=["NEIGHBOUR"])
    elsewhere = await add_mediator(db.engine, "郑一", [WULIAN], specialties=["NEIGHBOUR"])
    phone_index = db.ctx.cipher.blind_index(case_phone := "13800001234", "phone")
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.update(mediators).where(mediators.c.id == party).values(phone_index=phone_index)
        )
    assert case_phone

    response = await client.get(
        f"/api/v1/cases/{case['id']}/mediator-suggestions", params={"language": "吴语"}, headers=mediator
    )

    assert response.status_code == 200, response.text
    ranked = {s["mediator_id"]: s for s in response.json()}
    assert elsewhere not in ranked
    order = [s["mediator_id"] for s in response.json() if s["mediator_id"] in {expert, novice, party}]
    assert order == [expert, novice, party]
    assert [r["code"] for r in ranked[expert]["reasons"]] == ["specialty", "language", "load"]
    assert ranked[novice]["reasons"][0]["text"] == "不擅长此类纠纷"
    assert ranked[party]["excluded"] is True
    assert [r["code"] for r in ranked[party]["reasons"]] == ["conflict"]
    # Nothing was assigned.
    assert (await client.get(url(case), headers=mediator)).json()["lead"] is None


async def test_escalating_a_case_ends_its_assignments(client: httpx.AsyncClient, auth, db: Backend) -> None:
    mediator = await auth("dashi.mediator")
    co = await add_mediator(db.engine, "陈静", [DASHI])
    case = await move(client, mediator, await open_case(client, mediator), "accept")
    await post(client, mediator, case, "assign", mediator_id=co, role="co")
    case = (await client.get(f"/api/v1/cases/{case['id']}", headers=mediator)).json()

    await move(client, mediator, case, "escalate", reason="涉及多方主体，需镇中心协调")

    view = (await client.get(url(case), headers=await auth("zhangpu.coordinator"))).json()
    assert view["lead"] is None and view["co"] == []
    assert sorted((p["mediator_name"], p["end"]) for p in view["past"]) == [
        ("王芳", "closed"),
        ("陈静", "closed"),
    ]


async def test_a_deactivated_lead_puts_the_case_on_the_needs_reassignment_list(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    lead = await add_mediator(db.engine, "冯军", [DASHI])
    case = await open_case(client, mediator)
    await post(client, mediator, case, "assign", mediator_id=lead)
    # In mediation, its lead (the accepting mediator) taken off: no lead.
    unled = await move(client, mediator, await open_case(client, mediator), "accept")
    await post(
        client, mediator, unled, "remove", mediator_id=await demo_record(db, "dashi.mediator"), reason="休假"
    )
    before = (await client.get("/api/v1/mediators/needs-reassignment", headers=mediator)).json()

    async with db.engine.begin() as conn:
        await conn.execute(sa.update(mediators).where(mediators.c.id == lead).values(active=False))
    mine = (await client.get("/api/v1/mediators/needs-reassignment", headers=mediator)).json()
    town = await client.get("/api/v1/mediators/needs-reassignment", headers=await auth("zhangpu.coordinator"))
    other_town = await client.get(
        "/api/v1/mediators/needs-reassignment", headers=await auth("wulian.mediator")
    )
    police = await client.get("/api/v1/mediators/needs-reassignment", headers=await auth("zhangpu.police"))

    assert case["id"] not in {n["case_id"] for n in before}
    found = {n["case_id"]: n for n in mine}
    assert found[case["id"]]["why"] == "lead_inactive" and found[case["id"]]["lead_name"] == "冯军"
    assert found[unled["id"]]["why"] == "no_lead" and found[unled["id"]]["lead_name"] is None
    assert case["id"] in {n["case_id"] for n in town.json()}
    assert other_town.json() == []
    assert police.status_code == 403
    # An inactive mediator is no longer assignable.
    replacement = await post(client, mediator, case, "assign", mediator_id=lead, role="co")
    assert replacement.status_code == 422 and replacement.json()["errors"][0]["field"] == "body.mediator_id"


async def test_only_the_handling_unit_changes_mediators_and_another_unit_sees_nothing(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    someone = await add_mediator(db.engine, "孙红", [DASHI])
    foreign = await add_mediator(db.engine, "郑一", [WULIAN])
    case = await open_case(client, mediator)

    wulian = await auth("wulian.mediator")
    read_elsewhere = await client.get(url(case), headers=wulian)
    assign_elsewhere = await post(client, wulian, case, "assign", mediator_id=someone)
    auditor = await post(client, await auth("auditor"), case, "assign", mediator_id=someone)
    not_on_roster = await post(client, mediator, case, "assign", mediator_id=foreign)

    assert read_elsewhere.status_code == assign_elsewhere.status_code == 404
    assert auditor.status_code == 409
    assert not_on_roster.status_code == 422
    assert not_on_roster.json()["errors"][0]["field"] == "body.mediator_id"
    # The town's coordinator supervises the station and may assign.
    coordinator = await post(client, await auth("zhangpu.coordinator"), case, "assign", mediator_id=someone)
    assert coordinator.status_code == 200, coordinator.text
    assert ZHANGPU


async def test_a_closed_case_keeps_its_mediators(client: httpx.AsyncClient, auth, db: Backend) -> None:
    mediator = await auth("dashi.mediator")
    someone = await add_mediator(db.engine, "孙红", [DASHI])
    case = await open_case(client, mediator)
    await post(client, mediator, case, "assign", mediator_id=someone)
    closed = await client.post(
        f"/api/v1/cases/{case['id']}/transitions",
        json={"trigger": "withdraw", "reason": "当事人撤回申请"},
        headers=mediator,
    )
    assert closed.status_code == 200, closed.text

    after = await post(client, mediator, case, "assign", mediator_id=someone, role="co")

    assert after.status_code == 409
    view = (await client.get(url(case), headers=mediator)).json()
    assert view["may_change"] is False and view["past"][0]["end"] == "closed"


# --- the case page's section, as a browser without JavaScript uses it ------------------------------

CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


async def page_client(db: Backend, client: httpx.AsyncClient, username: str, lang: str) -> httpx.AsyncClient:
    token = await token_for(client, db, username)
    web = httpx.AsyncClient(transport=httpx.ASGITransport(app=db.app), base_url="http://jiefen.test")
    web.cookies.set(SESSION_COOKIE, token)
    web.cookies.set(LANGUAGE_COOKIE, lang)
    web.headers["X-Test-Csrf"] = csrf_token(token)
    return web


def section_of(html: str) -> str:
    part = html.split('id="mediators"', 1)[1].split("</section>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", part))


async def test_the_mediators_section_in_english_names_the_barred_rule_at_the_field(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    refused = await add_mediator(db.engine, "孙红", [DASHI], specialties=["NEIGHBOUR"])
    case = await open_case(client, mediator)
    party = case["parties"][0]
    await post(client, mediator, case, "assign", mediator_id=refused)
    await post(
        client, mediator, case, "decisions", kind="party_refused", mediator_id=refused, party_id=party["id"]
    )
    co = await add_mediator(db.engine, "周强", [DASHI])
    await post(client, mediator, case, "assign", mediator_id=co, role="co")
    web = await page_client(db, client, "dashi.mediator", "en")
    try:
        page = await web.get(f"/cases/{case['id']}")
        again = await web.post(
            f"/cases/{case['id']}/mediators/assign",
            data={"csrf_token": web.headers["X-Test-Csrf"], "mediator_id": str(refused), "role": "lead"},
        )
        no_reason = await web.post(
            f"/cases/{case['id']}/mediators/remove",
            data={"csrf_token": web.headers["X-Test-Csrf"], "mediator_id": str(co)},
        )
    finally:
        await web.aclose()

    assert page.status_code == 200
    shown = section_of(page.text)
    assert "Mediators" in shown and "No lead mediator yet" in shown
    assert "Refused by a party or withdrew on this case" in shown  # the suggestion says why not
    assert "refused by a party" in shown  # the history
    roster = (await client.get(f"/api/v1/cases/{case['id']}/mediator-suggestions", headers=mediator)).json()
    leftover = shown
    for name in {*(s["name"] for s in roster), "孙红", *(p["name"] for p in case["parties"])}:
        leftover = leftover.replace(name, "")
    assert again.status_code == 409
    assert 'aria-invalid="true"' in again.text.split('id="assign-mediator_id"', 1)[1].split(">", 1)[0]
    assert "cannot handle this case again" in section_of(again.text)
    assert no_reason.status_code == 422
    assert 'id="reason-error">is required<' in no_reason.text


async def test_two_people_assigning_a_lead_at_once_leave_one_lead(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    coordinator = await auth("zhangpu.coordinator")
    first = await add_mediator(db.engine, "孙红", [DASHI])
    second = await add_mediator(db.engine, "钱亮", [DASHI])
    case = await open_case(client, mediator)

    responses = await asyncio.gather(
        post(client, mediator, case, "assign", mediator_id=first),
        post(client, coordinator, case, "assign", mediator_id=second),
    )

    codes = sorted(r.status_code for r in responses)
    assert codes[0] == 200 and codes[1] in (409, 412), [r.text for r in responses]
    view = (await client.get(url(case), headers=mediator)).json()
    winner = next(r for r in responses if r.status_code == 200).json()["lead"]["mediator_id"]
    assert view["lead"]["mediator_id"] == winner and view["co"] == [] and view["past"] == []


async def test_a_withdrawal_without_its_ground_is_sent_back_with_the_choices_kept(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    relative = await add_mediator(db.engine, "李梅", [DASHI])
    case = await open_case(client, mediator)
    web = await page_client(db, client, "dashi.mediator", "zh")
    form = {"csrf_token": web.headers["X-Test-Csrf"], "kind": "withdrawal", "mediator_id": str(relative)}
    try:
        missing = await web.post(f"/cases/{case['id']}/mediators/decision", data=form)
        recorded = await web.post(
            f"/cases/{case['id']}/mediators/decision",
            data={**form, "ground": "interest", "note": "其子为申请人雇员"},
        )
        shown = await web.get(f"/cases/{case['id']}")
    finally:
        await web.aclose()

    assert missing.status_code == 422
    assert 'id="ground-error">回避须写明事由' in missing.text
    assert f'<option value="{relative}" selected>李梅</option>' in missing.text
    assert recorded.status_code == 303 and recorded.headers["location"] == f"/cases/{case['id']}#mediators"
    history = section_of(shown.text)
    assert "调解员回避：李梅" in history and "与纠纷有利害关系" in history
    barred = next(
        s
        for s in (
            await client.get(f"/api/v1/cases/{case['id']}/mediator-suggestions", headers=mediator)
        ).json()
        if s["mediator_id"] == relative
    )
    assert barred["excluded"] and barred["reasons"][0]["code"] == "barred"


async def test_the_case_page_ranks_by_the_language_the_parties_need(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    """The parties' language is chosen on the page from those the unit's roster speaks; the
    suggestions then put the mediator who speaks it first, saying so, and the choice stays."""
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    await add_mediator(db.engine, "顾阿大", [DASHI], languages=["苏北话"])
    web = await page_client(db, client, "dashi.mediator", "zh")
    try:
        plain = (await web.get(f"/cases/{case['id']}")).text
        chosen = await web.get(f"/cases/{case['id']}", params={"language": "苏北话"})
        unknown = await web.get(f"/cases/{case['id']}", params={"language": "火星语"})
    finally:
        await web.aclose()

    assert '<option value="苏北话">苏北话</option>' in plain  # offered, not chosen
    assert chosen.status_code == 200
    assert '<option value="苏北话" selected>苏北话</option>' in chosen.text
    ranked = re.findall(
        r"<li[^>]*><strong>([^<]+)</strong>", chosen.text.split('id="mediators-suggestions"')[1]
    )
    assert ranked[0] == "顾阿大", ranked
    assert "会说当事人需要的语言" in chosen.text.split("顾阿大", 1)[1].split("</li>", 1)[0]
    # A language nobody on the roster speaks is not kept as a choice.
    assert unknown.status_code == 200 and " selected>火星语" not in unknown.text
