"""Where a webhook may go (issue 16): https to public addresses only, checked when a subscription is
made or changed, and again at every delivery after DNS, with the connection made to the address
that was checked; every change to a subscription is a security event; secrets are sealed.

DNS is a fake resolver the tests hand to the app (``app.state.webhook_resolver``) and to the
delivery transport, so a name can answer whatever a hostile DNS server would. Deliveries go to an
``httpx.MockTransport`` behind the real ``PinnedTransport`` (to see which address was dialled),
or to a real receiver on 127.0.0.1, plain or TLS.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
from collections.abc import AsyncIterator
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from service.audit.events import security_events
from service.config.webhooks import IPAddress, TargetPolicy
from service.notifications.delivery import DeliveryReport, deliver_due
from service.notifications.models import OutboxMessage, WebhookSubscription
from service.notifications.transport import PinnedTransport
from tests.api.test_webhooks import Receiver
from tests.builders import DASHI, open_case
from tests.conftest import FIXED_NOW, Backend, FrozenClock

outbox = OutboxMessage.__table__  # type: ignore[attr-defined]
subscriptions = WebhookSubscription.__table__  # type: ignore[attr-defined]

WEBHOOKS = "/api/v1/admin/webhooks"
PUBLIC = "93.184.215.14"  # a public address; nothing here ever connects to it for real


class FakeDns:
    """Answers from a table; a name may answer differently on each lookup (DNS rebinding)."""

    def __init__(self, table: dict[str, list[list[str]]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.lookups.append(host)
        answers = self.table.get(host)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return [ip_address(a) for a in answer]


DNS_TABLE = {
    "hooks.example.org": [[PUBLIC]],
    "other.example.org": [[PUBLIC]],
    "internal.example.org": [["10.1.2.3"]],
    "mixed.example.org": [[PUBLIC, "192.168.1.1"]],
    "metadata.example.org": [["169.254.169.254"]],
    "mapped.example.org": [["::ffff:127.0.0.1"]],
}


@pytest.fixture
def dns(db: Backend, monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    fake = FakeDns({host: [list(a) for a in answers] for host, answers in DNS_TABLE.items()})
    monkeypatch.setattr(db.app.state, "webhook_resolver", fake, raising=False)
    return fake


async def recorded(db: Backend) -> list[Any]:
    """The webhook security events (signing in to make a request records its own)."""
    query = (
        sa.select(
            security_events.c.kind,
            security_events.c.actor,
            security_events.c.client_ip,
            security_events.c.payload,
        )
        .where(security_events.c.kind.like("webhook%"))
        .order_by(security_events.c.id)
    )
    async with db.engine.connect() as conn:
        return list((await conn.execute(query)).all())


async def stored_subscriptions(db: Backend) -> list[Any]:
    async with db.engine.connect() as conn:
        return list((await conn.execute(sa.select(subscriptions).order_by(subscriptions.c.id))).all())


async def outbox_rows(db: Backend) -> list[Any]:
    async with db.engine.connect() as conn:
        return list((await conn.execute(sa.select(outbox).order_by(outbox.c.id))).all())


# --- at creation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://10.0.0.1/hook", "private"),
        ("https://localhost:22/", "loopback name"),
        ("https://127.0.0.1:5432/", "loopback"),
        ("https://0x7f000001/hook", "loopback"),
        ("https://2130706433/hook", "loopback"),
        ("https://0177.0.0.1/hook", "loopback"),
        ("https://[::1]/hook", "loopback"),
        ("https://[::ffff:127.0.0.1]/hook", "loopback"),
        ("https://[::ffff:a9fe:a9fe]/hook", "link-local"),
        ("https://[64:ff9b::a00:1]/hook", "private"),
        ("https://[fe80::1]/hook", "link-local"),
        ("https://[fc00::1]/hook", "private"),
        ("https://224.0.0.1/hook", "multicast"),
        ("https://0.0.0.0/hook", "unspecified"),
        ("https://240.0.0.1/hook", "reserved"),
        ("https://100.64.0.1/hook", "non-public"),
        ("http://hooks.example.org/hook", "use https"),
        ("https://user:secret@hooks.example.org/hook", "user name or password"),
        ("https://internal.example.org/hook", "resolves to 10.1.2.3, a private address"),
        ("https://metadata.example.org/hook", "resolves to 169.254.169.254, a link-local address"),
        ("https://mapped.example.org/hook", "loopback (as 127.0.0.1)"),
        ("https://mixed.example.org/hook", "resolves to 192.168.1.1, a private address"),
        ("https://nowhere.example.org/hook", "does not resolve"),
    ],
)
async def test_an_internal_or_plain_http_target_is_refused_with_422_naming_the_rule(
    client: httpx.AsyncClient, auth, db: Backend, dns: FakeDns, url: str, rule: str
) -> None:
    response = await client.post(WEBHOOKS, json={"unit_code": DASHI, "url": url}, headers=await auth("admin"))

    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert error["field"] == "body.url" and rule in error["message"], error
    assert await stored_subscriptions(db) == [] and await recorded(db) == []


async def test_a_listed_intranet_host_may_be_internal_and_plain_http(
    client: httpx.AsyncClient, auth, db: Backend, dns: FakeDns, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await auth("admin")
    target = {"unit_code": DASHI, "url": "http://internal.example.org/hook"}
    assert (await client.post(WEBHOOKS, json=target, headers=admin)).status_code == 422

    monkeypatch.setattr(db.ctx.settings, "webhook_http_hosts", "internal.example.org")
    still_internal = await client.post(WEBHOOKS, json=target, headers=admin)
    monkeypatch.setattr(db.ctx.settings, "webhook_internal_hosts", "internal.example.org")
    allowed = await client.post(WEBHOOKS, json=target, headers=admin)

    assert still_internal.status_code == 422 and "10.1.2.3" in still_internal.text
    assert allowed.status_code == 201, allowed.text
    # Listing one host exempts that host only.
    other = await client.post(WEBHOOKS, json={**target, "url": "https://10.1.2.3/hook"}, headers=admin)
    assert other.status_code == 422


async def test_a_new_subscription_is_recorded_and_its_secret_sealed(
    db: Backend, dns: FakeDns, auth, frozen_clock: FrozenClock
) -> None:
    transport = httpx.ASGITransport(app=db.app, client=("203.0.113.40", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://jiefen.test") as client:
        created = await client.post(
            WEBHOOKS,
            json={"unit_code": DASHI, "url": "https://hooks.example.org/jiefen?token=abc"},
            headers=await auth("admin"),
        )

    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    [row] = await stored_subscriptions(db)
    assert row.secret.startswith("v1:") and secret not in row.secret
    [event] = await recorded(db)
    assert (event.kind, event.actor, event.client_ip) == ("webhook_created", "admin", "203.0.113.40")
    assert event.payload == {
        "subscription_id": row.id,
        "unit_code": DASHI,
        "url": "https://hooks.example.org/jiefen",  # the query string may hold a token: not logged
    }
    assert secret not in str(event)


async def test_changes_secret_rotations_and_disabling_are_each_recorded(
    client: httpx.AsyncClient, auth, db: Backend, dns: FakeDns, frozen_clock: FrozenClock
) -> None:
    admin = await auth("admin")
    made = (
        await client.post(
            WEBHOOKS, json={"unit_code": DASHI, "url": "https://hooks.example.org/a"}, headers=admin
        )
    ).json()
    one = f"{WEBHOOKS}/{made['id']}"

    internal = await client.patch(one, json={"url": "https://internal.example.org/a"}, headers=admin)
    moved = await client.patch(one, json={"url": "https://other.example.org/b"}, headers=admin)
    paused = await client.patch(one, json={"active": False}, headers=admin)
    unchanged = await client.patch(one, json={"active": False}, headers=admin)
    empty = await client.patch(one, json={}, headers=admin)
    rotated = await client.post(f"{one}/secret", headers=admin)  # no body: a generated secret
    chosen = await client.post(f"{one}/secret", json={"secret": "a-secret-of-our-own-choice"}, headers=admin)
    resumed = await client.patch(one, json={"active": True}, headers=admin)
    disabled = await client.delete(one, headers=admin)
    missing = await client.post(f"{WEBHOOKS}/999999/secret", json={}, headers=admin)

    assert internal.status_code == 422 and internal.json()["errors"][0]["field"] == "body.url"
    assert moved.status_code == 200 and moved.json()["url"] == "https://other.example.org/b"
    assert (paused.json()["active"], unchanged.status_code) == (False, 200)
    assert empty.status_code == 422
    assert rotated.status_code == 200 and rotated.json()["secret"] not in (made["secret"], None)
    assert chosen.json()["secret"] == "a-secret-of-our-own-choice"
    assert (resumed.json()["active"], disabled.status_code, missing.status_code) == (True, 204, 404)
    [row] = await stored_subscriptions(db)
    assert (row.url, row.active) == ("https://other.example.org/b", False)
    assert db.ctx.cipher.decrypt(row.secret, "webhook_secret") == "a-secret-of-our-own-choice"
    events = await recorded(db)
    assert [(e.kind, e.payload.get("changes")) for e in events] == [
        ("webhook_created", None),
        ("webhook_changed", {"url": "https://other.example.org/b"}),
        ("webhook_changed", {"active": False}),
        ("webhook_secret_rotated", None),
        ("webhook_secret_rotated", None),
        ("webhook_changed", {"active": True}),
        ("webhook_disabled", None),
    ]
    assert all(e.actor == "admin" and e.payload["subscription_id"] == made["id"] for e in events)
    assert all(s not in str(events) for s in (made["secret"], rotated.json()["secret"], "a-secret-of-our"))


async def test_a_subscription_from_the_configuration_file_is_changed_there_not_by_the_api(
    client: httpx.AsyncClient, auth, db: Backend, dns: FakeDns
) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(
            sa.insert(subscriptions).values(
                unit_code=DASHI,
                url="https://hooks.example.org/cfg",
                secret="s" * 32,
                active=True,
                source="config",
                created_at=FIXED_NOW,
            )
        )
    [row] = await stored_subscriptions(db)
    admin = await auth("admin")

    changed = await client.patch(f"{WEBHOOKS}/{row.id}", json={"active": False}, headers=admin)
    rotated = await client.post(f"{WEBHOOKS}/{row.id}/secret", json={}, headers=admin)

    assert (changed.status_code, rotated.status_code) == (409, 409)
    assert "config/webhooks.yaml" in changed.json()["detail"]
    assert await recorded(db) == []


# --- at delivery --------------------------------------------------------------------------------


class Dialled:
    """The requests that reached the network layer, as PinnedTransport handed them on."""

    def __init__(self, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.status = status
        self.headers = headers or {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, headers=self.headers)


def pinned_client(dns: FakeDns, dialled: Dialled, policy: TargetPolicy | None = None) -> httpx.AsyncClient:
    transport = PinnedTransport(policy or TargetPolicy(), resolve=dns, inner=httpx.MockTransport(dialled))
    return httpx.AsyncClient(transport=transport, follow_redirects=False, timeout=5)


async def test_delivery_connects_to_the_checked_address_with_the_host_name_kept(
    client: httpx.AsyncClient, auth, db: Backend, dns: FakeDns, frozen_clock: FrozenClock
) -> None:
    await client.post(
        WEBHOOKS,
        json={"unit_code": DASHI, "url": "https://hooks.example.org:8443/in"},
        headers=await auth("admin"),
    )
    await open_case(client, await auth("dashi.mediator"))
    dialled = Dialled()
    dns.lookups.clear()

    async with pinned_client(dns, dialled) as webhook_client:
        report = await deliver_due(db.engine, webhook_client, cipher=db.ctx.cipher, now=FIXED_NOW)

    assert report == DeliveryReport(delivered=1)
    [sent] = dialled.requests
    assert str(sent.url) == f"https://{PUBLIC}:8443/in"  # the address that was checked ...
    assert sent.headers["host"] == "hooks.example.org:8443"  # ... addressed by its name
    assert sent.extensions["sni_hostname"] == "hooks.example.org"  # TLS verifies the name
    assert dns.lookups == ["hooks.example.org"]  # one lookup: nothing to rebind between


async def test_a_name_that_rebinds_to_an_internal_address_gets_nothing(
    client: httpx.AsyncClient, auth, db: Backend, dns: FakeDns, frozen_clock: FrozenClock
) -> None:
    # Public when the subscription is made, loopback afterwards: a hostile DNS server's trick.
    dns.table["rebind.example.org"] = [[PUBLIC], ["127.0.0.1"]]
    created = await client.post(
        WEBHOOKS,
        json={"unit_code": DASHI, "url": "https://rebind.example.org/in"},
        headers=await auth("admin"),
    )
    assert created.status_code == 201, created.text
    await open_case(client, await auth("dashi.mediator"))
    dialled = Dialled()

    async with pinned_client(dns, dialled) as webhook_client:
        report = await deliver_due(db.engine, webhook_client, cipher=db.ctx.cipher, now=FIXED_NOW)

    assert report == DeliveryReport(failed=1)
    assert dialled.requests == []
    [row] = await outbox_rows(db)
    assert (row.status, row.attempts) == ("pending", 1)  # retried as any failure: DNS may be fixed
    assert row.last_error == (
        "TargetRefused: rebind.example.org resolves to 127.0.0.1, a loopback address; list the host "
        "in JIEFEN_WEBHOOK_INTERNAL_HOSTS if this internal receiver is intended"
    )


async def test_an_old_subscription_to_a_local_port_reaches_nothing(
    client: httpx.AsyncClient, auth, db: Backend, frozen_clock: FrozenClock
) -> None:
    """A row from before the checks (or written around the API) pointing at a real listener on
    127.0.0.1: the service's own client refuses it before any byte is sent."""
    receiver = Receiver()
    await receiver.start()
    try:
        async with db.engine.begin() as conn:
            await conn.execute(
                sa.insert(subscriptions).values(
                    unit_code=DASHI,
                    url=receiver.url(),
                    secret="legacy-secret-in-clear",
                    active=True,
                    source="api",
                    created_at=FIXED_NOW,
                )
            )
        await open_case(client, await auth("dashi.mediator"))
        from service.scheduler import http_client

        async with http_client(db.ctx) as webhook_client:
            report = await deliver_due(db.engine, webhook_client, cipher=db.ctx.cipher, now=FIXED_NOW)
    finally:
        await receiver.close()

    assert report == DeliveryReport(failed=1)
    assert receiver.requests == []
    [row] = await outbox_rows(db)
    assert row.last_error is not None and "use https" in row.last_error


async def test_a_redirect_is_not_followed(
    client: httpx.AsyncClient, auth, db: Backend, dns: FakeDns, frozen_clock: FrozenClock
) -> None:
    await client.post(
        WEBHOOKS,
        json={"unit_code": DASHI, "url": "https://hooks.example.org/in"},
        headers=await auth("admin"),
    )
    await open_case(client, await auth("dashi.mediator"))
    dialled = Dialled(302, {"Location": "http://169.254.169.254/latest/meta-data/"})

    async with pinned_client(dns, dialled) as webhook_client:
        report = await deliver_due(db.engine, webhook_client, cipher=db.ctx.cipher, now=FIXED_NOW)

    assert report == DeliveryReport(failed=1)
    assert [str(r.url) for r in dialled.requests] == [f"https://{PUBLIC}/in"]
    [row] = await outbox_rows(db)
    assert row.last_error == "HTTP 302"


# --- TLS to the pinned address, for real --------------------------------------------------------


def self_signed(tmp: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / f"{name}.pem", tmp / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class TlsReceiver(Receiver):
    """The receiver behind TLS, recording the server name each client asked for (SNI)."""

    def __init__(self, cert: Path, key: Path) -> None:
        super().__init__()
        self.server_names: list[str | None] = []
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.context.sni_callback = lambda _sock, name, _ctx: self.server_names.append(name)  # type: ignore[assignment,func-returns-value]

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, sock=self.sock, ssl=self.context)


@pytest.fixture
async def tls_receiver(tmp_path: Path) -> AsyncIterator[tuple[TlsReceiver, ssl.SSLContext]]:
    cert, key = self_signed(tmp_path, "hooks.intranet.test")
    receiver = TlsReceiver(cert, key)
    await receiver.start()
    trusting = ssl.create_default_context(cafile=str(cert))
    yield receiver, trusting
    await receiver.close()


async def test_tls_to_the_pinned_address_verifies_the_certificate_for_the_host_name(
    client: httpx.AsyncClient,
    auth,
    db: Backend,
    frozen_clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
    tls_receiver: tuple[TlsReceiver, ssl.SSLContext],
) -> None:
    receiver, trusting = tls_receiver
    dns = FakeDns({"hooks.intranet.test": [["127.0.0.1"]], "wrong-name.intranet.test": [["127.0.0.1"]]})
    monkeypatch.setattr(db.app.state, "webhook_resolver", dns, raising=False)
    monkeypatch.setattr(
        db.ctx.settings, "webhook_internal_hosts", "hooks.intranet.test, wrong-name.intranet.test"
    )
    admin = await auth("admin")
    for name in ("hooks.intranet.test", "wrong-name.intranet.test"):
        url = f"https://{name}:{receiver.port}/in"
        made = await client.post(WEBHOOKS, json={"unit_code": DASHI, "url": url}, headers=admin)
        assert made.status_code == 201, made.text
    await open_case(client, await auth("dashi.mediator"))
    policy = TargetPolicy.from_settings(db.ctx.settings)

    async with httpx.AsyncClient(
        transport=PinnedTransport(policy, resolve=dns, verify=trusting), follow_redirects=False, timeout=5
    ) as webhook_client:
        report = await deliver_due(db.engine, webhook_client, cipher=db.ctx.cipher, now=FIXED_NOW)

    # The certificate names hooks.intranet.test: the other name, on the same address, fails TLS.
    assert report == DeliveryReport(delivered=1, failed=1)
    [request] = receiver.requests
    assert request.headers["host"] == f"hooks.intranet.test:{receiver.port}"
    assert "hooks.intranet.test" in receiver.server_names
    rows = {r.subscription_id: r for r in await outbox_rows(db)}
    failed = [r for r in rows.values() if r.status == "pending"]
    assert len(failed) == 1 and failed[0].last_error.startswith("ConnectError")
    assert "certificate" in failed[0].last_error.lower() or "hostname" in failed[0].last_error.lower()
