"""The HTTP transport webhooks are posted through: it connects only to addresses it has checked.

For every request it checks the URL (``service.config.webhooks.check_target``), resolves the host
once, refuses when any answer is not a public address, and then connects to a checked address
itself: the URL handed to httpx names the IP, while the ``Host`` header and the TLS server name
(SNI, which the certificate is verified against) keep the host name. A second DNS lookup, which a
receiver's DNS could answer differently (DNS rebinding), never happens. Redirects are not
followed (the client is made with ``follow_redirects=False``; a 3xx is a failed delivery).

Connections are not kept alive: the pool is keyed by the address, so a kept connection, its
certificate checked for one host name, could otherwise carry a request for another host that
resolved to the same address. Webhook volume is a few requests a minute.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable
from ipaddress import ip_address

import httpx

from service.config.webhooks import (
    IPAddress,
    Target,
    TargetPolicy,
    UnsafeTarget,
    check_addresses,
    check_target,
)

Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The host's addresses from the operating system's resolver (as a connection would get them)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ip_address(str(info[4][0])) for info in infos))


class TargetRefused(httpx.TransportError):
    """The webhook target is not one the service posts to (the message says which rule)."""


async def resolve_target(
    url: str, policy: TargetPolicy, resolve: Resolver, *, resolve_seconds: float | None
) -> tuple[Target, list[IPAddress]]:
    """Check ``url`` and the addresses its host resolves to; raises UnsafeTarget naming the rule."""
    target = check_target(url, policy)
    if target.address is not None:
        addresses = [target.address]
    else:
        try:
            async with asyncio.timeout(resolve_seconds):
                addresses = await resolve(target.host, target.port)
        except (OSError, TimeoutError, UnicodeError) as exc:  # UnicodeError: a label IDNA refuses
            raise UnsafeTarget(f"{target.host} does not resolve ({exc or 'timed out'})") from exc
    check_addresses(target, addresses)
    return target, addresses


class PinnedTransport(httpx.AsyncBaseTransport):
    """Sends a request only to an address that passed the checks, never to a fresh DNS answer."""

    def __init__(
        self,
        policy: TargetPolicy,
        *,
        resolve: Resolver = system_resolver,
        verify: ssl.SSLContext | bool = True,
        inner: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.policy = policy
        self.resolve = resolve
        # trust_env=False: an HTTP_PROXY in the environment would send the request elsewhere.
        self.inner = inner or httpx.AsyncHTTPTransport(
            verify=verify, trust_env=False, limits=httpx.Limits(max_keepalive_connections=0)
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        try:
            target, addresses = await resolve_target(
                str(request.url), self.policy, self.resolve, resolve_seconds=timeouts.get("connect")
            )
        except UnsafeTarget as exc:
            raise TargetRefused(str(exc), request=request) from exc
        extensions = dict(request.extensions)
        if target.scheme == "https" and target.address is None:
            extensions["sni_hostname"] = target.host
        failure: httpx.ConnectError | None = None
        for address in addresses:
            pinned = httpx.Request(
                request.method,
                request.url.copy_with(host=str(address)),
                headers=request.headers,  # carries Host: the name the receiver is addressed by
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return await self.inner.handle_async_request(pinned)
            except httpx.ConnectError as exc:
                failure = exc  # nothing was sent: the next checked address may answer
        assert failure is not None
        raise failure

    async def aclose(self) -> None:
        await self.inner.aclose()
