"""A text search's total is counted up to a cap: past it the API says "at least" and the list page
shows "1000+" (docs/benchmarks.md, City scale: a word one case in twenty contains). The cap is
lowered here so that a handful of cases crosses it; the statements bind it, so the same SQL runs."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from service.cases import queries
from service.web import pages
from service.web.session import LANGUAGE_COOKIE, SESSION_COOKIE
from tests.builders import WULIAN, open_case
from tests.conftest import Backend, token_for

WORD = "工伤"


async def _search(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await client.get("/api/v1/cases", params=params, headers=headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def _four_injuries(client: httpx.AsyncClient, auth) -> dict[str, str]:
    """Four cases at 大市 whose summary holds the word, one elsewhere (五联村, another town), one
    at 大市 without it; the 大市 mediator's headers."""
    mediator = await auth("dashi.mediator")
    for i in range(4):
        await open_case(client, mediator, summary=f"务工人员{i}号在工地受伤，双方就{WORD}赔偿争执")
    await open_case(client, mediator)
    await open_case(
        client, await auth("wulian.mediator"), location_code=WULIAN, summary=f"外村{WORD}赔偿纠纷"
    )
    return mediator


async def test_a_search_past_the_cap_says_at_least_the_cap(
    client: httpx.AsyncClient, auth, db: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    mediator = await _four_injuries(client, auth)

    monkeypatch.setattr(queries, "TEXT_TOTAL_CAP", 3)
    found = await _search(client, mediator, q=WORD)
    assert (found["total"], found["total_is_lower_bound"]) == (3, True)
    assert len(found["items"]) == 4  # the page is not capped: every match in scope is listed
    assert all(WORD in item["summary"] for item in found["items"])
    later = await _search(client, mediator, q=WORD, limit=2, offset=2)
    assert (len(later["items"]), later["total"], later["total_is_lower_bound"]) == (2, 3, True)

    monkeypatch.setattr(queries, "TEXT_TOTAL_CAP", 4)  # exactly the cap: exact
    found = await _search(client, mediator, q=WORD)
    assert (found["total"], found["total_is_lower_bound"]) == (4, False)

    monkeypatch.setattr(queries, "TEXT_TOTAL_CAP", 1000)
    found = await _search(client, mediator, q=WORD)
    assert (found["total"], found["total_is_lower_bound"]) == (4, False)  # the other town's is out of scope
    city = await _search(client, await auth("city.coordinator"), q=WORD)
    assert (city["total"], city["total_is_lower_bound"]) == (5, False)
    listed = await _search(client, mediator)  # no search: exact, never a lower bound
    assert (listed["total"], listed["total_is_lower_bound"]) == (5, False)


async def test_a_case_found_through_several_parties_counts_once(
    client: httpx.AsyncClient, auth, db: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    mediator = await auth("dashi.mediator")
    names = ["赵小梅", "赵小兰", "赵小红", "赵小华"]
    await open_case(client, mediator, parties=[{"name": n, "role": "applicant"} for n in names])
    await open_case(client, mediator, parties=[{"name": "赵小军", "role": "applicant"}])

    monkeypatch.setattr(queries, "TEXT_TOTAL_CAP", 2)
    found = await _search(client, mediator, q="赵小")
    assert (found["total"], found["total_is_lower_bound"], len(found["items"])) == (2, False, 2)
    monkeypatch.setattr(queries, "TEXT_TOTAL_CAP", 1)
    found = await _search(client, mediator, q="赵小")
    assert (found["total"], found["total_is_lower_bound"], len(found["items"])) == (1, True, 2)


async def _page_text(db: Backend, token: str, lang: str, path: str, *, html: bool = False) -> str:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=db.app), base_url="http://jiefen.test"
    ) as web:
        web.cookies.set(SESSION_COOKIE, token)
        web.cookies.set(LANGUAGE_COOKIE, lang)
        response = await web.get(path)
    assert response.status_code == 200, response.text
    main = response.text.split('<main id="main">', 1)[1]
    if html:
        return main
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main))


async def test_the_list_page_shows_a_capped_total_with_a_plus(
    client: httpx.AsyncClient, auth, db: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _four_injuries(client, auth)
    token = await token_for(client, db, "dashi.mediator")
    path = f"/cases?view=all&q={WORD}"

    monkeypatch.setattr(queries, "TEXT_TOTAL_CAP", 3)
    zh, en = await _page_text(db, token, "zh", path), await _page_text(db, token, "en", path)
    assert "3+ 件" in zh and "共 3 件" not in zh
    assert "3+ cases" in en
    assert zh.count("工地受伤") == 4  # every match still listed
    assert 'rel="next"' not in await _page_text(db, token, "zh", path, html=True)  # all on one page

    monkeypatch.setattr(pages, "PAGE_SIZE", 2)  # pages go on while they are full, with no count
    first = await _page_text(db, token, "zh", path, html=True)
    assert "第 1 页" in first and 'rel="next"' in first and "第 1 / " not in first
    third = await _page_text(db, token, "zh", path + "&page=3", html=True)
    assert "第 3 页" in third and 'rel="prev"' in third and 'rel="next"' not in third and "3+ 件" in third

    monkeypatch.setattr(queries, "TEXT_TOTAL_CAP", 1000)
    zh = await _page_text(db, token, "zh", path)
    assert "共 4 件" in zh and "+ 件" not in zh
