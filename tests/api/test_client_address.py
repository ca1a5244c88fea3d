"""The client's address (issue 16): believed from the trusted proxies of JIEFEN_TRUSTED_PROXIES only.

Over HTTP: requests come from a chosen peer address (``ASGITransport(client=…)``), with forged
X-Forwarded-For headers. An untrusted peer's header is ignored, so a password spray with a new fake
address on every attempt is still throttled by the real one, and the security log records it. A
trusted proxy's header is read from the right, and the first untrusted hop is the client.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from ipaddress import ip_network
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from service.audit.events import security_events
from service.config.settings import Settings
from service.http_safety import forwarded_client
from service.main import create_app
from service.web.session import SESSION_COOKIE
from tests.conftest import CONFIG_DIR, TEST_AUDIT_KEY, TEST_DATA_KEY, TEST_PASSWORD, Backend, FrozenClock

TOKEN = "/api/v1/auth/token"
PROXIES = "10.9.0.0/16, fd00:9::/64"
PROXY = "10.9.0.2"  # the proxy the app is connected from
CLIENT = "198.51.100.23"  # the address the proxy was connected from
ADDRESS_LIMIT = 6  # failed sign-ins per address before a lockout (20 in production; each costs a hash)


def forged(n: int) -> str:
    return f"203.0.113.{n % 250 + 1}"


TRUSTED = [ip_network("10.9.0.0/16"), ip_network("fd00:9::/64")]


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        ("192.0.2.7", ["1.2.3.4"], "192.0.2.7"),  # not a proxy: its header is the client's own words
        (PROXY, [], PROXY),  # a proxy that says nothing is the client
        (PROXY, [CLIENT], CLIENT),
        (PROXY, [f"6.6.6.6, {CLIENT}"], CLIENT),  # left of the first untrusted hop: forged, ignored
        (PROXY, [f"6.6.6.6, {CLIENT}, 10.9.0.7"], CLIENT),  # through two proxies
        (PROXY, ["6.6.6.6", f"{CLIENT}, 10.9.0.7"], CLIENT),  # the header repeated: one list
        (PROXY, ["10.9.0.5, 10.9.0.7"], "10.9.0.5"),  # all proxies: the leftmost
        (PROXY, [f"{CLIENT}, not-an-address"], PROXY),  # garbage next to the proxy: the proxy
        (PROXY, [f"garbage, {CLIENT}"], CLIENT),
        ("fd00:9::2", ["[2001:db8::5]"], "2001:db8::5"),
        ("fd00:9::2", ["2001:db8::5, fd00:9::3"], "2001:db8::5"),
        (None, [CLIENT], None),
    ],
)
def test_the_client_is_the_first_untrusted_hop_from_the_right(
    peer: str | None, forwarded_for: list[str], client: str | None
) -> None:
    assert forwarded_client(peer, forwarded_for, TRUSTED) == client


def test_nothing_is_trusted_by_default() -> None:
    settings = Settings(config_dir=CONFIG_DIR, data_key=TEST_DATA_KEY)

    assert settings.trusted_proxy_networks == ()
    assert forwarded_client(PROXY, [CLIENT], settings.trusted_proxy_networks) == PROXY


def test_a_trusted_proxy_setting_that_is_not_a_network_is_refused() -> None:
    with pytest.raises(ValueError, match=re.escape("'10.9.0.0/33' is not an IP address or CIDR network")):
        Settings(config_dir=CONFIG_DIR, data_key=TEST_DATA_KEY, trusted_proxies="10.9.0.0/33")


# --- over HTTP --------------------------------------------------------------------------------

Connect = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def connect_to(app: FastAPI) -> Connect:
    @asynccontextmanager
    async def connect(peer: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app, client=(peer, 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://jiefen.test") as client:
            yield client

    return connect


@pytest.fixture
async def behind_proxies(db: Backend) -> AsyncIterator[FastAPI]:
    """The service as the compose recipe runs it: on the same database, trusting PROXIES."""
    settings = Settings(
        database_url=db.url,
        config_dir=CONFIG_DIR,
        run_scheduler=False,
        data_key=TEST_DATA_KEY,
        audit_key=TEST_AUDIT_KEY,
        trusted_proxies=PROXIES,
        signin_max_failures_per_address=ADDRESS_LIMIT,
    )
    app = create_app(settings, migrate_on_start=False)
    async with app.router.lifespan_context(app):
        yield app


async def spray(
    client: httpx.AsyncClient, attempts: int, headers: Callable[[int], dict[str, str]]
) -> list[int]:
    """Wrong passwords for a new username each time, each from a new forged address."""
    statuses = []
    for n in range(attempts):
        response = await client.post(
            TOKEN, data={"username": f"spray{n}", "password": "Wrong-password-1"}, headers=headers(n)
        )
        statuses.append(response.status_code)
    return statuses


async def sign_in_addresses(db: Backend) -> list[tuple[str, str | None]]:
    query = (
        sa.select(security_events.c.kind, security_events.c.client_ip)
        .where(security_events.c.kind.like("sign_in%"))
        .order_by(security_events.c.id)
    )
    async with db.engine.connect() as conn:
        return [(r.kind, r.client_ip) for r in (await conn.execute(query)).all()]


async def test_a_forged_forwarded_for_from_an_untrusted_peer_changes_nothing(
    db: Backend, frozen_clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = ADDRESS_LIMIT
    monkeypatch.setattr(db.ctx.settings, "signin_max_failures_per_address", limit)
    attacker = "192.0.2.66"
    async with connect_to(db.app)(attacker) as client:
        statuses = await spray(client, limit + 5, lambda n: {"X-Forwarded-For": forged(n)})
        right_password = await client.post(
            TOKEN,
            data={"username": "zhouxiang.mediator", "password": TEST_PASSWORD},
            headers={"X-Forwarded-For": "198.51.100.99"},
        )

    assert statuses == [401] * limit + [429] * 5  # throttled: the real address is counted
    assert right_password.status_code == 429
    addresses = await sign_in_addresses(db)
    assert len(addresses) == limit + 6
    assert {address for _, address in addresses} == {attacker}  # the log names the real peer


async def test_behind_a_trusted_proxy_the_client_is_the_address_the_proxy_saw(
    db: Backend, frozen_clock: FrozenClock, behind_proxies: FastAPI
) -> None:
    limit = ADDRESS_LIMIT
    async with connect_to(behind_proxies)(PROXY) as client:
        # The client forges the left of the list; the proxy appends the address it saw.
        statuses = await spray(client, limit + 1, lambda n: {"X-Forwarded-For": f"{forged(n)}, {CLIENT}"})
        colleague = await client.post(
            TOKEN,
            data={"username": "zhouxiang.mediator", "password": TEST_PASSWORD},
            headers={"X-Forwarded-For": "198.51.100.24"},  # another desk behind the same proxy
        )

    assert statuses == [401] * limit + [429]
    assert colleague.status_code == 200
    addresses = await sign_in_addresses(db)
    assert {a for kind, a in addresses if kind != "sign_in"} == {CLIENT}
    assert ("sign_in", "198.51.100.24") in addresses
    assert PROXY not in {a for _, a in addresses}


async def test_a_peer_outside_the_trusted_networks_is_not_believed_by_a_proxied_service(
    db: Backend, frozen_clock: FrozenClock, behind_proxies: FastAPI
) -> None:
    async with connect_to(behind_proxies)("192.0.2.66") as client:
        await spray(client, 2, lambda n: {"X-Forwarded-For": f"{forged(n)}, 10.9.0.9"})

    assert {a for _, a in await sign_in_addresses(db)} == {"192.0.2.66"}


async def sign_in_cookie(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    response = await client.post(
        "/signin",
        data={"username": "dashi.mediator", "password": TEST_PASSWORD, "next": "/"},
        headers=headers,
    )
    assert response.status_code == 303, response.text
    cookie: str = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    return cookie


async def test_the_scheme_comes_from_a_trusted_proxy_and_makes_the_cookie_secure(
    db: Backend, frozen_clock: FrozenClock, behind_proxies: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    https = {"X-Forwarded-For": CLIENT, "X-Forwarded-Proto": "https", "Origin": "https://jiefen.test"}
    plain: dict[str, Any] = {"X-Forwarded-For": CLIENT}
    async with connect_to(behind_proxies)(PROXY) as proxied, connect_to(db.app)("192.0.2.66") as direct:
        over_tls = await sign_in_cookie(proxied, https)
        over_http = await sign_in_cookie(proxied, plain)
        claimed = await sign_in_cookie(direct, {"X-Forwarded-Proto": "https"})  # not a proxy: ignored
        monkeypatch.setattr(db.ctx.settings, "secure_cookies", True)
        forced = await sign_in_cookie(direct, {})

    # The browser's Origin is https://…: the same-origin check passes only because the scheme is right.
    assert "Secure" in over_tls
    assert "Secure" not in over_http and "Secure" not in claimed
    assert "Secure" in forced
