"""Sign-in hardening: lockout, security events, user administration, password policy, HTTP safety."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from zxcvbn import zxcvbn

from service import clock
from service.audit.events import security_events
from service.errors import InvalidInput
from service.users import security
from service.users.passwords import PasswordPolicy, account_words, password_problems
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


# --- throttling: back-off per (username, address), address and account lockouts --------------


async def test_a_pair_waits_longer_after_each_failure_past_the_limit(
    db: Backend, frozen_clock: FrozenClock
) -> None:
    settings = db.ctx.settings
    first = timedelta(seconds=settings.signin_backoff_seconds)
    async with client_at(db, ADDRESS) as client:
        await fail(client, LOCKED_USER, settings.signin_max_failures)
        waiting = await sign_in(client, LOCKED_USER)  # the right password waits too
        frozen_clock.set(FIXED_NOW + first)
        await fail(client, LOCKED_USER, 1)
        longer = await sign_in(client, LOCKED_USER)
        frozen_clock.set(FIXED_NOW + 3 * first)
        await fail(client, LOCKED_USER, 1)
        longest = await sign_in(client, LOCKED_USER)
        frozen_clock.set(FIXED_NOW + 7 * first)
        after = await sign_in(client, LOCKED_USER)

    problem = assert_locked(waiting, first)
    assert problem["locked_until"] == (FIXED_NOW + first).astimezone(clock.SHANGHAI).isoformat()
    assert problem["locked_until"] == "2026-03-02T10:00:30+08:00"
    assert_locked(longer, 2 * first)
    assert_locked(longest, 4 * first)
    assert after.status_code == 200


async def test_the_back_off_stops_growing_at_the_lockout(db: Backend, frozen_clock: FrozenClock) -> None:
    settings = db.ctx.settings
    lockout = timedelta(minutes=settings.signin_lockout_minutes)
    waits: list[int] = []
    async with client_at(db, ADDRESS) as client:
        await fail(client, LOCKED_USER, settings.signin_max_failures - 1)
        while len(waits) < 8:
            await fail(client, LOCKED_USER, 1)
            waiting = await sign_in(client, LOCKED_USER)
            assert waiting.status_code == 429
            waits.append(int(waiting.headers["retry-after"]))
            frozen_clock.set(clock.now() + timedelta(seconds=waits[-1]))

    assert waits == [30, 60, 120, 240, 480, 900, 900, 900]
    assert max(waits) == lockout.total_seconds()


async def test_a_strangers_failures_do_not_lock_the_user_out_from_their_own_address(
    db: Backend, frozen_clock: FrozenClock
) -> None:
    limit = db.ctx.settings.signin_max_failures
    async with client_at(db, "10.66.0.1") as stranger, client_at(db, ADDRESS) as owner:
        for _ in range(3 * limit):
            guess = await sign_in(stranger, LOCKED_USER, "wrong-password-1")
            assert guess.status_code in (401, 429)  # past the limit the stranger waits
        from_stranger = await sign_in(stranger, LOCKED_USER)
        from_owner = await sign_in(owner, LOCKED_USER)

    assert from_stranger.status_code == 429
    assert from_owner.status_code == 200


async def test_unknown_username_waits_exactly_like_a_real_one(
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


async def test_the_account_locks_only_at_its_ceiling_and_an_administrator_unlocks_it(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = db.ctx.settings
    below_back_off = settings.signin_max_failures - 1
    addresses = [f"10.1.0.{n}" for n in range(3)]
    admin = await auth("admin")
    # The real ceiling (100) takes as many requests; a lower one shows the same rule.
    monkeypatch.setattr(settings, "signin_max_failures_per_account", len(addresses) * below_back_off)
    for address in addresses:  # a distributed guess, each address below every limit of its own
        async with client_at(db, address) as guesser:
            await fail(guesser, LOCKED_USER, below_back_off)

    async with client_at(db, ADDRESS) as owner:
        locked = await sign_in(owner, LOCKED_USER)
        unlocked = await client.post(f"{USERS}/{LOCKED_USER}/unlock", headers=admin)
        again = await sign_in(owner, LOCKED_USER)

    assert_locked(locked, timedelta(minutes=settings.signin_lockout_minutes))
    assert unlocked.status_code == 200, unlocked.text
    assert unlocked.json() == {"username": LOCKED_USER, "was_locked": True, "counters_cleared": 4}
    assert again.status_code == 200
    (event,) = await events(db, "sign_in_unlocked")
    assert (event.actor, event.actor_role) == ("admin", "admin")
    assert event.payload["user"] == LOCKED_USER and event.payload["counters"] == 4
    assert (
        event.payload["locked_until"]
        == (FIXED_NOW + timedelta(minutes=settings.signin_lockout_minutes)).isoformat()
    )


async def test_unlocking_lifts_a_back_off_and_an_unknown_user_is_404(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    admin = await auth("admin")
    async with client_at(db, ADDRESS) as owner:
        await fail(owner, LOCKED_USER, db.ctx.settings.signin_max_failures)
        assert (await sign_in(owner, LOCKED_USER)).status_code == 429

        unlocked = await client.post(f"{USERS}/{LOCKED_USER}/unlock", headers=admin)
        nothing = await client.post(f"{USERS}/{OTHER_USER}/unlock", headers=admin)
        nobody = await client.post(f"{USERS}/nobody.at.all/unlock", headers=admin)

        assert (await sign_in(owner, LOCKED_USER)).status_code == 200
    assert unlocked.json() == {"username": LOCKED_USER, "was_locked": True, "counters_cleared": 2}
    assert nothing.json() == {"username": OTHER_USER, "was_locked": False, "counters_cleared": 0}
    assert nobody.status_code == 404 and nobody.headers["content-type"] == "application/problem+json"
    assert [e.payload["user"] for e in await events(db, "sign_in_unlocked")] == [LOCKED_USER, OTHER_USER]


async def test_sign_ins_racing_past_the_limit_are_decided_one_after_the_other(
    db: Backend, frozen_clock: FrozenClock
) -> None:
    """Each sign-in checks the wait again where it writes its outcome: of several arriving together
    at the limit, only one is answered 401; the others learn nothing (429)."""
    limit = db.ctx.settings.signin_max_failures
    async with client_at(db, ADDRESS) as client:
        await fail(client, LOCKED_USER, limit - 1)
        responses = await asyncio.gather(*(sign_in(client, LOCKED_USER, "wrong-1") for _ in range(6)))

    assert sorted(r.status_code for r in responses) == [401] + [429] * 5
    assert len(await events(db, "sign_in_failed")) == limit


async def test_failures_outside_the_window_are_forgotten(
    client: httpx.AsyncClient, db: Backend, frozen_clock: FrozenClock
) -> None:
    settings = db.ctx.settings
    await fail(client, LOCKED_USER, settings.signin_max_failures - 1)
    frozen_clock.set(FIXED_NOW + timedelta(minutes=settings.signin_window_minutes, seconds=1))

    await fail(client, LOCKED_USER, settings.signin_max_failures - 1)

    assert (await sign_in(client, LOCKED_USER)).status_code == 200


async def test_success_forgets_the_pair_but_not_the_account_nor_the_address(
    client: httpx.AsyncClient, db: Backend, frozen_clock: FrozenClock
) -> None:
    almost = db.ctx.settings.signin_max_failures - 1
    await fail(client, LOCKED_USER, almost)
    assert (await sign_in(client, LOCKED_USER)).status_code == 200

    await fail(client, LOCKED_USER, almost)

    assert (await sign_in(client, LOCKED_USER)).status_code == 200
    async with db.engine.connect() as conn:
        counts = dict((await conn.execute(sa.select(throttle.c.scope, throttle.c.failures))).all())
    assert counts == {"address": 2 * almost, "user": 2 * almost}  # the pair's row is gone


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
    assert [f["account_failures"] for f in failures] == [*range(1, limit + 1), 1]
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
        await client.post(f"{USERS}/{OTHER_USER}/unlock", headers=headers),
    ]

    for response in responses:
        assert response.status_code == 403, response.text
        assert response.json()["type"] == "/problems/forbidden"
    assert await events(db, "user_created", "user_disabled", "user_enabled", "sign_in_unlocked") == []
    assert (await client.get(ME, headers=await auth(OTHER_USER))).status_code == 200


async def test_user_administration_needs_a_token(client: httpx.AsyncClient, db: Backend) -> None:
    assert (await client.get(USERS)).status_code == 401
    assert (await client.post(f"{USERS}/{OTHER_USER}/disable")).status_code == 401
    assert (await client.post(f"{USERS}/{OTHER_USER}/unlock")).status_code == 401


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
    assert_locked(locked, timedelta(seconds=db.ctx.settings.signin_backoff_seconds))
    assert (await sign_in(client, username, NEW_PASSWORD)).status_code == 429
    assert len(await events(db, "password_change_failed")) == limit


@pytest.mark.parametrize(
    ("new_password", "message"),
    [
        ("Short-1a", "at least 10 characters"),
        ("aaaaaaaaaaaaaaaa", 'too easy to guess (strength 0 of 4, at least 3 needed): Repeats like "aaa"'),
        ("Password2026!", "This is similar to a commonly used password."),
        ("Summer2026!", "This is similar to a commonly used password."),
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
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert {e["field"] for e in errors} == {"new_password"}
    assert any(message in e["message"] for e in errors), errors
    assert (await sign_in(client, username, NEW_PASSWORD)).status_code == 200  # unchanged


@pytest.mark.parametrize("password", ["aaaaaaaaaaaaaaaa", "Password2026!", "Summer2026!"])
async def test_an_administrator_cannot_give_a_guessable_password(
    client: httpx.AsyncClient, auth, db: Backend, password: str
) -> None:
    body = {"username": unique_name(), "password": password, "role": "mediator", "unit": DASHI}

    response = await client.post(USERS, json=body, headers=await auth("admin"))

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    (error,) = response.json()["errors"]
    assert error["field"] == "password"
    assert error["message"].startswith("too easy to guess (strength ")
    assert "Add another word or two." in error["message"]  # the estimator's own advice
    assert await events(db, "user_created") == []


# --- the password policy ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("k7#Lm2pQ9x", True),  # 10 characters nobody guesses
        ("correct horse battery", True),  # a passphrase
        ("调解员密码Aa2026", True),
        (NEW_PASSWORD, True),
        ("k7#Lm2pQ", False),  # 8 characters
        ("aaaaaaaaaaaaaaaa", False),  # a repeat
        ("Password2026!", False),  # a common password, this year and a symbol
        ("Summer2026!", False),
        ("Kunshan@2026", False),  # the service's own words
        ("Jiefen#2027", False),  # and next year
        ("x.mediator-Long1", False),  # contains the username
        ("X.MEDIATOR", False),  # is the username, in other case
        ("P@ssw0rd123", False),  # common
        ("Huawei@123", False),  # common in China, which the estimator's lists miss
        ("1qaz@WSX3edc", False),
        ("jiefen2026", False),  # the demo password
    ],
)
def test_password_policy(password: str, ok: bool) -> None:
    words = account_words("x.mediator", now=FIXED_NOW)

    assert (password_problems(password, "x.mediator", words=words) == []) is ok


def test_the_estimator_is_told_the_services_words_and_the_username() -> None:
    assert zxcvbn("Kunshan@2026")["score"] == zxcvbn("Wulian2026!")["score"] == 4  # strong to it alone

    assert password_problems("Kunshan@2026", "someone")[0].startswith("too easy to guess")
    assert password_problems("Wulian2026!", "wulian.mediator")[0].startswith("too easy to guess")
    assert password_problems("Wulian2026!", "zhouxiang.mediator") == []


def test_a_lower_minimum_score_is_honoured() -> None:
    assert password_problems("Kunshan@2026", "someone", policy=PasswordPolicy(min_score=2)) == []


def test_a_short_username_is_only_refused_as_the_whole_password() -> None:
    assert password_problems("k7#Lm2pQ9x", "k7") == []
    assert password_problems("k7#Lm2pQ9x", "K7#lm2pq9x")[0] == "must not contain the username"


def test_a_very_long_password_is_judged_by_its_beginning() -> None:
    strong = NEW_PASSWORD + "x" * 900

    assert password_problems(strong, "x.mediator") == []
    assert password_problems("a" * 100 + NEW_PASSWORD, "x.mediator")[0].startswith("too easy to guess")
    assert password_problems("k7#Lm2pQ9x" * 103, "x.mediator") == ["at most 1024 characters"]


async def test_accounts_made_outside_the_api_meet_the_policy_too(db: Backend) -> None:
    """``jiefen users create`` calls the same create_user; only demo and test seeds write hashes."""
    with pytest.raises(InvalidInput) as raised:
        await new_user(db, unique_name(), "Summer2026!")

    assert [e["field"] for e in raised.value.extra["errors"]] == ["password"]


# --- HTTP safety ------------------------------------------------------------------------------


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
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
        FIXED_NOW + timedelta(minutes=settings.signin_window_minutes + settings.signin_lockout_minutes + 1)
    )

    await fail(client, "new.guess", 1)

    async with db.engine.connect() as conn:
        subjects = set((await conn.execute(sa.select(throttle.c.scope, throttle.c.subject))).all())
    assert subjects == {("user", "new.guess"), ("pair", "127.0.0.1 new.guess"), ("address", "127.0.0.1")}


# --- password hashing off the event loop ------------------------------------------------------


async def test_password_hashes_run_in_bounded_worker_threads_while_the_loop_answers(
    client: httpx.AsyncClient, db: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight bad sign-ins at once: each hash runs in a worker thread, never more at once than
    JIEFEN_PASSWORD_HASH_THREADS, and while they are all held the event loop still answers."""
    bound = db.ctx.settings.password_hash_threads
    loop_thread = threading.get_ident()
    release = threading.Event()
    lock = threading.Lock()
    running: list[int] = []  # the threads hashing right now
    peak, threads = 0, set()
    real_verify = security._verify

    def held_verify(password: str, password_hash: str | None) -> bool:
        nonlocal peak
        with lock:
            running.append(threading.get_ident())
            peak = max(peak, len(running))
            threads.add(threading.get_ident())
        try:
            assert release.wait(timeout=60)
            return real_verify(password, password_hash)
        finally:
            with lock:
                running.remove(threading.get_ident())

    monkeypatch.setattr(security, "_verify", held_verify)
    attempts = [asyncio.create_task(sign_in(client, f"guess{n}", "wrong-1")) for n in range(8)]
    for _ in range(6000):  # until the workers are full (each turn of the loop lets requests run)
        if len(running) == bound:
            break
        await asyncio.sleep(0.01)

    health = await client.get("/healthz")  # answered while every hash worker is held
    held = list(running)
    release.set()
    responses = await asyncio.gather(*attempts)

    assert len(held) == bound == peak
    assert health.status_code == 200
    assert [r.status_code for r in responses] == [401] * 8
    assert loop_thread not in threads
    assert len(await events(db, "sign_in_failed")) == 8
