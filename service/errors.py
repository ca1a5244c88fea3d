"""Errors as RFC 9457 problem details.

Everything below the route layer raises a ``ServiceError`` subclass; one handler turns it into
``application/problem+json``. Validation errors name the field, an invalid transition lists the
triggers that *are* allowed, a stale write carries the current version.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.request_id import HEADER as REQUEST_ID_HEADER
from service.request_id import current_request_id

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class Problem(BaseModel):
    """RFC 9457 problem details, as every error of this API is answered."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, str]] | None = Field(
        default=None, description="for 422: each field and what is wrong"
    )
    request_id: str | None = Field(
        default=None, description="this request's id, as in the X-Request-ID header and the logs"
    )


PROBLEM_CONTENT: dict[str, Any] = {"content": {PROBLEM_JSON: {"schema": Problem.model_json_schema()}}}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "not signed in, or the token is expired or revoked", **PROBLEM_CONTENT},
    403: {"description": "your role may not do this", **PROBLEM_CONTENT},
    404: {"description": "not found, or outside your scope", **PROBLEM_CONTENT},
    422: {"description": "invalid input: each offending field is named", **PROBLEM_CONTENT},
}


class ServiceError(Exception):
    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    @property
    def type(self) -> str:
        return f"/problems/{self.slug}"

    def headers(self) -> dict[str, str]:
        return {}

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class NotFound(ServiceError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Unauthorized(ServiceError):
    status = 401
    slug = "unauthorized"
    title = "Authentication required"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(ServiceError):
    status = 403
    slug = "forbidden"
    title = "Not allowed for your role"


class Conflict(ServiceError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class TransitionNotAllowed(Conflict):
    slug = "transition-not-allowed"
    title = "This action is not allowed on the case now"


class StaleVersion(ServiceError):
    status = 412
    slug = "stale-version"
    title = "The case was changed by someone else"

    def headers(self) -> dict[str, str]:
        current = self.extra.get("current_version")
        return {"ETag": f'"{current}"'} if current is not None else {}


class InvalidInput(ServiceError):
    """422 naming the offending fields: ``errors`` is a list of {field, message}."""

    status = 422
    slug = "invalid-input"
    title = "The request has invalid fields"

    def __init__(self, detail: str, errors: Sequence[dict[str, str]]) -> None:
        super().__init__(detail, errors=list(errors))


def field_error(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", [{"field": field, "message": message}])


class IdempotencyKeyReused(ServiceError):
    status = 422
    slug = "idempotency-key-reused"
    title = "The Idempotency-Key was already used for a different request"


class IdempotencyKeyUsed(ServiceError):
    """A retry of a create whose case the caller may no longer see: it says the case exists (its
    id and number, which the first answer gave) and nothing of what it now holds."""

    status = 409
    slug = "idempotency-key-used"
    title = "This request already registered a case you can no longer see"


class ServiceUnavailable(ServiceError):
    status = 503
    slug = "service-unavailable"
    title = "The database is unavailable"

    def headers(self) -> dict[str, str]:
        return {"Retry-After": "5"}


def problem_response(error: ServiceError, request: Request | None = None) -> JSONResponse:
    instance = request.url.path if request is not None else None
    body = error.body(instance)
    request_id = current_request_id()
    if request_id:
        body["request_id"] = request_id
    return JSONResponse(body, status_code=error.status, headers=error.headers(), media_type=PROBLEM_JSON)


def _location(loc: Sequence[int | str]) -> str:
    return ".".join(str(part) for part in loc)


def validation_problem(exc: RequestValidationError) -> InvalidInput:
    errors = [{"field": _location(e.get("loc", ())), "message": str(e.get("msg", ""))} for e in exc.errors()]
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return InvalidInput(summary or "invalid request", errors)


_HTTP_TITLES = {
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
}


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(validation_problem(exc), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug, title = _HTTP_TITLES.get(exc.status_code, ("http-error", "Request failed"))
        error = ServiceError(str(exc.detail))
        error.status, error.slug, error.title = exc.status_code, slug, title
        response = problem_response(error, request)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DBAPIError) -> JSONResponse:
        # Input that passed validation but that the database cannot store (a NUL character,
        # a number out of range): the client's fault, and nothing was written.
        log.info("database refused a value on %s %s: %s", request.method, request.url.path, exc.orig)
        return problem_response(
            InvalidInput(
                "A value cannot be stored (e.g. a NUL character or a number out of range).",
                [{"field": "body", "message": "value not storable"}],
            ),
            request,
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, DBAPIError) and str(getattr(exc.orig, "sqlstate", "") or "").startswith("22"):
            return await _data_error(request, exc)  # SQLSTATE class 22: data exception
        if _is_disconnect(exc):
            return _unavailable(request, exc)
        log.exception("database error on %s %s", request.method, request.url.path)
        return _internal(request)

    @app.exception_handler(OSError)
    @app.exception_handler(PoolTimeout)
    async def _unreachable(request: Request, exc: Exception) -> JSONResponse:
        # A refused or reset connection to the database surfaces as a bare OSError (SQLAlchemy's
        # asyncpg adaptor re-raises it unwrapped), an exhausted pool as sqlalchemy's TimeoutError.
        if database_unavailable(exc):
            return _unavailable(request, exc)
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        response = _internal(request)
        # This handler answers outside every middleware, so the id header is set here.
        request_id = current_request_id()
        if request_id:
            response.headers[REQUEST_ID_HEADER] = request_id
        return response


# SQLSTATEs that mean "the database is not there right now", not "this statement is wrong":
# class 08 (connection exception), 57P01-57P03 (admin or crash shutdown, cannot connect now: a
# restart in progress) and 53300 (too many connections).
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")
_DRIVER_MODULES = {"asyncpg", "aiosqlite", "sqlalchemy"}


def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    # One line, no stack trace: during an outage every request fails the same known way.
    reason = (str(exc).splitlines() or [""])[0][:200]
    log.warning(
        "database unavailable on %s %s: %s: %s", request.method, request.url.path, type(exc).__name__, reason
    )
    return problem_response(
        ServiceUnavailable("The database is not reachable right now; retry shortly."), request
    )


def _from_database_driver(exc: BaseException) -> bool:
    """Whether the error was raised inside the database driver or SQLAlchemy (e.g. connecting)."""
    tb = exc.__traceback__
    while tb is not None:
        if str(tb.tb_frame.f_globals.get("__name__", "")).split(".", 1)[0] in _DRIVER_MODULES:
            return True
        tb = tb.tb_next
    return False


def database_unavailable(exc: BaseException) -> bool:
    """Whether an exception means "the database is away right now" (answer 503, log one line),
    as opposed to a bug or a bad statement: a lost or refused connection, a restart in progress,
    an exhausted pool. The API's handlers and the web pages decide with this one rule."""
    if isinstance(exc, PoolTimeout):
        return True
    if isinstance(exc, OperationalError | DBAPIError):
        return _is_disconnect(exc)
    return isinstance(exc, OSError) and _from_database_driver(exc)


def _is_disconnect(exc: Exception) -> bool:
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        if str(getattr(exc.orig, "sqlstate", "") or "").startswith(_UNAVAILABLE_SQLSTATES):
            return True
    text = str(exc).lower()
    return isinstance(exc, OperationalError) and any(
        marker in text
        for marker in ("connection", "could not connect", "server closed", "database is locked")
    )


def _internal(request: Request) -> JSONResponse:
    error = ServiceError("An unexpected error occurred; it has been logged.")
    error.status, error.slug, error.title = 500, "internal-error", "Internal error"
    return problem_response(error, request)
