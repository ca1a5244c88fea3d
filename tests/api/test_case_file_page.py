"""The 卷宗 on a closed case's page: those who handle the case give its file a number with one
button, everyone who reads the case sees the number, and an open case shows no such section."""

from __future__ import annotations

import re

import httpx

from service.web.session import LANGUAGE_COOKIE, SESSION_COOKIE, csrf_token
from tests.builders import move, open_case
from tests.conftest import Backend, token_for


async def page_client(db: Backend, client: httpx.AsyncClient, username: str) -> httpx.AsyncClient:
    token = await token_for(client, db, username)
    web = httpx.AsyncClient(transport=httpx.ASGITransport(app=db.app), base_url="http://jiefen.test")
    web.cookies.set(SESSION_COOKIE, token)
    web.cookies.set(LANGUAGE_COOKIE, "zh")
    web.headers["X-Test-Csrf"] = csrf_token(token)
    return web


async def test_a_closed_case_gets_its_file_number_from_its_page(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await move(client, mediator, await open_case(client, mediator), "accept")
    open_id = (await open_case(client, mediator))["id"]
    case = await move(client, mediator, case, "settle", agreement={"form": "oral", "terms": "赔偿并道歉"})
    case = await move(client, mediator, case, "record_performance", performance="performed")
    assert case["state"] == "closed"

    web = await page_client(db, client, "dashi.mediator")
    auditor = await page_client(db, client, "auditor")
    try:
        assert 'id="case-file"' not in (await web.get(f"/cases/{open_id}")).text
        before = (await web.get(f"/cases/{case['id']}")).text
        assert "尚未编卷宗号" in before and 'id="form-file-number"' in before
        assert 'id="form-file-number"' not in (await auditor.get(f"/cases/{case['id']}")).text

        given = await web.post(
            f"/cases/{case['id']}/file-number", data={"csrf_token": web.headers["X-Test-Csrf"]}
        )
        assert given.status_code == 303
        assert given.headers["location"] == f"/cases/{case['id']}?done=file_number#case-file"
        after = (await web.get(given.headers["location"])).text
        again = await web.post(
            f"/cases/{case['id']}/file-number", data={"csrf_token": web.headers["X-Test-Csrf"]}
        )
        seen = (await auditor.get(f"/cases/{case['id']}")).text
    finally:
        await web.aclose()
        await auditor.aclose()

    assert "已编卷宗号。" in after
    number = re.search(r'id="case-file-number">([^<]+)<', after)
    assert number is not None and re.fullmatch(r"\(\d{4}\)昆\S+字第 0001 号", number.group(1)), number
    assert 'id="form-file-number"' not in after
    # Asking again keeps the number (the API is idempotent); the auditor reads it.
    assert again.status_code == 303
    assert f'id="case-file-number">{number.group(1)}<' in seen
    numbers = (await client.get(f"/api/v1/cases/{case['id']}/numbers", headers=mediator)).json()
    assert [n["text"] for n in numbers] == [number.group(1)]
