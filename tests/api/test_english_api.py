"""The API names units in the language the request asks for (Accept-Language), on SQLite and
PostgreSQL: English with ``en``, Chinese — the product's language — otherwise."""

from __future__ import annotations

from typing import Any

import httpx

from tests.builders import DASHI, ZHANGPU, move, open_case

EN = {"Accept-Language": "en-GB,en;q=0.9"}
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}


async def read(client: httpx.AsyncClient, headers: dict[str, str], path: str) -> Any:
    response = await client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_case_and_its_triage_name_their_units_in_the_language_asked_for(
    client: httpx.AsyncClient, auth: Any
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)

    english = await read(client, {**mediator, **EN}, f"/api/v1/cases/{case['id']}")
    chinese = await read(client, {**mediator, **ZH}, f"/api/v1/cases/{case['id']}")
    default = await read(client, mediator, f"/api/v1/cases/{case['id']}")

    assert (english["unit_code"], english["unit_name"], english["triage"]["unit_name"]) == (
        DASHI,
        "Dashi Community",
        "Dashi Community",
    )
    assert english["triage"]["reasons"] == [
        "Dispute type: Neighbours",
        "Amount in dispute 3000 yuan < 50000 yuan",
        "People involved: 2 < 5",
        "Assigned to the mediation committee where the dispute arose: Dashi Community (320583106005)",
    ]
    assert (chinese["unit_name"], chinese["triage"]["unit_name"]) == ("大市社区", "大市社区")
    assert chinese["triage"]["reasons"][0] == "纠纷类型: 邻里"
    assert default["unit_name"] == "大市社区"


async def test_the_triage_preview_names_the_receiving_unit_in_english(
    client: httpx.AsyncClient, auth: Any
) -> None:
    mediator = await auth("dashi.mediator")
    body = {"dispute_type": "NEIGHBOUR", "location_code": DASHI, "amount_yuan": 80000}

    response = await client.post("/api/v1/triage/preview", json=body, headers={**mediator, **EN})

    assert response.status_code == 200, response.text
    assert (response.json()["unit_code"], response.json()["unit_name"]) == (ZHANGPU, "Zhangpu Town")


async def test_a_sent_case_names_where_it_is_now_in_english(client: httpx.AsyncClient, auth: Any) -> None:
    mediator = await auth("dashi.mediator")
    case = await move(client, mediator, await open_case(client, mediator), "accept")
    await move(client, mediator, case, "escalate", reason="涉及多方主体")

    sent = await read(client, {**mediator, **EN}, "/api/v1/cases/sent")
    mine = next(item for item in sent["items"] if item["id"] == case["id"])

    assert (mine["unit_code"], mine["unit_name"]) == (ZHANGPU, "Zhangpu Town")


async def test_a_long_or_odd_accept_language_is_read_not_refused(
    client: httpx.AsyncClient, auth: Any
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    odd = ["en;q=x, zh", "x" * 5000, ", ,;;", "en-US;q=0.1, zh-CN;q=0.9", "EN"]

    names = [
        (await read(client, {**mediator, "Accept-Language": header}, f"/api/v1/cases/{case['id']}"))[
            "unit_name"
        ]
        for header in odd
    ]

    assert names == ["大市社区", "大市社区", "大市社区", "大市社区", "Dashi Community"]
