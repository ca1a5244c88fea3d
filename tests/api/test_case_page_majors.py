"""The case page's major-dispute reports and its session records, and the report a correction
files: a case corrected to carry the group-dispute flag is reported to the town and the city
centre in the correction's own transaction, as registration reports one (``after_edit``, wired
like ``after_registration``); the page lists a case's reports, files one and lets a coordinator
of a receiving unit acknowledge it, through the same service functions as the API; a session's
card generates that session's 调解记录."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from service.errors import Conflict
from service.screening import major
from tests.api.test_case_page_queries import page_client
from tests.api.test_screening import inbox_of
from tests.api.test_sessions import lead_of, mediating, record
from tests.builders import CITY, DASHI, ZHANGPU, open_case
from tests.conftest import Backend

pytestmark = pytest.mark.usefixtures("trail_stays_intact")


async def majors_of(client: httpx.AsyncClient, headers: dict[str, str], case_id: int) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/cases/{case_id}/major-reports", headers=headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


async def kinds_of(client: httpx.AsyncClient, headers: dict[str, str], case_id: int) -> list[str]:
    events = (await client.get(f"/api/v1/cases/{case_id}/events", headers=headers)).json()
    return [e["kind"] for e in events]


async def test_a_case_corrected_to_a_group_dispute_is_reported_once(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    assert await majors_of(client, mediator, case["id"]) == []

    edited = await client.patch(
        f"/api/v1/cases/{case['id']}",
        json={"flags": ["group_dispute", "criminal_risk"], "people_involved": 12, "reason": "村民十余人到场"},
        headers=mediator,
    )

    assert edited.status_code == 200, edited.text
    [report] = await majors_of(client, mediator, case["id"])
    assert (report["risks"], report["to_unit_codes"], report["from_unit_code"]) == (
        ["group", "crime"],
        [ZHANGPU, CITY],
        DASHI,
    )
    assert report["reported_by"] == "dashi.mediator" and report["acknowledged_at"] is None
    assert report["statement"].startswith("更正时标记为群体性纠纷（涉及 12 人）")
    for unit in (ZHANGPU, CITY):
        [item] = await inbox_of(db, unit, "major_report")
        assert (item.case_id, item.payload["major_report_id"]) == (case["id"], report["id"])
    # The correction's event, then the report's, on the case's chain.
    assert (await kinds_of(client, mediator, case["id"]))[-2:] == ["edit", "major_report"]

    # Another correction, or the flag taken off and put back, files no second report.
    for flags in (["group_dispute"], [], ["group_dispute"]):
        again = await client.patch(f"/api/v1/cases/{case['id']}", json={"flags": flags}, headers=mediator)
        assert again.status_code == 200, again.text
    assert len(await majors_of(client, mediator, case["id"])) == 1
    assert len(await inbox_of(db, ZHANGPU, "major_report")) == 1


async def test_a_correction_reports_only_a_group_flag_added_to_a_case_not_reported_as_one(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    reported, plain = await open_case(client, mediator), await open_case(client, mediator)
    filed = await client.post(
        f"/api/v1/cases/{reported['id']}/major-reports",
        json={"risks": ["group"], "statement": "三十余户联名反映"},
        headers=mediator,
    )
    assert filed.status_code == 201, filed.text

    for case, flags in ((reported, ["group_dispute"]), (plain, ["criminal_risk"])):
        edited = await client.patch(f"/api/v1/cases/{case['id']}", json={"flags": flags}, headers=mediator)
        assert edited.status_code == 200, edited.text

    assert [r["statement"] for r in await majors_of(client, mediator, reported["id"])] == ["三十余户联名反映"]
    assert await majors_of(client, mediator, plain["id"]) == []


async def test_the_report_is_written_in_the_corrections_transaction(
    client: httpx.AsyncClient, auth, db: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)

    async def refuse(*args: Any, **kwargs: Any) -> int:
        raise Conflict("the report could not be written")

    monkeypatch.setattr(major, "file_on", refuse)
    failed = await client.patch(
        f"/api/v1/cases/{case['id']}", json={"flags": ["group_dispute"]}, headers=mediator
    )

    assert failed.status_code == 409, failed.text
    after = (await client.get(f"/api/v1/cases/{case['id']}", headers=mediator)).json()
    assert (after["version"], after["flags"]) == (case["version"], [])  # the correction went with it
    assert "edit" not in await kinds_of(client, mediator, case["id"])
    assert await majors_of(client, mediator, case["id"]) == []


def section_of(html: str) -> str:
    found = re.search(r'<section[^>]*id="major-reports".*?</section>', html, re.S)
    return found.group(0) if found else ""


async def test_the_case_page_files_lists_and_acknowledges_major_reports(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator = await auth("dashi.mediator")
    case = await open_case(client, mediator)
    station = await page_client(db, client, "dashi.mediator")
    town = await page_client(db, client, "zhangpu.coordinator")
    async with station, town:
        page = (await station.get(f"/cases/{case['id']}")).text
        assert 'id="form-major-report"' in section_of(page) and 'name="risk_suicide"' in page

        # Nothing ticked: refused on the page, nothing filed.
        refused = await station.post(
            f"/cases/{case['id']}/major-reports",
            data={"csrf_token": station.headers["X-Test-Csrf"], "statement": "扬言轻生"},
        )
        assert refused.status_code == 303 and "major=refused.risks" in refused.headers["location"]
        assert await majors_of(client, mediator, case["id"]) == []

        filed = await station.post(
            f"/cases/{case['id']}/major-reports",
            data={
                "csrf_token": station.headers["X-Test-Csrf"],
                "risk_suicide": "1",
                "risk_group": "1",
                "statement": "申请人扬言轻生，亲属二十余人聚集",
            },
        )
        assert filed.status_code == 303 and filed.headers["location"].endswith("?major=filed#major-reports")
        [report] = await majors_of(client, mediator, case["id"])
        assert (report["risks"], report["to_unit_codes"]) == (["group", "suicide"], [ZHANGPU, CITY])

        shown = section_of((await station.get(filed.headers["location"])).text)
        assert "已报告镇和市矛调中心" in shown
        assert "群体性纠纷" in shown and "自杀风险" in shown and "张浦镇" in shown
        assert "待确认" in shown and "申请人扬言轻生" in shown
        assert "/acknowledge" not in shown  # a station does not acknowledge

        # The town's coordinator acknowledges with one tap, once.
        offered = section_of((await town.get(f"/cases/{case['id']}")).text)
        assert f'action="/cases/{case["id"]}/major-reports/{report["id"]}/acknowledge"' in offered
        assert 'id="form-major-report"' in offered  # a coordinator who sees the case may report it too
        ack = f"/cases/{case['id']}/major-reports/{report['id']}/acknowledge"
        done = await town.post(ack, data={"csrf_token": town.headers["X-Test-Csrf"]})
        assert done.status_code == 303 and "major=acknowledged" in done.headers["location"]
        after = section_of((await town.get(done.headers["location"])).text)
        assert "已确认：zhangpu.coordinator" in after and "/acknowledge" not in after
        twice = await town.post(ack, data={"csrf_token": town.headers["X-Test-Csrf"]})
        assert "major=already" in twice.headers["location"]

    [acknowledged] = await majors_of(client, mediator, case["id"])
    assert acknowledged["acknowledged_by"] == "zhangpu.coordinator"
    assert (await kinds_of(client, mediator, case["id"]))[-2:] == ["major_report", "major_ack"]
    [told] = await inbox_of(db, DASHI, "major_report_acknowledged")
    assert told.payload["major_report_id"] == report["id"]


async def test_a_sessions_card_generates_its_record(client: httpx.AsyncClient, auth, db: Backend) -> None:
    mediator = await auth("dashi.mediator")
    case = await mediating(client, mediator)
    lead = await lead_of(db, "dashi.mediator")
    first = (
        await client.post(f"/api/v1/cases/{case['id']}/sessions", json=record(case, lead), headers=mediator)
    ).json()
    second = (
        await client.post(
            f"/api/v1/cases/{case['id']}/sessions",
            json=record(case, lead, result="none", adjourned_to=None),
            headers=mediator,
        )
    ).json()
    web = await page_client(db, client, "dashi.mediator")
    async with web:
        page = (await web.get(f"/cases/{case['id']}")).text
        assert (
            f'data-session-record="{first["id"]}"' in page and f'data-session-record="{second["id"]}"' in page
        )
        # The 文书 section's one-per-case buttons do not offer it: it names its session.
        kinds = re.search(r'id="document-kinds".*?</ul>', page, re.S)
        assert kinds is not None and "session_record" not in kinds.group(0)

        made = await web.post(
            f"/cases/{case['id']}/documents",
            data={
                "csrf_token": web.headers["X-Test-Csrf"],
                "kind": "session_record",
                "session_id": str(second["id"]),
                "format": "docx",
            },
        )
        assert made.status_code == 303
        assert made.headers["location"].endswith(
            f"document=generated&session={second['id']}#session-{second['id']}"
        )
        shown = (await web.get(made.headers["location"])).text
        # A session of another case, or none named, is refused on the page.
        for wrong in ("", "999999"):
            refused = await web.post(
                f"/cases/{case['id']}/documents",
                data={
                    "csrf_token": web.headers["X-Test-Csrf"],
                    "kind": "session_record",
                    "session_id": wrong,
                    "format": "pdf",
                },
            )
            assert "document=refused" in refused.headers["location"]
            told = (await web.get(refused.headers["location"])).text
            assert told.count('id="document-outcome"') + told.count('id="session-document-outcome"') == 1
            assert "未能生成文书" in told

    listed = (await client.get(f"/api/v1/cases/{case['id']}/documents", headers=mediator)).json()
    [doc] = [d for d in listed if d["kind"] == "session_record"]
    assert (doc["session_id"], doc["format"], doc["version"]) == (second["id"], "docx", 1)
    card = re.search(rf'id="session-{second["id"]}".*?</li>\s*</ul>', shown, re.S)
    assert card is not None and 'id="session-document-outcome"' in card.group(0)
    assert f"/cases/{case['id']}/documents/{doc['id']}/file" in card.group(0)
    other = re.search(rf'id="session-{first["id"]}".*?id="session-{second["id"]}"', shown, re.S)
    assert other is not None and "/file" not in other.group(0)  # the first session has no version yet
