"""The web pages as a browser without JavaScript uses them: cookies, forms, redirects, HTML.

The same scope rules as the API, CSRF on every form, the user's language for every message,
and a stale form answered kindly. The real-browser journeys are in tests/web/.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import httpx
import pytest

from service.web.session import LANGUAGE_COOKIE, SESSION_COOKIE, csrf_token
from tests.builders import DASHI, WULIAN, ZHOUXIANG, add_colleague, fire, open_case
from tests.conftest import TEST_PASSWORD, Backend, FrozenClock, token_for

Browser = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def browser(db: Backend, client: httpx.AsyncClient) -> AsyncIterator[Browser]:
    """``await browser("dashi.mediator")``: a cookie-carrying client signed in as that user."""
    opened: list[httpx.AsyncClient] = []

    async def make(username: str | None = None, *, lang: str | None = None) -> httpx.AsyncClient:
        web = httpx.AsyncClient(transport=httpx.ASGITransport(app=db.app), base_url="http://jiefen.test")
        if username:
            token = await token_for(client, db, username)
            web.cookies.set(SESSION_COOKIE, token)
            web.headers["X-Test-Csrf"] = csrf_token(token)
        if lang:
            web.cookies.set(LANGUAGE_COOKIE, lang)
        opened.append(web)
        return web

    yield make
    for web in opened:
        await web.aclose()


def csrf(web: httpx.AsyncClient) -> str:
    return web.headers["X-Test-Csrf"]


def form_fields(html: str) -> list[str]:
    """The names of the fields of the page's main form (not the header's sign-out form)."""
    main = html.split('<main id="main">', 1)[1]
    return re.findall(r'<(?:input|select|textarea)[^>]* name="(\w+)"', main)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- signing in -------------------------------------------------------------------------------


async def test_pages_need_sign_in_and_come_back_after_it(browser: Browser) -> None:
    web = await browser()
    response = await web.get("/cases?view=all")
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=/cases%3Fview%3Dall"

    signed = await web.post(
        "/signin", data={"username": "dashi.mediator", "password": TEST_PASSWORD, "next": "/cases?view=all"}
    )

    assert signed.status_code == 303
    assert signed.headers["location"] == "/cases?view=all"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert (await web.get("/cases?view=all")).status_code == 200


async def test_wrong_password_is_told_in_the_users_language(browser: Browser) -> None:
    zh = await browser()
    en = await browser(lang="en")

    wrong_zh = await zh.post("/signin", data={"username": "dashi.mediator", "password": "nope"})
    wrong_en = await en.post("/signin", data={"username": "dashi.mediator", "password": "nope"})

    assert wrong_zh.status_code == 401 and "用户名或密码错误" in wrong_zh.text
    assert wrong_en.status_code == 401 and "Wrong username or password" in wrong_en.text
    assert 'lang="en"' in wrong_en.text and 'lang="zh-CN"' in wrong_zh.text
    assert SESSION_COOKIE not in wrong_zh.headers.get("set-cookie", "")


async def test_sign_in_never_redirects_off_site(browser: Browser) -> None:
    web = await browser()
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        response = await web.post(
            "/signin", data={"username": "dashi.mediator", "password": TEST_PASSWORD, "next": target}
        )
        assert response.headers["location"] == "/"


async def test_sign_out_revokes_the_session(browser: Browser) -> None:
    web = await browser()  # its own session: other tests share the cached API tokens
    await web.post("/signin", data={"username": "zhouxiang.mediator", "password": TEST_PASSWORD})
    session = web.cookies[SESSION_COOKIE]

    response = await web.post("/signout", data={"csrf_token": csrf_token(session)})

    assert response.status_code == 303 and response.headers["location"] == "/signin"
    assert SESSION_COOKIE not in web.cookies
    web.cookies.set(SESSION_COOKIE, session)  # a copy of the old cookie is worth nothing
    again = await web.get("/cases")
    assert again.status_code == 303 and "expired=1" in again.headers["location"]


# --- scope: a page shows what the API shows ---------------------------------------------------


async def test_mediator_list_shows_only_the_station_and_others_are_not_found(
    browser: Browser, auth: Callable[[str], Awaitable[dict[str, str]]], client: httpx.AsyncClient
) -> None:
    mine = await open_case(client, await auth("dashi.mediator"))
    theirs = await open_case(client, await auth("wulian.mediator"), location_code=WULIAN)
    web = await browser("dashi.mediator")

    listing = await web.get("/cases")
    other = await web.get(f"/cases/{theirs['id']}")

    assert mine["number"] in listing.text
    assert theirs["number"] not in listing.text
    assert other.status_code == 404
    assert "没有找到此案件" in other.text and theirs["summary"] not in other.text


async def test_list_shows_working_days_left(
    browser: Browser,
    auth: Callable[[str], Awaitable[dict[str, str]]],
    client: httpx.AsyncClient,
    frozen_clock: FrozenClock,
) -> None:
    # Registered on Monday 2 March: accept within 3 working days, not counting the day itself, so
    # the last day is Thursday and today through Thursday is 4 working days.
    await open_case(client, await auth("dashi.mediator"))
    web = await browser("dashi.mediator")

    today = text_of((await web.get("/cases")).text)
    frozen_clock.set(frozen_clock.at + timedelta(days=7))
    later = text_of((await web.get("/cases")).text)

    assert "剩 4 个工作日" in today
    assert "已逾期" in later


async def test_coordinator_lists_the_towns_overdue_cases(
    browser: Browser,
    auth: Callable[[str], Awaitable[dict[str, str]]],
    client: httpx.AsyncClient,
    frozen_clock: FrozenClock,
) -> None:
    late = await open_case(client, await auth("dashi.mediator"))
    frozen_clock.set(frozen_clock.at + timedelta(days=10))
    fresh = await open_case(client, await auth("zhouxiang.mediator"), location_code=ZHOUXIANG)
    web = await browser("zhangpu.coordinator")

    overdue = (await web.get("/cases?overdue=1")).text

    assert late["number"] in overdue and fresh["number"] not in overdue
    assert "逾期案件" in overdue


# --- registering a dispute --------------------------------------------------------------------


def register_form(web: httpx.AsyncClient, **overrides: str) -> dict[str, str]:
    form = {
        "csrf_token": csrf(web),
        "idempotency_key": "k-" + overrides.pop("key", "1"),
        "dispute_type": "NEIGHBOUR",
        "location_code": DASHI,
        "summary": "邻居装修噪音扰民，多次沟通无果",
        "applicant_name": "王秀英",
        "applicant_phone": "13800001234",
        "respondent_name": "李建国",
        "people_involved": "2",
        "source": "application",
        "prior_authority": "none",
        "action": "save",
    }
    form.update(overrides)
    return form


async def test_triage_preview_says_where_and_why_before_saving(browser: Browser) -> None:
    web = await browser("dashi.mediator")

    station = await web.post("/cases/new/preview", data=register_form(web))
    city = await web.post("/cases/new/preview", data={**register_form(web), "flags": "criminal_risk"})
    no_js = await web.post("/cases/new", data=register_form(web, action="preview"))

    assert "大市社区" in station.text and "纠纷发生地" in station.text
    assert "昆山市矛盾纠纷调处中心（市级）" in city.text and "须立即报告" in city.text
    assert no_js.status_code == 200 and "大市社区" in no_js.text
    assert "邻居装修噪音扰民" in no_js.text  # what was typed is kept
    assert (await web.get("/cases")).text.count("邻居装修噪音扰民") == 0  # nothing saved


async def test_registering_twice_with_one_form_makes_one_case(browser: Browser) -> None:
    web = await browser("dashi.mediator")
    form = register_form(web, key="double-tap")

    first = await web.post("/cases/new", data=form)
    second = await web.post("/cases/new", data=form)

    assert first.status_code == 303 and first.headers["location"] == second.headers["location"]
    page = await web.get(first.headers["location"])
    assert "已登记 KS-" in page.text and "邻居装修噪音扰民" in page.text


@pytest.mark.parametrize(
    ("lang", "expected"), [("zh", ["必须填写", "请填写数字"]), ("en", ["is required", "must be a number"])]
)
async def test_invalid_registration_names_each_field_in_the_users_language(
    browser: Browser, lang: str, expected: list[str]
) -> None:
    web = await browser("dashi.mediator", lang=lang)

    response = await web.post("/cases/new", data=register_form(web, summary="", amount_yuan="abc"))

    assert response.status_code == 422
    errors = re.findall(r'class="field-error" id="([a-z_]+)-error">([^<]*)<', response.text)
    by_field = dict(errors)
    assert set(by_field) == {"summary", "amount_yuan"}
    assert sorted(by_field.values()) == sorted(expected)
    assert 'id="summary" name="summary"' in response.text and 'aria-invalid="true"' in response.text


async def test_forms_refuse_a_missing_or_foreign_csrf_token(browser: Browser) -> None:
    web = await browser("dashi.mediator")

    missing = await web.post("/cases/new", data={**register_form(web), "csrf_token": ""})
    foreign = await web.post(
        "/cases/new", data=register_form(web), headers={"Origin": "https://evil.example"}
    )

    assert missing.status_code == 403 and "表单已过期" in missing.text
    assert foreign.status_code == 403
    assert "邻居装修噪音扰民" not in (await web.get("/cases?view=all")).text


async def test_the_case_form_refuses_invisible_direction_controls(browser: Browser) -> None:
    web = await browser("dashi.mediator")

    response = await web.post("/cases/new", data=register_form(web, summary="邻居\u202e装修噪音扰民"))

    assert response.status_code == 422
    errors = dict(re.findall(r'class="field-error" id="([a-z_]+)-error">([^<]*)<', response.text))
    assert set(errors) == {"summary"}
    assert "装修噪音扰民" not in (await web.get("/cases?view=all")).text


async def test_sign_in_and_forms_refuse_origin_null(browser: Browser) -> None:
    """``Origin: null`` (a sandboxed iframe, a data: page, a cross-site redirect) is never this
    site's own form: refused like a foreign origin, at sign-in as on every form."""
    web = await browser()
    credentials = {"username": "dashi.mediator", "password": TEST_PASSWORD}

    framed = await web.post("/signin", data=credentials, headers={"Origin": "null"})
    own = await web.post("/signin", data=credentials, headers={"Origin": "http://jiefen.test"})
    signed_in = await browser("dashi.mediator")
    form = await signed_in.post("/cases/new", data=register_form(signed_in), headers={"Origin": "null"})

    assert framed.status_code == 403 and "set-cookie" not in framed.headers
    # Under "no-referrer" a browser would send Origin: null for the site's own forms too.
    assert (await web.get("/signin")).headers["referrer-policy"] == "same-origin"
    assert own.status_code == 303 and SESSION_COOKIE in own.headers["set-cookie"]
    assert form.status_code == 403
    assert "邻居装修噪音扰民" not in (await signed_in.get("/cases?view=all")).text


# --- acting on a case -------------------------------------------------------------------------


async def test_actions_offered_are_the_lifecycles_and_each_asks_only_its_fields(
    browser: Browser, auth: Callable[[str], Awaitable[dict[str, str]]], client: httpx.AsyncClient
) -> None:
    case = await open_case(client, await auth("dashi.mediator"))
    web = await browser("dashi.mediator")

    page = (await web.get(f"/cases/{case['id']}")).text
    accept_form = (await web.get(f"/cases/{case['id']}/act/accept")).text
    decline_form = (await web.get(f"/cases/{case['id']}/act/decline")).text
    settle_early = await web.get(f"/cases/{case['id']}/act/settle")

    offered = re.findall(rf'href="/cases/{case["id"]}/act/(\w+)"', page)
    assert "accept" in offered and "settle" not in offered
    applicant, respondent = (p["id"] for p in case["parties"])
    assert form_fields(accept_form) == [
        "csrf_token",
        "version",
        "seen",
        f"consent_{applicant}",
        f"consent_{respondent}",
        "consent_on",
        "reason",
    ]
    assert 'name="reason"' in decline_form and "required" in decline_form.split('name="reason"')[1][:80]
    assert settle_early.status_code == 409 and "受理" in settle_early.text


async def test_accept_then_settle_through_the_forms(
    browser: Browser, auth: Callable[[str], Awaitable[dict[str, str]]], client: httpx.AsyncClient
) -> None:
    case = await open_case(client, await auth("dashi.mediator"))
    web = await browser("dashi.mediator")

    consented = {f"consent_{p['id']}": "in_person" for p in case["parties"]}
    accepted = await web.post(
        f"/cases/{case['id']}/act/accept",
        data={"csrf_token": csrf(web), "version": "1", "seen": "1", "consent_on": "2026-03-02", **consented},
    )
    settled = await web.post(
        f"/cases/{case['id']}/act/settle",
        data={
            "csrf_token": csrf(web),
            "version": "2",
            "seen": "2",
            "agreement_form": "written",
            "agreement_terms": "楼上住户赔偿维修费 2000 元",
            "agreement_amount": "2000",
            "signatories": "王秀英\n李建国\n",
        },
    )

    assert accepted.headers["location"] == f"/cases/{case['id']}?done=accept"
    assert settled.status_code == 303
    page = text_of((await web.get(settled.headers["location"])).text)
    assert "已办理：达成协议" in page and "楼上住户赔偿维修费 2000 元" in page
    events = (await client.get(f"/api/v1/cases/{case['id']}", headers=await auth("dashi.mediator"))).json()
    assert events["state"] == "settled"
    assert events["agreement"]["signatories"] == ["王秀英", "李建国"]


async def test_a_missing_required_field_is_marked_and_nothing_changes(
    browser: Browser, auth: Callable[[str], Awaitable[dict[str, str]]], client: httpx.AsyncClient
) -> None:
    case = await open_case(client, await auth("dashi.mediator"))
    web = await browser("dashi.mediator", lang="en")

    response = await web.post(
        f"/cases/{case['id']}/act/decline", data={"csrf_token": csrf(web), "version": "1", "seen": "1"}
    )

    assert response.status_code == 422
    assert 'id="reason-error">is required<' in response.text
    fresh = await client.get(f"/api/v1/cases/{case['id']}", headers=await auth("dashi.mediator"))
    assert fresh.json()["version"] == 1


async def test_a_stale_form_says_who_changed_what_and_keeps_the_input(
    browser: Browser, auth: Callable[[str], Awaitable[dict[str, str]]], client: httpx.AsyncClient
) -> None:
    headers = await auth("dashi.mediator")
    case = await open_case(client, headers)
    web = await browser("dashi.mediator")
    form = await web.get(f"/cases/{case['id']}/act/escalate")
    assert 'name="version" value="1"' in form.text
    await fire(client, headers, case, "accept", reason="当面受理")  # someone else, meanwhile

    response = await web.post(
        f"/cases/{case['id']}/act/escalate",
        data={"csrf_token": csrf(web), "version": "1", "seen": "1", "reason": "涉及跨村边界"},
    )

    assert response.status_code == 409
    page = text_of(response.text)
    assert "其他人已办理了此案件" in page
    assert "受理" in page and "当面受理" in page  # the change, with its reason
    assert "涉及跨村边界" in response.text  # what was typed is still there
    assert 'name="version" value="2"' in response.text  # submitting again acts on what they saw
    again = await web.post(
        f"/cases/{case['id']}/act/escalate",
        data={"csrf_token": csrf(web), "version": "2", "seen": "2", "reason": "涉及跨村边界"},
    )
    assert again.status_code == 303


async def test_dispatch_offers_only_the_hubs_stations(
    browser: Browser, auth: Callable[[str], Awaitable[dict[str, str]]], client: httpx.AsyncClient
) -> None:
    # No triage rule matches an "other" dispute: it waits at the town hub to be dispatched by hand.
    case = await open_case(client, await auth("zhangpu.coordinator"), dispute_type="OTHER")
    assert case["state"] == "registered"
    web = await browser("zhangpu.coordinator")

    form = (await web.get(f"/cases/{case['id']}/act/dispatch")).text
    done = await web.post(
        f"/cases/{case['id']}/act/dispatch",
        data={"csrf_token": csrf(web), "version": "1", "seen": "1", "target_unit": DASHI},
    )

    units = re.findall(r'<option value="(\d+)"', form)
    assert DASHI in units and WULIAN not in units
    assert done.status_code == 303
    inbox = text_of((await (await browser("dashi.mediator")).get("/inbox")).text)
    assert "分派" in inbox and case["number"] in inbox


# --- inbox and court --------------------------------------------------------------------------


async def test_town_inbox_shows_an_escalation_with_its_reason_and_marks_it_read(
    browser: Browser, auth: Callable[[str], Awaitable[dict[str, str]]], client: httpx.AsyncClient
) -> None:
    headers = await auth("dashi.mediator")
    case = await open_case(client, headers)
    accepted = (await fire(client, headers, case, "accept")).json()
    await fire(client, headers, accepted, "escalate", reason="涉及跨村土地边界")
    web = await browser("zhangpu.coordinator")

    inbox = await web.get("/inbox?unread=1")
    item = re.search(r'action="/inbox/(\d+)/read"', inbox.text)
    assert item is not None
    marked = await web.post(
        f"/inbox/{item.group(1)}/read", data={"csrf_token": csrf(web), "unit": "320583106", "unread": "1"}
    )

    page = text_of(inbox.text)
    assert "上报" in page and "涉及跨村土地边界" in page and case["number"] in page
    assert marked.headers["location"] == "/inbox?unread=1"
    assert f'action="/inbox/{item.group(1)}/read"' not in (await web.get("/inbox?unread=1")).text


async def test_clerk_claims_the_next_case_and_an_empty_queue_says_so(
    browser: Browser, auth: Callable[[str], Awaitable[dict[str, str]]], client: httpx.AsyncClient
) -> None:
    headers = await auth("dashi.mediator")
    case = await open_case(client, headers)
    case = (await fire(client, headers, case, "accept")).json()
    case = (await fire(client, headers, case, "terminate", termination_reason="gap_too_wide")).json()
    await fire(client, headers, case, "refer_to_court", reason="调解不成，当事人要求起诉")
    web = await browser("court.clerk")

    queue = await web.get("/court")
    claimed = await web.post("/court/claim", data={"csrf_token": csrf(web)})
    empty = await web.post("/court/claim", data={"csrf_token": csrf(web)})

    assert case["number"] in queue.text and "领取下一件" in queue.text
    assert claimed.headers["location"] == f"/cases/{case['id']}?done=claim"
    page = text_of((await web.get(claimed.headers["location"])).text)
    assert "法院处理中" in page and "委托调解" in page
    assert empty.headers["location"] == "/court?empty=1"
    assert "队列是空的" in (await web.get("/court?empty=1")).text


async def test_a_mediator_is_told_the_court_queue_is_not_for_them(browser: Browser) -> None:
    web = await browser("dashi.mediator")

    response = await web.get("/court")

    assert response.status_code == 403 and "您的角色不能办理此项" in response.text


# --- language and the page itself -------------------------------------------------------------


async def test_the_english_switch_sticks_and_returns_to_the_page(browser: Browser) -> None:
    web = await browser("dashi.mediator")

    switched = await web.get("/lang/en?next=/cases%3Fview%3Dall")
    web.cookies.set(LANGUAGE_COOKIE, "en")
    page = await web.get("/cases?view=all")

    assert switched.headers["location"] == "/cases?view=all"
    assert f"{LANGUAGE_COOKIE}=en" in switched.headers["set-cookie"]
    assert 'lang="en"' in page.text and "Cases" in page.text and ">中文<" in page.text


async def test_pages_are_not_cached_and_load_nothing_from_elsewhere(browser: Browser) -> None:
    web = await browser("dashi.mediator")

    page = await web.get("/cases/new")

    assert page.headers["cache-control"] == "no-store"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert not re.search(r'(src|href)="(https?:)?//', page.text)
    assert (await web.get("/static/app/app.css")).status_code == 200
    assert (await web.get("/static/app/app.js")).status_code == 200


async def test_every_control_of_the_registration_form_has_a_label(browser: Browser) -> None:
    web = await browser("dashi.mediator")

    page = (await web.get("/cases/new")).text

    ids = re.findall(r'<(?:input|select|textarea) id="([^"]+)"', page)
    labelled = set(re.findall(r'<label for="([^"]+)"', page))
    assert ids and set(ids) <= labelled


async def test_pages_are_compressed_for_slow_connections_but_the_api_is_not(
    browser: Browser, auth: Callable[[str], Awaitable[dict[str, str]]], client: httpx.AsyncClient
) -> None:
    web = await browser("dashi.mediator")
    headers = await auth("dashi.mediator")
    for _ in range(3):
        await open_case(client, headers)

    page = await web.get("/cases", headers={"Accept-Encoding": "gzip"})
    css = await web.get("/static/app/app.css", headers={"Accept-Encoding": "gzip"})
    api = await client.get("/api/v1/cases", headers={**headers, "Accept-Encoding": "gzip"})

    assert page.headers["content-encoding"] == "gzip" and "KS-" in page.text
    assert css.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in api.headers


async def test_an_error_page_carries_the_request_id_support_will_ask_for(browser: Browser) -> None:
    web = await browser("dashi.mediator")

    response = await web.get("/cases/999999", headers={"X-Request-ID": "support-trace-42"})

    assert response.status_code == 404
    assert response.headers["x-request-id"] == "support-trace-42"
    assert "<code>support-trace-42</code>" in response.text


async def test_a_database_outage_is_a_503_page_in_the_users_language(
    browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from service.cases import service as cases_service

    async def pool_exhausted(*args: object, **kwargs: object) -> None:
        raise PoolTimeout("QueuePool limit reached")

    monkeypatch.setattr(cases_service, "list_cases", pool_exhausted)
    web = await browser("dashi.mediator")

    response = await web.get("/cases")

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "数据库暂时不可用" in response.text and "Traceback" not in response.text


async def test_a_long_inbox_is_paged(
    browser: Browser, auth: Callable[[str], Awaitable[dict[str, str]]], client: httpx.AsyncClient, db: Backend
) -> None:
    headers = await auth("dashi.mediator")
    numbers = [(await open_case(client, headers))["number"] for _ in range(25)]
    # The mediator who opened them is not told of their own acts: a colleague reads the inbox.
    web = await browser(await add_colleague(db.engine, "dashi.mediator", "dashi.colleague"))

    first = await web.get("/inbox")
    older = re.search(r'href="(/inbox\?before=\d+)" rel="next"', first.text)
    assert older is not None
    second = text_of((await web.get(older.group(1))).text)

    assert numbers[-1] in text_of(first.text) and numbers[0] not in text_of(first.text)
    assert numbers[0] in second and numbers[-1] not in second


async def test_a_unit_the_rules_refuse_is_marked_and_the_form_keeps_its_version(
    browser: Browser, auth: Callable[[str], Awaitable[dict[str, str]]], client: httpx.AsyncClient
) -> None:
    case = await open_case(client, await auth("zhangpu.coordinator"), dispute_type="OTHER")
    web = await browser("zhangpu.coordinator", lang="en")

    response = await web.post(
        f"/cases/{case['id']}/act/dispatch",
        data={"csrf_token": csrf(web), "version": "1", "seen": "1", "target_unit": WULIAN},
    )

    assert response.status_code == 422
    assert 'id="target_unit-error">cannot go to that unit<' in response.text
    assert 'name="version" value="1"' in response.text
    fresh = await client.get(f"/api/v1/cases/{case['id']}", headers=await auth("zhangpu.coordinator"))
    assert (fresh.json()["state"], fresh.json()["version"]) == ("registered", 1)
