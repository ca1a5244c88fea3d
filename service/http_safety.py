"""HTTP hardening around the whole app: security headers on every response, a request-size limit,
and the client's address (and scheme) believed from trusted proxies only.

All are plain ASGI middleware (no response buffering, except the small /docs page, see below).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import ServiceError, problem_response

# A JSON API and a same-origin documentation page: nothing is loaded from anywhere else (an
# intranet deployment has no CDN), nothing may frame us, no plugins, forms only post back here.
BASE_CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Swagger UI (served from /static/swagger-ui) starts from one inline script, allowed by its hash,
# and sets inline styles as it renders; its stylesheet draws icons from data: URIs.
DOCS_CSP = BASE_CSP + "; script-src {scripts}; style-src 'self' 'unsafe-inline'"

_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def inline_script_hashes(html: bytes) -> list[str]:
    """CSP source expressions ('sha256-…') for each inline <script> of a page."""
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(body).digest()).decode()}'"
        for body in _INLINE_SCRIPT.findall(html)
    ]


class SecurityHeaders:
    """Adds the security headers to every HTTP response the app sends.

    No CSRF token: the API authenticates with a bearer token the client must put in the
    Authorization header itself. There are no cookie sessions, so a browser never sends our
    credentials on a cross-site request on its own, and there is nothing for CSRF to ride on.
    A cookie-based session added later must bring CSRF protection with it.
    """

    def __init__(self, app: ASGIApp, *, docs_path: str = "/docs") -> None:
        self.app = app
        self.docs_path = docs_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path == self.docs_path:
            await self._docs(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._secure(message, path, BASE_CSP)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The docs page is small and assembled by us from constants (no request input reaches it):
        hold it back to allow exactly its inline scripts by hash, rather than 'unsafe-inline'."""
        start: Message | None = None
        body = bytearray()

        async def hold(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            body.extend(message.get("body", b""))
            if message.get("more_body", False):
                return
            scripts = " ".join(["'self'", *inline_script_hashes(bytes(body))])
            self._secure(start, self.docs_path, DOCS_CSP.format(scripts=scripts))
            await send(start)
            await send({"type": "http.response.body", "body": bytes(body), "more_body": False})

        await self.app(scope, receive, hold)

    @staticmethod
    def _secure(message: Message, path: str, csp: str) -> None:
        headers = MutableHeaders(scope=message)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        # No Referer ever leaves for another site, and our own pages' form posts carry their real
        # Origin: under no-referrer a browser sends "Origin: null" even for a same-site POST, which
        # the pages' CSRF check must refuse (a sandboxed frame sends it too).
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Content-Security-Policy", csp)
        if path.startswith("/api/"):
            # Case files and personal data must not linger in browser or proxy caches.
            headers["Cache-Control"] = "no-store"


class ContentTooLarge(ServiceError):
    status = 413
    slug = "too-large"  # the same problem type as service.errors gives a 413 HTTPException
    title = "Request body too large"

    def headers(self) -> dict[str, str]:
        # The rest of the body is never read: the connection cannot carry another request.
        return {"Connection": "close"}


class _StreamTooLarge(StarletteHTTPException):
    """Raised from ``receive`` once a streamed body passes the limit; FastAPI re-raises HTTP
    exceptions met while reading a body, and the app's handler answers 413 problem+json."""

    def __init__(self, detail: str) -> None:
        super().__init__(status_code=413, detail=detail, headers={"Connection": "close"})


# A web form's body over its limit is read and thrown away up to this much before the page is
# answered (a browser still sending when the connection closes shows "connection reset", not the
# page); beyond it the connection is closed with the 413. The proxy (deploy/nginx.conf) stops
# bodies far below it and answers the same page itself.
FORM_DRAIN_MAX_BYTES = 64 * 1024 * 1024


class BodySizeLimit:
    """Refuses request bodies over ``max_bytes`` with 413 problem+json.

    A declared Content-Length over the limit is answered at once, before the app runs or a byte
    of the body is read. A body without one (chunked) is counted as the app reads it.

    A web page's form (``pages``: path pattern, the page to send the browser back to, with the
    pattern's groups) gets its page instead of the 413: the body is read and dropped, then 303
    to that page, which says in words that the file was too large.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        larger: Sequence[tuple[re.Pattern[str], int]] = (),
        pages: Sequence[tuple[re.Pattern[str], str]] = (),
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # (path pattern of a POST, its own limit): file uploads, which carry more than a form.
        self.larger = tuple(larger)
        # (path pattern of a form's POST, the page to go back to: "/cases/\1?…"): see above.
        self.pages = tuple(pages)

    def _limit(self, scope: Scope) -> int:
        if scope.get("method") == "POST":
            for pattern, limit in self.larger:
                if pattern.fullmatch(scope["path"]):
                    return limit
        return self.max_bytes

    def _page(self, scope: Scope) -> str | None:
        """The page a browser's oversized form goes back to (same-site path only), if any."""
        if scope.get("method") != "POST":
            return None
        for pattern, target in self.pages:
            found = pattern.fullmatch(scope["path"])
            if found:
                back = found.expand(target)
                parts = urlsplit(back)
                return back if back.startswith("/") and not parts.netloc and not parts.scheme else None
        return None

    def _detail(self, limit: int) -> str:
        return f"The request body is larger than the {limit} bytes this service accepts."

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            page = self._page(scope)
            if page is not None and int(declared) <= FORM_DRAIN_MAX_BYTES:
                await self._back_to_page(receive, send, page)
                return
            await self._refuse(scope, receive, send, limit)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _StreamTooLarge(self._detail(limit))
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _StreamTooLarge:
            # Read somewhere the app's handlers do not reach (a middleware, say).
            if started:
                raise
            await self._refuse(scope, receive, send, limit)

    @staticmethod
    async def _back_to_page(receive: Receive, send: Send, page: str) -> None:
        """Read the body to its end (dropped as it comes), then send the browser to ``page``."""
        drained = 0
        while drained <= FORM_DRAIN_MAX_BYTES:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            drained += len(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [(b"location", page.encode("latin-1")), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem_response(ContentTooLarge(self._detail(limit)), Request(scope))
        await response(scope, receive, send)


def install(
    app: FastAPI,
    *,
    max_body_bytes: int,
    docs_path: str = "/docs",
    larger: Sequence[tuple[re.Pattern[str], int]] = (),
    pages: Sequence[tuple[re.Pattern[str], str]] = (),
) -> None:
    """Add both middlewares; the headers outermost, so the limit's 413 carries them too.
    ``larger``: (path pattern, limit) of the POSTs that may carry more (file uploads);
    ``pages``: (path pattern, page) of the web forms answered with their page, not a 413."""
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes, larger=larger, pages=pages)
    app.add_middleware(SecurityHeaders, docs_path=docs_path)


# --- the client's address ----------------------------------------------------------------------

IPNetwork = IPv4Network | IPv6Network


def _parse_hop(text: str) -> IPv4Address | IPv6Address | None:
    hop = text.strip()
    if hop.startswith("[") and hop.endswith("]"):
        hop = hop[1:-1]
    try:
        return ip_address(hop)
    except ValueError:
        return None


def _is_trusted(address: IPv4Address | IPv6Address | None, trusted: Sequence[IPNetwork]) -> bool:
    return address is not None and any(address in network for network in trusted)


def forwarded_client(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IPNetwork]
) -> str | None:
    """The client's address: the one rule for it (``client_ip`` reads what this decided).

    The connecting peer is the client, unless it is a trusted proxy: then the X-Forwarded-For hops
    are read from the right (each proxy appends the address it was connected from), past every
    trusted proxy, and the first address that is not one is the client. Anything left of it was
    written by the client itself and is never believed. A hop that is not an address stops the
    walk at the last trusted hop before it. When every hop is a trusted proxy, the leftmost is the
    client (a request from inside the proxies' own network).
    """
    client = _parse_hop(peer) if peer else None
    if client is None or not _is_trusted(client, trusted):
        return peer
    hops = [hop for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _parse_hop(hop)
        if address is None:
            break
        client = address
        if not _is_trusted(address, trusted):
            break
    return str(client)


class TrustedProxies:
    """Puts the client's address (``forwarded_client``) into the ASGI scope, and the scheme the
    client used (X-Forwarded-Proto) when the peer is a trusted proxy: the request's ``client`` and
    ``url`` are then the client's own for everything inside (logs, throttles, the audit trail, a
    cookie's Secure flag, the same-origin check). With no trusted proxy, it changes nothing: a
    forwarding header from anyone is ignored.
    """

    def __init__(self, app: ASGIApp, *, trusted: Sequence[IPNetwork]) -> None:
        self.app = app
        self.trusted = tuple(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.trusted or not scope.get("client"):
            await self.app(scope, receive, send)
            return
        peer, port = scope["client"]
        if not _is_trusted(_parse_hop(peer), self.trusted):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        client = forwarded_client(peer, headers.getlist("x-forwarded-for"), self.trusted)
        scope = dict(scope)
        scope["client"] = (client, port if client == peer else 0)
        protos = ",".join(headers.getlist("x-forwarded-proto")).split(",")
        nearest = protos[-1].strip().lower()  # the trusted proxy's own word
        if nearest in ("http", "https"):
            scope["scheme"] = nearest
        await self.app(scope, receive, send)


def client_ip(request: Request) -> str | None:
    """The client's address for throttling and the audit trail: the only place it is read from.
    ``TrustedProxies`` has already replaced a trusted proxy's address by the client's."""
    return request.client.host[:64] if request.client and request.client.host else None


def install_trusted_proxies(app: FastAPI, trusted: Sequence[IPNetwork]) -> None:
    """Add last, so that it is the outermost middleware and every other one sees the client."""
    app.add_middleware(TrustedProxies, trusted=trusted)
