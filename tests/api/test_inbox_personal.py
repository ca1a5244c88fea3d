"""The inbox as one person reads it (issue 18): nobody is told of their own act, an item for one
person is theirs alone, read state is per person, and every item reads in words — local time in
Kunshan, labels instead of codes — in Chinese and in English."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from service.notifications.models import InboxItem
from service.notifications.service import notify_many
from service.sweep import sweep
from service.web.session import LANGUAGE_COOKIE, SESSION_COOKIE
from tests.builders import DASHI, ZHANGPU, add_colleague, move, open_case
from tests.conftest import Backend, FrozenClock, token_for
from workflows.transition import Announcement
from workflows.vocab import DisputeType

pytestmark = pytest.mark.usefixtures("trail_stays_intact")

inbox_items = InboxItem.__table__  # type: ignore[attr-defined]

# What no text shown to a person may hold: an ISO timestamp or a UTC offset, or a raw code.
ISO = re.compile(r"\d{4}-\d{2}-\d{2}T|\d{2}:\d{2}:\d{2}|[+-]\d{2}:\d{2}\b")
# Chinese text holds no lowercase ASCII word at all (a code such as settled); English text no
# snake_case code (sent_case_result) and no dispute type's code (NEIGHBOUR).
ZH_CODE = re.compile(r"[a-z]{3,}")
EN_CODE = re.compile(r"\b[a-z]+_[a-z_]+\b|\b(" + "|".join(sorted(m.value for m in DisputeType)) + r")\b")


async def page(client: httpx.AsyncClient, headers: dict[str, str], unit: str = DASHI, **params: Any) -> Any:
    response = await client.get(f"/api/v1/units/{unit}/inbox", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def announce(db: Backend, at: datetime, *notes: Announcement) -> None:
    async with db.engine.begin() as conn:
        await notify_many(conn, notes, now=at)


async def test_the_person_who_acted_is_not_told_but_a_colleague_is(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    mediator = await auth("dashi.mediator")
    colleague = await auth(await add_colleague(db.engine, "dashi.mediator", "dashi.colleague"))

    case = await open_case(client, mediator)
    await move(client, mediator, case, "escalate", reason="涉及多个村民，需要镇里协调")

    own = await page(client, mediator)
    assert (own["items"], own["unread"], own["total"]) == ([], 0, 0)
    theirs = await page(client, colleague)
    assert [i["kind"] for i in theirs["items"]] == ["new_case"] and theirs["unread"] == 1
    town = await page(client, await auth("zhangpu.coordinator"), ZHANGPU)
    [escalation] = [i for i in town["items"] if i["kind"] == "escalation"]
    assert escalation["note"] == "涉及多个村民，需要镇里协调"  # the person's own words
    async with db.engine.connect() as conn:
        causes = set((await conn.execute(sa.select(inbox_items.c.caused_by))).scalars())
    assert causes == {"dashi.mediator"}


async def test_what_the_sweeper_writes_reaches_everyone(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    mediator = await auth("dashi.mediator")
    await open_case(client, mediator)

    # Nobody swept for two weeks: the acceptance clock warned and ran out, the system's doing.
    await sweep(db.engine, db.ctx, now=frozen_clock() + timedelta(days=14))

    kinds = {i["kind"] for i in (await page(client, mediator))["items"]}
    assert "breach" in kinds and "new_case" not in kinds
    async with db.engine.connect() as conn:
        swept = (
            await conn.execute(sa.select(inbox_items.c.caused_by).where(inbox_items.c.kind == "breach"))
        ).scalars()
        assert set(swept) == {None}


async def test_an_item_for_one_person_shows_to_them_alone(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    opener = await auth("zhangpu.coordinator")
    mediator = await auth("dashi.mediator")
    colleague = await auth(await add_colleague(db.engine, "dashi.mediator", "dashi.colleague"))
    case = await open_case(client, opener)
    await announce(
        db,
        frozen_clock(),
        Announcement(
            DASHI,
            case["id"],
            "mediator_assigned",
            None,
            {"number": case["number"], "mediator": "王芳", "role": "lead"},
            addressee="dashi.colleague",
        ),
    )

    mine = await page(client, colleague, **{"for": "me"})
    assert mine["items"][0]["text"] == f"指派调解员：{case['number']}，王芳任主办调解员"
    assert [i["kind"] for i in mine["items"]] == ["mediator_assigned"] and mine["items"][0][
        "addressee"
    ] == "dashi.colleague"
    assert [i["kind"] for i in (await page(client, colleague, **{"for": "unit"}))["items"]] == ["new_case"]
    assert (await page(client, colleague))["unread"] == 2
    other = await page(client, mediator)
    assert [i["kind"] for i in other["items"]] == ["new_case"] and other["unread"] == 1
    assert (await page(client, mediator, **{"for": "me"}))["items"] == []
    town = await page(client, opener, DASHI)
    assert "mediator_assigned" not in [i["kind"] for i in town["items"]]
    # The auditor checks every inbox, addressed items included.
    assert "mediator_assigned" in [i["kind"] for i in (await page(client, await auth("auditor")))["items"]]

    refused = await client.get(f"/api/v1/units/{DASHI}/inbox", headers=colleague, params={"for": "everyone"})
    assert refused.status_code == 422 and "for" in refused.text


async def test_read_state_is_each_persons_own(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    opener = await auth("zhangpu.coordinator")
    a = await auth("dashi.mediator")
    b = await auth(await add_colleague(db.engine, "dashi.mediator", "dashi.colleague"))
    first, second, third = [await open_case(client, opener) for _ in range(3)]
    items = (await page(client, a))["items"]
    assert [i["case_id"] for i in items] == [third["id"], second["id"], first["id"]]

    read = await client.post(f"/api/v1/units/{DASHI}/inbox/{items[0]['id']}/read", headers=a)
    assert read.status_code == 204
    mine, theirs = await page(client, a), await page(client, b)
    assert mine["unread"] == 2 and mine["items"][0]["read_by"] == "dashi.mediator"
    assert theirs["unread"] == 3 and theirs["items"][0]["read_at"] is None
    assert [i["id"] for i in (await page(client, a, unread="true"))["items"]] == [i["id"] for i in items[1:]]

    unread = await client.delete(f"/api/v1/units/{DASHI}/inbox/{items[0]['id']}/read", headers=a)
    assert unread.status_code == 204 and (await page(client, a))["unread"] == 3

    # Everything up to what B saw: a case arriving meanwhile stays unread.
    await open_case(client, opener)
    marked = await client.post(
        f"/api/v1/units/{DASHI}/inbox/read", headers=b, params={"through": items[0]["id"]}
    )
    assert marked.status_code == 200 and marked.json() == {"through": items[0]["id"]}
    after = await page(client, b)
    assert after["unread"] == 1 and [i["read_at"] is None for i in after["items"]] == [
        True,
        False,
        False,
        False,
    ]
    assert (await page(client, a))["unread"] == 4
    # One item below the "all read" mark made unread again: the others stay read.
    again = await client.delete(f"/api/v1/units/{DASHI}/inbox/{items[1]['id']}/read", headers=b)
    assert again.status_code == 204
    after = await page(client, b)
    assert after["unread"] == 2 and [i["read_at"] is None for i in after["items"]] == [
        True,
        False,
        True,
        False,
    ]

    missing = await client.post(f"/api/v1/units/{DASHI}/inbox/999999/read", headers=a)
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


async def test_pages_follow_by_keyset(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    opener, reader = await auth("zhangpu.coordinator"), await auth("dashi.mediator")
    opened = [(await open_case(client, opener))["id"] for _ in range(5)]

    seen: list[int] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        got = await page(client, reader, **params)
        seen += [i["case_id"] for i in got["items"]]
        if got["next_before"] is None:
            break
        params["before"] = got["next_before"]
    assert seen == opened[::-1]


async def test_times_read_in_kunshan_local_time_in_chinese_and_english(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    frozen_clock.set(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    reader = await auth("dashi.mediator")
    case = await open_case(client, await auth("zhangpu.coordinator"))
    due = "2026-12-03T16:00:00+00:00"  # midnight starting 4 December in Kunshan
    await announce(
        db,
        frozen_clock(),
        Announcement(
            DASHI,
            case["id"],
            "warning",
            f"受理期限将于 {due} 届满",
            {"number": case["number"], "deadline": "acceptance", "level": "first", "due_at": due},
        ),
    )

    zh = (await page(client, reader, kind="warning"))["items"][0]
    en = (await page(client, reader, kind="warning", lang="en"))["items"][0]
    by_header = await client.get(
        f"/api/v1/units/{DASHI}/inbox",
        headers={**reader, "Accept-Language": "en-GB,en"},
        params={"kind": "warning"},
    )

    assert "12月4日 00:00 前" in zh["text"] and zh["text"].startswith("期限预警：")
    assert "before 4 Dec 00:00" in en["text"] and en["text"].startswith("Deadline warning: ")
    assert by_header.json()["items"][0]["text"] == en["text"]
    assert zh["note"] is None  # the system's stored sentence (with its UTC time) is not shown


async def test_no_text_holds_an_iso_time_or_a_raw_code(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    opener = await auth("zhangpu.coordinator")
    reader = await auth("dashi.mediator")
    case = await open_case(client, opener)
    at = frozen_clock()
    number = case["number"]
    await announce(
        db,
        at,
        Announcement(
            DASHI,
            case["id"],
            "sent_case_result",
            "案件结果：settled",
            {"number": number, "unit_code": ZHANGPU, "result": {"state": "closed", "outcome": "performed"}},
        ),
        Announcement(
            DASHI,
            case["id"],
            "referral_result",
            "警调对接结果：terminated",
            {
                "number": number,
                "referral_kind": "police",
                "result": {"state": "terminated", "termination_reason": "party_refused"},
            },
        ),
        Announcement(
            DASHI,
            case["id"],
            "breach",
            None,
            {"number": number, "deadline": "people_mediation", "due_at": "2025-11-30T16:00:00+00:00"},
        ),
        Announcement(
            DASHI,
            case["id"],
            "referral_sent",
            None,
            {"number": number, "referral_kind": "court_delegation", "to_unit_code": "COURT-320583-DESK"},
        ),
        Announcement(DASHI, case["id"], "something_new", None, {"number": number, "state": "mediating"}),
    )

    for lang in ("zh", "en"):
        items = (await page(client, reader, lang=lang))["items"]
        assert len(items) == 6
        for item in items:
            assert not ISO.search(item["text"]), item["text"]
            assert not (ZH_CODE if lang == "zh" else EN_CODE).search(item["text"]), item["text"]
            assert item["note"] is None  # nobody typed these: no stored sentence shows
    zh = {i["kind"]: i["text"] for i in (await page(client, reader))["items"]}
    assert "已于 2025年12月1日 00:00 届满" in zh["breach"]
    assert "协议履行完毕" in zh["sent_case_result"]


async def test_the_page_reads_in_local_time_in_both_languages(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    frozen_clock.set(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    case = await open_case(client, await auth("zhangpu.coordinator"))
    due = "2026-12-03T16:00:00+00:00"
    await announce(
        db,
        frozen_clock(),
        Announcement(
            DASHI,
            case["id"],
            "warning",
            f"将于 {due} 届满",
            {"number": case["number"], "deadline": "acceptance", "due_at": due},
        ),
    )
    token = await token_for(client, db, "dashi.mediator")

    texts = {}
    for lang in ("zh", "en"):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=db.app), base_url="http://jiefen.test"
        ) as web:
            web.cookies.set(SESSION_COOKIE, token)
            web.cookies.set(LANGUAGE_COOKIE, lang)
            response = await web.get("/inbox")
        assert response.status_code == 200
        main = response.text.split('<main id="main">', 1)[1]
        texts[lang] = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main))
        assert not ISO.search(texts[lang]), texts[lang]
    assert "12月4日 00:00 前届满" in texts["zh"] and "12月1日 10:00" in texts["zh"]
    assert "before 4 Dec 00:00" in texts["en"] and "1 Dec 10:00" in texts["en"]
    assert "Deadline warning" in texts["en"] and "期限预警" not in texts["en"]
