"""Signed-in browsers: the same opaque token the API issues, kept in an HttpOnly cookie.

A cookie is sent by the browser on its own, so every form that changes something carries a CSRF
token (derived from the session token with a keyed hash, so it needs no storage and dies with the
session), and a POST whose Origin names another site (or is ``null``) is refused. The cookie is
SameSite=Lax and Secure whenever the page was served over HTTPS (as a trusted proxy's
X-Forwarded-Proto says) or JIEFEN_SECURE_COOKIES is on.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from fastapi import Request, Response

from service import clock
from service.errors import ServiceError
from service.users.service import actor_for_token
from workflows.lifecycle import Actor

SESSION_COOKIE = "jiefen_session"
LANGUAGE_COOKIE = "jiefen_lang"
CSRF_FIELD = "csrf_token"


class SignInRequired(Exception):
    """The page needs a signed-in user; the handler redirects to the sign-in page."""

    def __init__(self, next_path: str, *, expired: bool = False) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.expired = expired


class CsrfRejected(ServiceError):
    status = 403
    slug = "csrf"
    title = "The form's security token is missing or wrong"


@dataclass(frozen=True)
class WebSession:
    actor: Actor
    token: str

    @property
    def csrf(self) -> str:
        return csrf_token(self.token)


def csrf_token(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"jiefen-csrf", hashlib.sha256).hexdigest()


def _next_path(request: Request) -> str:
    path = request.url.path
    return f"{path}?{request.url.query}" if request.url.query else path


async def current_session(request: Request) -> WebSession:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired(_next_path(request))
    engine = request.app.state.engine
    try:
        actor = await actor_for_token(engine, token, now=clock.now())
    except ServiceError as exc:
        if exc.status == 401:
            raise SignInRequired(_next_path(request), expired=True) from exc
        raise
    return WebSession(actor=actor, token=token)


def check_origin(request: Request) -> None:
    """Refuse a POST a browser says came from another site.

    No Origin header (older browsers, scripts): the CSRF token decides. ``Origin: null`` is what a
    sandboxed iframe, a ``data:`` page or a cross-site redirect sends: never this site's own forms,
    so it is refused too.
    """
    origin = request.headers.get("origin")
    if origin is None:
        return
    if origin.rstrip("/") != f"{request.url.scheme}://{request.url.netloc}":
        raise CsrfRejected(f"Origin {origin!r} is not this site.")


def check_csrf(request: Request, session: WebSession, submitted: str | None) -> None:
    check_origin(request)
    if not submitted or not hmac.compare_digest(submitted, session.csrf):
        raise CsrfRejected("Reload the page and submit the form again.")


def set_session_cookie(response: Response, request: Request, token: str, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        # JIEFEN_SECURE_COOKIES: behind a TLS proxy the browser's scheme is https whatever reached us.
        secure=request.url.scheme == "https" or request.app.state.context.settings.secure_cookies,
        path="/",
    )


def safe_next(value: str | None) -> str:
    """Only a path on this site: an open redirect would let a link send users anywhere."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"
