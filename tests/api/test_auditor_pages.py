"""The auditor's security-log pages and the administrators' role-grant page, as a browser uses them."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from service.web.session import SESSION_COOKIE, csrf_token
from tests.builders import CITY, DASHI, open_case
from tests.conftest import Backend, token_for

Browser = Callable[[str], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def browser(db: Backend, client: httpx.AsyncClient) -> AsyncIterator[Browser]:
    """``await browser("auditor")``: a cookie-carrying client signed in as that user."""
    opened: list[httpx.AsyncClient] = []

    async def make(username: str) -> httpx.AsyncClient:
        web = httpx.AsyncClient(transport=httpx.ASGITransport(app=db.app), base_url="http://jiefen.test")
        token = await token_for(client, db, username)
        web.cookies.set(SESSION_COOKIE, token)
        web.headers["X-Test-Csrf"] = csrf_token(token)
        opened.append(web)
        return web

    yield make
    for web in opened:
        await web.aclose()


async def reveal(client: httpx.AsyncClient, auth, case: dict, reason: str) -> None:  # type: ignore[no-untyped-def, type-arg]
    party = case["parties"][0]["id"]
    response = await client.post(
        f"/api/v1/cases/{case['id']}/parties/{party}/reveal",
        json={"reason": reason, "fields": ["phone"]},
        headers=await auth("dashi.mediator"),
    )
    assert response.status_code == 200, response.text


async def test_the_auditor_reads_filters_and_exports_the_log_in_the_pages(
    client: httpx.AsyncClient, auth, browser: Browser, db: Backend
) -> None:
    case = await open_case(client, await auth("dashi.mediator"))
    await reveal(client, auth, case, "=电话通知当事人到场")
    web = await browser("auditor")

    page = await web.get("/audit", params={"actor": "dashi.mediator", "kind": "reveal"})
    export = await web.get("/audit/export.csv", params={"actor": "dashi.mediator", "kind": "reveal"})
    log = await client.get(
        "/api/v1/security-events",
        params=[("kind", "security_events_read"), ("kind", "security_events_exported")],
        headers=await auth("auditor"),
    )

    assert page.status_code == 200
    assert 'href="/audit"' in page.text  # in the auditor's navigation
    assert "=电话通知当事人到场" in page.text and "查看个人信息" in page.text
    assert "共 1 条" in page.text
    assert 'href="/audit/export.csv?actor=dashi.mediator&amp;kind=reveal"' in page.text
    assert export.status_code == 200 and export.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert [row[rows[0].index("reason")] for row in rows[1:]] == ["'=电话通知当事人到场"]
    assert [e["kind"] for e in log.json()["items"]] == ["security_events_exported", "security_events_read"]


async def test_a_mistyped_filter_is_named_on_the_page(browser: Browser, db: Backend) -> None:
    web = await browser("auditor")

    page = await web.get("/audit", params={"since": "2026-13-01"})

    assert page.status_code == 422
    assert "筛选条件有误：起始日期" in page.text


@pytest.mark.parametrize("user", ["admin", "city.coordinator", "dashi.mediator"])
async def test_no_one_but_an_auditor_opens_the_log_pages(browser: Browser, db: Backend, user: str) -> None:
    web = await browser(user)

    page = await web.get("/audit")
    export = await web.get("/audit/export.csv")
    home = await web.get("/cases" if user != "admin" else "/dashboard")

    assert (page.status_code, export.status_code) == (403, 403)
    assert 'href="/audit"' not in home.text


async def test_an_alert_in_the_auditors_inbox_leads_to_the_log(
    client: httpx.AsyncClient, auth, browser: Browser, db: Backend
) -> None:
    requested = await client.post(
        "/api/v1/admin/users",
        json={
            "username": "page.coordinator",
            "password": "Grant-Pass 2026 授权",
            "role": "coordinator",
            "unit": CITY,
        },
        headers=await auth("admin"),
    )
    await client.post(
        f"/api/v1/admin/role-grants/{requested.json()['id']}/approve", headers=await auth("admin2")
    )

    inbox = await (await browser("auditor")).get("/inbox")
    coordinators = await (await browser("city.coordinator")).get("/inbox")

    assert inbox.status_code == 200
    assert "授予高权限角色" in inbox.text
    assert 'href="/audit?actor=page.coordinator"' in inbox.text
    assert "授予高权限角色" not in coordinators.text


async def test_a_second_admin_approves_on_the_page_and_the_requester_cannot(
    client: httpx.AsyncClient, auth, browser: Browser, db: Backend
) -> None:
    requested = await client.post(
        "/api/v1/admin/users",
        json={
            "username": "page.auditor",
            "password": "Grant-Pass 2026 授权",
            "role": "auditor",
            "unit": CITY,
        },
        headers=await auth("admin2"),
    )
    grant = requested.json()["id"]
    requester, approver = await browser("admin2"), await browser("admin")

    own_page = await requester.get("/admin/role-grants")
    own_try = await requester.post(
        f"/admin/role-grants/{grant}/approve", data={"csrf_token": requester.headers["X-Test-Csrf"]}
    )
    page = await approver.get("/admin/role-grants")
    no_csrf = await approver.post(f"/admin/role-grants/{grant}/approve", data={})
    approved = await approver.post(
        f"/admin/role-grants/{grant}/approve", data={"csrf_token": approver.headers["X-Test-Csrf"]}
    )
    after = await approver.get(approved.headers["location"])

    assert 'href="/admin/role-grants"' in page.text  # in the administrator's navigation
    assert f'action="/admin/role-grants/{grant}/approve"' not in own_page.text
    assert "须由另一名管理员批准" in own_page.text
    assert own_try.status_code == 409
    assert f'action="/admin/role-grants/{grant}/approve"' in page.text
    assert no_csrf.status_code == 403
    assert approved.status_code == 303
    assert "已批准，角色已生效" in after.text
    status = await client.get(f"/api/v1/admin/role-grants/{grant}", headers=await auth("admin"))
    assert (status.json()["status"], status.json()["decided_by"]) == ("approved", "admin")


async def test_the_role_change_form_changes_or_requests(
    client: httpx.AsyncClient, auth, browser: Browser, db: Backend
) -> None:
    created = await client.post(
        "/api/v1/admin/users",
        json={
            "username": "page.mediator",
            "password": "Grant-Pass 2026 授权",
            "role": "mediator",
            "unit": DASHI,
        },
        headers=await auth("admin"),
    )
    assert created.status_code == 201
    web = await browser("admin")
    form = {"csrf_token": web.headers["X-Test-Csrf"], "username": "page.mediator"}

    promoted = await web.post("/admin/role-grants", data={**form, "role": "coordinator", "unit": "320583106"})
    pending = await web.get("/admin/role-grants")
    unknown = await web.post(
        "/admin/role-grants", data={**form, "username": "nobody.here", "role": "mediator"}
    )

    assert promoted.headers["location"] == "/admin/role-grants?done=requested"
    assert "page.mediator" in pending.text and "原为 调解员" in pending.text
    assert unknown.status_code == 404
    me = await client.get("/api/v1/admin/users", headers=await auth("admin"))
    assert {u["username"]: u["role"] for u in me.json()}["page.mediator"] == "mediator"  # until approved
