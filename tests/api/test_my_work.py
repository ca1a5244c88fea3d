"""A mediator's own cases and deadlines over HTTP (issue 18, part 3): only theirs, sorted by what
is due, overdue first, in local time words; a person without a roster record gets an empty list
that says why."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from tests.builders import DASHI, ZHOUXIANG, add_mediator, assign_mediator, move, open_case
from tests.conftest import FIXED_NOW, Backend, FrozenClock

Headers = dict[str, str]


async def mine(client: httpx.AsyncClient, h: Headers, what: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/me/{what}", headers=h)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def two_mediators_at_work(
    client: httpx.AsyncClient, auth: Any, db: Backend, clock: FrozenClock
) -> dict[str, Any]:
    """王芳 (dashi.mediator) leads three cases and co-mediates a fourth, led by 陈军
    (zhouxiang.mediator), who also leads one of his own; a fifth case of 王芳's is closed.

    王芳 leads the accepted case by accepting it (the acceptor's roster record becomes the lead);
    the others wait for acceptance, so their leads are assigned. Closing ends the assignments."""
    station = await auth("dashi.mediator")
    wang = await add_mediator(db.engine, "王芳", [DASHI], username="dashi.mediator")
    chen = await add_mediator(db.engine, "陈军", [DASHI, ZHOUXIANG], username="zhouxiang.mediator")
    accepted = await move(client, station, await open_case(client, station), "accept")  # 1 month
    waiting = await open_case(client, station)  # acceptance: 3 working days from Monday 2 March
    gone = await open_case(client, station)
    clock.set(FIXED_NOW + timedelta(days=3))  # Thursday 5 March
    later = await open_case(client, station)  # acceptance from Thursday
    shared = await open_case(client, station)
    his = await open_case(client, station)
    for case in (waiting, later, gone):
        await assign_mediator(db.engine, case["id"], wang)
    await assign_mediator(db.engine, shared["id"], chen)
    await assign_mediator(db.engine, shared["id"], wang, role="co")
    await assign_mediator(db.engine, his["id"], chen)
    gone = await move(client, station, gone, "accept")
    gone = await move(client, station, gone, "terminate", termination_reason="gap_too_wide")
    await move(client, station, gone, "close", outcome="other_route")
    return {
        "wang": wang,
        "chen": chen,
        "accepted": accepted,
        "waiting": waiting,
        "later": later,
        "shared": shared,
        "his": his,
        "gone": gone,
    }


MONDAY_NOON = FIXED_NOW + timedelta(days=7, hours=2)  # Monday 9 March 2026, 12:00 in Kunshan


async def test_each_mediator_sees_only_their_cases_sorted_by_what_is_due_next(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    w = await two_mediators_at_work(client, auth, db, frozen_clock)
    frozen_clock.set(MONDAY_NOON)

    wang = await mine(client, await auth("dashi.mediator"), "cases")
    chen = await mine(client, await auth("zhouxiang.mediator"), "cases")

    assert (wang["mediator_id"], wang["mediator_name"], wang["message"]) == (w["wang"], "王芳", None)
    # The overdue acceptance first, then the two due Wednesday (in the order assigned), the month-long
    # mediation last; the closed case and 陈军's own are not there.
    assert [(c["case_id"], c["role"], c["overdue"]) for c in wang["cases"]] == [
        (w["waiting"]["id"], "lead", True),
        (w["later"]["id"], "lead", False),
        (w["shared"]["id"], "co", False),
        (w["accepted"]["id"], "lead", False),
    ]
    first = wang["cases"][0]
    assert (first["state_label"], first["role_label"], first["unit_name"]) == (
        "待受理",
        "主办调解员",
        "大市社区",
    )
    assert [c["next_deadline"]["due_text"] for c in wang["cases"]] == [
        "已于 3月6日 00:00 届满",
        "3月11日 00:00 前",
        "3月11日 00:00 前",
        "4月3日 00:00 前",
    ]
    assert [c["next_deadline"]["name"] for c in wang["cases"]] == [
        "受理期限",
        "受理期限",
        "受理期限",
        "人民调解期限",
    ]
    assert wang["cases"][1]["next_deadline"]["due_date"] == "2026-03-10"  # the last day itself
    assert [(c["case_id"], c["role"]) for c in chen["cases"]] == [
        (w["shared"]["id"], "lead"),
        (w["his"]["id"], "lead"),
    ]


async def test_my_deadlines_come_overdue_first_then_soonest(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    w = await two_mediators_at_work(client, auth, db, frozen_clock)
    frozen_clock.set(MONDAY_NOON)

    wang = await mine(client, await auth("dashi.mediator"), "deadlines")
    chen = await mine(client, await auth("zhouxiang.mediator"), "deadlines")

    assert [(d["case_id"], d["kind"], d["overdue"], d["working_days_left"]) for d in wang["deadlines"]] == [
        (w["waiting"]["id"], "acceptance", True, -2),
        (w["later"]["id"], "acceptance", False, 2),
        (w["shared"]["id"], "acceptance", False, 2),
        (w["accepted"]["id"], "people_mediation", False, 19),
    ]
    assert [d["number"] for d in wang["deadlines"]] == [
        w[k]["number"] for k in ("waiting", "later", "shared", "accepted")
    ]
    assert {d["case_id"] for d in chen["deadlines"]} == {w["shared"]["id"], w["his"]["id"]}
    assert all(not d["overdue"] for d in chen["deadlines"])

    # A week on, the two Wednesday clocks have run out too: still the overdue first, soonest first.
    frozen_clock.set(MONDAY_NOON + timedelta(days=7))
    later = await mine(client, await auth("dashi.mediator"), "deadlines")
    assert [(d["case_id"], d["overdue"]) for d in later["deadlines"]] == [
        (w["waiting"]["id"], True),
        (w["later"]["id"], True),
        (w["shared"]["id"], True),
        (w["accepted"]["id"], False),
    ]
    assert later["deadlines"][1]["due_text"] == "已于 3月11日 00:00 届满"


async def test_someone_not_on_the_roster_gets_an_empty_list_that_says_why(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    await two_mediators_at_work(client, auth, db, frozen_clock)

    for who in ("admin", "zhangpu.coordinator"):
        h = await auth(who)
        cases, deadlines = await mine(client, h, "cases"), await mine(client, h, "deadlines")
        assert (cases["mediator_id"], cases["cases"]) == (None, [])
        assert (deadlines["mediator_id"], deadlines["deadlines"]) == (None, [])
        assert "not on the mediators' roster" in cases["message"]
        assert deadlines["message"] == cases["message"]


async def test_my_cases_need_a_sign_in(client: httpx.AsyncClient, db: Backend) -> None:
    for what in ("cases", "deadlines"):
        response = await client.get(f"/api/v1/me/{what}")
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"


# --- the pages --------------------------------------------------------------------------------


async def page(
    db: Backend, client: httpx.AsyncClient, username: str, path: str, lang: str = "zh"
) -> httpx.Response:
    """``path`` as ``username`` reads it in a browser (the session cookie, the language cookie)."""
    from service.web.session import LANGUAGE_COOKIE, SESSION_COOKIE
    from tests.conftest import token_for

    token = await token_for(client, db, username)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=db.app), base_url="http://jiefen.test"
    ) as web:
        web.cookies.set(SESSION_COOKIE, token)
        web.cookies.set(LANGUAGE_COOKIE, lang)
        return await web.get(path)


async def test_the_me_page_shows_my_cases_and_deadlines_overdue_in_red_in_both_languages(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    w = await two_mediators_at_work(client, auth, db, frozen_clock)
    frozen_clock.set(MONDAY_NOON)

    zh = await page(db, client, "dashi.mediator", "/me")
    en = await page(db, client, "dashi.mediator", "/me", lang="en")

    assert zh.status_code == en.status_code == 200
    cases = zh.text.split('class="cards my-cases"', 1)[1].split("</ul>", 1)[0]
    numbers = [w[k]["number"] for k in ("waiting", "later", "shared", "accepted")]
    assert [cases.index(n) for n in numbers] == sorted(cases.index(n) for n in numbers)
    assert w["his"]["number"] not in zh.text and w["gone"]["number"] not in zh.text
    assert '<li class="card edge-red overdue" data-case="{}">'.format(w["waiting"]["id"]) in zh.text
    assert '<span class="due overdue">已于 3月6日 00:00 届满</span>' in zh.text
    assert "3月11日 00:00 前" in zh.text and "协办" in zh.text and "人民调解期限" in zh.text
    assert 'href="/me" aria-current="page"' in zh.text
    assert "fell due 6 Mar 00:00" in en.text and "before 11 Mar 00:00" in en.text
    assert "Co-mediator" in en.text and "My deadlines" in en.text
    assert "T16:00" not in zh.text + en.text  # never an ISO instant


async def test_the_me_page_of_someone_not_on_the_roster_says_why(
    client: httpx.AsyncClient, db: Backend
) -> None:
    response = await page(db, client, "zhangpu.coordinator", "/me")

    assert response.status_code == 200
    assert "您尚未列入调解员名册" in response.text
    assert 'href="/mediators/caseload"' in response.text  # a coordinator's way to the caseload


async def test_a_case_handed_to_a_colleague_leaves_my_list_and_joins_theirs(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    import sqlalchemy as sa

    from service.mediators.models import CaseMediator

    w = await two_mediators_at_work(client, auth, db, frozen_clock)
    station = await auth("dashi.mediator")
    handed = await open_case(client, station)
    first = await assign_mediator(db.engine, handed["id"], w["wang"])
    table = CaseMediator.__table__  # type: ignore[attr-defined]
    async with db.engine.begin() as conn:  # what a reassignment writes: the old row ends
        await conn.execute(
            sa.update(table)
            .where(table.c.id == first)
            .values(
                ended_at=FIXED_NOW + timedelta(days=3, hours=1),
                ended_by="zhangpu.coordinator",
                end="reassigned",
            )
        )
    await assign_mediator(db.engine, handed["id"], w["chen"])

    wang = await mine(client, station, "cases")
    chen = await mine(client, await auth("zhouxiang.mediator"), "cases")
    wang_deadlines = await mine(client, station, "deadlines")

    assert handed["id"] not in {c["case_id"] for c in wang["cases"]}
    assert handed["id"] not in {d["case_id"] for d in wang_deadlines["deadlines"]}
    assert handed["id"] in {c["case_id"] for c in chen["cases"]}


async def test_a_paused_clock_comes_after_the_running_ones_and_reads_paused(
    client: httpx.AsyncClient, auth: Any, db: Backend, frozen_clock: FrozenClock
) -> None:
    w = await two_mediators_at_work(client, auth, db, frozen_clock)
    station = await auth("dashi.mediator")
    # The month-long mediation waits for an appraisal: its clock stops.
    await move(client, station, w["accepted"], "suspend", reason="等待伤情鉴定")
    frozen_clock.set(MONDAY_NOON)

    cases = await mine(client, station, "cases")
    deadlines = await mine(client, station, "deadlines")
    html = (await page(db, client, "dashi.mediator", "/me")).text

    assert cases["cases"][-1]["case_id"] == w["accepted"]["id"]
    assert cases["cases"][-1]["next_deadline"]["status"] == "paused"
    assert [(d["case_id"], d["status"], d["working_days_left"]) for d in deadlines["deadlines"]][-1] == (
        w["accepted"]["id"],
        "paused",
        None,
    )
    card = html.split(f'data-case="{w["accepted"]["id"]}"', 1)[1].split("</li>", 1)[0]
    assert '<span class="due paused">已暂停</span>' in card
