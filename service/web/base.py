"""What every page route shares: the route class that turns failures into pages, the dependencies."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any
from urllib.parse import quote

import asyncpg  # type: ignore[import-untyped]
from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.datastructures import FormData

from service.context import AppContext, get_context
from service.errors import (
    InvalidInput,
    ServiceError,
    ServiceUnavailable,
    TransitionNotAllowed,
    database_unavailable,
    validation_problem,
)
from service.request_id import current_request_id
from service.web.render import Page
from service.web.session import CsrfRejected, SignInRequired, WebSession, check_csrf, current_session

log = logging.getLogger(__name__)

SessionDep = Annotated[WebSession, Depends(current_session)]
CtxDep = Annotated[AppContext, Depends(get_context)]

ERROR_TEXT = {
    401: "signin.expired",
    403: "error.forbidden",
    404: "error.not_found",
    409: "error.conflict",
    413: "error.too_large",
    422: "error.invalid",
    503: "error.unavailable",
}


def error_page(request: Request, error: ServiceError) -> Response:
    page = Page(request, request.app.state.context, None)
    key = "error.csrf" if isinstance(error, CsrfRejected) else ERROR_TEXT.get(error.status, "error.title")
    message = page.t(key)
    if isinstance(error, TransitionNotAllowed):
        allowed = [page.label("trigger", t) for t in error.extra.get("allowed", [])]
        message = page.t("act.not_allowed", allowed="、".join(allowed) or page.t("act.none_allowed"))
        if error.slug == "prior-proceedings":
            # The law's reason and the options are the message itself (2002 规定 art. 22).
            message = f"{error.detail} {message}"
    fields = error.extra.get("errors", []) if isinstance(error, InvalidInput) else []
    response = page.render(
        "error.html",
        status=error.status,
        message=message,
        detail=error.detail,
        fields=fields,
        request_id=current_request_id(),
    )
    for name, value in error.headers().items():
        if name.lower() == "retry-after":
            response.headers[name] = value
    return response


class WebRoute(APIRoute):
    """Page routes answer in HTML, in the reader's language: a redirect to sign in, an error page
    naming what went wrong, never the API's problem+json and never a stack trace."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await original(request)
            except SignInRequired as exc:
                target = f"/signin?next={quote(exc.next_path, safe='/')}"
                return RedirectResponse(target + ("&expired=1" if exc.expired else ""), status_code=303)
            except ServiceError as exc:
                return error_page(request, exc)
            except RequestValidationError as exc:
                return error_page(request, validation_problem(exc))
            except (
                OperationalError,
                DBAPIError,
                OSError,
                PoolTimeout,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
            ) as exc:
                if not database_unavailable(exc):
                    raise
                log.warning("database unavailable on page %s: %s", request.url.path, type(exc).__name__)
                return error_page(request, ServiceUnavailable("The database is not reachable right now."))

        return handler


async def read_form(request: Request, session: WebSession) -> FormData:
    """The submitted form, after checking its CSRF token (every page form that changes something)."""
    form = await request.form()
    token = form.get("csrf_token")
    check_csrf(request, session, token if isinstance(token, str) else None)
    return form


def form_text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""
