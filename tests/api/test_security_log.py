"""The auditor's view of the security log: who did what, filtered, exported — and every reading recorded."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.api.test_webhook_targets import PUBLIC, FakeDns
from tests.builders import DASHI, WULIAN, ZHANGPU, open_case
from tests.conftest import FIXED_NOW, Backend, FrozenClock

LOG = "/api/v1/security-events"
EXPORT = "/api/v1/security-events/export"


async def reveal(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    case: dict[str, Any],
    reason: str = "电话通知当事人到场",
) -> None:
    party = case["parties"][0]["id"]
    response = await client.post(
        f"/api/v1/cases/{case['id']}/parties/{party}/reveal",
        json={"reason": reason, "fields": ["phone"]},
        headers=headers,
    )
    assert response.status_code == 200, response.text


async def read(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await client.get(LOG, params=params, headers=headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


@pytest.mark.parametrize(
    "user", ["admin", "city.coordinator", "dashi.mediator", "court.clerk", "zhangpu.police"]
)
async def test_only_an_auditor_reads_or_exports_the_security_log(
    client: httpx.AsyncClient, auth, db: Backend, user: str
) -> None:
    headers = await auth(user)

    listed = await client.get(LOG, headers=headers)
    exported = await client.get(EXPORT, headers=headers)
    by_auditor = await client.get(LOG, headers=await auth("auditor"))

    assert (listed.status_code, exported.status_code, by_auditor.status_code) == (403, 403, 200)
    assert listed.headers["content-type"] == "application/problem+json"


async def test_reveals_with_their_reasons_sign_ins_and_the_readings_themselves_are_in_the_log(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator, auditor = await auth("dashi.mediator"), await auth("auditor")
    case = await open_case(client, mediator)
    await reveal(client, mediator, case, reason="电话通知当事人到场")

    first = await read(client, auditor, kind="reveal")
    second = await read(client, auditor, kind="security_events_read")

    assert first["total"] == 1
    shown = first["items"][0]
    assert {k: shown[k] for k in ("kind", "actor", "actor_role", "actor_unit_code", "case_id", "reason")} == {
        "kind": "reveal",
        "actor": "dashi.mediator",
        "actor_role": "mediator",
        "actor_unit_code": DASHI,
        "case_id": case["id"],
        "reason": "电话通知当事人到场",
    }
    assert shown["payload"] == {"fields": ["phone"]}
    assert shown["party_id"] == case["parties"][0]["id"]
    # The first reading is in the log the second one reads, with the filter it used.
    assert [(e["actor"], e["payload"]["filter"]["kinds"]) for e in second["items"]] == [
        ("auditor", ["reveal"])
    ]


async def test_the_log_filters_by_person_unit_case_kind_and_time_a_page_at_a_time(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    mediator, coordinator, auditor = (
        await auth("dashi.mediator"),
        await auth("zhangpu.coordinator"),
        await auth("auditor"),
    )
    first, second = await open_case(client, mediator), await open_case(client, mediator)
    await reveal(client, mediator, first)
    frozen_clock.set(FIXED_NOW + timedelta(days=1))
    await reveal(client, coordinator, first)
    await reveal(client, mediator, second)
    day_two = (FIXED_NOW + timedelta(days=1)).isoformat()

    def ids(page: dict[str, Any]) -> list[tuple[str, int | None]]:
        return [(e["actor"], e["case_id"]) for e in page["items"]]

    by_person = await read(client, auditor, actor="dashi.mediator", kind="reveal")
    by_case = await read(client, auditor, case_id=first["id"], kind="reveal")
    in_town = await read(client, auditor, unit=ZHANGPU, kind="reveal")
    elsewhere = await read(client, auditor, unit=WULIAN, kind="reveal")
    since = await read(client, auditor, since=day_two, kind="reveal")
    until = await read(client, auditor, until=day_two, kind="reveal")
    kinds = await client.get(
        LOG, params=[("kind", "reveal"), ("kind", "security_events_read")], headers=auditor
    )
    paged = await read(client, auditor, kind="reveal", limit=1, offset=1)

    assert ids(by_person) == [("dashi.mediator", second["id"]), ("dashi.mediator", first["id"])]
    assert ids(by_case) == [("zhangpu.coordinator", first["id"]), ("dashi.mediator", first["id"])]
    assert in_town["total"] == 3  # the town centre and its stations
    assert elsewhere["total"] == 0
    assert ids(since) == [("dashi.mediator", second["id"]), ("zhangpu.coordinator", first["id"])]
    assert ids(until) == [("dashi.mediator", first["id"])]
    assert {e["kind"] for e in kinds.json()["items"]} == {"reveal", "security_events_read"}
    assert (paged["total"], paged["limit"], paged["offset"], ids(paged)) == (
        3,
        1,
        1,
        [("zhangpu.coordinator", first["id"])],
    )


async def test_a_bad_filter_is_a_422_naming_it(client: httpx.AsyncClient, auth, db: Backend) -> None:
    auditor = await auth("auditor")

    unit = await client.get(LOG, params={"unit": "NOPE"}, headers=auditor)
    backwards = await client.get(
        LOG,
        params={"since": "2026-03-02T10:00:00+08:00", "until": "2026-03-01T10:00:00+08:00"},
        headers=auditor,
    )
    not_a_time = await client.get(LOG, params={"since": "yesterday"}, headers=auditor)
    nul = await client.get(LOG, params={"actor": "dashi\x00mediator"}, headers=auditor)

    assert [e["field"] for e in unit.json()["errors"]] == ["query.unit"]
    assert [e["field"] for e in backwards.json()["errors"]] == ["query.until"]
    assert not_a_time.status_code == 422
    assert [e["field"] for e in nul.json()["errors"]] == ["query.actor"]
    responses = (unit, backwards, not_a_time, nul)
    assert {r.headers["content-type"] for r in responses} == {"application/problem+json"}


async def test_the_csv_export_neutralises_formulas_and_is_itself_recorded(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    mediator, auditor = await auth("dashi.mediator"), await auth("auditor")
    case = await open_case(client, mediator)
    dangerous = ['=HYPERLINK("http://evil.example/","点我")', "+86 电话", "-1+1", "@SUM(A1)"]
    for reason in dangerous:
        await reveal(client, mediator, case, reason=reason)

    response = await client.get(EXPORT, params={"kind": "reveal"}, headers=auditor)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="jiefen-security-events-')
    assert response.content.startswith(b"\xef\xbb\xbf")  # a BOM: Excel reads it as UTF-8
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["id", "at", "kind", "actor"]
    reasons = [row[rows[0].index("reason")] for row in rows[1:]]
    assert reasons == ["'" + r for r in reversed(dangerous)]  # newest first, each shown as text
    assert all(row[2] == "reveal" and row[3] == "dashi.mediator" for row in rows[1:])
    log = await read(client, auditor, kind="security_events_exported")
    assert [(e["actor"], e["payload"]["rows"], e["payload"]["filter"]["kinds"]) for e in log["items"]] == [
        ("auditor", 4, ["reveal"])
    ]


async def test_webhook_changes_and_statistics_exports_are_security_events(
    client: httpx.AsyncClient, auth, db: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The webhook target is checked in DNS: a fake resolver gives it a public address.
    monkeypatch.setattr(
        db.app.state, "webhook_resolver", FakeDns({"hooks.example.org": [[PUBLIC]]}), raising=False
    )
    admin, coordinator, auditor = (
        await auth("admin"),
        await auth("zhangpu.coordinator"),
        await auth("auditor"),
    )
    created = await client.post(
        "/api/v1/admin/webhooks",
        json={"unit_code": DASHI, "url": "https://hooks.example.org/jiefen"},
        headers=admin,
    )
    assert created.status_code == 201
    assert (
        await client.delete(f"/api/v1/admin/webhooks/{created.json()['id']}", headers=admin)
    ).status_code == 204
    report = await client.get(
        "/api/v1/stats/report",
        params={"month": "2026-03", "format": "csv", "unit": ZHANGPU},
        headers=coordinator,
    )
    assert report.status_code == 200
    assert (
        await client.get("/api/v1/stats/report", params={"month": "2026-03"}, headers=coordinator)
    ).is_success

    log = await read(client, auditor, kind=["webhook_created", "webhook_disabled", "stats_exported"])

    assert [(e["kind"], e["actor"]) for e in log["items"]] == [
        ("stats_exported", "zhangpu.coordinator"),  # the JSON report is no export: only the file
        ("webhook_disabled", "admin"),
        ("webhook_created", "admin"),
    ]
    assert log["items"][0]["payload"] == {
        "report": "monthly",
        "month": "2026-03",
        "unit": ZHANGPU,
        "format": "csv",
    }
    assert log["items"][1]["payload"]["subscription_id"] == created.json()["id"]
    assert "secret" not in str(log["items"])
