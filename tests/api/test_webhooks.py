"""Webhooks through the transactional outbox (docs/architecture.md, "The outbox"), posted to a real local receiver.

The receiver is a minimal HTTP/1.1 server on 127.0.0.1 in the test's own event loop. Its socket
is bound from the start but only listens once the test starts it, so "down" is a genuinely
refused connection on the very port the subscription names. Delivery runs explicitly with the
service's own HTTP client and a given ``now``; no sleeps. 127.0.0.1 is a loopback address, which
no webhook may target unless the deployment lists it: every test here lists it (plain HTTP and
internal), as JIEFEN_WEBHOOK_HTTP_HOSTS and JIEFEN_WEBHOOK_INTERNAL_HOSTS would
(tests/api/test_webhook_targets.py checks the refusals).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from service.cases import service as case_service
from service.cases.schemas import TransitionIn
from service.notifications import service as notifications
from service.notifications.delivery import DeliveryReport, backoff, deliver_due, retry_dead
from service.notifications.models import InboxItem, OutboxMessage
from service.scheduler import http_client
from service.sweep import sweep
from tests.api.test_deadlines_api import kunshan
from tests.builders import DASHI, ZHANGPU, fire, move, open_case
from tests.conftest import FIXED_NOW, Backend, FrozenClock
from tests.rows import refusing_inserts
from workflows.lifecycle import Actor, Role

outbox = OutboxMessage.__table__  # type: ignore[attr-defined]
inbox = InboxItem.__table__  # type: ignore[attr-defined]

BREACH_AT = kunshan(2026, 3, 6, 0, 1)  # the acceptance clock of a case opened at FIXED_NOW has run out


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


class Receiver:
    """A webhook endpoint: records every request and answers ``status``; down until ``start``."""

    def __init__(self) -> None:
        # Bound but not listening: a connection to the port is refused, and nobody else can take it.
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.status = 200
        self.requests: list[Received] = []
        self.server: asyncio.Server | None = None

    def url(self, path: str = "/hooks/jiefen") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, sock=self.sock)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        self.sock.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            request_line, *header_lines = head.split("\r\n")
            method, path, _ = request_line.split(" ", 2)
            headers = {}
            for line in header_lines:
                if line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Received(method, path, headers, body))
            writer.write(
                f"HTTP/1.1 {self.status} Answer\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
        finally:
            writer.close()

    def keys(self) -> Counter[str]:
        return Counter(r.headers["idempotency-key"] for r in self.requests)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    yield found
    await found.close()


@pytest.fixture(autouse=True)
def local_receivers_allowed(db: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """127.0.0.1 as a deployment would allow an intranet receiver (plain HTTP, internal)."""
    monkeypatch.setattr(db.ctx.settings, "webhook_http_hosts", "127.0.0.1")
    monkeypatch.setattr(db.ctx.settings, "webhook_internal_hosts", "127.0.0.1")


@pytest.fixture
async def webhook_client(db: Backend, local_receivers_allowed: None) -> AsyncIterator[httpx.AsyncClient]:
    """The HTTP client the scheduler posts webhooks with."""
    async with http_client(db.ctx) as client:
        yield client


async def subscribe(
    client: httpx.AsyncClient, admin: dict[str, str], unit: str, url: str, **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/admin/webhooks", json={"unit_code": unit, "url": url, **extra}, headers=admin
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def outbox_rows(db: Backend) -> list[Any]:
    async with db.engine.connect() as conn:
        return list((await conn.execute(sa.select(outbox).order_by(outbox.c.id))).all())


async def inbox_kinds(db: Backend, unit: str) -> list[str]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(inbox.c.kind).where(inbox.c.unit_code == unit).order_by(inbox.c.id)
        )
        return list(rows.scalars())


def verify_signature(secret: str, request: Received, *, now: datetime) -> bool:
    """What a receiver does (docs: webhooks): recompute the HMAC of "<t>.<body>" and refuse a
    timestamp more than five minutes from its own clock."""
    fields = dict(part.split("=", 1) for part in request.headers["x-jiefen-signature"].split(","))
    signed = f"{fields['t']}.".encode() + request.body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    fresh = abs(now.timestamp() - int(fields["t"])) <= 300
    return hmac.compare_digest(expected, fields["v1"]) and fresh


async def test_a_receiver_that_is_down_at_first_gets_every_event_once_signed(
    client: httpx.AsyncClient,
    auth,
    db: Backend,
    frozen_clock: FrozenClock,
    receiver: Receiver,
    webhook_client: httpx.AsyncClient,
) -> None:
    subscription = await subscribe(client, await auth("admin"), ZHANGPU, receiver.url())
    secret = subscription["secret"]
    assert len(secret) >= 16 and subscription["active"] is True
    listed = (await client.get("/api/v1/admin/webhooks", headers=await auth("admin"))).json()
    assert [s["id"] for s in listed] == [subscription["id"]] and "secret" not in listed[0]
    case = await open_case(client, await auth("dashi.mediator"))
    assert await outbox_rows(db) == []  # the station has no subscription

    breached = await sweep(db.engine, db.ctx, now=BREACH_AT)

    assert breached.actions == {"escalated": 1}
    queued = await outbox_rows(db)
    assert sorted(r.event_type for r in queued) == ["breach", "escalation"]
    assert {(r.subscription_id, r.status, r.attempts) for r in queued} == {(subscription["id"], "pending", 0)}

    first_try = BREACH_AT + timedelta(seconds=30)
    down = await deliver_due(db.engine, webhook_client, cipher=db.ctx.cipher, now=first_try)

    assert down == DeliveryReport(delivered=0, failed=2, dead=0)
    for row in await outbox_rows(db):
        assert (row.status, row.attempts) == ("pending", 1)
        assert row.next_attempt_at == first_try + backoff(1) == first_try + timedelta(seconds=10)
        assert row.last_error and row.last_error.startswith("ConnectError")
    assert (
        await deliver_due(
            db.engine, webhook_client, cipher=db.ctx.cipher, now=first_try + timedelta(seconds=5)
        )
        == DeliveryReport()
    )

    await receiver.start()
    up_at = first_try + timedelta(seconds=11)
    up = await deliver_due(db.engine, webhook_client, cipher=db.ctx.cipher, now=up_at)

    assert up == DeliveryReport(delivered=2, failed=0, dead=0)
    rows = await outbox_rows(db)
    assert {(r.status, r.attempts, r.delivered_at, r.last_error) for r in rows} == {
        ("delivered", 2, up_at, None)
    }
    later = await deliver_due(db.engine, webhook_client, cipher=db.ctx.cipher, now=up_at + timedelta(days=1))
    assert later == DeliveryReport()
    # Every event arrived exactly once, under the key the outbox row was created with.
    assert receiver.keys() == Counter({r.idempotency_key: 1 for r in rows})
    by_key = {r.idempotency_key: r for r in rows}
    for request in receiver.requests:
        row = by_key[request.headers["idempotency-key"]]
        assert (request.method, request.path) == ("POST", "/hooks/jiefen")
        assert request.headers["content-type"] == "application/json"
        assert verify_signature(secret, request, now=up_at)
        signed_at = int(request.headers["x-jiefen-signature"].split(",")[0].removeprefix("t="))
        assert up_at.timestamp() <= signed_at < up_at.timestamp() + 60  # when it was sent
        assert request.headers["x-jiefen-event"] == row.event_type
        body = request.json
        assert (body["event"], body["case_id"], body["unit_code"]) == (row.event_type, case["id"], ZHANGPU)
        assert body["number"] == case["number"]
        assert "已届满" in body["reason"] and "人民调解法 第21条" in body["reason"]
    escalation = next(r.json for r in receiver.requests if r.json["event"] == "escalation")
    assert (escalation["from_unit_code"], escalation["state"], escalation["actor"]) == (
        DASHI,
        "assigned",
        "system",
    )


async def test_dead_lettered_after_max_attempts_and_sent_again_after_retry(
    client: httpx.AsyncClient,
    auth,
    db: Backend,
    frozen_clock: FrozenClock,
    receiver: Receiver,
    webhook_client: httpx.AsyncClient,
) -> None:
    receiver.status = 503
    await receiver.start()
    subscription = await subscribe(client, await auth("admin"), DASHI, receiver.url())
    case = await open_case(client, await auth("dashi.mediator"))  # a new case arrives at the station
    [row] = await outbox_rows(db)
    assert (row.event_type, row.payload["case_id"]) == ("new_case", case["id"])

    attempts = []
    sent_at = [FIXED_NOW]
    for _ in range(3):
        attempts.append(
            await deliver_due(
                db.engine, webhook_client, cipher=db.ctx.cipher, now=sent_at[-1], max_attempts=3
            )
        )
        [row] = await outbox_rows(db)
        sent_at.append(row.next_attempt_at)
    sent_at.pop()

    assert attempts == [DeliveryReport(failed=1), DeliveryReport(failed=1), DeliveryReport(dead=1)]
    [dead] = await outbox_rows(db)
    assert (dead.status, dead.attempts, dead.last_error) == ("dead", 3, "HTTP 503")
    assert len(receiver.requests) == 3
    nothing = await deliver_due(
        db.engine, webhook_client, cipher=db.ctx.cipher, now=FIXED_NOW + timedelta(days=1), max_attempts=3
    )
    assert nothing == DeliveryReport() and len(receiver.requests) == 3

    retry_at = FIXED_NOW + timedelta(days=1, hours=1)
    assert await retry_dead(db.engine, now=retry_at) == 1
    [revived] = await outbox_rows(db)
    assert (revived.status, revived.attempts, revived.next_attempt_at, revived.last_error) == (
        "pending",
        0,
        retry_at,
        None,
    )
    receiver.status = 200
    sent = await deliver_due(db.engine, webhook_client, cipher=db.ctx.cipher, now=retry_at, max_attempts=3)
    sent_at.append(retry_at)

    assert sent == DeliveryReport(delivered=1)
    [delivered] = await outbox_rows(db)
    assert (delivered.status, delivered.attempts, delivered.delivered_at) == ("delivered", 1, retry_at)
    assert await retry_dead(db.engine, now=retry_at) == 0
    # Every attempt carried the same key and the same body: the receiver can deduplicate. Each
    # was signed when it was sent, so each verifies then, and none an hour later (a replay).
    assert receiver.keys() == Counter({row.idempotency_key: 4})
    assert len({r.body for r in receiver.requests}) == 1
    assert len({r.headers["x-jiefen-signature"] for r in receiver.requests}) == 4
    for request, at in zip(receiver.requests, sent_at, strict=True):
        assert verify_signature(subscription["secret"], request, now=at + timedelta(minutes=4))
        assert not verify_signature(subscription["secret"], request, now=at + timedelta(minutes=6))
        assert not verify_signature("another-secret-entirely", request, now=at)


async def test_a_disabled_subscription_gets_nothing_new(
    client: httpx.AsyncClient,
    auth,
    db: Backend,
    frozen_clock: FrozenClock,
    receiver: Receiver,
    webhook_client: httpx.AsyncClient,
) -> None:
    admin, station = await auth("admin"), await auth("dashi.mediator")
    await receiver.start()
    dropped = await subscribe(client, admin, DASHI, receiver.url("/dropped"))
    kept = await subscribe(client, admin, DASHI, receiver.url("/kept"), secret="a-secret-of-our-own-choice")
    assert kept["secret"] == "a-secret-of-our-own-choice"
    first = await open_case(client, station)
    assert sorted(r.subscription_id for r in await outbox_rows(db)) == [dropped["id"], kept["id"]]

    disabled = await client.delete(f"/api/v1/admin/webhooks/{dropped['id']}", headers=admin)

    assert disabled.status_code == 204
    listed = (await client.get("/api/v1/admin/webhooks", headers=admin)).json()
    assert {s["id"]: s["active"] for s in listed} == {dropped["id"]: False, kept["id"]: True}
    second = await open_case(client, station)
    rows = await outbox_rows(db)
    assert sorted((r.subscription_id, r.payload["case_id"]) for r in rows) == sorted(
        [(dropped["id"], first["id"]), (kept["id"], first["id"]), (kept["id"], second["id"])]
    )

    report = await deliver_due(db.engine, webhook_client, cipher=db.ctx.cipher, now=FIXED_NOW)

    assert report == DeliveryReport(delivered=2, failed=1)
    assert sorted((r.path, r.json["case_id"]) for r in receiver.requests) == [
        ("/kept", first["id"]),
        ("/kept", second["id"]),
    ]
    [held] = [r for r in await outbox_rows(db) if r.subscription_id == dropped["id"]]
    assert (held.status, held.last_error) == ("pending", "subscription disabled")
    missing = await client.delete("/api/v1/admin/webhooks/999999", headers=admin)
    assert missing.status_code == 404


@pytest.mark.parametrize("username", ["zhangpu.coordinator", "dashi.mediator", "auditor"])
async def test_only_an_admin_manages_webhooks(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock, username: str
) -> None:
    admin = await auth("admin")
    existing = await subscribe(client, admin, ZHANGPU, "http://127.0.0.1:9/hook")
    headers = await auth(username)

    listed = await client.get("/api/v1/admin/webhooks", headers=headers)
    created = await client.post(
        "/api/v1/admin/webhooks", json={"unit_code": ZHANGPU, "url": "http://127.0.0.1:9/x"}, headers=headers
    )
    deleted = await client.delete(f"/api/v1/admin/webhooks/{existing['id']}", headers=headers)

    assert (listed.status_code, created.status_code, deleted.status_code) == (403, 403, 403)
    assert created.headers["content-type"].startswith("application/problem+json")
    after = (await client.get("/api/v1/admin/webhooks", headers=admin)).json()
    assert [(s["id"], s["active"]) for s in after] == [(existing["id"], True)]
    anonymous = await client.get("/api/v1/admin/webhooks")
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"unit_code": ZHANGPU, "url": "not a url"}, "url"),
        ({"unit_code": ZHANGPU, "url": "ftp://127.0.0.1/hook"}, "url"),
        ({"unit_code": ZHANGPU}, "url"),
        ({"unit_code": "nowhere", "url": "http://127.0.0.1:9/hook"}, "unit_code"),
        ({"unit_code": ZHANGPU, "url": "http://127.0.0.1:9/hook", "secret": "short"}, "secret"),
    ],
)
async def test_a_bad_subscription_is_422_naming_the_field(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/api/v1/admin/webhooks", json=body, headers=await auth("admin"))

    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [f"body.{field}"]
    listed = (await client.get("/api/v1/admin/webhooks", headers=await auth("admin"))).json()
    assert listed == []


async def test_outbox_row_and_inbox_item_roll_back_with_a_failed_transition(
    client: httpx.AsyncClient,
    auth,
    db: Backend,
    frozen_clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    station = await auth("dashi.mediator")
    await subscribe(client, await auth("admin"), ZHANGPU, "http://127.0.0.1:9/hook")
    case = await open_case(client, station)
    if db.name == "postgresql":
        # One statement: the database refuses the outbox row at its insert, and the whole
        # statement (case, event, clocks, inbox item) goes with it (422: a value not storable).
        async with refusing_inserts(db, "outbox"):
            response = await fire(client, station, case, "escalate", reason="需要镇里协调")
        assert response.status_code == 422, response.text
    else:
        real_notify = notifications.notify_many
        written_inside: list[int] = []

        async def notify_then_fail(conn: Any, *args: Any, **kwargs: Any) -> None:
            await real_notify(conn, *args, **kwargs)
            count = (await conn.execute(sa.select(sa.func.count()).select_from(outbox))).scalar_one()
            written_inside.append(count)
            raise RuntimeError("the transaction fails after the outbox row was written")

        with monkeypatch.context() as patched:
            patched.setattr(notifications, "notify_many", notify_then_fail)
            transport = httpx.ASGITransport(app=db.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://jiefen.test") as failing:
                response = await fire(failing, station, case, "escalate", reason="需要镇里协调")
        assert response.status_code == 500, response.text
        assert written_inside == [1]  # the row existed inside the transaction ...

    assert await outbox_rows(db) == []  # ... and went with it
    assert "escalation" not in await inbox_kinds(db, ZHANGPU)
    unchanged = (await client.get(f"/api/v1/cases/{case['id']}", headers=station)).json()
    assert (unchanged["version"], unchanged["state"], unchanged["unit_code"]) == (1, "assigned", DASHI)
    assert [(d["kind"], d["unit_code"], d["status"]) for d in unchanged["deadlines"]] == [
        ("acceptance", DASHI, "active")
    ]

    moved = await move(client, station, case, "escalate", reason="需要镇里协调")

    assert (moved["version"], moved["unit_code"]) == (2, ZHANGPU)
    assert [(r.event_type, r.payload["reason"]) for r in await outbox_rows(db)] == [
        ("escalation", "需要镇里协调")
    ]
    assert (await inbox_kinds(db, ZHANGPU)).count("escalation") == 1


async def test_a_transition_that_loses_a_version_race_leaves_no_outbox_row_or_inbox_item(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    station = await auth("dashi.mediator")
    await subscribe(client, await auth("admin"), ZHANGPU, "http://127.0.0.1:9/hook")
    case = await open_case(client, station)
    coordinator = Actor("zhangpu.coordinator", Role.coordinator, ZHANGPU)
    # The coordinator's escalation is read and decided on version 1 ...
    stale = await case_service.visible_row(db.engine, db.ctx, case["id"], coordinator)
    body = TransitionIn.model_validate({"trigger": "escalate", "reason": "镇里接手"})
    plan = case_service.decide_transition(db.ctx, stale, body, coordinator, now=FIXED_NOW, if_match=None)
    # ... while the station accepts the case (version 2).
    await move(client, station, case, "accept")

    async with db.engine.begin() as conn:
        version = await case_service.write_transition(conn, plan)
        if version is None:
            await conn.rollback()

    assert version is None
    assert await outbox_rows(db) == []
    assert "escalation" not in await inbox_kinds(db, ZHANGPU)
    now = (await client.get(f"/api/v1/cases/{case['id']}", headers=station)).json()
    assert (now["version"], now["state"], now["unit_code"]) == (2, "mediating", DASHI)
    events = (await client.get(f"/api/v1/cases/{case['id']}/events", headers=station)).json()
    assert [e["trigger"] for e in events] == [None, "accept"]


async def test_the_breach_reason_names_the_deadline_once(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    await subscribe(client, await auth("admin"), ZHANGPU, "http://127.0.0.1:9/hook")
    await open_case(client, await auth("dashi.mediator"))
    await sweep(db.engine, db.ctx, now=BREACH_AT)

    reasons = {r.payload["reason"] for r in await outbox_rows(db)}

    assert reasons == {
        '受理期限已届满（昆山市司法局 (本地规定; 可配置); 人民调解法 第21条 (法律只要求"及时"调解, 未规定受理天数)）'
    }
