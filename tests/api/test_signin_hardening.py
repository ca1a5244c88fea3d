"""Sign-in hardening: lockout, security events, user administration, password policy, HTTP safety."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from service import clock
from service.audit.events import security_events
from service.errors import InvalidInput
from service.users.passwords import password_problems
from service.users.security import token_digest
from service.users.service import create_user, issue_machine_token, tokens
from service.users.throttle import throttle
from tests.builders import DASHI, case_body
from tests.conftest import FIXED_NOW, TEST_PASSWORD, Backend, FrozenClock

TOKEN = "/api/v1/auth/token"
ME = "/api/v1/auth/me"
PASSWORD = "/api/v1/auth/password"
USERS = "/api/v1/admin/users"
NEW_PASSWORD = "Ting-feng 2026 调解"  # 17 characters, four classes: meets the policy
LOCKED_USER = "wulian.mediator"  # a demo login; the db fixture empties the throttle for each test
OTHER_USER = "zhouxiang.mediator"
ADDRESS = "10.0.0.7"


@asynccontextmanager
async def client_at(db: Backend, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests come from ``address``."""
    transport = httpx.ASGITransport(app=db.app, client=(address, 123))
    async with httpx.AsyncClient(transport=transport, base_url="http://jiefen.test") as client:
        yield client


async def sign_in(client: httpx.AsyncClient, username: str, password: str = TEST_PASSWORD) -> httpx.Response:
    return await client.post(TOKEN, data={"username": username, "password": password})


async def fail(client: httpx.AsyncClient, username: str, times: int) -> None:
    for _ in range(times):
        response = await sign_in(client, username, "wrong-password-1")
        assert response.status_code == 401, response.text


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def events(db: Backend, *kinds: str) -> list[Any]:
    query = sa.select(
        security_events.c.kind,
        security_events.c.actor,
        security_events.c.actor_role,
        security_events.c.client_ip,
        security_events.c.payload,
    ).order_by(security_events.c.id)
    if kinds:
        query = query.where(security_events.c.kind.in_(kinds))
    async with db.engine.connect() as conn:
        return list((await conn.execute(query)).all())


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}.mediator"


async def new_user(db: Backend, username: str, password: str = NEW_PASSWORD) -> str:
    async with db.engine.begin() as conn:
        await create_user(
            conn,
            username=username,
            password=password,
            role="mediator",
            unit_code=DASHI,
            org=db.ctx.org,
            now=clock.now(),
        )
    return username


def assert_locked(response: httpx.Response, lockout: timedelta) -> dict[str, Any]:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == str(int(lockout.total_seconds()))
    problem: dict[str, Any] = response.json()
    assert problem["type"] == "/problems/too-many-attempts"
    assert problem["locked_until"] in problem["detail"]
    assert "access_token" not in problem
    return problem


# --- lockout ----------------------------------------------------------------------------------


async def test_username_locks_after_repeated_failures_and_unlocks_after_the_lockout(
    client: httpx.AsyncClient, db: Backend, frozen_clock: FrozenClock
) -> None:
    settings = db.ctx.settings
    lockout = timedelta(minutes=settings.signin_lockout_minutes)

    await fail(client, LOCKED_USER, settings.signin_max_failures)
    locked = await sign_in(client, LOCKED_USER)  # the right password no longer helps
    other = await sign_in(client, OTHER_USER)  # same address, far below its own limit

    problem = assert_locked(locked, lockout)
    unlocks = (FIXED_NOW + lockout).astimezone(clock.SHANGHAI).isoformat(timespec="seconds")
    assert problem["locked_until"] == unlocks == "2026-03-02T10:15:00+08:00"
    assert other.status_code == 200

    frozen_clock.set(FIXED_NOW + lockout - timedelta(seconds=1))
    assert_locked(await sign_in(client, LOCKED_USER), timedelta(seconds=1))
    frozen_clock.set(FIXED_NOW + lockout)
    assert (await sign_in(client, LOCKED_USER)).status_code == 200


async def test_unknown_username_locks_exactly_like_a_real_one(
    client: httpx.AsyncClient, db: Backend, frozen_clock: FrozenClock
) -> None:
    limit = db.ctx.settings.signin_max_failures
    await fail(client, LOCKED_USER, limit)
    await fail(client, "nobody.at.all", limit)

    real = await sign_in(client, LOCKED_USER, "anything-at-all")
    unknown = await sign_in(client, "nobody.at.all", "anything-at-all")

    assert real.status_code == unknown.status_code == 429
    # Identical but for the request id, which names each request.
    assert {**real.json(), "request_id": None} == {**unknown.json(), "request_id": None}
    assert real.headers["retry-after"] == unknown.headers["retry-after"]


async def test_address_locks_after_failures_across_many_usernames(
    db: Backend, frozen_clock: FrozenClock
) -> None:
    settings = db.ctx.settings
    async with client_at(db, ADDRESS) as attacker, client_at(db, "10.0.0.8") as colleague:
        for n in range(settings.signin_max_failures_per_address):
            await fail(attacker, f"guess{n}", 1)  # each name far below its own limit

        from_attacker = await sign_in(attacker, OTHER_USER)
        from_elsewhere = await sign_in(colleague, OTHER_USER)
        assert_locked(from_attacker, timedelta(minutes=settings.signin_lockout_minutes))
        assert from_elsewhere.status_code == 200

        frozen_clock.set(FIXED_NOW + timedelta(minutes=settings.signin_lockout_minutes))
        assert (await sign_in(attacker, OTHER_USER)).status_code == 200


async def test_failures_outside_the_window_are_forgotten(
    client: httpx.AsyncClient, db: Backend, frozen_clock: FrozenClock
) -> None:
    settings = db.ctx.settings
    await fail(client, LOCKED_USER, settings.signin_max_failures - 1)
    frozen_clock.set(FIXED_NOW + timedelta(minutes=settings.signin_window_minutes, seconds=1))

    await fail(client, LOCKED_USER, settings.signin_max_failures - 1)

    assert (await sign_in(client, LOCKED_USER)).status_code == 200


async def test_success_resets_the_users_count_but_not_the_addresss(
    client: httpx.AsyncClient, db: Backend, frozen_clock: FrozenClock
) -> None:
    almost = db.ctx.settings.signin_max_failures - 1
    await fail(client, LOCKED_USER, almost)
    assert (await sign_in(client, LOCKED_USER)).status_code == 200

    await fail(client, LOCKED_USER, almost)

    assert (await sign_in(client, LOCKED_USER)).status_code == 200
    async with db.engine.connect() as conn:
        counts = dict((await conn.execute(sa.select(throttle.c.scope, throttle.c.failures))).all())
    assert counts == {"address": 2 * almost}  # the user's row is gone; the address keeps counting


async def test_every_sign_in_outcome_is_a_security_event_with_the_address(
    db: Backend, frozen_clock: FrozenClock
) -> None:
    limit = db.ctx.settings.signin_max_failures
    async with client_at(db, ADDRESS) as client:
        assert (await sign_in(client, LOCKED_USER)).status_code == 200
        await fail(client, LOCKED_USER, limit)
        assert (await sign_in(client, LOCKED_USER)).status_code == 429
        await fail(client, "nobody.at.all", 1)

    rows = await events(db)

    assert [r.kind for r in rows] == [
        "sign_in",
        "token_issued",
        *["sign_in_failed"] * limit,
        "sign_in_locked",
        "sign_in_failed",
    ]
    assert all(r.client_ip == ADDRESS for r in rows)
    assert [r.actor for r in rows] == [LOCKED_USER] * (limit + 3) + ["nobody.at.all"]
    assert rows[0].actor_role == "mediator"
    assert rows[1].payload["token_kind"] == "session" and rows[1].payload["user"] == LOCKED_USER
    failures = [r.payload for r in rows if r.kind == "sign_in_failed"]
    assert [f["failures"] for f in failures] == [*range(1, limit + 1), 1]
    assert [f["reason"] for f in failures] == ["wrong_password"] * limit + ["unknown_user"]
    assert "locked_until" in failures[limit - 1] and "locked_until" not in failures[0]
    assert rows[-2].payload["locked_until"] == failures[limit - 1]["locked_until"]
    assert all("wrong-password-1" not in str(r) for r in rows)


async def test_revoking_a_token_is_a_security_event(db: Backend) -> None:
    async with client_at(db, ADDRESS) as client:
        token = (await sign_in(client, LOCKED_USER)).json()["access_token"]
        assert (await client.post("/api/v1/auth/revoke", headers=bearer(token))).status_code == 204

    (issued,) = await events(db, "token_issued")
    (revoked,) = await events(db, "token_revoked")
    assert revoked.actor == LOCKED_USER and revoked.client_ip == ADDRESS
    assert revoked.payload["token_ids"] == [issued.payload["token_id"]]
    assert revoked.payload["reason"] == "sign_out"


async def test_machine_tokens_are_recorded_when_issued(db: Backend) -> None:
    async with db.engine.begin() as conn:
        await issue_machine_token(
            conn, "zhangpu.coordinator", "nightly-export", now=clock.now(), expires_at=None
        )

    (issued,) = await events(db, "token_issued")
    assert issued.actor == "cli"
    assert issued.payload["user"] == "zhangpu.coordinator"
    assert issued.payload["token_kind"] == "machine" and issued.payload["name"] == "nightly-export"


async def test_overlong_and_nul_usernames_are_counted_without_error(
    client: httpx.AsyncClient, db: Backend
) -> None:
    for username in ("x" * 500, "bad\x00name"):
        response = await sign_in(client, username)
        assert response.status_code == 401, response.text

    actors = [r.actor for r in await events(db, "sign_in_failed")]
    assert actors == ["x" * 64, "bad\ufffdname"]


# --- user administration ----------------------------------------------------------------------


async def test_admin_creates_lists_disables_and_enables_a_user(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    admin = await auth("admin")
    username = unique_name()

    created = await client.post(
        USERS,
        json={
            "username": username,
            "password": NEW_PASSWORD,
            "role": "mediator",
            "unit": DASHI,
            "display_name": "大市社区调解员 测试",
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    assert created.json() | {"created_at": None} == {
        "username": username,
        "display_name": "大市社区调解员 测试",
        "role": "mediator",
        "unit_code": DASHI,
        "disabled": False,
        "created_at": None,
    }
    listed = (await client.get(USERS, headers=admin)).json()
    assert username in [u["username"] for u in listed]
    assert [u["username"] for u in listed] == sorted(u["username"] for u in listed)

    session = (await sign_in(client, username, NEW_PASSWORD)).json()["access_token"]
    async with db.engine.begin() as conn:
        machine = await issue_machine_token(conn, username, "sync", now=clock.now(), expires_at=None)
    disabled = await client.post(f"{USERS}/{username}/disable", headers=admin)

    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    for token in (session, machine):
        assert (await client.get(ME, headers=bearer(token))).status_code == 401
    async with db.engine.connect() as conn:
        live = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(tokens)
                .where(
                    tokens.c.token_hash.in_([token_digest(session), token_digest(machine)]),
                    tokens.c.revoked_at.is_(None),
                )
            )
        ).scalar_one()
    assert live == 0  # revoked, not merely refused while the user is disabled
    assert (await sign_in(client, username, NEW_PASSWORD)).status_code == 401

    enabled = await client.post(f"{USERS}/{username}/enable", headers=admin)

    assert enabled.status_code == 200 and enabled.json()["disabled"] is False
    assert (await client.get(ME, headers=bearer(session))).status_code == 401  # stays revoked
    assert (await sign_in(client, username, NEW_PASSWORD)).status_code == 200
    changes = await events(db, "user_created", "user_disabled", "token_revoked", "user_enabled")
    assert [(e.kind, e.actor, e.actor_role) for e in changes] == [
        ("user_created", "admin", "admin"),
        ("token_revoked", "admin", "admin"),
        ("user_disabled", "admin", "admin"),
        ("user_enabled", "admin", "admin"),
    ]
    assert all(e.payload["user"] == username for e in changes)
    assert changes[0].payload["role"] == "mediator" and changes[0].payload["unit_code"] == DASHI
    assert len(changes[1].payload["token_ids"]) == 2
    assert changes[1].payload["reason"] == "user_disabled"


async def test_enabling_a_user_lifts_their_sign_in_lockout(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    await fail(client, LOCKED_USER, db.ctx.settings.signin_max_failures)
    assert (await sign_in(client, LOCKED_USER)).status_code == 429

    enabled = await client.post(f"{USERS}/{LOCKED_USER}/enable", headers=await auth("admin"))

    assert enabled.status_code == 200
    assert (await sign_in(client, LOCKED_USER)).status_code == 200
    (event,) = await events(db, "user_enabled")
    assert event.payload["lockout_cleared"] is True and event.payload["was_disabled"] is False


@pytest.mark.parametrize(
    "username", ["dashi.mediator", "zhangpu.coordinator", "zhangpu.police", "court.clerk", "auditor"]
)
async def test_only_an_admin_manages_users(
    client: httpx.AsyncClient, auth, db: Backend, username: str
) -> None:
    headers = await auth(username)
    body = {"username": unique_name(), "password": NEW_PASSWORD, "role": "mediator", "unit": DASHI}

    responses = [
        await client.post(USERS, json=body, headers=headers),
        await client.get(USERS, headers=headers),
        await client.post(f"{USERS}/{OTHER_USER}/disable", headers=headers),
        await client.post(f"{USERS}/{OTHER_USER}/enable", headers=headers),
    ]

    for response in responses:
        assert response.status_code == 403, response.text
        assert response.json()["type"] == "/problems/forbidden"
    assert await events(db, "user_created", "user_disabled", "user_enabled") == []
    assert (await client.get(ME, headers=await auth(OTHER_USER))).status_code == 200


async def test_user_administration_needs_a_token(client: httpx.AsyncClient, db: Backend) -> None:
    assert (await client.get(USERS)).status_code == 401
    assert (await client.post(f"{USERS}/{OTHER_USER}/disable")).status_code == 401


async def test_admin_mistakes_are_clear_problems(client: httpx.AsyncClient, auth, db: Backend) -> None:
    admin = await auth("admin")
    taken = {"username": OTHER_USER, "password": NEW_PASSWORD, "role": "mediator", "unit": DASHI}
    weak = taken | {"username": unique_name(), "password": "jiefen2026", "unit": "nowhere"}

    conflict = await client.post(USERS, json=taken, headers=admin)
    invalid = await client.post(USERS, json=weak, headers=admin)
    myself = await client.post(f"{USERS}/admin/disable", headers=admin)
    nobody = await client.post(f"{USERS}/nobody.at.all/disable", headers=admin)

    assert conflict.status_code == 409
    assert invalid.status_code == 422
    assert {e["field"] for e in invalid.json()["errors"]} == {"password", "unit"}
    assert myself.status_code == 409 and "your own account" in myself.json()["detail"]
    assert nobody.status_code == 404
    assert await events(db, "user_created", "user_disabled") == []


# --- changing one's password ------------------------------------------------------------------


async def test_changing_ones_password_signs_out_the_other_sessions(
    client: httpx.AsyncClient, db: Backend
) -> None:
    username = await new_user(db, unique_name())
    this_session = (await sign_in(client, username, NEW_PASSWORD)).json()["access_token"]
    other_session = (await sign_in(client, username, NEW_PASSWORD)).json()["access_token"]
    replacement = "Another-Good-Passphrase-9"

    changed = await client.post(
        PASSWORD,
        json={"old_password": NEW_PASSWORD, "new_password": replacement},
        headers=bearer(this_session),
    )

    assert changed.status_code == 204, changed.text
    assert (await client.get(ME, headers=bearer(this_session))).status_code == 200
    assert (await client.get(ME, headers=bearer(other_session))).status_code == 401
    assert (await sign_in(client, username, NEW_PASSWORD)).status_code == 401
    assert (await sign_in(client, username, replacement)).status_code == 200
    (event,) = await events(db, "password_changed")
    assert event.actor == username and len(event.payload["token_ids"]) == 1
    assert replacement not in str(await events(db))


async def test_a_wrong_current_password_counts_as_a_failed_sign_in(
    client: httpx.AsyncClient, db: Backend, frozen_clock: FrozenClock
) -> None:
    username = await new_user(db, unique_name())
    token = (await sign_in(client, username, NEW_PASSWORD)).json()["access_token"]
    limit = db.ctx.settings.signin_max_failures
    guess = {"old_password": "not-it-at-all", "new_password": "Another-Good-Passphrase-9"}

    wrong = [await client.post(PASSWORD, json=guess, headers=bearer(token)) for _ in range(limit)]
    locked = await client.post(PASSWORD, json=guess | {"old_password": NEW_PASSWORD}, headers=bearer(token))

    assert all(r.status_code == 422 for r in wrong)
    assert wrong[0].json()["errors"] == [{"field": "old_password", "message": "is not your current password"}]
    assert_locked(locked, timedelta(minutes=db.ctx.settings.signin_lockout_minutes))
    assert (await sign_in(client, username, NEW_PASSWORD)).status_code == 429
    assert len(await events(db, "password_change_failed")) == limit


@pytest.mark.parametrize(
    ("new_password", "message"),
    [
        ("Short-1a", "at least 10 characters"),
        ("lowercaseonly1", "at least 10 characters"),
        ("P@ssw0rd123", "too common"),
        (NEW_PASSWORD, "must differ"),
    ],
)
async def test_a_new_password_must_meet_the_policy(
    client: httpx.AsyncClient, db: Backend, new_password: str, message: str
) -> None:
    username = await new_user(db, unique_name())
    token = (await sign_in(client, username, NEW_PASSWORD)).json()["access_token"]

    response = await client.post(
        PASSWORD,
        json={"old_password": NEW_PASSWORD, "new_password": new_password},
        headers=bearer(token),
    )

    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["field"] == "new_password" and message in error["message"]
    assert (await sign_in(client, username, NEW_PASSWORD)).status_code == 200  # unchanged


# --- the password policy ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("Abcdefgh12", True),  # 10 characters, 3 classes
        ("Abcdefg12", False),  # 9 characters
        ("abcdefgh12", False),  # 2 classes
        ("abcdefgh-12", True),  # lower, symbol, digit
        ("correct horse battery", True),  # a passphrase of 16+ characters
        ("correcthorsebatt", True),  # 16 characters, one class
        ("correcthorsebat", False),  # 15 characters, one class
        ("调解员密码Aa2026", True),  # 汉字 count as the fourth class
        ("x.mediator-Long1", False),  # contains the username
        ("X.MEDIATOR", False),  # is the username, in other case
        ("P@ssw0rd123", False),  # common
        ("1234567890qwertyuiop", False),  # common, though long
        ("jiefen2026", False),  # the demo password
    ],
)
def test_password_policy(password: str, ok: bool) -> None:
    assert (password_problems(password, "x.mediator") == []) is ok


def test_a_short_username_is_only_refused_as_the_whole_password() -> None:
    assert password_problems("Ab-1cdefgh", "ab") == []
    assert password_problems("Ab-1cdefgh", "ab-1cdefgh") == ["must not contain the username"]


async def test_accounts_made_outside_the_api_meet_the_policy_too(db: Backend) -> None:
    """``jiefen users create`` calls the same create_user; only demo and test seeds write hashes."""
    with pytest.raises(InvalidInput) as raised:
        await new_user(db, unique_name(), "jiefen2026")

    assert [e["field"] for e in raised.value.extra["errors"]] == ["password", "password"]


# --- HTTP safety ------------------------------------------------------------------------------


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def csp_of(response: httpx.Response) -> dict[str, str]:
    parts = response.headers["content-security-policy"].split(";")
    return dict(part.strip().split(" ", 1) for part in parts)


def assert_security_headers(response: httpx.Response, *, api: bool = True) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (name, response.status_code)
    policy = csp_of(response)
    assert policy["default-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in policy.get("script-src", "")
    if api:
        assert response.headers["cache-control"] == "no-store"


async def test_security_headers_on_success_and_error_responses(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    headers = await auth("dashi.mediator")
    ok = await client.get(ME, headers=headers)
    missing = await client.get("/api/v1/units/320583999999", headers=headers)
    no_route = await client.get("/api/v1/no-such-thing", headers=headers)
    invalid = await client.post("/api/v1/cases", json={"summary": 5}, headers=headers)
    unauthorized = await client.get(ME)

    assert (ok.status_code, missing.status_code, no_route.status_code) == (200, 404, 404)
    assert (invalid.status_code, unauthorized.status_code) == (422, 401)
    for response in (ok, missing, no_route, invalid, unauthorized):
        assert_security_headers(response)
    assert "cache-control" not in (await client.get("/healthz")).headers  # only /api/ is no-store
    assert_security_headers(await client.get("/healthz"), api=False)


async def test_docs_are_served_and_their_csp_allows_exactly_the_inline_script(
    client: httpx.AsyncClient, db: Backend
) -> None:
    page = await client.get("/docs")
    script = await client.get("/static/swagger-ui/swagger-ui-bundle.js")
    css = await client.get("/static/swagger-ui/swagger-ui.css")

    assert page.status_code == script.status_code == css.status_code == 200
    assert_security_headers(page, api=False)
    policy = dict(part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";"))
    (inline,) = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    assert policy["script-src"] == f"'self' 'sha256-{digest}'"
    assert "https:" not in page.headers["content-security-policy"]


async def test_a_body_over_the_limit_is_refused_with_413(
    client: httpx.AsyncClient, auth, db: Backend
) -> None:
    headers = await auth("dashi.mediator")
    huge = case_body(summary="x" * (2 * 1024 * 1024))

    response = await client.post("/api/v1/cases", json=huge, headers=headers)
    form = await client.post(TOKEN, data={"username": "dashi.mediator", "password": "p" * (2 * 1024 * 1024)})

    for refused in (response, form):
        assert refused.status_code == 413, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"] == "/problems/too-large"
        assert str(db.ctx.settings.max_body_bytes) in refused.json()["detail"]
        assert_security_headers(refused)
    assert (await client.get("/api/v1/cases", headers=headers)).json()["total"] == 0
    assert await events(db) == []  # the sign-in was never attempted


async def test_a_streamed_body_is_counted_as_it_arrives(client: httpx.AsyncClient, auth, db: Backend) -> None:
    headers = await auth("dashi.mediator") | {"Content-Type": "application/json"}
    chunk = b" " * 65536

    async def stream() -> AsyncIterator[bytes]:  # no Content-Length: sent chunked
        for _ in range(32):  # 2 MiB of JSON whitespace
            yield chunk
        yield b"{}"

    response = await client.post("/api/v1/cases", content=stream(), headers=headers)

    assert "content-length" not in response.request.headers
    assert response.status_code == 413, response.text
    assert response.json()["type"] == "/problems/too-large"
    assert_security_headers(response)


async def test_a_declared_length_over_the_limit_is_refused_before_any_byte_is_read(db: Backend) -> None:
    limit = db.ctx.settings.max_body_bytes
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body was read")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/cases",
        "raw_path": b"/api/v1/cases",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"jiefen.test"), (b"content-length", str(limit + 1).encode())],
        "client": ("127.0.0.1", 123),
        "server": ("jiefen.test", 80),
        "state": {},
    }

    await db.app(scope, receive, send)

    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]


async def test_a_body_just_under_the_limit_is_accepted(client: httpx.AsyncClient, auth, db: Backend) -> None:
    headers = await auth("dashi.mediator") | {"Content-Type": "application/json"}
    compact = httpx.Request("POST", "/", json=case_body()).content
    # Whitespace between JSON tokens is legal: pad the body to exactly the limit.
    padded = compact.replace(b"{", b"{" + b" " * (db.ctx.settings.max_body_bytes - len(compact)), 1)
    assert len(padded) == db.ctx.settings.max_body_bytes

    response = await client.post("/api/v1/cases", content=padded, headers=headers)

    assert response.status_code == 201, response.text


async def test_concurrent_failures_are_all_counted(db: Backend, frozen_clock: FrozenClock) -> None:
    """One atomic upsert per counter: failures arriving together (several replicas) lose no count."""
    async with client_at(db, ADDRESS) as client:
        responses = await asyncio.gather(*(sign_in(client, f"guess{n}", "wrong-1") for n in range(12)))

    assert [r.status_code for r in responses] == [401] * 12
    async with db.engine.connect() as conn:
        failures = (
            await conn.execute(sa.select(throttle.c.failures).where(throttle.c.subject == ADDRESS))
        ).scalar_one()
    assert failures == 12
    assert len(await events(db, "sign_in_failed")) == 12


async def test_counters_that_can_no_longer_lock_are_purged(
    client: httpx.AsyncClient, db: Backend, frozen_clock: FrozenClock
) -> None:
    settings = db.ctx.settings
    await fail(client, "old.guess", 1)
    frozen_clock.set(
        FIXED_NOW
        + timedelta(minutes=max(settings.signin_window_minutes, settings.signin_lockout_minutes) + 1)
    )

    await fail(client, "new.guess", 1)

    async with db.engine.connect() as conn:
        subjects = set((await conn.execute(sa.select(throttle.c.subject))).scalars())
    assert subjects == {"new.guess", "127.0.0.1"}
